// The driver of etagd's linearizability tests: runs a real etagd, has
// concurrent clients call it (over gRPC or HTTP) while faults are injected
// (kill -9 and restart, SIGSTOP and SIGCONT), and records what every call
// did and saw, for the checker in linearizability.h.
#ifndef ETAGD_TESTS_LINEARIZABILITY_WORKLOAD_H_
#define ETAGD_TESTS_LINEARIZABILITY_WORKLOAD_H_

#include <cstdint>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/linearizability/linearizability.h"

namespace etagd {

enum class Transport { kGrpc, kHttp };

enum class Fault {
  kNone,
  // SIGKILL, then a restart on the same data directory (clients follow it
  // to its new ports).
  kKill,
  // SIGSTOP for a while, then SIGCONT.
  kPause,
  // WorkloadOptions::custom_fault (e.g. one that hits an etcd member).
  kCustom,
};

std::string TransportName(Transport transport);
std::string FaultName(Fault fault);
struct WorkloadOptions;
// The fault `options` inject (its custom_fault_name for Fault::kCustom).
std::string FaultName(const WorkloadOptions& options);

struct WorkloadOptions {
  Transport transport = Transport::kGrpc;
  Fault fault = Fault::kNone;
  // Clients, each with its own connection and one call at a time.
  int clients = 8;
  // Keys the clients share ("k0", "k1", ...): few keys, much contention.
  int keys = 10;
  // How long clients keep calling; a fault that ends late extends it by
  // `settle`, so that what happened during the fault is read afterwards.
  absl::Duration duration = absl::Seconds(3);
  absl::Duration settle = absl::Milliseconds(500);
  // Clients go on past the end until this many calls answered OK, for at
  // most `max_extension` more: on a loaded machine a fixed time may make too
  // few calls to exercise anything.
  int min_ok_calls = 150;
  absl::Duration max_extension = absl::Seconds(20);
  // Deadline of every call; a call without an answer by then is
  // indeterminate.
  absl::Duration call_timeout = absl::Seconds(1);
  // A client whose call got no answer waits this long before the next, so
  // that an outage does not fill the history with calls that failed fast.
  absl::Duration backoff_after_failure = absl::Milliseconds(50);
  // The first fault comes this long after the start, the next ones every
  // `fault_interval` (±25%) while the run lasts.
  absl::Duration first_fault_after = absl::Milliseconds(700);
  absl::Duration fault_interval = absl::Seconds(5);
  // A pause lasts a random time in [min_pause, max_pause].
  absl::Duration min_pause = absl::Seconds(1);
  absl::Duration max_pause = absl::Seconds(3);
  // The mix of calls, in percent; the rest are If-Match Deletes. A call that
  // needs an ETag the client does not know yet becomes a Get.
  int get_percent = 30;
  int if_match_put_percent = 30;
  int create_percent = 10;  // Put with If-None-Match: *.
  int put_percent = 15;     // Unconditional Put.
  uint64_t seed = 1;
  // The data directory (created by etagd).
  std::string data_dir;
  // Extra etagd flags, e.g. --canary_non_atomic_writes.
  std::vector<std::string> etagd_args;
  // etagd processes started with the same flags, client i calling replica
  // i % replicas; faults hit replica 0. More than one needs an engine they
  // share (--engine=etcd).
  int replicas = 1;
  // With Fault::kCustom: one fault, returning once it is over (e.g. an etcd
  // member killed and restarted), and what it is called. Runs on the
  // driver's thread, with the run's random numbers.
  std::function<absl::Status(std::mt19937_64& random)> custom_fault;
  std::string custom_fault_name;
  // How long after the etagd that received a call is gone the call may
  // still take effect: 0 with RocksDB (the write dies with the process);
  // with etcd, a Txn sent before a kill may be applied after it.
  absl::Duration effect_grace = absl::ZeroDuration();
};

struct WorkloadResult {
  // Every call that may have had an effect, or whose answer said something.
  std::vector<HistoryOp> history;
  int restarts = 0;
  int pauses = 0;
  // Faults of Fault::kCustom injected.
  int custom_faults = 0;
  // Calls by what came back.
  int64_t ok = 0;
  int64_t not_found = 0;
  int64_t precondition_failed = 0;
  int64_t indeterminate = 0;
  // Puts among those without an answer whose content a Get later returned:
  // they took effect though their clients never heard.
  int64_t indeterminate_puts_seen = 0;
  // Calls without an answer made while no etagd was running: they cannot
  // have taken effect, so they are left out of the history.
  int64_t refused_while_down = 0;
  // Writes the server gave up on (ABORTED, HTTP 409): no effect, left out.
  int64_t aborted = 0;
  // Answers no correct server gives to these calls (e.g. INVALID_ARGUMENT,
  // HTTP 400); the first few, described.
  std::vector<std::string> unexpected;
  int64_t unexpected_count = 0;

  // One line: counts and faults.
  std::string Summary() const;
};

// Starts etagd on options.data_dir (from the test's runfiles), runs the
// clients and faults, stops etagd, and returns the history. Fails if etagd
// cannot be started (or restarted) or dies on its own.
absl::StatusOr<WorkloadResult> RunWorkload(const WorkloadOptions& options);

}  // namespace etagd

#endif  // ETAGD_TESTS_LINEARIZABILITY_WORKLOAD_H_
