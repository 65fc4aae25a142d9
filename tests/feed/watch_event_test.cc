#include "service/feed/watch_event.h"

#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

struct MatchCase {
  std::string prefix;
  bool exact;
  std::string name;
  bool matches;
};

class WatchMatchesTest : public testing::TestWithParam<MatchCase> {};

TEST_P(WatchMatchesTest, SelectsNamesByPrefixOrExactly) {
  v1::WatchRequest request;
  request.set_prefix(GetParam().prefix);
  request.set_exact(GetParam().exact);
  EXPECT_EQ(WatchMatches(request, GetParam().name), GetParam().matches);
}

INSTANTIATE_TEST_SUITE_P(
    Table, WatchMatchesTest,
    testing::Values(
        // An empty prefix watches everything.
        MatchCase{"", false, "a", true},
        MatchCase{"a/", false, "a/b", true},
        MatchCase{"a/", false, "a/", true},
        MatchCase{"a/", false, "a", false},
        MatchCase{"a/", false, "b/a/", false},
        // A prefix is bytes, not path segments.
        MatchCase{"a", false, "ab", true},
        // exact: that one name only.
        MatchCase{"a", true, "a", true},
        MatchCase{"a", true, "ab", false},
        MatchCase{"", true, "a", false}));

Record Version() {
  Record record;
  record.name = "n";
  record.content = "hello";
  record.content_length = 5;
  record.content_type = "text/plain";
  record.revision = 7;
  record.create_revision = 3;
  record.version = 2;
  record.create_time = absl::FromUnixSeconds(100);
  record.update_time = absl::FromUnixMicros(200'000'001);
  record.etag = "\"7-1\"";
  return record;
}

TEST(ToWatchEventTest, AVersionCarriesItsMetadataButNoContentByDefault) {
  const v1::WatchEvent event = ToWatchEvent(Version(), false, false);
  EXPECT_FALSE(event.deleted());
  EXPECT_FALSE(event.initial());
  EXPECT_EQ(event.resource().name(), "n");
  EXPECT_EQ(event.resource().revision(), 7);
  EXPECT_EQ(event.resource().create_revision(), 3);
  EXPECT_EQ(event.resource().version(), 2);
  EXPECT_EQ(event.resource().etag(), "\"7-1\"");
  EXPECT_EQ(event.resource().content_type(), "text/plain");
  EXPECT_EQ(event.resource().content_length(), 5);
  EXPECT_EQ(event.resource().create_time().seconds(), 100);
  EXPECT_EQ(event.resource().update_time().seconds(), 200);
  EXPECT_EQ(event.resource().update_time().nanos(), 1000);
  EXPECT_TRUE(event.resource().content().empty());
}

TEST(ToWatchEventTest, IncludeContentCarriesTheContent) {
  EXPECT_EQ(ToWatchEvent(Version(), true, false).resource().content(), "hello");
}

TEST(ToWatchEventTest, ADeletionCarriesNameRevisionAndTimeOnly) {
  Record deletion;
  deletion.name = "n";
  deletion.revision = 9;
  deletion.deleted = true;
  deletion.etag = "\"7-1\"";
  deletion.update_time = absl::FromUnixSeconds(300);
  const v1::WatchEvent event = ToWatchEvent(deletion, true, false);
  EXPECT_TRUE(event.deleted());
  EXPECT_EQ(event.resource().name(), "n");
  EXPECT_EQ(event.resource().revision(), 9);
  EXPECT_EQ(event.resource().update_time().seconds(), 300);
  EXPECT_TRUE(event.resource().etag().empty());
}

TEST(ToWatchEventTest, InitialStateEventsAreMarked) {
  EXPECT_TRUE(ToWatchEvent(Version(), false, true).initial());
}

}  // namespace
}  // namespace etagd
