// Admin.ImportVersion's core over a real RocksDB store: times and metadata
// as given, fresh revisions and ETags, refusal of resources it did not write,
// and at-most-once writes that make a re-run import resume.
#include "service/import_service.h"

#include <memory>
#include <optional>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/time_util.h"
#include "gtest/gtest.h"
#include "service/store/rocksdb/rocksdb_store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;
using ::google::protobuf::util::TimeUtil;
using ::testing::HasSubstr;

constexpr char kImportId[] = "0123456789abcdef";

google::protobuf::Timestamp At(absl::Time t) {
  return TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(t));
}

class ImportServiceTest : public testing::Test {
 protected:
  void SetUp() override {
    RocksDbStoreOptions options;
    options.path = TestPath("db");
    options.history_depth = 10;
    absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(options);
    ASSERT_THAT(store, IsOk());
    store_ = *std::move(store);
    import_ = std::make_unique<ImportService>(*store_, ImportServiceOptions{});
  }

  v1::ImportVersionRequest Version(const std::string& name,
                                   int64_t source_revision,
                                   absl::Time update_time,
                                   const std::string& content = "x") {
    v1::ImportVersionRequest request;
    request.set_name(name);
    request.set_content(content);
    request.set_content_type("text/plain");
    *request.mutable_update_time() = At(update_time);
    request.set_import_id(kImportId);
    request.set_source_revision(source_revision);
    return request;
  }

  Record Current(const std::string& name) {
    absl::StatusOr<std::optional<Record>> current =
        store_->ReadCurrent(name, true);
    EXPECT_THAT(current, IsOk());
    return current.ok() && current->has_value() ? **current : Record{};
  }

  void PutDirectly(const std::string& name) {
    WriteRequest write;
    write.name = name;
    write.content = "the target's own";
    absl::StatusOr<std::optional<Record>> current =
        store_->ReadCurrent(name, false);
    ASSERT_THAT(current, IsOk());
    write.expected_revision = current->has_value() ? (*current)->revision : 0;
    ASSERT_THAT(store_->Write(write), IsOk());
  }

