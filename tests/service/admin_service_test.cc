#include "service/admin_service.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/store/rocksdb/rocksdb_store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

class AdminServiceTest : public testing::Test {
 protected:
  void SetUp() override {
    RocksDbStoreOptions options;
    options.path = TestPath("db");
    absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(options);
    ASSERT_THAT(store, IsOk());
    store_ = *std::move(store);
    AdminServiceOptions admin;
    admin.checkpoint_dir = TestPath("checkpoints");
    admin_ = std::make_unique<AdminService>(*store_, admin);
  }

  int64_t Put(const std::string& name, const std::string& content) {
    absl::StatusOr<std::optional<Record>> current = store_->ReadCurrent(name, false);
    EXPECT_THAT(current, IsOk());
    WriteRequest write;
    write.name = name;
    write.expected_revision = current->has_value() ? (*current)->revision : 0;
    write.content = content;
    absl::StatusOr<Record> written = store_->Write(write);
    EXPECT_THAT(written, IsOk());
    return written.ok() ? written->revision : 0;
  }

  absl::StatusOr<v1::CreateCheckpointResponse> Checkpoint(const std::string& name) {
    v1::CreateCheckpointRequest request;
    request.set_name(name);
    return admin_->CreateCheckpoint(request);
  }

  std::unique_ptr<Store> store_;
  std::unique_ptr<AdminService> admin_;
};

TEST_F(AdminServiceTest, CheckpointOpensAsAStoreWithTheSameData) {
  const int64_t revision = Put("a", "one");
  absl::StatusOr<v1::CreateCheckpointResponse> checkpoint = Checkpoint("backup-1");
  ASSERT_THAT(checkpoint, IsOk());
  EXPECT_EQ(checkpoint->path(), TestPath("checkpoints") + "/backup-1");
  EXPECT_GE(checkpoint->revision(), revision);

  RocksDbStoreOptions options;
  options.path = checkpoint->path();
  absl::StatusOr<std::unique_ptr<Store>> restored = OpenRocksDbStore(options);
  ASSERT_THAT(restored, IsOk());
  absl::StatusOr<std::optional<Record>> record = (*restored)->ReadCurrent("a", true);
  ASSERT_THAT(record, IsOk());
  ASSERT_TRUE(record->has_value());
  EXPECT_EQ((*record)->content, "one");
}

TEST_F(AdminServiceTest, CheckpointTakenDuringWritesHoldsEveryEarlierAcknowledgedWrite) {
  std::atomic<bool> stop{false};
  std::atomic<int> acknowledged{0};
  std::thread writer([&] {
    for (int i = 0; !stop; ++i) {
      if (Put("k" + std::to_string(i % 50), std::to_string(i)) > 0) ++acknowledged;
    }
  });
  while (acknowledged < 20) std::this_thread::yield();
  // Everything acknowledged before the call must be in the checkpoint.
  std::vector<std::pair<std::string, std::string>> before;
  for (int i = 0; i < 50; ++i) {
    absl::StatusOr<std::optional<Record>> r =
        store_->ReadCurrent("k" + std::to_string(i), true);
    ASSERT_THAT(r, IsOk());
    if (r->has_value()) before.emplace_back("k" + std::to_string(i), (*r)->content);
  }
  absl::StatusOr<v1::CreateCheckpointResponse> checkpoint = Checkpoint("live");
  stop = true;
  writer.join();
  ASSERT_THAT(checkpoint, IsOk());

  RocksDbStoreOptions options;
  options.path = checkpoint->path();
  absl::StatusOr<std::unique_ptr<Store>> restored = OpenRocksDbStore(options);
  ASSERT_THAT(restored, IsOk());
  for (const auto& [name, content] : before) {
    absl::StatusOr<std::optional<Record>> r = (*restored)->ReadCurrent(name, true);
    ASSERT_THAT(r, IsOk());
    ASSERT_TRUE(r->has_value()) << name;
    // The copy has this write or a later one of the same key.
    EXPECT_GE(std::stoi((*r)->content), std::stoi(content)) << name;
  }
}

TEST_F(AdminServiceTest, RestoredStoreNeverReusesAnEtagOfTheOriginal) {
  // After a restore the revision counter goes back to the checkpoint's, so
  // the next write gets a revision the original store already used. Its
  // ETag must still differ (no ABA across backup and restore).
  Put("a", "one");
  absl::StatusOr<v1::CreateCheckpointResponse> checkpoint = Checkpoint("c");
  ASSERT_THAT(checkpoint, IsOk());
  WriteRequest write;
  write.name = "a";
  write.content = "two";
  write.expected_revision = (*store_->ReadCurrent("a", false))->revision;
  absl::StatusOr<Record> original = store_->Write(write);
  ASSERT_THAT(original, IsOk());

  RocksDbStoreOptions options;
  options.path = checkpoint->path();
  absl::StatusOr<std::unique_ptr<Store>> restored = OpenRocksDbStore(options);
  ASSERT_THAT(restored, IsOk());
  absl::StatusOr<Record> again = (*restored)->Write(write);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->revision, original->revision);
  EXPECT_NE(again->etag, original->etag);
}

TEST_F(AdminServiceTest, ExistingNameIsAlreadyExists) {
  ASSERT_THAT(Checkpoint("same"), IsOk());
  EXPECT_THAT(Checkpoint("same"), StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST_F(AdminServiceTest, NamesThatCouldLeaveTheDirectoryAreRefused) {
  for (const char* name : {"", "..", ".hidden", "a/b", "../escape", "sp ace",
                           "\xc3\xa9"}) {
    EXPECT_THAT(Checkpoint(name), StatusIs(absl::StatusCode::kInvalidArgument))
        << name;
  }
  EXPECT_THAT(Checkpoint(std::string(129, 'a')),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(AdminServiceTest, WithoutACheckpointDirectoryCheckpointsAreDisabled) {
  AdminService disabled(*store_, AdminServiceOptions{});
  v1::CreateCheckpointRequest request;
  request.set_name("x");
  EXPECT_THAT(disabled.CreateCheckpoint(request),
              StatusIs(absl::StatusCode::kFailedPrecondition, "--checkpoint_dir"));
}

}  // namespace
}  // namespace etagd
