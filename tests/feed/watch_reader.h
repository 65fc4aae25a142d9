// A blocking reader of a WatchStream, for tests.
#ifndef ETAGD_TESTS_FEED_WATCH_READER_H_
#define ETAGD_TESTS_FEED_WATCH_READER_H_

#include <memory>
#include <optional>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "etagd/v1/etagd.pb.h"
#include "service/feed/watch_stream.h"

namespace etagd {

// Thread-compatible. A Next that timed out stays pending: the next call
// waits for its answer.
class WatchReader {
 public:
  explicit WatchReader(std::unique_ptr<WatchStream> stream)
      : state_(std::make_shared<State>()), stream_(std::move(stream)) {}

  // The next response, or DEADLINE_EXCEEDED if none came within `timeout`.
  absl::StatusOr<etagd::v1::WatchResponse> Next(
      absl::Duration timeout = absl::Seconds(10)) {
    if (!asked_) {
      asked_ = true;
      std::shared_ptr<State> state = state_;
      stream_->Next([state](absl::StatusOr<etagd::v1::WatchResponse> result) {
        absl::MutexLock lock(&state->mu);
        state->result.emplace(std::move(result));
      });
    }
    absl::MutexLock lock(&state_->mu);
    if (!state_->mu.AwaitWithTimeout(
            absl::Condition(
                +[](State* s) { return s->result.has_value(); }, state_.get()),
            timeout)) {
      return absl::DeadlineExceededError("no response in time");
    }
    asked_ = false;
    absl::StatusOr<etagd::v1::WatchResponse> result = *std::move(state_->result);
    state_->result.reset();
    return result;
  }

  // The next response with events (skipping progress notifications).
  absl::StatusOr<etagd::v1::WatchResponse> NextEvents(
      absl::Duration timeout = absl::Seconds(10)) {
    const absl::Time deadline = absl::Now() + timeout;
    while (true) {
      absl::StatusOr<etagd::v1::WatchResponse> response =
          Next(deadline - absl::Now());
      if (!response.ok() || response->events_size() > 0 ||
          response->initial_state_end()) {
        return response;
      }
    }
  }

  WatchStream& stream() { return *stream_; }
  void Close() { stream_.reset(); }

 private:
  struct State {
    absl::Mutex mu;
    std::optional<absl::StatusOr<etagd::v1::WatchResponse>> result
        ABSL_GUARDED_BY(mu);
  };
  const std::shared_ptr<State> state_;
  std::unique_ptr<WatchStream> stream_;
  bool asked_ = false;
};

}  // namespace etagd

#endif  // ETAGD_TESTS_FEED_WATCH_READER_H_