  const absl::Time created_ = absl::FromUnixSeconds(1'600'000'000);
  std::unique_ptr<Store> store_;
  std::unique_ptr<ImportService> import_;
};

TEST_F(ImportServiceTest, KeepsContentTypeMetadataAndBothTimes) {
  v1::ImportVersionRequest request =
      Version("doc", 7, created_ + absl::Hours(1), "body");
  *request.mutable_create_time() = At(created_);
  request.mutable_http_metadata()->set_cache_control("max-age=60");
  (*request.mutable_http_metadata()->mutable_user_metadata())["owner"] = "ops";
  ASSERT_THAT(import_->ImportVersion(request), IsOk());
  const Record record = Current("doc");
  EXPECT_EQ(record.content, "body");
  EXPECT_EQ(record.content_type, "text/plain");
  EXPECT_EQ(record.metadata.cache_control, "max-age=60");
  EXPECT_EQ(record.metadata.user.at("owner"), "ops");
  EXPECT_EQ(record.create_time, created_);
  EXPECT_EQ(record.update_time, created_ + absl::Hours(1));
}

TEST_F(ImportServiceTest, AnswersTheTargetsOwnRevisionAndAFreshEtag) {
  absl::StatusOr<v1::ImportVersionResponse> imported =
      import_->ImportVersion(Version("doc", 900, created_));
  ASSERT_THAT(imported, IsOk());
  EXPECT_EQ(imported->resource().revision(), 1);
  EXPECT_EQ(imported->resource().etag(), Current("doc").etag);
  EXPECT_THAT(imported->resource().etag(), testing::StartsWith("\"1-"));
}

TEST_F(ImportServiceTest, AVersionAlreadyImportedIsNotWrittenAgain) {
  ASSERT_THAT(import_->ImportVersion(Version("doc", 3, created_, "v1")),
              IsOk());
  ASSERT_THAT(import_->ImportVersion(Version("doc", 5, created_, "v2")),
              IsOk());
  absl::StatusOr<v1::ImportVersionResponse> again =
      import_->ImportVersion(Version("doc", 3, created_, "v1"));
  ASSERT_THAT(again, IsOk());
  EXPECT_TRUE(again->already_imported());
  EXPECT_EQ(Current("doc").content, "v2");
  EXPECT_EQ(Current("doc").revision, 2);
}

TEST_F(ImportServiceTest, AResourceTheImportDidNotWriteIsRefused) {
  PutDirectly("doc");
  EXPECT_THAT(import_->ImportVersion(Version("doc", 3, created_)),
              StatusIs(absl::StatusCode::kAlreadyExists, "--overwrite"));
  EXPECT_EQ(Current("doc").content, "the target's own");
}

TEST_F(ImportServiceTest, AnotherImportsResourceIsRefused) {
  ASSERT_THAT(import_->ImportVersion(Version("doc", 3, created_)), IsOk());
  v1::ImportVersionRequest other = Version("doc", 9, created_);
  other.set_import_id("fedcba9876543210");
  EXPECT_THAT(import_->ImportVersion(other),
              StatusIs(absl::StatusCode::kAlreadyExists));
}

TEST_F(ImportServiceTest, OverwriteAddsTheVersionAfterTheTargetsOwn) {
  PutDirectly("doc");
  v1::ImportVersionRequest request = Version("doc", 3, created_, "imported");
  request.set_overwrite(true);
  ASSERT_THAT(import_->ImportVersion(request), IsOk());
  EXPECT_EQ(Current("doc").content, "imported");
  absl::StatusOr<ListPage> versions = store_->ListVersions("doc", 0, 10);
  ASSERT_THAT(versions, IsOk());
  EXPECT_EQ(versions->records.size(), 2u);
}

TEST_F(ImportServiceTest, AnUpdateTimeBeforeTheCurrentOneIsRaisedToIt) {
  ASSERT_THAT(
      import_->ImportVersion(Version("doc", 3, created_ + absl::Hours(2))),
      IsOk());
  ASSERT_THAT(import_->ImportVersion(Version("doc", 4, created_)), IsOk());
  EXPECT_EQ(Current("doc").update_time, created_ + absl::Hours(2));
}

TEST_F(ImportServiceTest, LaterWritesAreNeverEarlierThanAnImportedTime) {
  const absl::Time future =
      absl::FromUnixMicros(absl::ToUnixMicros(absl::Now() + absl::Hours(24)));
  ASSERT_THAT(import_->ImportVersion(Version("doc", 3, future)), IsOk());
  PutDirectly("other");
  EXPECT_GE(Current("other").update_time, future);
}

TEST_F(ImportServiceTest, ADeletionOfAResourceTheTargetLacksIsSkipped) {
  v1::ImportVersionRequest deletion = Version("doc", 3, created_);
  deletion.set_deleted(true);
  absl::StatusOr<v1::ImportVersionResponse> imported =
      import_->ImportVersion(deletion);
  ASSERT_THAT(imported, IsOk());
  EXPECT_TRUE(imported->skipped());
  absl::StatusOr<std::optional<Record>> current =
      store_->ReadCurrent("doc", false);
  ASSERT_THAT(current, IsOk());
  EXPECT_FALSE(current->has_value());
}

TEST_F(ImportServiceTest, ADeletionKeepsItsTimeAndTheNextVersionFollowsIt) {
  ASSERT_THAT(import_->ImportVersion(Version("doc", 3, created_, "v1")),
              IsOk());
  v1::ImportVersionRequest deletion =
      Version("doc", 4, created_ + absl::Minutes(1));
  deletion.set_deleted(true);
  ASSERT_THAT(import_->ImportVersion(deletion), IsOk());
  EXPECT_TRUE(Current("doc").deleted);
  EXPECT_EQ(Current("doc").update_time, created_ + absl::Minutes(1));
  ASSERT_THAT(import_->ImportVersion(
                  Version("doc", 5, created_ + absl::Minutes(2), "v3")),
              IsOk());
  EXPECT_EQ(Current("doc").content, "v3");
  EXPECT_EQ(Current("doc").create_time, created_ + absl::Minutes(2));
}

TEST_F(ImportServiceTest, RefusesBadInput) {
  v1::ImportVersionRequest no_time = Version("doc", 3, created_);
  no_time.clear_update_time();
  EXPECT_THAT(import_->ImportVersion(no_time),
              StatusIs(absl::StatusCode::kInvalidArgument, "update_time"));
  v1::ImportVersionRequest bad_id = Version("doc", 3, created_);
  bad_id.set_import_id("not-hex");
  EXPECT_THAT(import_->ImportVersion(bad_id),
              StatusIs(absl::StatusCode::kInvalidArgument, "import_id"));
  EXPECT_THAT(import_->ImportVersion(Version("a/../b", 3, created_)),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(import_->ImportVersion(Version("doc", 0, created_)),
              StatusIs(absl::StatusCode::kInvalidArgument, "source_revision"));
  v1::ImportVersionRequest big =
      Version("doc", 3, created_, std::string(5 << 20, 'x'));
  EXPECT_THAT(
      import_->ImportVersion(big),
      StatusIs(absl::StatusCode::kResourceExhausted, "max_content_bytes"));
}

TEST(ImportRequestIdTest, RoundTrips) {
  std::optional<ImportMark> mark =
      ParseImportRequestId(ImportRequestId("0123456789abcdef", 42));
  ASSERT_TRUE(mark.has_value());
  EXPECT_EQ(mark->import_id, "0123456789abcdef");
  EXPECT_EQ(mark->source_revision, 42);
}

TEST(ImportRequestIdTest, OtherIdsAreNotMarks) {
  for (const char* id :
       {"", "client-id", "etagd-import/0123456789abcdef",
        "etagd-import/0123456789abcdef/0", "etagd-import/0123456789ABCDEF/5",
        "etagd-import/0123456789abcdef/5/6"}) {
    EXPECT_FALSE(ParseImportRequestId(id).has_value()) << id;
  }
}

}  // namespace
}  // namespace etagd
