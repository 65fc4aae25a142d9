#include "service/memory_budget.h"

namespace etagd {

bool MemoryBudget::TryAcquire(int64_t bytes) {
  if (max_bytes_ <= 0) return true;
  absl::MutexLock lock(&mu_);
  if (held_ > 0 && held_ + bytes > max_bytes_) return false;
  held_ += bytes;
  return true;
}

void MemoryBudget::Release(int64_t bytes) {
  if (max_bytes_ <= 0) return;
  absl::MutexLock lock(&mu_);
  held_ -= bytes;
}

}  // namespace etagd
