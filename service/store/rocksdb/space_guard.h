// Keeps a store from filling its disk. The model is etcd's space quota
// (--quota-backend-bytes and its NOSPACE alarm: past the quota only reads and
// deletes are accepted), with a free-space reserve beside it and recovery
// that needs no operator.
//
// The store reports what it measures (Update) and asks before each write
// (AdmitPut, AdmitDelete). Puts are refused once a write would take the
// store's files past the quota or the volume's free space below the reserve:
// before the engine itself runs out, so that it never sees a full disk in
// normal operation. Deletes go on until half of the reserve is used too; the
// rest is for the engine's own needs (a memtable flush, a restart), so that
// no amount of deleting can wedge it. Between measurements the guard counts
// what it admitted, so a burst of writes cannot overshoot.
//
// Once full, the guard stays full until a measurement shows room for a write
// of `resume_bytes` under both limits again (files deleted, compaction, a
// bigger volume); writes then resume by themselves. The engine can also
// declare itself unable to write (SetEngineProblem), which refuses every
// write, deletes included, until it clears it. Entering and leaving the full
// state is logged once each, never per request.
#ifndef ETAGD_SERVICE_STORE_ROCKSDB_SPACE_GUARD_H_
#define ETAGD_SERVICE_STORE_ROCKSDB_SPACE_GUARD_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "service/log.h"
#include "service/store/store.h"

namespace etagd {

struct SpaceLimits {
  // Most bytes the store's files may take; 0: no quota.
  int64_t quota_bytes = 0;
  // Free bytes to keep on the store's volume; 0 keeps none.
  int64_t reserve_bytes = 0;
  // Once full, writes resume when a write of this many bytes fits under both
  // limits again (the largest write there can be, so that whatever write
  // comes next fits; and a hysteresis).
  int64_t resume_bytes = 0;
};

// One measurement.
struct SpaceSample {
  // Bytes the store's files take.
  int64_t store_bytes = 0;
  // Free bytes on the volume that holds them.
  int64_t free_bytes = 0;
};

enum class SpaceVerdict {
  kRoom,
  // The store's files would take more than the quota.
  kQuota,
  // The volume would have less free than the reserve.
  kDisk,
};

// Pure: whether a write of `bytes` fits in `sample` under `limits`. When
// both limits are passed, the disk is named: it is the more urgent.
SpaceVerdict EvaluateSpace(const SpaceLimits& limits, const SpaceSample& sample,
                           int64_t bytes);

// Pure: whether a delete writing `bytes` fits: it may use the first half of
// the reserve, never the second.
bool DeleteFits(const SpaceLimits& limits, const SpaceSample& sample,
                int64_t bytes);

// "26214400 bytes (25.0 MiB)": exact, and readable.
std::string DescribeBytes(int64_t bytes);

// Thread-safe.
class SpaceGuard {
 public:
  // `directory`: the store's, named in log lines.
  SpaceGuard(SpaceLimits limits, std::string directory);

  SpaceGuard(const SpaceGuard&) = delete;
  SpaceGuard& operator=(const SpaceGuard&) = delete;

  const SpaceLimits& limits() const { return limits_; }

  // A new measurement; it replaces the estimate (and what was admitted since
  // the last one). Enters the full state if the store is at or past a limit
  // already; leaves it if there is room for resume_bytes again.
  void Update(const SpaceSample& sample) ABSL_LOCKS_EXCLUDED(mu_);

  // While set, every write is refused (RESOURCE_EXHAUSTED, REASON_ENGINE)
  // with `message`, which says what the engine cannot do.
  void SetEngineProblem(std::string message) ABSL_LOCKS_EXCLUDED(mu_);
  void ClearEngineProblem() ABSL_LOCKS_EXCLUDED(mu_);

  // OK, and counted, if a Put writing `bytes` may go ahead; else the
  // StorageFull error (error_details.h) that says what is full, with the
  // numbers.
  absl::Status AdmitPut(int64_t bytes) ABSL_LOCKS_EXCLUDED(mu_);
  // The same for a delete writing `bytes`: it is refused only past half the
  // reserve, or while the engine has a problem.
  absl::Status AdmitDelete(int64_t bytes) ABSL_LOCKS_EXCLUDED(mu_);

  // OK unless the disk is full or the engine cannot write: a checkpoint
  // writes to the volume (a flush, a copy of the write-ahead log) but adds
  // nothing to the store's files, so the quota does not apply to it.
  absl::Status AdmitCheckpoint() const ABSL_LOCKS_EXCLUDED(mu_);

  // The error a Put gets now; OK if Puts go ahead.
  absl::Status Refusal() const ABSL_LOCKS_EXCLUDED(mu_);

  // Whether Puts are refused now.
  bool full() const ABSL_LOCKS_EXCLUDED(mu_);
  // Whether the last measurement (with what was admitted since) leaves room
  // for a write of resume_bytes on the volume, whatever the quota and the
  // engine say: the engine may then try to write again.
  bool DiskHasRoom() const ABSL_LOCKS_EXCLUDED(mu_);

  // The estimate and the state, for metrics (read_only is left false).
  StorageSpace space() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  enum class State { kRoom, kQuota, kDisk, kEngine };
  // A line to log, once the lock is released.
  struct Transition {
    LogLevel level;
    std::string text;
  };

  // The error for a write refused in `state_`.
  absl::Status RefusalLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves to `state`; returns the line to log if the store became full or
  // stopped being full.
  std::optional<Transition> EnterLocked(State state)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The state the estimate calls for, from the engine problem, the full
  // state already entered (which takes room for resume_bytes to leave) and
  // the limits.
  State ReassessLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SpaceLimits limits_;
  const std::string directory_;

  mutable absl::Mutex mu_;
  // The last measurement plus what was admitted since.
  SpaceSample estimate_ ABSL_GUARDED_BY(mu_);
  State state_ ABSL_GUARDED_BY(mu_) = State::kRoom;
  std::optional<std::string> engine_problem_ ABSL_GUARDED_BY(mu_);
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_STORE_ROCKSDB_SPACE_GUARD_H_
