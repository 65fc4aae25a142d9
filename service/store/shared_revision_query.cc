#include "service/store/shared_revision_query.h"

namespace etagd {

absl::StatusOr<int64_t> SharedRevisionQuery::Latest() {
  absl::MutexLock lock(&mu_);
  // A query in flight now began before this call: the next one will not.
  const int64_t needed = started_ + 1;
  while (true) {
    if (finished_ >= needed) return answer_;
    if (!in_flight_) {
      // No query is running, so started_ + 1 >= needed: this reader runs it.
      const int64_t mine = ++started_;
      in_flight_ = true;
      mu_.Unlock();
      absl::StatusOr<int64_t> answer = query_();
      mu_.Lock();
      answer_ = answer;
      finished_ = mine;
      in_flight_ = false;
      return answer;
    }
    auto ready = [this, needed]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return finished_ >= needed || !in_flight_;
    };
    mu_.Await(absl::Condition(&ready));
  }
}

int64_t SharedRevisionQuery::queries() const {
  absl::MutexLock lock(&mu_);
  return started_;
}

}  // namespace etagd
