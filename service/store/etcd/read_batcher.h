// Concurrent reads sent to etcd together: one call (one Txn of many ranges)
// answers every read waiting, so that N concurrent reads cost etcd one RPC
// and one read index instead of N. Still linearizable: a batch is sent after
// each of its reads arrived and answered before any of them returns, so
// each read's linearization point (the batch's read index) lies within its
// own call.
//
// No thread of its own: a read that finds fewer than max_in_flight batches
// running sends one at once with whatever waits (itself first in line);
// reads arriving meanwhile wait, and the first of them in line sends the
// next batch as soon as one finishes. A lone read waits for nothing.
#ifndef ETAGD_SERVICE_STORE_ETCD_READ_BATCHER_H_
#define ETAGD_SERVICE_STORE_ETCD_READ_BATCHER_H_

#include <cstddef>
#include <deque>
#include <functional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"

namespace etagd {

// Thread-safe.
template <typename Request, typename Result>
class ReadBatcher {
 public:
  // Answers every one of `requests` in `results` (same size, same order).
  using Send = std::function<void(absl::Span<const Request* const> requests,
                                  absl::Span<Result* const> results)>;

  // At most `max_batch` reads per batch, `max_in_flight` batches at once
  // (both at least 1).
  ReadBatcher(Send send, size_t max_batch, int max_in_flight)
      : send_(std::move(send)),
        max_batch_(max_batch < 1 ? 1 : max_batch),
        max_in_flight_(max_in_flight < 1 ? 1 : max_in_flight) {}

  ReadBatcher(const ReadBatcher&) = delete;
  ReadBatcher& operator=(const ReadBatcher&) = delete;

  // `request`'s answer, sent in a batch with the reads waiting beside it.
  Result Read(const Request& request) ABSL_LOCKS_EXCLUDED(mu_) {
    Result result{};
    Waiter self{&request, &result};
    absl::MutexLock lock(&mu_);
    waiting_.push_back(&self);
    auto may_proceed = [this, &self]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return MayProceed(&self);
    };
    while (true) {
      mu_.Await(absl::Condition(&may_proceed));
      if (self.done) return result;
      SendBatch();
    }
  }

  // Reads waiting for a batch now (for tests).
  size_t WaitingForTest() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return waiting_.size();
  }

 private:
  struct Waiter {
    const Request* request;
    Result* result;
    bool done = false;
  };

  // Answered, or first in line with room for another batch.
  bool MayProceed(Waiter* self) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return self->done || (in_flight_ < max_in_flight_ && !waiting_.empty() &&
                          waiting_.front() == self);
  }

  // Sends the reads at the front of the line, with mu_ released meanwhile.
  void SendBatch() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    std::vector<Waiter*> batch;
    while (!waiting_.empty() && batch.size() < max_batch_) {
      batch.push_back(waiting_.front());
      waiting_.pop_front();
    }
    ++in_flight_;
    std::vector<const Request*> requests;
    std::vector<Result*> results;
    requests.reserve(batch.size());
    results.reserve(batch.size());
    for (Waiter* waiter : batch) {
      requests.push_back(waiter->request);
      results.push_back(waiter->result);
    }
    mu_.Unlock();
    send_(requests, results);
    mu_.Lock();
    --in_flight_;
    for (Waiter* waiter : batch) waiter->done = true;
  }

  const Send send_;
  const size_t max_batch_;
  const int max_in_flight_;
  mutable absl::Mutex mu_;
  std::deque<Waiter*> waiting_ ABSL_GUARDED_BY(mu_);
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_STORE_ETCD_READ_BATCHER_H_
