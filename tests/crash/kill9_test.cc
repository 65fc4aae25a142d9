// kill -9 of a real etagd under eight concurrent writers, again and again on
// one data directory: no acknowledged write is ever lost, a write in flight
// is there whole or not at all, revisions never go backwards and no ETag is
// handed out twice. Both with durable writes and with --nosync_writes, which
// README.md says survives a crash of etagd itself (the data is in the
// kernel's page cache when the write is acknowledged).
#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/crash/kill_cycles.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

// Enough to catch a lost write in CI, in well under a minute for both tests.
constexpr int kCycles = 20;

void Report(const KillCyclesResult& result) {
  std::cerr << result.cycles << " kill cycles in "
            << absl::FormatDuration(result.elapsed) << ": "
            << result.stats.writes << " writes, " << result.stats.acknowledged
            << " acknowledged, " << result.stats.pending << " in flight at a kill ("
            << result.stats.pending_found << " of them found), last revision "
            << result.stats.max_revision << "\n";
}

void ExpectNoAcknowledgedWriteLost(const std::vector<std::string>& flags) {
  KillCyclesOptions options;
  options.cycles = CrashCyclesFromEnvironment(kCycles);
  options.seed = CrashSeedFromEnvironment();
  options.etagd_flags = [flags](int) { return flags; };
  KillCyclesResult result = RunKillCycles(TestPath("data"), options);
  Report(result);
  EXPECT_TRUE(result.violations.empty())
      << absl::StrJoin(result.violations, "\n");
  EXPECT_EQ(result.cycles, options.cycles);
  EXPECT_EQ(result.stats.acknowledged_lost, 0);
  // Every cycle was killed with writes in flight.
  EXPECT_GT(result.stats.pending, 0);
}

TEST(Kill9Test, DurableWritesSurviveKill9) {
  ExpectNoAcknowledgedWriteLost({});
}

TEST(Kill9Test, UnsyncedWritesSurviveKill9) {
  ExpectNoAcknowledgedWriteLost({"--nosync_writes"});
}

}  // namespace
}  // namespace etagd
