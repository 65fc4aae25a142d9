// A Store over an existing etcd 3.4+ cluster, so that any number of
// stateless etagd replicas can share one set of resources. It speaks etcd's
// own gRPC API (nothing but this engine sees etcd's types) and keeps the
// RocksDB engine's semantics: revisions (etcd's), entity-tags never reused,
// one compare-and-set Txn per write, the last history_depth past records,
// request ids, update times that never go backwards per resource, and a
// change log for Watch fed by an etcd watch (etcd_change_log.h).
#ifndef ETAGD_SERVICE_STORE_ETCD_ETCD_STORE_H_
#define ETAGD_SERVICE_STORE_ETCD_ETCD_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "service/store/store.h"

namespace etagd {

struct EtcdStoreOptions {
  // Client endpoints, "host:port" (an "http://" or "https://" prefix is
  // accepted; https turns TLS on). Calls go to one at a time and move on
  // when it fails.
  std::vector<std::string> endpoints;
  // Every key etagd writes starts with this; replicas that share it share
  // resources. Must not be empty.
  std::string prefix = "/etagd/";
  // Past records (superseded versions and deletions) kept per name, beyond
  // the current one. 0 keeps none. Replicas should agree on it.
  int history_depth = 10;
  // TLS to etcd (PEM files): ca_file verifies the members' certificates;
  // cert_file and key_file are etagd's client certificate (mutual TLS).
  // TLS is on if any of them is set or an endpoint says https://.
  std::string ca_file;
  std::string cert_file;
  std::string key_file;
  // etcd authentication (empty: none).
  std::string username;
  std::string password;
  // How long opening the store waits for an endpoint to connect, and a
  // write for a connection before it gives up without sending.
  absl::Duration dial_timeout = absl::Seconds(5);
  // Deadline of each call to etcd. A write that times out may still be
  // applied: the store then finds out, within another call_timeout, whether
  // it was (UNAVAILABLE saying the outcome is unknown if it cannot).
  absl::Duration call_timeout = absl::Seconds(5);
  // Attempts of a read (with backoff, moving to the next endpoint) before
  // it fails.
  int read_attempts = 4;
  // The cluster's --max-request-bytes: writes that would exceed it are
  // RESOURCE_EXHAUSTED before they are sent.
  int64_t max_request_bytes = 1572864;
  // Memory for the records this store last read or wrote (a few hundred
  // bytes each, counted with their names), the least recently used
  // forgotten first: a compare-and-set on a record remembered here is one
  // Txn, on a forgotten one a linearizable read and the Txn. 0 remembers
  // none.
  int64_t recent_records_bytes = int64_t{16} << 20;
  // Source of wall-clock time; tests substitute one that steps back.
  std::function<absl::Time()> clock = absl::Now;
  // For tests of ambiguous outcomes: the deadline of a write's Txn alone
  // (0: call_timeout), short enough that etcd may apply a write whose
  // answer never arrives. Never set it outside such tests.
  absl::Duration write_deadline_for_test = absl::ZeroDuration();
  // For the linearizability checker's canary: writes skip the Txn's
  // compare on the resource's revision, so racing writes lose updates.
  // Never set it outside that test.
  bool non_atomic_writes_for_test = false;
  // For fault tests: called by a write after it has read the current record
  // and before it sends its Txn. Never set it outside tests.
  std::function<void()> before_send_for_test;
  // For change feed tests: the most changes the change log keeps in memory
  // (0: its default), so that reads from etcd's history can be reached.
  int64_t max_buffered_changes_for_test = 0;
};

// The largest content a put of any valid name and request id is sure to
// fit into one etcd request under these options (what --max_content_bytes
// may be at most).
int64_t EtcdMaxContentBytes(const EtcdStoreOptions& options);

// Connects to the cluster (waiting up to dial_timeout), authenticates if
// asked to, and checks (or, on an empty prefix, writes) the prefix's format
// marker. The store is safe for concurrent use without external
// synchronization, and so are several stores (replicas) over one prefix. UNAVAILABLE naming the endpoints if none answers;
// FAILED_PRECONDITION if the prefix holds data of another format.
absl::StatusOr<std::unique_ptr<Store>> OpenEtcdStore(
    const EtcdStoreOptions& options);

// etcd's current revision, learned with a linearizable read (a ReadIndex
// the leader confirms with a quorum): every write etcd acknowledged before
// the call is at or below it. One count-only Range of one key, retried as
// reads are. `store` must be one OpenEtcdStore returned (INVALID_ARGUMENT
// otherwise). The consistent record cache (consistent_cache.h) asks it.
absl::StatusOr<int64_t> EtcdLinearizableRevision(Store& store);

// Makes the change log of `store` (one OpenEtcdStore returned) catch up to
// etcd's revision now: puts its progress marker and waits (at most the call
// timeout) until its watch delivers that put. One write; for the record
// cache when etcd's revision moved for keys the watch does not cover.
absl::Status EtcdSyncChangeLog(Store& store);

// Makes `store` (one OpenEtcdStore returned) learn etcd's compaction
// revision now rather than at its next periodic check.
absl::Status CheckEtcdCompactionForTest(Store& store);

}  // namespace etagd

#endif  // ETAGD_SERVICE_STORE_ETCD_ETCD_STORE_H_
