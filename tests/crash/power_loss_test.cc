// Simulated power loss: etagd runs with --simulate_power_loss_for_test, so
// data it has not synced stays in its memory and kill -9 loses exactly what
// a power loss would (service/store/rocksdb/power_loss_file_system.h).
// - Durable writes (the default) lose nothing acknowledged.
// - --nosync_writes does lose acknowledged writes (the documented trade-off,
//   and proof that the simulation bites), yet the store always reopens
//   consistent: every version in it is a whole write that was sent, what is
//   lost is a suffix of what was acknowledged, revisions continue above
//   everything still stored, and no ETag is handed out twice.
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

constexpr int kCycles = 20;

void Report(const KillCyclesResult& result) {
  std::cerr << result.cycles << " power-loss cycles in "
            << absl::FormatDuration(result.elapsed) << ": "
            << result.stats.writes << " writes, " << result.stats.acknowledged
            << " acknowledged (" << result.stats.acknowledged_lost
            << " lost), " << result.stats.pending << " in flight at a kill ("
            << result.stats.pending_found << " of them found)\n";
}

TEST(PowerLossTest, DurableWritesSurviveSimulatedPowerLoss) {
  KillCyclesOptions options;
  options.cycles = CrashCyclesFromEnvironment(kCycles);
  options.seed = CrashSeedFromEnvironment();
  options.etagd_flags = [](int) {
    return std::vector<std::string>{"--simulate_power_loss_for_test"};
  };
  KillCyclesResult result = RunKillCycles(TestPath("data"), options);
  Report(result);
  EXPECT_TRUE(result.violations.empty())
      << absl::StrJoin(result.violations, "\n");
  EXPECT_EQ(result.cycles, options.cycles);
  EXPECT_EQ(result.stats.acknowledged_lost, 0);
}

TEST(PowerLossTest, UnsyncedWritesAreLostButTheStoreStaysConsistent) {
  // Odd cycles write unsynced, even ones durably: the durable cycles give
  // the store contents that must survive the unsynced cycles' crashes.
  KillCyclesOptions options;
  options.cycles = CrashCyclesFromEnvironment(kCycles);
  options.seed = CrashSeedFromEnvironment();
  options.acknowledged_writes_may_be_lost = true;
  options.etagd_flags = [](int cycle) {
    std::vector<std::string> flags = {"--simulate_power_loss_for_test"};
    if (cycle % 2 == 1) flags.push_back("--nosync_writes");
    return flags;
  };
  KillCyclesResult result = RunKillCycles(TestPath("data"), options);
  Report(result);
  EXPECT_TRUE(result.violations.empty())
      << absl::StrJoin(result.violations, "\n");
  EXPECT_EQ(result.cycles, options.cycles);
  EXPECT_GT(result.stats.acknowledged_lost, 0)
      << "unsynced writes survived every simulated power loss: the "
         "simulation does not simulate";
  for (const auto& [cycle, lost] : result.stats.lost_by_cycle) {
    EXPECT_EQ(cycle % 2, 1) << lost << " durable writes of cycle " << cycle
                            << " were lost";
  }
}

}  // namespace
}  // namespace etagd
