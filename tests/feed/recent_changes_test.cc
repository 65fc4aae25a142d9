// The shared window of the latest changes: what it covers and what a
// cursor collects from it. Pure.
#include "service/feed/recent_changes.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

Record Change(int64_t revision, const std::string& name,
              const std::string& content = "x") {
  Record record;
  record.name = name;
  record.revision = revision;
  record.content = content;
  return record;
}

ChangePage Page(std::vector<Record> changes, int64_t next_revision) {
  ChangePage page;
  page.changes = std::move(changes);
  page.next_revision = next_revision;
  return page;
}

v1::WatchRequest Prefix(const std::string& prefix, bool content = false) {
  v1::WatchRequest request;
  request.set_prefix(prefix);
  request.set_include_content(content);
  return request;
}

std::vector<int64_t> Revisions(const RecentChanges::Collected& collected) {
  std::vector<int64_t> revisions;
  for (const SharedEvent& event : collected.events) {
    revisions.push_back(event.event().resource().revision());
  }
  return revisions;
}

TEST(RecentChangesTest, StartsEmptyAtItsFirstRevision) {
  RecentChanges window(1 << 20, 8);
  EXPECT_EQ(window.begin(), 8);
  EXPECT_EQ(window.end(), 7);
}

TEST(RecentChangesTest, RevisionsWithoutAChangeAreCoveredToo) {
  RecentChanges window(1 << 20, 1);
  window.Append(Page({Change(2, "a"), Change(5, "b")}, 9), false);
  EXPECT_EQ(window.begin(), 1);
  EXPECT_EQ(window.end(), 8);
}

TEST(RecentChangesTest, CollectGivesMatchingChangesFromTheCursorOn) {
  RecentChanges window(1 << 20, 1);
  window.Append(Page({Change(1, "a/1"), Change(2, "b/1"), Change(3, "a/2")}, 4),
                false);
  RecentChanges::Collected collected = window.Collect(Prefix("a/"), 2, 10, 1 << 20);
  EXPECT_FALSE(collected.behind);
  EXPECT_EQ(Revisions(collected), (std::vector<int64_t>{3}));
  EXPECT_EQ(collected.next_revision, 4);
}

TEST(RecentChangesTest, CollectWithNothingNewMovesTheCursorToTheEnd) {
  RecentChanges window(1 << 20, 1);
  window.Append(Page({Change(1, "b/1"), Change(2, "b/2")}, 6), false);
  RecentChanges::Collected collected = window.Collect(Prefix("a/"), 1, 10, 1 << 20);
  EXPECT_TRUE(collected.events.empty());
  EXPECT_EQ(collected.next_revision, 6);
}

TEST(RecentChangesTest, ACursorAheadOfTheWindowStaysWhereItIs) {
  RecentChanges window(1 << 20, 1);
  window.Append(Page({Change(1, "a")}, 2), false);
  EXPECT_EQ(window.Collect(Prefix(""), 9, 10, 1 << 20).next_revision, 9);
}

TEST(RecentChangesTest, CollectStopsAtTheEventLimitAndResumesThere) {
  RecentChanges window(1 << 20, 1);
  window.Append(Page({Change(1, "a"), Change(2, "a"), Change(3, "a")}, 4), false);
  RecentChanges::Collected first = window.Collect(Prefix(""), 1, 2, 1 << 20);
  EXPECT_EQ(Revisions(first), (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(first.next_revision, 3);
  EXPECT_EQ(Revisions(window.Collect(Prefix(""), first.next_revision, 2, 1 << 20)),
            (std::vector<int64_t>{3}));
}

TEST(RecentChangesTest, TheFirstEventAlwaysFitsTheByteLimit) {
  RecentChanges window(1 << 20, 1);
  window.Append(Page({Change(1, "a"), Change(2, "a")}, 3), false);
  EXPECT_EQ(Revisions(window.Collect(Prefix(""), 1, 10, 1)),
            (std::vector<int64_t>{1}));
}

TEST(RecentChangesTest, TheOldestChangesLeaveWhenOverTheByteBound) {
  RecentChanges probe(1 << 20, 1);
  probe.Append(Page({Change(1, "a")}, 2), false);
  const int64_t one = probe.bytes();
  RecentChanges window(2 * one, 1);
  window.Append(Page({Change(1, "a"), Change(2, "a"), Change(3, "a")}, 4), false);
  EXPECT_LE(window.bytes(), 2 * one);
  EXPECT_EQ(window.begin(), 2);
  EXPECT_TRUE(window.Collect(Prefix(""), 1, 10, 1 << 20).behind);
  EXPECT_EQ(Revisions(window.Collect(Prefix(""), 2, 10, 1 << 20)),
            (std::vector<int64_t>{2, 3}));
}

TEST(RecentChangesTest, AZeroBoundHoldsNothingButKnowsWhereItIs) {
  RecentChanges window(0, 1);
  window.Append(Page({Change(1, "a"), Change(2, "a")}, 3), false);
  EXPECT_EQ(window.bytes(), 0);
  EXPECT_EQ(window.begin(), 3);
  EXPECT_EQ(window.end(), 2);
  EXPECT_FALSE(window.Collect(Prefix(""), 3, 10, 1 << 20).behind);
}

TEST(RecentChangesTest, ContentIsServedOnlyFromPagesReadWithIt) {
  RecentChanges window(1 << 20, 1);
  window.Append(Page({Change(1, "a")}, 2), false);
  window.Append(Page({Change(2, "a", "payload")}, 3), true);
  EXPECT_EQ(window.content_begin(), 2);
  EXPECT_TRUE(window.Collect(Prefix("", true), 1, 10, 1 << 20).behind);
  RecentChanges::Collected collected = window.Collect(Prefix("", true), 2, 10, 1 << 20);
  ASSERT_EQ(collected.events.size(), 1u);
  EXPECT_EQ(collected.events[0].event().resource().content(), "payload");
  // Without content asked, the event has none.
  EXPECT_EQ(window.Collect(Prefix(""), 2, 10, 1 << 20).events[0].event().resource().content(), "");
}

TEST(RecentChangesTest, APageWithoutContentMovesTheContentStartPastIt) {
  RecentChanges window(1 << 20, 1);
  window.Append(Page({Change(1, "a")}, 2), true);
  window.Append(Page({Change(2, "a")}, 3), false);
  EXPECT_EQ(window.content_begin(), 3);
}

TEST(RecentChangesTest, ResetStartsOverAtTheGivenRevision) {
  RecentChanges window(1 << 20, 1);
  window.Append(Page({Change(1, "a")}, 2), false);
  window.Reset(40);
  EXPECT_EQ(window.begin(), 40);
  EXPECT_EQ(window.end(), 39);
  EXPECT_EQ(window.bytes(), 0);
  EXPECT_TRUE(window.Collect(Prefix(""), 1, 10, 1 << 20).behind);
}

}  // namespace
}  // namespace etagd
