// The wait preference of the Prefer header field (RFC 7240 §2, §4.3).
#include "gateway/prefer.h"

#include <optional>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace etagd {
namespace {

struct WaitCase {
  std::vector<std::string> lines;
  std::optional<int64_t> seconds;
};

class PreferWaitTest : public testing::TestWithParam<WaitCase> {};

TEST_P(PreferWaitTest, ParsesTheWaitPreference) {
  std::vector<absl::string_view> lines(GetParam().lines.begin(), GetParam().lines.end());
  std::optional<absl::Duration> wait = ParsePreferWait(lines);
  if (!GetParam().seconds.has_value()) {
    EXPECT_FALSE(wait.has_value());
  } else {
    ASSERT_TRUE(wait.has_value());
    EXPECT_EQ(*wait, absl::Seconds(*GetParam().seconds));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rfc7240, PreferWaitTest,
    testing::Values(
        // §4.3: wait = "wait" BWS "=" BWS delta-seconds.
        WaitCase{{"wait=10"}, 10}, WaitCase{{"wait = 10"}, 10},
        WaitCase{{"wait=0"}, 0},
        // §2: names are case-insensitive; values may be quoted words.
        WaitCase{{"Wait=5"}, 5}, WaitCase{{"wait=\"5\""}, 5},
        // §2: a list, in one or several field lines; parameters ignored.
        WaitCase{{"respond-async, wait=7"}, 7},
        WaitCase{{"return=minimal", "wait=8"}, 8},
        WaitCase{{"wait=9; foo=bar"}, 9},
        // §2: a preference given twice: the first counts.
        WaitCase{{"wait=1, wait=2"}, 1},
        // Not understood: ignored (§2).
        WaitCase{{}, std::nullopt}, WaitCase{{"respond-async"}, std::nullopt},
        WaitCase{{"wait"}, std::nullopt}, WaitCase{{"wait="}, std::nullopt},
        WaitCase{{"wait=-1"}, std::nullopt}, WaitCase{{"wait=1.5"}, std::nullopt},
        WaitCase{{"wait=ten"}, std::nullopt}, WaitCase{{"waiting=3"}, std::nullopt},
        // delta-seconds saturates (RFC 9111 §1.2.2).
        WaitCase{{"wait=99999999999999999999"}, 2147483647}));

}  // namespace
}  // namespace etagd
