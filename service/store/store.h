// The storage interface: versioned records with an atomic compare-and-write.
// It has no engine or RPC types in it, so another engine can implement it
// without touching the service.
#ifndef ETAGD_SERVICE_STORE_STORE_H_
#define ETAGD_SERVICE_STORE_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "service/store/record.h"

namespace etagd {

// A write, applied only if the resource's current record still has
// `expected_revision`. It borrows its strings: they must outlive Write()
// (the metadata, small and bounded, is a copy).
struct WriteRequest {
  absl::string_view name;
  // Revision of the current record (live or deleted) the caller's decision
  // was based on; 0 if the caller saw no record at all.
  int64_t expected_revision = 0;
  // Delete instead of put; content and content_type are then unused.
  bool is_delete = false;
  absl::string_view content;
  absl::string_view content_type;
  // Stored with a put, replacing the previous version's entirely.
  HttpMetadata metadata;
  absl::string_view request_id;
  // Set only by an import (service/import_service.h): the write's update
  // time instead of the clock's. The engine raises it to the current
  // record's update time if earlier, so a resource's update times still
  // never go backwards, and hands out no earlier time afterwards.
  std::optional<absl::Time> import_update_time;
  // With import_update_time, for a put that creates the resource: its
  // create time (otherwise the update time).
  std::optional<absl::Time> import_create_time;
};

struct ListPage {
  std::vector<Record> records;
  // True if records after the last one returned may exist.
  bool more = false;
  // The revision the page shows the store at: every record listed has a
  // revision at or below it. A listing's later pages pass their first
  // page's as List's at_revision.
  int64_t revision = 0;
};

// How much space a store takes and may take (for metrics).
struct StorageSpace {
  // Bytes the store's files take (what the quota limits).
  int64_t store_bytes = 0;
  // Most bytes they may take; 0 if there is no quota.
  int64_t quota_bytes = 0;
  // Free bytes on the volume that holds the store.
  int64_t free_bytes = 0;
  // Free bytes the store keeps on that volume: writes stop before.
  int64_t reserve_bytes = 0;
  // Writes are refused for lack of space (quota, disk or engine).
  bool full = false;
  // The store is open read-only (the disk was full when it was opened).
  bool read_only = false;
};

// Which revisions the change log can serve (Store::Changes).
struct ChangeWindow {
  // The oldest revision still readable from the change log: every change
  // at or after it is there. A reader may start at any revision from here
  // on; one below it has been pruned.
  int64_t oldest_revision = 1;
  // Every revision up to this one is committed or will never be (a failed
  // write's revision is a gap): the change log holds all there is of them.
  // Revisions above it may still be committing.
  int64_t committed_revision = 0;
  // No write this store has acknowledged is above the greater of this and
  // committed_revision. An engine whose log learns of its own writes after
  // answering them (etcd's, through its watch) reports here the latest it
  // answered; 0 where committed_revision always covers them. A change feed
  // watch "from now" starts after both, so that it never reports a write
  // acknowledged before it started, and misses none acknowledged after.
  int64_t acknowledged_revision = 0;
};

// One page of the change log.
struct ChangePage {
  // The records written, in revision order (a deletion is a record with
  // deleted == true).
  std::vector<Record> changes;
  // Where the next page starts: one past the last revision this page
  // covered.
  int64_t next_revision = 0;
};

// A read-only view of the current records at exactly one revision.
// Thread-compatible.
class StoreView {
 public:
  virtual ~StoreView() = default;
  // Every revision up to this one is in the view, and none after it.
  virtual int64_t revision() const = 0;
  // As Store::List, in the view.
  virtual absl::StatusOr<ListPage> List(absl::string_view prefix,
                                        absl::string_view start_after,
                                        int limit, bool with_content) = 0;
};

// Implementations are safe for concurrent use without external
// synchronization.
class Store {
 public:
  virtual ~Store() = default;

  // The current record of `name`: a live version, a deletion (deleted ==
  // true), or nullopt if the name was never written (or its deletion has
  // been forgotten). Without `with_content`, content is left empty.
  virtual absl::StatusOr<std::optional<Record>> ReadCurrent(
      absl::string_view name, bool with_content) = 0;

  using ReadDone =
      std::function<void(absl::StatusOr<std::optional<Record>>)>;
  // ReadCurrent's answer, given to `done` (exactly once, on any thread,
  // perhaps before this returns). Blocks as ReadCurrent does unless
  // ReadsCurrentWithoutBlocking().
  virtual void ReadCurrentAsync(absl::string_view name, bool with_content,
                                ReadDone done) {
    done(ReadCurrent(name, with_content));
  }
  // Whether ReadCurrentAsync returns without waiting (callers on threads
  // that must not block may call it there; `done` must not block either).
  virtual bool ReadsCurrentWithoutBlocking() const { return false; }

  // The current record of `name`, without content, for planning a write: as
  // ReadCurrent, except that it may be one that has been replaced since
  // (never one that was not current once) when WritePlansMayBeStale(). That
  // is safe for a plan that writes, whose Write compares the revision and is
  // ABORTED if the record was replaced; any other answer (a failed
  // precondition, a retried request id) must be decided on ReadCurrent.
  virtual absl::StatusOr<std::optional<Record>> ReadForWritePlan(
      absl::string_view name) {
    return ReadCurrent(name, /*with_content=*/false);
  }
  // Whether ReadForWritePlan may answer a record that was replaced.
  virtual bool WritePlansMayBeStale() const { return false; }

  // Whether reads wait on another machine (etcd: a round trip), so that
  // callers keep them off threads that must not block (gRPC's), where they
  // would also wait for one another instead of being sent together.
  virtual bool ReadsWaitOnTheNetwork() const { return false; }

