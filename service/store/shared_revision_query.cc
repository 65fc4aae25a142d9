#include "service/store/shared_revision_query.h"

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"

namespace etagd {

SharedRevisionQuery::SharedRevisionQuery(
    std::function<absl::StatusOr<int64_t>()> query)
    : query_(std::move(query)) {
  thread_ = std::thread([this] { Run(); });
}

SharedRevisionQuery::~SharedRevisionQuery() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

void SharedRevisionQuery::LatestAsync(Done done) {
  absl::MutexLock lock(&mu_);
  waiting_.push_back(std::move(done));
}

absl::StatusOr<int64_t> SharedRevisionQuery::Latest() {
  absl::Notification answered;
  absl::StatusOr<int64_t> answer;
  LatestAsync([&](absl::StatusOr<int64_t> latest) {
    answer = std::move(latest);
    answered.Notify();
  });
  answered.WaitForNotification();
  return answer;
}

int64_t SharedRevisionQuery::queries() const {
  absl::MutexLock lock(&mu_);
  return queries_;
}

int64_t SharedRevisionQuery::readers() const {
  absl::MutexLock lock(&mu_);
  return readers_;
}

void SharedRevisionQuery::Run() {
  while (true) {
    std::vector<Done> readers;
    bool stopping;
    {
      absl::MutexLock lock(&mu_);
      auto work = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return !waiting_.empty() || stopping_;
      };
      mu_.Await(absl::Condition(&work));
      readers.swap(waiting_);
      stopping = stopping_;
      if (!stopping) {
        ++queries_;
        readers_ += static_cast<int64_t>(readers.size());
      }
    }
    if (stopping) {
      for (Done& done : readers) {
        done(absl::CancelledError("the revision query is shutting down"));
      }
      return;
    }
    // Every reader here arrived before this query starts.
    const absl::StatusOr<int64_t> answer = query_();
    for (Done& done : readers) done(answer);
  }
}

}  // namespace etagd
