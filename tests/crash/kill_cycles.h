// Crash cycles against a real etagd: concurrent writers journal every write
// (write_journal.h), etagd is killed with SIGKILL at a random moment,
// restarted on the same data directory, and the store is checked against
// the journal before the writers start again.
#ifndef ETAGD_TESTS_CRASH_KILL_CYCLES_H_
#define ETAGD_TESTS_CRASH_KILL_CYCLES_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "tests/crash/write_journal.h"

namespace etagd {

struct KillCyclesOptions {
  // etagd's flags (beyond --grpc_listen and --data_dir) in cycle 1, 2, ...;
  // the restart that checks the last cycle is cycle `cycles` + 1.
  std::function<std::vector<std::string>(int cycle)> etagd_flags =
      [](int) { return std::vector<std::string>(); };
  int cycles = 20;
  // Writer threads, each sending one write at a time.
  int writers = 8;
  // Names the writers share (each write picks one at random).
  int keys = 64;
  // etagd is killed once the writers of a cycle have had a random number of
  // replies in this range; the writers' other writes are then in flight.
  int min_acknowledged = 20;
  int max_acknowledged = 300;
  // See WriteJournal::Options.
  bool acknowledged_writes_may_be_lost = false;
  // Seeds every random choice (writers' keys, sizes, kill moments).
  uint64_t seed = 1;
};

struct KillCyclesResult {
  // Cycles completed (killed, restarted and checked).
  int cycles = 0;
  JournalStats stats;
  // What the checks found wrong; the run stops after the first cycle with
  // any. Empty if everything held.
  std::vector<std::string> violations;
  absl::Duration elapsed;
};

// Runs the cycles on `data_dir` (created if missing). Not thread-safe.
KillCyclesResult RunKillCycles(const std::string& data_dir,
                               const KillCyclesOptions& options);

// $ETAGD_CRASH_CYCLES if set (for long offline runs, see
// tests/crash/run_crash_cycles.sh), else `default_cycles`.
int CrashCyclesFromEnvironment(int default_cycles);

// $ETAGD_CRASH_SEED if set (to replay a failure), else a random seed; the
// seed is printed either way.
uint64_t CrashSeedFromEnvironment();

}  // namespace etagd

#endif  // ETAGD_TESTS_CRASH_KILL_CYCLES_H_
