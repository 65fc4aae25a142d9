#include "bench/thread_cost.h"

#include <time.h>

#include <cstdint>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace etagd {
namespace {

int64_t ThreadCpuNs() {
  timespec now{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &now);
  return int64_t{now.tv_sec} * 1000000000 + now.tv_nsec;
}

TEST(ThreadCostTest, WorkCountsAsCpu) {
  const ThreadCost before = ThreadCost::Now();
  const int64_t until = ThreadCpuNs() + 20'000'000;
  volatile int64_t spins = 0;
  while (ThreadCpuNs() < until) spins = spins + 1;
  const ThreadCost cost = ThreadCost::Now() - before;
  EXPECT_GE(cost.cpu_ns, 20'000'000);
}

// What it measures is time off the CPU: a sleep is the way to have some.
TEST(ThreadCostTest, BlockingCountsAVoluntarySwitchNotCpu) {
  const ThreadCost before = ThreadCost::Now();
  absl::SleepFor(absl::Milliseconds(20));
  const ThreadCost cost = ThreadCost::Now() - before;
  EXPECT_GE(cost.voluntary_switches, 1);
  EXPECT_LT(cost.cpu_ns, 10'000'000);
}

TEST(ThreadCostTest, SamplingCostsSomeCpuButLittle) {
  const int64_t sampling = ThreadCost::SamplingCpuNs();
  EXPECT_GT(sampling, 0);
  EXPECT_LT(sampling, 1'000'000);
}

}  // namespace
}  // namespace etagd
