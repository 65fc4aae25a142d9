#include "service/store/rocksdb/space_guard.h"

#include <ostream>
#include <string>

#include "absl/strings/str_split.h"
#include "etagd/v1/etagd.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/error_details.h"
#include "tests/testing/status_matchers.h"

namespace etagd {
namespace {

using ::testing::HasSubstr;
namespace v1 = ::etagd::v1;

constexpr int64_t kMiB = int64_t{1} << 20;

// ---------------------------------------------------------------------------
// EvaluateSpace and DeleteFits: the two rules, as tables.

struct SpaceCase {
  std::string rule;
  SpaceLimits limits;
  SpaceSample sample;
  int64_t bytes;
  SpaceVerdict verdict;
};

std::ostream& operator<<(std::ostream& os, const SpaceCase& c) {
  return os << c.rule;
}

class EvaluateSpaceTest : public testing::TestWithParam<SpaceCase> {};

TEST_P(EvaluateSpaceTest, FollowsTheRule) {
  const SpaceCase& c = GetParam();
  EXPECT_EQ(EvaluateSpace(c.limits, c.sample, c.bytes), c.verdict) << c.rule;
}

INSTANTIATE_TEST_SUITE_P(
    Rules, EvaluateSpaceTest,
    testing::Values(
        SpaceCase{"room under both limits",
                  {100, 10, 0},
                  {50, 50},
                  10,
                  SpaceVerdict::kRoom},
        SpaceCase{"a write may reach the quota exactly",
                  {100, 10, 0},
                  {90, 50},
                  10,
                  SpaceVerdict::kRoom},
        SpaceCase{"one byte past the quota",
                  {100, 10, 0},
                  {90, 50},
                  11,
                  SpaceVerdict::kQuota},
        SpaceCase{"a store past its quota has no room even for nothing",
                  {100, 10, 0},
                  {101, 50},
                  0,
                  SpaceVerdict::kQuota},
        SpaceCase{"quota 0 is no quota",
                  {0, 10, 0},
                  {1000000, 50},
                  10,
                  SpaceVerdict::kRoom},
        SpaceCase{"a write may leave the reserve exactly",
                  {0, 10, 0},
                  {0, 20},
                  10,
                  SpaceVerdict::kRoom},
        SpaceCase{"one byte into the reserve",
                  {0, 10, 0},
                  {0, 20},
                  11,
                  SpaceVerdict::kDisk},
        SpaceCase{"reserve 0: the disk's last byte may be written",
                  {0, 0, 0},
                  {0, 10},
                  10,
                  SpaceVerdict::kRoom},
        SpaceCase{"reserve 0: not past the last byte",
                  {0, 0, 0},
                  {0, 10},
                  11,
                  SpaceVerdict::kDisk},
        SpaceCase{"both passed: the disk is named, it is the more urgent",
                  {100, 10, 0},
                  {100, 10},
                  1,
                  SpaceVerdict::kDisk}));

struct DeleteCase {
  std::string rule;
  int64_t reserve;
  int64_t free_bytes;
  int64_t bytes;
  bool fits;
};

std::ostream& operator<<(std::ostream& os, const DeleteCase& c) {
  return os << c.rule;
}

class DeleteFitsTest : public testing::TestWithParam<DeleteCase> {};

TEST_P(DeleteFitsTest, UsesTheFirstHalfOfTheReserveOnly) {
  const DeleteCase& c = GetParam();
  SpaceLimits limits;
  limits.reserve_bytes = c.reserve;
  EXPECT_EQ(DeleteFits(limits, SpaceSample{0, c.free_bytes}, c.bytes), c.fits)
      << c.rule;
}

INSTANTIATE_TEST_SUITE_P(
    Rules, DeleteFitsTest,
    testing::Values(
        DeleteCase{"above the reserve", 100, 200, 10, true},
        DeleteCase{"into the reserve's first half", 100, 90, 10, true},
        DeleteCase{"down to half the reserve exactly", 100, 60, 10, true},
        DeleteCase{"into the second half", 100, 59, 10, false},
        DeleteCase{"reserve 0: up to the last byte", 0, 10, 10, true},
        DeleteCase{"reserve 0: not past it", 0, 10, 11, false}));

struct BytesCase {
  int64_t bytes;
  std::string text;
};

class DescribeBytesTest : public testing::TestWithParam<BytesCase> {};

TEST_P(DescribeBytesTest, IsExactAndReadable) {
  EXPECT_EQ(DescribeBytes(GetParam().bytes), GetParam().text);
}

INSTANTIATE_TEST_SUITE_P(
    Units, DescribeBytesTest,
    testing::Values(BytesCase{0, "0 bytes"}, BytesCase{1023, "1023 bytes"},
                    BytesCase{1024, "1024 bytes (1.0 KiB)"},
                    BytesCase{3 * kMiB / 2, "1572864 bytes (1.5 MiB)"},
                    BytesCase{int64_t{8} << 30, "8589934592 bytes (8.0 GiB)"}));

// ---------------------------------------------------------------------------
// SpaceGuard.

SpaceLimits Limits(int64_t quota, int64_t reserve, int64_t resume) {
  SpaceLimits limits;
  limits.quota_bytes = quota;
  limits.reserve_bytes = reserve;
  limits.resume_bytes = resume;
  return limits;
}

v1::StorageFull::Reason ReasonOf(const absl::Status& status) {
  std::optional<v1::StorageFull> detail = GetStorageFull(status);
  return detail.has_value() ? detail->reason()
                            : v1::StorageFull::REASON_UNSPECIFIED;
}

TEST(SpaceGuardTest, AdmitsPutsUntilOneWouldPassTheQuota) {
  SpaceGuard guard(Limits(100 * kMiB, 0, kMiB), "/data");
  guard.Update({90 * kMiB, 1000 * kMiB});
  EXPECT_THAT(guard.AdmitPut(5 * kMiB), IsOk());
  EXPECT_THAT(guard.AdmitPut(5 * kMiB), IsOk());
  EXPECT_FALSE(guard.full());
  absl::Status refused = guard.AdmitPut(1);
  EXPECT_THAT(refused,
              StatusIs(absl::StatusCode::kResourceExhausted, "store full"));
  EXPECT_EQ(ReasonOf(refused), v1::StorageFull::REASON_QUOTA);
  EXPECT_TRUE(guard.full());
}

TEST(SpaceGuardTest, TheQuotaRefusalSaysWhatIsFullWithTheNumbers) {
  SpaceGuard guard(Limits(100 * kMiB, 0, kMiB), "/data");
  guard.Update({100 * kMiB, 1000 * kMiB});
  absl::Status refused = guard.AdmitPut(10);
  EXPECT_THAT(refused.message(), HasSubstr("quota (--quota_bytes)"));
  EXPECT_THAT(refused.message(), HasSubstr("104857600 bytes (100.0 MiB)"));
  std::optional<v1::StorageFull> detail = GetStorageFull(refused);
  ASSERT_TRUE(detail.has_value());
  EXPECT_EQ(detail->store_bytes(), 100 * kMiB);
  EXPECT_EQ(detail->quota_bytes(), 100 * kMiB);
  EXPECT_EQ(detail->free_bytes(), 1000 * kMiB);
}

TEST(SpaceGuardTest, RefusesPutsBeforeTheDiskIsDownToTheReserve) {
  SpaceGuard guard(Limits(0, 64 * kMiB, kMiB), "/data");
  guard.Update({0, 70 * kMiB});
  EXPECT_THAT(guard.AdmitPut(6 * kMiB), IsOk());
  absl::Status refused = guard.AdmitPut(1);
  EXPECT_THAT(refused,
              StatusIs(absl::StatusCode::kResourceExhausted, "disk full"));
  EXPECT_THAT(refused.message(), HasSubstr("--disk_reserve_bytes"));
  EXPECT_EQ(ReasonOf(refused), v1::StorageFull::REASON_DISK);
}

TEST(SpaceGuardTest, CountsWhatItAdmitsBetweenMeasurements) {
  SpaceGuard guard(Limits(10 * kMiB, 0, 0), "/data");
  guard.Update({0, 1000 * kMiB});
  for (int i = 0; i < 10; ++i) EXPECT_THAT(guard.AdmitPut(kMiB), IsOk()) << i;
  EXPECT_THAT(guard.AdmitPut(kMiB),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(guard.space().store_bytes, 10 * kMiB);
}

TEST(SpaceGuardTest, EntersTheFullStateOnAMeasurementPastALimit) {
  // Another process filled the disk: no write needed to notice.
  SpaceGuard guard(Limits(0, 64 * kMiB, kMiB), "/data");
  guard.Update({0, 1000 * kMiB});
  EXPECT_FALSE(guard.full());
  guard.Update({0, 10 * kMiB});
  EXPECT_TRUE(guard.full());
}

TEST(SpaceGuardTest, LeavesTheFullStateOnlyWithRoomForTheLargestWrite) {
  SpaceGuard guard(Limits(100 * kMiB, 0, 4 * kMiB), "/data");
  guard.Update({100 * kMiB, 1000 * kMiB});
  EXPECT_TRUE(guard.full());
  guard.Update({99 * kMiB, 1000 * kMiB});
  EXPECT_TRUE(guard.full()) << "room for 1 MiB is not room for a 4 MiB write";
  EXPECT_THAT(guard.AdmitPut(10),
              StatusIs(absl::StatusCode::kResourceExhausted));
  guard.Update({96 * kMiB, 1000 * kMiB});
  EXPECT_FALSE(guard.full());
  EXPECT_THAT(guard.AdmitPut(4 * kMiB), IsOk());
}

TEST(SpaceGuardTest, AdmitsDeletesWhileFull) {
  SpaceGuard guard(Limits(100 * kMiB, 64 * kMiB, kMiB), "/data");
  guard.Update({100 * kMiB, 60 * kMiB});
  ASSERT_TRUE(guard.full());
  EXPECT_THAT(guard.AdmitDelete(1000), IsOk());
}

TEST(SpaceGuardTest, RefusesDeletesPastHalfTheReserve) {
  SpaceGuard guard(Limits(0, 64 * kMiB, kMiB), "/data");
  guard.Update({0, 33 * kMiB});
  EXPECT_THAT(guard.AdmitDelete(kMiB), IsOk());
  absl::Status refused = guard.AdmitDelete(1);
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted,
                                "deletes wait too"));
  EXPECT_EQ(ReasonOf(refused), v1::StorageFull::REASON_DISK);
}

TEST(SpaceGuardTest, AnEngineProblemRefusesEveryWriteUntilCleared) {
  SpaceGuard guard(Limits(0, 0, kMiB), "/data");
  guard.Update({0, 1000 * kMiB});
  guard.SetEngineProblem("disk full: the engine cannot write");
  absl::Status put = guard.AdmitPut(1);
  EXPECT_THAT(put, StatusIs(absl::StatusCode::kResourceExhausted,
                            "the engine cannot write"));
  EXPECT_EQ(ReasonOf(put), v1::StorageFull::REASON_ENGINE);
  EXPECT_THAT(guard.AdmitDelete(1),
              StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_TRUE(guard.DiskHasRoom()) << "the disk itself has room";
  guard.ClearEngineProblem();
  EXPECT_THAT(guard.AdmitPut(1), IsOk());
}

TEST(SpaceGuardTest, ClearingAnEngineProblemStillHonoursTheLimits) {
  SpaceGuard guard(Limits(0, 64 * kMiB, kMiB), "/data");
  guard.Update({0, 10 * kMiB});
  guard.SetEngineProblem("the engine cannot write");
  guard.ClearEngineProblem();
  EXPECT_EQ(ReasonOf(guard.AdmitPut(1)), v1::StorageFull::REASON_DISK);
}

TEST(SpaceGuardTest, CheckpointsNeedTheDiskButNotTheQuota) {
  SpaceGuard guard(Limits(100 * kMiB, 64 * kMiB, kMiB), "/data");
  guard.Update({100 * kMiB, 1000 * kMiB});
  ASSERT_TRUE(guard.full());
  EXPECT_THAT(guard.AdmitCheckpoint(), IsOk());
  guard.Update({0, 10 * kMiB});
  EXPECT_THAT(guard.AdmitCheckpoint(),
              StatusIs(absl::StatusCode::kResourceExhausted, "disk full"));
}

TEST(SpaceGuardTest, SpaceReportsTheEstimateLimitsAndState) {
  SpaceGuard guard(Limits(100 * kMiB, 64 * kMiB, kMiB), "/data");
  guard.Update({10 * kMiB, 500 * kMiB});
  ASSERT_THAT(guard.AdmitPut(kMiB), IsOk());
  StorageSpace space = guard.space();
  EXPECT_EQ(space.store_bytes, 11 * kMiB);
  EXPECT_EQ(space.free_bytes, 499 * kMiB);
  EXPECT_EQ(space.quota_bytes, 100 * kMiB);
  EXPECT_EQ(space.reserve_bytes, 64 * kMiB);
  EXPECT_FALSE(space.full);
}

int CountLines(const std::string& text, absl::string_view needle) {
  int count = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.find(needle) != absl::string_view::npos) ++count;
  }
  return count;
}

TEST(SpaceGuardTest, LogsEnteringAndLeavingTheFullStateOnceEach) {
  SpaceGuard guard(Limits(100 * kMiB, 0, kMiB), "/data");
  testing::internal::CaptureStderr();
  guard.Update({100 * kMiB, 1000 * kMiB});
  for (int i = 0; i < 100; ++i) {
    EXPECT_THAT(guard.AdmitPut(10),
                StatusIs(absl::StatusCode::kResourceExhausted));
    guard.Update({100 * kMiB, 1000 * kMiB});
  }
  guard.Update({10 * kMiB, 1000 * kMiB});
  guard.Update({10 * kMiB, 1000 * kMiB});
  const std::string log = testing::internal::GetCapturedStderr();
  EXPECT_EQ(CountLines(log, "writes refused from now on: store full"), 1)
      << log;
  EXPECT_EQ(CountLines(log, "writes accepted again"), 1) << log;
  EXPECT_THAT(log, HasSubstr("/data"));
}

}  // namespace
}  // namespace etagd
