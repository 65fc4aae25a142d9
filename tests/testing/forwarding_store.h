// A Store that passes every call to another one: the base of test stores
// that intercept a call or two (blocking_store.h, write_pipeline_test).
#ifndef ETAGD_TESTS_TESTING_FORWARDING_STORE_H_
#define ETAGD_TESTS_TESTING_FORWARDING_STORE_H_

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "service/store/store.h"

namespace etagd {

class ForwardingStore : public Store {
 public:
  explicit ForwardingStore(std::unique_ptr<Store> store) : store_(std::move(store)) {}

  absl::StatusOr<std::optional<Record>> ReadCurrent(absl::string_view name,
                                                    bool with_content) override {
    return store_->ReadCurrent(name, with_content);
  }
  absl::StatusOr<std::optional<Record>> ReadForWritePlan(
      absl::string_view name) override {
    return store_->ReadForWritePlan(name);
  }
  bool WritePlansMayBeStale() const override {
    return store_->WritePlansMayBeStale();
  }
  bool ReadsWaitOnTheNetwork() const override {
    return store_->ReadsWaitOnTheNetwork();
  }
  absl::StatusOr<Record> ReadRevision(absl::string_view name,
                                      int64_t revision) override {
    return store_->ReadRevision(name, revision);
  }
  absl::StatusOr<Record> Write(const WriteRequest& request) override {
    return store_->Write(request);
  }
  std::vector<absl::StatusOr<Record>> WriteMany(
      absl::Span<const WriteRequest> requests) override {
    return store_->WriteMany(requests);
  }
  using Store::List;
  absl::StatusOr<ListPage> List(absl::string_view prefix,
                                absl::string_view start_after, int limit,
                                bool with_content, int64_t at_revision) override {
    return store_->List(prefix, start_after, limit, with_content, at_revision);
  }
  bool PinsListings() const override { return store_->PinsListings(); }
  bool SupportsCheckpoint() const override { return store_->SupportsCheckpoint(); }
  absl::Status CheckHealth() override { return store_->CheckHealth(); }
  absl::StatusOr<ListPage> ListVersions(absl::string_view name,
                                        int64_t before_revision,
                                        int limit) override {
    return store_->ListVersions(name, before_revision, limit);
  }
  absl::StatusOr<int64_t> Checkpoint(const std::string& directory) override {
    return store_->Checkpoint(directory);
  }
  std::optional<StorageSpace> Space() override { return store_->Space(); }
  absl::StatusOr<ChangeWindow> Changes() override { return store_->Changes(); }
  absl::StatusOr<ChangePage> ReadChanges(int64_t from_revision,
                                         int64_t up_to_revision, int limit,
                                         bool with_content) override {
    return store_->ReadChanges(from_revision, up_to_revision, limit,
                               with_content);
  }
  absl::StatusOr<std::unique_ptr<StoreView>> View() override {
    return store_->View();
  }
  void SetCommitListener(std::function<void()> listener) override {
    store_->SetCommitListener(std::move(listener));
  }

 private:
  std::unique_ptr<Store> store_;
};

}  // namespace etagd

#endif  // ETAGD_TESTS_TESTING_FORWARDING_STORE_H_
