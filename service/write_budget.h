// A bound on the bytes of writes held in memory while they wait for, or run
// on, the write threads: the gRPC service and the embedded HTTP gateway's
// direct calls draw on one budget, so a flood of large writes through
// either cannot grow the server without bound.
#ifndef ETAGD_SERVICE_WRITE_BUDGET_H_
#define ETAGD_SERVICE_WRITE_BUDGET_H_

#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace etagd {

// Thread-safe.
class WriteBudget {
 public:
  // `max_bytes` <= 0: unbounded.
  explicit WriteBudget(int64_t max_bytes) : max_bytes_(max_bytes) {}

  WriteBudget(const WriteBudget&) = delete;
  WriteBudget& operator=(const WriteBudget&) = delete;

  // Reserves `bytes`; false if that would exceed the budget. One write is
  // always admitted when none is held, however large, so that a write the
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

#endif  // ETAGD_SERVICE_WRITE_BUDGET_H_
