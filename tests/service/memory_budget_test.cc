#include "service/memory_budget.h"

#include "gtest/gtest.h"

namespace etagd {
namespace {

TEST(WriteBudgetTest, AdmitsWritesUpToTheBudget) {
  MemoryBudget budget(100);
  EXPECT_TRUE(budget.TryAcquire(60));
  EXPECT_TRUE(budget.TryAcquire(40));
}

TEST(WriteBudgetTest, RefusesAWriteThatWouldExceedIt) {
  MemoryBudget budget(100);
  ASSERT_TRUE(budget.TryAcquire(60));
  EXPECT_FALSE(budget.TryAcquire(41));
}

TEST(WriteBudgetTest, ARefusalHoldsNothing) {
  MemoryBudget budget(100);
  ASSERT_TRUE(budget.TryAcquire(60));
  ASSERT_FALSE(budget.TryAcquire(41));
  EXPECT_TRUE(budget.TryAcquire(40));
}

TEST(WriteBudgetTest, ReleasedBytesCanBeAcquiredAgain) {
  MemoryBudget budget(100);
  ASSERT_TRUE(budget.TryAcquire(100));
  budget.Release(100);
  EXPECT_TRUE(budget.TryAcquire(100));
}

TEST(WriteBudgetTest, AdmitsOneWriteLargerThanTheBudgetWhenNoneIsHeld) {
  MemoryBudget budget(100);
  ASSERT_TRUE(budget.TryAcquire(500));
  EXPECT_FALSE(budget.TryAcquire(1));
  budget.Release(500);
  EXPECT_TRUE(budget.TryAcquire(1));
}

TEST(WriteBudgetTest, ZeroMeansUnbounded) {
  MemoryBudget budget(0);
  EXPECT_TRUE(budget.TryAcquire(int64_t{1} << 40));
  EXPECT_TRUE(budget.TryAcquire(int64_t{1} << 40));
}

}  // namespace
}  // namespace etagd
