// A Store for tests that must keep a call in flight.
#ifndef ETAGD_TESTS_TESTING_BLOCKING_STORE_H_
#define ETAGD_TESTS_TESTING_BLOCKING_STORE_H_

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "absl/synchronization/notification.h"
#include "service/store.h"

namespace etagd {

// Delegates to a real store, but holds ReadCurrent of the name "slow" until
// released, so a test can keep a call in flight.
class BlockingStore : public Store {
 public:
  explicit BlockingStore(std::unique_ptr<Store> store) : store_(std::move(store)) {}

  absl::StatusOr<std::optional<Record>> ReadCurrent(absl::string_view name,
                                                    bool with_content) override {
    if (name == "slow" && armed_.exchange(false)) {
      entered_.Notify();
      release_.WaitForNotification();
    }
    return store_->ReadCurrent(name, with_content);
  }
  absl::StatusOr<Record> ReadRevision(absl::string_view name,
                                      int64_t revision) override {
    return store_->ReadRevision(name, revision);
  }
  absl::StatusOr<Record> Write(const WriteRequest& request) override {
    return store_->Write(request);
  }
  absl::StatusOr<ListPage> List(absl::string_view prefix,
                                absl::string_view start_after, int limit,
                                bool with_content) override {
    return store_->List(prefix, start_after, limit, with_content);
  }
  absl::StatusOr<ListPage> ListVersions(absl::string_view name,
                                        int64_t before_revision,
                                        int limit) override {
    return store_->ListVersions(name, before_revision, limit);
  }

  absl::StatusOr<int64_t> Checkpoint(const std::string& directory) override {
    return store_->Checkpoint(directory);
  }

  // The next ReadCurrent of "slow" blocks until release() is notified.
  void Arm() { armed_ = true; }
  absl::Notification& entered() { return entered_; }
  absl::Notification& release() { return release_; }

 private:
  std::unique_ptr<Store> store_;
  std::atomic<bool> armed_{false};
  absl::Notification entered_;
  absl::Notification release_;
};

}  // namespace etagd

#endif  // ETAGD_TESTS_TESTING_BLOCKING_STORE_H_
