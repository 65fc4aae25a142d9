#include "gateway/coded_cache.h"

#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gateway/content_coding.h"
#include "gtest/gtest.h"

namespace etagd {
namespace {

std::string Text(int seed) {
  std::string text;
  for (int i = 0; i < 1000; ++i) absl::StrAppend(&text, seed, " version ", i, "; ");
  return text;
}

TEST(CodedCacheTest, ReturnsTheEncodedContent) {
  CodedCache cache(1 << 20);
  absl::StatusOr<std::shared_ptr<const std::string>> coded =
      cache.Get("\"1-a\"", "gzip", Text(1));
  ASSERT_TRUE(coded.ok()) << coded.status();
  EXPECT_EQ(**coded, *EncodeContent("gzip", Text(1)));
}

TEST(CodedCacheTest, EncodesEachVersionAndCodingOnce) {
  CodedCache cache(1 << 20);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(cache.Get("\"1-a\"", "gzip", Text(1)).ok());
    ASSERT_TRUE(cache.Get("\"1-a\"", "br", Text(1)).ok());
  }
  EXPECT_EQ(cache.encodes(), 2);
  EXPECT_EQ(cache.entries(), 2);
}

TEST(CodedCacheTest, StaysWithinItsCapacityEvictingTheLeastRecentlyUsed) {
  const int64_t capacity = 16 << 10;
  CodedCache cache(capacity);
  ASSERT_TRUE(cache.Get("\"0-a\"", "gzip", Text(0)).ok());
  for (int i = 1; i < 200; ++i) {
    ASSERT_TRUE(cache.Get(absl::StrCat("\"", i, "-a\""), "gzip", Text(i)).ok());
    // Keeps version 0 the most recently used.
    ASSERT_TRUE(cache.Get("\"0-a\"", "gzip", Text(0)).ok());
    ASSERT_LE(cache.bytes(), capacity);
  }
  EXPECT_GT(cache.entries(), 1);
  EXPECT_LT(cache.entries(), 200);
  // Version 0 stayed: encoded once; the others each once.
  EXPECT_EQ(cache.encodes(), 200);
}

TEST(CodedCacheTest, AFormLargerThanTheCapacityIsServedButNotKept) {
  CodedCache cache(64);
  absl::StatusOr<std::shared_ptr<const std::string>> coded =
      cache.Get("\"1-a\"", "gzip", Text(1));
  ASSERT_TRUE(coded.ok());
  EXPECT_FALSE((*coded)->empty());
  EXPECT_EQ(cache.entries(), 0);
  EXPECT_EQ(cache.bytes(), 0);
}

TEST(CodedCacheTest, ConcurrentRequestsForOneVersionEncodeItOnce) {
  CodedCache cache(1 << 20);
  std::string content;
  for (int i = 0; i < 200; ++i) content += Text(i);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      absl::StatusOr<std::shared_ptr<const std::string>> coded =
          cache.Get("\"1-a\"", "br", content);
      EXPECT_TRUE(coded.ok());
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(cache.encodes(), 1);
}

TEST(CodedCacheTest, AnUnknownCodingIsAnErrorAndNotKept) {
  CodedCache cache(1 << 20);
  EXPECT_FALSE(cache.Get("\"1-a\"", "compress", "x").ok());
  EXPECT_EQ(cache.entries(), 0);
}

}  // namespace
}  // namespace etagd
