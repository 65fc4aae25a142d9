// The import write path (WriteRequest::import_update_time, set only by
// service/import_service.h) as every engine must have it: the given times
// are stored, a resource's update times still never go backwards, and no
// later write is earlier. Part of StoreConformanceTest (store_conformance.h),
// so each engine's test runs these too.
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "tests/service/store_conformance.h"
#include "tests/testing/status_matchers.h"

namespace etagd {
namespace {

const absl::Time kClock = absl::FromUnixSeconds(2'000'000'000);
const absl::Time kSourceCreated = absl::FromUnixSeconds(1'500'000'000);
const absl::Time kSourceUpdated = absl::FromUnixSeconds(1'600'000'000);

// An imported write of `name` (a put, or a deletion) at `update_time`.
absl::StatusOr<Record> ImportWrite(Store& store, const std::string& name,
                                   absl::Time update_time,
                                   std::optional<absl::Time> create_time,
                                   bool is_delete = false) {
  absl::StatusOr<std::optional<Record>> current =
      store.ReadCurrent(name, false);
  if (!current.ok()) return current.status();
  WriteRequest request;
  request.name = name;
  request.expected_revision = current->has_value() ? (*current)->revision : 0;
  request.is_delete = is_delete;
  request.content = "imported";
  request.content_type = "text/plain";
  request.import_update_time = update_time;
  request.import_create_time = create_time;
  return store.Write(request);
}

}  // namespace

TEST_P(StoreConformanceTest, AnImportedPutKeepsItsUpdateAndCreateTimes) {
  absl::StatusOr<Record> written =
      ImportWrite(*store_, "a", kSourceUpdated, kSourceCreated);
  ASSERT_THAT(written, IsOk());
  EXPECT_EQ(written->update_time, kSourceUpdated);
  EXPECT_EQ(written->create_time, kSourceCreated);
  Reopen();
  const Record current = Current("a");
  EXPECT_EQ(current.update_time, kSourceUpdated);
  EXPECT_EQ(current.create_time, kSourceCreated);
}

TEST_P(StoreConformanceTest, AnImportedPutOfALiveResourceKeepsItsCreateTime) {
  ASSERT_THAT(ImportWrite(*store_, "a", kSourceCreated, kSourceCreated),
              IsOk());
  absl::StatusOr<Record> second = ImportWrite(*store_, "a", kSourceUpdated,
                                              kSourceUpdated - absl::Hours(1));
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->create_time, kSourceCreated);
  EXPECT_EQ(second->version, 2);
}

TEST_P(StoreConformanceTest, AnImportedDeletionKeepsItsTime) {
  ASSERT_THAT(ImportWrite(*store_, "a", kSourceCreated, std::nullopt), IsOk());
  absl::StatusOr<Record> deletion = ImportWrite(
      *store_, "a", kSourceUpdated, std::nullopt, /*is_delete=*/true);
  ASSERT_THAT(deletion, IsOk());
  EXPECT_TRUE(deletion->deleted);
  EXPECT_EQ(deletion->update_time, kSourceUpdated);
}

TEST_P(StoreConformanceTest,
       AnImportedTimeBeforeTheCurrentRecordsIsRaisedToIt) {
  options_.clock = [] { return kClock; };
  Reopen();
  Put("a", "the target's own");
  absl::StatusOr<Record> imported =
      ImportWrite(*store_, "a", kSourceUpdated, std::nullopt);
  ASSERT_THAT(imported, IsOk());
  EXPECT_EQ(imported->update_time, kClock);
}

TEST_P(StoreConformanceTest, AWriteAfterAnImportIsNotEarlierThanIt) {
  options_.clock = [] { return kClock; };
  Reopen();
  const absl::Time ahead = kClock + absl::Hours(1);
  ASSERT_THAT(ImportWrite(*store_, "a", ahead, std::nullopt), IsOk());
  EXPECT_GE(Put("b", "x").update_time, ahead);
  Reopen();
  EXPECT_GE(Put("a", "y").update_time, ahead);
}

}  // namespace etagd
