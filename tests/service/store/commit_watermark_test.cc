#include "service/store/commit_watermark.h"

#include "gtest/gtest.h"

namespace etagd {
namespace {

TEST(CommitWatermarkTest, StartsAtTheRevisionItIsGiven) {
  CommitWatermark watermark(41);
  EXPECT_EQ(watermark.committed(), 41);
}

TEST(CommitWatermarkTest, InOrderCommitsAdvanceItOneByOne) {
  CommitWatermark watermark(0);
  watermark.Begin(1);
  EXPECT_EQ(watermark.committed(), 0);
  EXPECT_EQ(watermark.Settle(1), 1);
  watermark.Begin(2);
  EXPECT_EQ(watermark.Settle(2), 2);
}

TEST(CommitWatermarkTest, ALaterCommitWaitsForAnEarlierOneStillCommitting) {
  CommitWatermark watermark(10);
  watermark.Begin(11);
  watermark.Begin(12);
  watermark.Begin(13);
  EXPECT_EQ(watermark.Settle(12), 10);
  EXPECT_EQ(watermark.Settle(13), 10);
  EXPECT_EQ(watermark.Settle(11), 13);
}

TEST(CommitWatermarkTest, AFailedWriteSettlesLikeACommittedOne) {
  // A failed write's revision is a gap for good: waiting for it would stall
  // every reader.
  CommitWatermark watermark(0);
  watermark.Begin(1);
  watermark.Begin(2);
  EXPECT_EQ(watermark.Settle(2), 0);
  EXPECT_EQ(watermark.Settle(1), 2);
}

TEST(CommitWatermarkTest, ARevisionBegunAfterSettlingHoldsItAgain) {
  CommitWatermark watermark(0);
  watermark.Begin(1);
  EXPECT_EQ(watermark.Settle(1), 1);
  watermark.Begin(2);
  EXPECT_EQ(watermark.committed(), 1);
  watermark.Begin(3);
  EXPECT_EQ(watermark.Settle(3), 1);
  EXPECT_EQ(watermark.Settle(2), 3);
}

}  // namespace
}  // namespace etagd
