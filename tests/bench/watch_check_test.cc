#include "bench/watch_check.h"

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace etagd {
namespace {

WriteLog Written(std::initializer_list<int64_t> revisions, int64_t failed = 0) {
  WriteLog log;
  log.revisions = revisions;
  log.failed = failed;
  return log;
}

DeliveryRecord Received(int64_t first, std::initializer_list<int64_t> revisions) {
  DeliveryRecord record(first);
  for (int64_t revision : revisions) record.Add(revision);
  return record;
}

// The revisions need not be consecutive: other keys' writes take some.
TEST(WatchCheckTest, EveryWriteOnceInOrderIsComplete) {
  const DeliveryVerdict verdict =
      CheckDeliveries(Received(10, {10, 12, 13, 20}), Written({10, 12, 13, 20}));
  EXPECT_TRUE(verdict.complete());
}

TEST(WatchCheckTest, NothingWrittenNothingReceivedIsComplete) {
  EXPECT_TRUE(CheckDeliveries(Received(10, {}), Written({})).complete());
}

TEST(WatchCheckTest, AMissedEventIsCounted) {
  const DeliveryVerdict verdict =
      CheckDeliveries(Received(10, {10, 13, 20}), Written({10, 12, 13, 20}));
  EXPECT_FALSE(verdict.complete());
  EXPECT_EQ(verdict.missed, 1);
}

TEST(WatchCheckTest, AMissedLastEventIsCounted) {
  const DeliveryVerdict verdict =
      CheckDeliveries(Received(10, {10, 12, 13}), Written({10, 12, 13, 20}));
  EXPECT_EQ(verdict.missed, 1);
}

TEST(WatchCheckTest, ARepeatedEventIsOutOfOrder) {
  const DeliveryVerdict verdict =
      CheckDeliveries(Received(10, {10, 12, 12, 13}), Written({10, 12, 13}));
  EXPECT_FALSE(verdict.complete());
  EXPECT_EQ(verdict.out_of_order, 1);
  EXPECT_EQ(verdict.missed, 0);
}

TEST(WatchCheckTest, SwappedEventsAreOutOfOrder) {
  const DeliveryVerdict verdict =
      CheckDeliveries(Received(10, {10, 13, 12, 20}), Written({10, 12, 13, 20}));
  EXPECT_FALSE(verdict.complete());
  EXPECT_GE(verdict.out_of_order, 1);
}

TEST(WatchCheckTest, AnEventNoWriteMadeIsUnexpected) {
  const DeliveryVerdict verdict =
      CheckDeliveries(Received(10, {10, 11, 12}), Written({10, 12}));
  EXPECT_FALSE(verdict.complete());
  EXPECT_EQ(verdict.unexpected, 1);
}

TEST(WatchCheckTest, AnEventBelowTheStartIsUnexpected) {
  const DeliveryVerdict verdict = CheckDeliveries(Received(10, {9, 10}), Written({10}));
  EXPECT_EQ(verdict.unexpected, 1);
}

// A write that timed out may still have been applied: its event is allowed.
TEST(WatchCheckTest, EventsOfFailedWritesAreAllowedUpToTheirNumber) {
  EXPECT_TRUE(
      CheckDeliveries(Received(10, {10, 11, 12}), Written({10, 12}, /*failed=*/1)).complete());
  EXPECT_EQ(
      CheckDeliveries(Received(10, {10, 11, 12, 14}), Written({10, 12}, /*failed=*/1)).unexpected,
      1);
}

TEST(WatchCheckTest, ARecordSpanningManyWordsKeepsEveryRevision) {
  DeliveryRecord record(1);
  WriteLog log;
  for (int64_t revision = 1; revision <= 1000; revision += 3) {
    record.Add(revision);
    log.revisions.push_back(revision);
  }
  EXPECT_TRUE(CheckDeliveries(record, log).complete());
  EXPECT_EQ(record.distinct(), static_cast<int64_t>(log.revisions.size()));
}

TEST(WriteLogTest, FormatThenParseGivesTheLogWithRevisionsSorted) {
  WriteLog log;
  log.begin_nanos = 1234567890123;
  log.failed = 2;
  log.revisions = {30, 10, 20};
  absl::StatusOr<WriteLog> parsed = ParseWriteLog(FormatWriteLog(log));
  ASSERT_THAT(parsed, IsOk());
  EXPECT_EQ(parsed->begin_nanos, 1234567890123);
  EXPECT_EQ(parsed->failed, 2);
  EXPECT_EQ(parsed->revisions, (std::vector<int64_t>{10, 20, 30}));
}

TEST(WriteLogTest, TwoWritesAtOneRevisionAreRejected) {
  WriteLog log;
  log.revisions = {10, 11, 10};
  EXPECT_THAT(ParseWriteLog(FormatWriteLog(log)),
              StatusIs(absl::StatusCode::kInvalidArgument, "revision 10"));
}

TEST(WriteLogTest, TextWithoutTheHeaderIsRejected) {
  EXPECT_THAT(ParseWriteLog("begin 1\nfailed 0\n5\n"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(WriteLogTest, AMalformedRevisionIsRejected) {
  EXPECT_THAT(ParseWriteLog("# watch-bench write log v1\nbegin 1\nfailed 0\n11x\nend 1\n"),
              StatusIs(absl::StatusCode::kInvalidArgument, "not a revision"));
}

TEST(WriteLogTest, ALogCutShortIsRejected) {
  WriteLog log;
  log.revisions = {10, 11, 12};
  const std::string text = FormatWriteLog(log);
  const std::string cut = text.substr(0, text.rfind("12\n"));
  EXPECT_THAT(ParseWriteLog(cut), StatusIs(absl::StatusCode::kInvalidArgument, "cut short"));
}

TEST(WriteLogTest, AnEmptyTextIsRejected) {
  EXPECT_THAT(ParseWriteLog(""), StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace etagd
