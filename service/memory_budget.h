// A bound on bytes that calls in flight hold in memory, so that a flood of
// them cannot grow the server without bound. etagd keeps two: the writes
// waiting for, or running on, the write threads (the gRPC service and the
// embedded HTTP gateway's direct calls draw on one), and the content of
// responses not yet taken by slow readers (gRPC and HTTP draw on one).
#ifndef ETAGD_SERVICE_MEMORY_BUDGET_H_
#define ETAGD_SERVICE_MEMORY_BUDGET_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace etagd {

// Thread-safe.
class MemoryBudget {
 public:
  // `max_bytes` <= 0: unbounded.
  explicit MemoryBudget(int64_t max_bytes) : max_bytes_(max_bytes) {}

  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  // Reserves `bytes`; false if that would exceed the budget. One call is
  // always admitted when none is held, however large, so that a call the
  // size limits allow can always make progress.
  bool TryAcquire(int64_t bytes) ABSL_LOCKS_EXCLUDED(mu_);
  // Returns bytes reserved by a successful TryAcquire().
  void Release(int64_t bytes) ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const int64_t max_bytes_;
  absl::Mutex mu_;
  int64_t held_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_MEMORY_BUDGET_H_
