#include "gateway/version_head_cache.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace etagd {
namespace {

std::shared_ptr<const VersionHead> Head(const std::string& lines) {
  auto head = std::make_shared<VersionHead>();
  head->lines = lines;
  head->not_modified_size = lines.size();
  return head;
}

TEST(VersionHeadCacheTest, FindsWhatWasInsertedForTheTag) {
  VersionHeadCache cache(1 << 20);
  cache.Insert("\"1-a\"", Head("ETag: \"1-a\"\r\n"));
  std::shared_ptr<const VersionHead> found = cache.Find("\"1-a\"");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(found->lines, "ETag: \"1-a\"\r\n");
}

TEST(VersionHeadCacheTest, AnotherTagFindsNothing) {
  VersionHeadCache cache(1 << 20);
  cache.Insert("\"1-a\"", Head("ETag: \"1-a\"\r\n"));
  EXPECT_EQ(cache.Find("\"2-b\""), nullptr);
}

TEST(VersionHeadCacheTest, InsertReplacesWhatWasKeptForTheTag) {
  VersionHeadCache cache(1 << 20);
  cache.Insert("\"1-a\"", Head("short\r\n"));
  cache.Insert("\"1-a\"", Head("longer\r\n"));
  EXPECT_EQ(cache.Find("\"1-a\"")->lines, "longer\r\n");
  EXPECT_EQ(cache.entries(), 1);
}

TEST(VersionHeadCacheTest, StaysWithinItsBytesDroppingTheLeastRecentlyUsed) {
  const std::string lines(200, 'x');
  VersionHeadCache probe(1 << 20);
  probe.Insert("\"0-0\"", Head(lines));
  const int64_t entry = probe.bytes();
  VersionHeadCache cache(3 * entry);
  for (int i = 0; i < 3; ++i) cache.Insert(absl::StrCat("\"", i, "-0\""), Head(lines));
  ASSERT_NE(cache.Find("\"0-0\""), nullptr);  // Now the most recently used.
  cache.Insert("\"3-0\"", Head(lines));
  EXPECT_LE(cache.bytes(), 3 * entry);
  EXPECT_EQ(cache.entries(), 3);
  EXPECT_NE(cache.Find("\"0-0\""), nullptr);
  EXPECT_EQ(cache.Find("\"1-0\""), nullptr);
  EXPECT_NE(cache.Find("\"3-0\""), nullptr);
}

TEST(VersionHeadCacheTest, NoBytesKeepsNothing) {
  VersionHeadCache cache(0);
  cache.Insert("\"1-a\"", Head("ETag: \"1-a\"\r\n"));
  EXPECT_EQ(cache.Find("\"1-a\""), nullptr);
  EXPECT_EQ(cache.bytes(), 0);
}

TEST(VersionHeadCacheTest, AHeadLargerThanTheCapacityIsNotKept) {
  VersionHeadCache cache(100);
  cache.Insert("\"1-a\"", Head(std::string(1000, 'x')));
  EXPECT_EQ(cache.entries(), 0);
  EXPECT_EQ(cache.bytes(), 0);
}

}  // namespace
}  // namespace etagd
