#include "service/protobuf_log.h"

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace etagd {
namespace {

constexpr absl::Duration kInterval = absl::Minutes(1);
const absl::Time kStart = absl::FromUnixSeconds(1'000'000);

TEST(LogRateLimiterTest, AdmitsTheFirstEvent) {
  LogRateLimiter limiter(kInterval);
  EXPECT_EQ(limiter.Admit(kStart), 0);
}

TEST(LogRateLimiterTest, RefusesEventsWithinTheInterval) {
  LogRateLimiter limiter(kInterval);
  ASSERT_EQ(limiter.Admit(kStart), 0);
  EXPECT_EQ(limiter.Admit(kStart), std::nullopt);
  EXPECT_EQ(limiter.Admit(kStart + kInterval - absl::Nanoseconds(1)),
            std::nullopt);
}

TEST(LogRateLimiterTest, TheNextAdmittedEventCountsThoseRefused) {
  LogRateLimiter limiter(kInterval);
  ASSERT_EQ(limiter.Admit(kStart), 0);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(limiter.Admit(kStart), std::nullopt);
  EXPECT_EQ(limiter.Admit(kStart + kInterval), 5);
  EXPECT_EQ(limiter.Admit(kStart + 2 * kInterval), 0);
}

}  // namespace
}  // namespace etagd