  // The record `name` got at `revision`, with content: the current one or a
  // retained past one. NOT_FOUND if there is no such record.
  virtual absl::StatusOr<Record> ReadRevision(absl::string_view name,
                                              int64_t revision) = 0;

  // Atomically, with respect to every other write of the same name: if the
  // current record's revision (0 if none) equals request.expected_revision,
  // writes the next revision and returns the new record (without content);
  // otherwise returns ABORTED and writes nothing. A put makes the previous
  // record (live or deleted) a past version; a delete of a live record
  // writes a deletion record. The result is durable when this returns if
  // the store is configured for durable writes.
  virtual absl::StatusOr<Record> Write(const WriteRequest& request) = 0;

  // Writes of distinct names, each checked and made as Write() would, with
  // the results in request order; an engine may commit them together (one
  // write-ahead-log sync for all). A failed check fails that write alone;
  // if the commit fails, every write it held fails with its error. The
  // default makes one Write() after the other.
  virtual std::vector<absl::StatusOr<Record>> WriteMany(
      absl::Span<const WriteRequest> requests) {
    std::vector<absl::StatusOr<Record>> results;
    results.reserve(requests.size());
    for (const WriteRequest& request : requests) results.push_back(Write(request));
    return results;
  }

  // Live resources whose names start with `prefix` and sort after
  // `start_after` (all if empty), in byte order, at most `limit`, each page
  // read at one revision. `at_revision` (0: the latest) is the revision of
  // the listing's first page (ListPage::revision); how an engine honours it:
  //  - PinsListings(): the page shows the store exactly as it was at
  //    at_revision (etcd: a Range at that revision); OUT_OF_RANGE if the
  //    engine no longer holds it (etcd compacted it): start the listing over
  //    (the code Watch gives a start_revision older than what is kept).
  //  - otherwise (RocksDB, whose snapshots do not outlive a call): the page
  //    shows the store as it is now, so a listing returns each name at most
  //    once, in order, and every resource that stayed live throughout it.
  // Either way INVALID_ARGUMENT if at_revision is beyond the store's latest
  // (a position from another store).
  virtual absl::StatusOr<ListPage> List(absl::string_view prefix,
                                        absl::string_view start_after,
                                        int limit, bool with_content,
                                        int64_t at_revision) = 0;
  // The first page of a listing, at the latest revision.
  absl::StatusOr<ListPage> List(absl::string_view prefix,
                                absl::string_view start_after, int limit,
                                bool with_content) {
    return List(prefix, start_after, limit, with_content, /*at_revision=*/0);
  }

  // Whether List() at a revision shows the store as it was then (see List).
  virtual bool PinsListings() const { return false; }

  // The records of `name` (current first, then past ones), newest first,
  // those with revision < `before_revision` (all if 0), at most `limit`,
  // without content.
  virtual absl::StatusOr<ListPage> ListVersions(absl::string_view name,
                                                int64_t before_revision,
                                                int limit) = 0;

  // Writes a consistent copy of the whole store into `directory`, which must
  // not exist, while writes continue; every write acknowledged before the
  // call is in it. Returns the highest revision committed at that point.
  // UNIMPLEMENTED for engines that cannot.
  virtual absl::StatusOr<int64_t> Checkpoint(const std::string& directory) = 0;
  // False if Checkpoint() is always UNIMPLEMENTED (it then says what to do
  // instead, whatever the directory).
  virtual bool SupportsCheckpoint() const { return true; }

  // The store's latest measure of its space; nullopt for engines that do not
  // track it. Cheap: it measures nothing itself.
  virtual std::optional<StorageSpace> Space() { return std::nullopt; }

  // OK if the store can serve reads and writes now; otherwise UNAVAILABLE
  // saying why (etcd: no member answers a linearizable read, so the cluster
  // has no leader or cannot be reached). Returns within a few seconds; the
  // server asks every second and reports NOT_SERVING while it fails.
  virtual absl::Status CheckHealth() { return absl::OkStatus(); }

  // The change log (for change feeds, service/feed/). Engines without one
  // answer UNIMPLEMENTED to each of these and never call the listener.

  // The change log's window now.
  virtual absl::StatusOr<ChangeWindow> Changes() {
    return absl::UnimplementedError("this storage engine keeps no change log");
  }

  // The records written at revisions from_revision..up_to_revision
  // (inclusive; up_to_revision at most Changes().committed_revision), in
  // revision order, covering at most `limit` revisions that have a record.
  // Without `with_content`, content is left empty. OUT_OF_RANGE if
  // from_revision is below the window's oldest_revision, also when the
  // window moved past it while the page was read (never a page with a gap).
  virtual absl::StatusOr<ChangePage> ReadChanges(int64_t /*from_revision*/,
                                                 int64_t /*up_to_revision*/,
                                                 int /*limit*/,
                                                 bool /*with_content*/) {
    return absl::UnimplementedError("this storage engine keeps no change log");
  }

  // A consistent view of the current records at the greater of
  // Changes().committed_revision and acknowledged_revision (or later).
  virtual absl::StatusOr<std::unique_ptr<StoreView>> View() {
    return absl::UnimplementedError(
        "this storage engine offers no consistent view");
  }

  // Calls `listener` (replacing any before; null: none) each time
  // committed_revision may have advanced, on the thread that committed. It
  // must be quick and must not call the store. Once this returns, the
  // previous listener is no longer being called.
  virtual void SetCommitListener(std::function<void()> /*listener*/) {}
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_STORE_STORE_H_
