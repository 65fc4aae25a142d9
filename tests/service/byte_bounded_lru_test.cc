#include "service/byte_bounded_lru.h"

#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace etagd {
namespace {

using Lru = ByteBoundedLru<std::string>;

TEST(ByteBoundedLruTest, FindsWhatWasInsertedForTheKey) {
  Lru lru(100);
  ASSERT_TRUE(lru.Insert("a", "one", 10));
  ASSERT_NE(lru.Find("a"), nullptr);
  EXPECT_EQ(*lru.Find("a"), "one");
  EXPECT_EQ(lru.Find("b"), nullptr);
}

TEST(ByteBoundedLruTest, TheLeastRecentlyUsedFallsOutFirst) {
  Lru lru(30);
  lru.Insert("a", "", 10);
  lru.Insert("b", "", 10);
  lru.Insert("c", "", 10);
  lru.Insert("d", "", 10);
  EXPECT_FALSE(lru.Contains("a"));
  EXPECT_TRUE(lru.Contains("b"));
  EXPECT_TRUE(lru.Contains("c"));
  EXPECT_TRUE(lru.Contains("d"));
}

TEST(ByteBoundedLruTest, AFindMakesAnEntryTheMostRecentlyUsed) {
  Lru lru(30);
  lru.Insert("a", "", 10);
  lru.Insert("b", "", 10);
  lru.Insert("c", "", 10);
  ASSERT_NE(lru.Find("a"), nullptr);
  lru.Insert("d", "", 10);
  EXPECT_TRUE(lru.Contains("a"));
  EXPECT_FALSE(lru.Contains("b"));
}

TEST(ByteBoundedLruTest, APeekLeavesTheOrderAsItIs) {
  Lru lru(30);
  lru.Insert("a", "one", 10);
  lru.Insert("b", "", 10);
  lru.Insert("c", "", 10);
  ASSERT_NE(lru.Peek("a"), nullptr);
  EXPECT_EQ(*lru.Peek("a"), "one");
  lru.Insert("d", "", 10);
  EXPECT_FALSE(lru.Contains("a"));
  EXPECT_TRUE(lru.Contains("b"));
}

TEST(ByteBoundedLruTest, AnInsertMakesAReplacedEntryTheMostRecentlyUsed) {
  Lru lru(30);
  lru.Insert("a", "", 10);
  lru.Insert("b", "", 10);
  lru.Insert("c", "", 10);
  lru.Insert("a", "again", 10);
  lru.Insert("d", "", 10);
  EXPECT_EQ(*lru.Peek("a"), "again");
  EXPECT_FALSE(lru.Contains("b"));
}

TEST(ByteBoundedLruTest, ReplacingAKeyCountsOnlyItsNewBytes) {
  Lru lru(100);
  lru.Insert("a", "one", 10);
  lru.Insert("b", "two", 20);
  lru.Insert("a", "three", 35);
  EXPECT_EQ(lru.bytes(), 55);
  EXPECT_EQ(lru.entries(), 2);
  EXPECT_EQ(*lru.Find("a"), "three");
}

TEST(ByteBoundedLruTest, ALargerReplacementDropsOthersToFit) {
  Lru lru(30);
  lru.Insert("a", "", 10);
  lru.Insert("b", "", 10);
  lru.Insert("c", "", 10);
  lru.Insert("c", "", 20);
  EXPECT_FALSE(lru.Contains("a"));
  EXPECT_TRUE(lru.Contains("b"));
  EXPECT_TRUE(lru.Contains("c"));
  EXPECT_EQ(lru.bytes(), 30);
}

TEST(ByteBoundedLruTest, AnEntryLargerThanTheCapacityIsNotKept) {
  Lru lru(30);
  lru.Insert("a", "", 10);
  EXPECT_FALSE(lru.Insert("big", "", 31));
  EXPECT_FALSE(lru.Contains("big"));
  // Nothing else was dropped to make room for it.
  EXPECT_TRUE(lru.Contains("a"));
  EXPECT_EQ(lru.bytes(), 10);
}

TEST(ByteBoundedLruTest, AnEntryLargerThanTheCapacityRemovesTheOldOneForItsKey) {
  Lru lru(30);
  lru.Insert("a", "small", 10);
  EXPECT_FALSE(lru.Insert("a", "big", 31));
  EXPECT_EQ(lru.Find("a"), nullptr);
  EXPECT_EQ(lru.bytes(), 0);
  EXPECT_EQ(lru.entries(), 0);
}

TEST(ByteBoundedLruTest, AnEntryOfExactlyTheCapacityIsKept) {
  Lru lru(30);
  lru.Insert("a", "", 10);
  EXPECT_TRUE(lru.Insert("b", "", 30));
  EXPECT_TRUE(lru.Contains("b"));
  EXPECT_FALSE(lru.Contains("a"));
}

TEST(ByteBoundedLruTest, CapacityZeroKeepsNothing) {
  Lru lru(0);
  EXPECT_FALSE(lru.Insert("a", "", 0));
  EXPECT_FALSE(lru.Insert("b", "", 1));
  EXPECT_EQ(lru.entries(), 0);
  EXPECT_EQ(lru.bytes(), 0);
}

TEST(ByteBoundedLruTest, BytesNeverExceedTheCapacity) {
  constexpr int64_t kCapacity = 1000;
  Lru lru(kCapacity);
  for (int i = 0; i < 500; ++i) {
    // Sizes from 1 to 97 bytes, keys often repeated.
    lru.Insert(absl::StrCat(i % 37), "", (i * 31) % 97 + 1);
    ASSERT_LE(lru.bytes(), kCapacity) << "after insert " << i;
  }
  EXPECT_GT(lru.entries(), 1);
}

TEST(ByteBoundedLruTest, EraseDropsTheEntryAndItsBytes) {
  Lru lru(100);
  lru.Insert("a", "", 10);
  lru.Insert("b", "", 20);
  EXPECT_TRUE(lru.Erase("a"));
  EXPECT_FALSE(lru.Erase("a"));
  EXPECT_FALSE(lru.Contains("a"));
  EXPECT_EQ(lru.bytes(), 20);
}

TEST(ByteBoundedLruTest, ClearDropsEverything) {
  Lru lru(100);
  lru.Insert("a", "", 10);
  lru.Insert("b", "", 20);
  lru.Clear();
  EXPECT_EQ(lru.entries(), 0);
  EXPECT_EQ(lru.bytes(), 0);
  EXPECT_FALSE(lru.Contains("b"));
  EXPECT_TRUE(lru.Insert("b", "", 100));
}

TEST(ByteBoundedLruTest, KeepsMoveOnlyValues) {
  ByteBoundedLru<std::unique_ptr<int>> lru(100);
  lru.Insert("a", std::make_unique<int>(7), 10);
  std::unique_ptr<int>* found = lru.Find("a");
  ASSERT_NE(found, nullptr);
  EXPECT_EQ(**found, 7);
}

// Keys are copied in: the caller's buffer may change after the insert.
TEST(ByteBoundedLruTest, KeysAreTheCallersOnlyDuringTheInsert) {
  Lru lru(100);
  std::string key = "a long key, longer than any small-string buffer";
  lru.Insert(key, "one", 10);
  const std::string original = key;
  key.assign(key.size(), 'x');
  EXPECT_TRUE(lru.Contains(original));
  EXPECT_FALSE(lru.Contains(key));
}

}  // namespace
}  // namespace etagd
