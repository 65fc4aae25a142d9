// A Store for tests that must keep a call in flight.
#ifndef ETAGD_TESTS_TESTING_BLOCKING_STORE_H_
#define ETAGD_TESTS_TESTING_BLOCKING_STORE_H_

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "tests/testing/forwarding_store.h"

namespace etagd {

// Delegates to a real store, but holds ReadCurrent of the name "slow", or
// the next WriteMany once armed for it, until released, so a test can keep a
// call in flight or writes waiting behind a commit.
class BlockingStore : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;

  absl::StatusOr<std::optional<Record>> ReadCurrent(absl::string_view name,
                                                    bool with_content) override {
    if (name == "slow" && armed_.exchange(false)) {
      entered_.Notify();
      release_.WaitForNotification();
    }
    return ForwardingStore::ReadCurrent(name, with_content);
  }

  std::vector<absl::StatusOr<Record>> WriteMany(
      absl::Span<const WriteRequest> requests) override {
    if (writes_armed_.exchange(false)) {
      entered_.Notify();
      release_.WaitForNotification();
    }
    return ForwardingStore::WriteMany(requests);
  }

  ~BlockingStore() override {
    if (answerer_.joinable()) {
      if (!release_.HasBeenNotified()) release_.Notify();
      answerer_.join();
    }
  }

  // From now on the store says its current reads do not block (as the etcd
  // engine's consistent cache does), and an armed ReadCurrentAsync of
  // "slow" returns at once, answering from another thread once released.
  void AnswerReadsAsynchronously() { asynchronous_ = true; }
  bool ReadsCurrentWithoutBlocking() const override { return asynchronous_; }
  void ReadCurrentAsync(absl::string_view name, bool with_content,
                        ReadDone done) override {
    if (!asynchronous_ || name != "slow" || !armed_.exchange(false)) {
      return done(ForwardingStore::ReadCurrent(name, with_content));
    }
    entered_.Notify();
    answerer_ = std::thread([this, with_content, done = std::move(done)] {
      release_.WaitForNotification();
      done(ForwardingStore::ReadCurrent("slow", with_content));
    });
  }

  // The next ReadCurrent (or ReadCurrentAsync) of "slow" blocks until
  // release() is notified.
  void Arm() { armed_ = true; }
  // The next WriteMany blocks until release() is notified.
  void ArmWrites() { writes_armed_ = true; }
  absl::Notification& entered() { return entered_; }
  absl::Notification& release() { return release_; }

 private:
  std::atomic<bool> armed_{false};
  std::atomic<bool> asynchronous_{false};
  std::thread answerer_;
  std::atomic<bool> writes_armed_{false};
  absl::Notification entered_;
  absl::Notification release_;
};

}  // namespace etagd

#endif  // ETAGD_TESTS_TESTING_BLOCKING_STORE_H_
