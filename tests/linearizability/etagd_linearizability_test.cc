// Runs real etagd processes under concurrent clients and faults, and checks
// that what the clients saw is linearizable, that ETags are never reused and
// that revisions never go backwards, across kill -9 and restarts too. A
// canary etagd with compare-and-set broken on purpose must be caught.
//
// The soak, a disabled test here, is run by long_run.sh.
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/linearizability/linearizability.h"
#include "tests/linearizability/workload.h"
#include "tests/testing/etcd_cluster.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

using Verdict = CheckResult::Verdict;

// Saves `history` where Bazel keeps a test's outputs (or TEST_TMPDIR), for
// a closer look at a failure; returns the path.
std::string SaveHistory(const std::string& name,
                        const std::vector<HistoryOp>& history) {
  const char* dir = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  const std::string path = dir != nullptr
                               ? absl::StrCat(dir, "/", name, ".history.txt")
                               : TestPath(absl::StrCat(name, ".history.txt"));
  std::ofstream(path) << FormatHistory(history);
  return path;
}

// Runs one workload and checks its history; returns the check.
CheckResult RunAndCheck(const WorkloadOptions& options, const std::string& name,
                        const CheckOptions& check_options = {}) {
  const absl::Time start = absl::Now();
  absl::StatusOr<WorkloadResult> run = RunWorkload(options);
  EXPECT_THAT(run, IsOk());
  if (!run.ok()) return CheckResult{Verdict::kUnknown, "", "no history", 0};
  const absl::Duration ran = absl::Now() - start;
  EXPECT_EQ(run->unexpected_count, 0)
      << "unexpected answers, e.g. " << run->unexpected.front();

  const absl::Time check_start = absl::Now();
  absl::StatusOr<CheckResult> check = CheckHistory(run->history, check_options);
  const absl::Duration checked = absl::Now() - check_start;
  EXPECT_THAT(check, IsOk());
  if (!check.ok()) return CheckResult{Verdict::kUnknown, "", "no check", 0};
  std::cout << name << " (" << TransportName(options.transport) << ", "
            << FaultName(options) << "): " << run->Summary() << "; ran "
            << absl::FormatDuration(absl::Trunc(ran, absl::Milliseconds(1)))
            << ", checked in "
            << absl::FormatDuration(absl::Trunc(checked, absl::Milliseconds(1)))
            << " (" << check->steps << " steps): "
            << (check->ok()                             ? "linearizable"
                : check->verdict == Verdict::kViolation ? "NOT linearizable"
                                                        : "the search gave up")
            << "\n";
  if (!check->ok()) {
    std::cout << check->explanation << "history saved in "
              << SaveHistory(name, run->history) << "\n";
  }

  // The run must have exercised what it was meant to.
  EXPECT_GT(run->ok, 100) << run->Summary();
  if (options.fault == Fault::kKill) {
    EXPECT_GE(run->restarts, 1);
  }
  if (options.fault == Fault::kPause) {
    EXPECT_GE(run->pauses, 1);
  }
  if (options.fault == Fault::kCustom) {
    EXPECT_GE(run->custom_faults, 1);
  }
  return *check;
}

// ---------------------------------------------------------------------------
// The bounded runs: every transport with every fault, a few seeds each.

struct RunCase {
  Transport transport;
  Fault fault;
  int seed;
};

std::string CaseName(const RunCase& c) {
  const char* fault = c.fault == Fault::kNone   ? "NoFault"
                      : c.fault == Fault::kKill ? "Kill"
                                                : "Pause";
  return absl::StrCat(c.transport == Transport::kGrpc ? "Grpc" : "Http", fault,
                      c.seed);
}

class EtagdLinearizabilityTest : public testing::TestWithParam<RunCase> {};

TEST_P(EtagdLinearizabilityTest, HistoryIsLinearizable) {
  WorkloadOptions options;
  options.transport = GetParam().transport;
  options.fault = GetParam().fault;
  options.seed = static_cast<uint64_t>(GetParam().seed);
  options.duration = absl::Milliseconds(2500);
  options.data_dir = TestPath("data");
  const CheckResult check = RunAndCheck(options, CaseName(GetParam()));
  EXPECT_EQ(check.verdict, Verdict::kOk) << check.explanation;
}

std::vector<RunCase> BoundedRuns() {
  std::vector<RunCase> runs;
  for (Transport transport : {Transport::kGrpc, Transport::kHttp}) {
    for (int seed = 1; seed <= 3; ++seed) {
      runs.push_back({transport, Fault::kNone, seed});
    }
    for (int seed = 1; seed <= 4; ++seed) {
      runs.push_back({transport, Fault::kKill, seed});
    }
    for (int seed = 1; seed <= 3; ++seed) {
      runs.push_back({transport, Fault::kPause, seed});
    }
  }
  return runs;
}

INSTANTIATE_TEST_SUITE_P(Runs, EtagdLinearizabilityTest,
                         testing::ValuesIn(BoundedRuns()),
                         [](const testing::TestParamInfo<RunCase>& info) {
                           return CaseName(info.param);
                         });

// ---------------------------------------------------------------------------
// The same runs with --engine=etcd: one etagd over a real single-member
// etcd, killed (it keeps no state of its own) or paused.

class EtagdOverEtcdLinearizabilityTest : public testing::TestWithParam<RunCase> {
 protected:
  // The run `GetParam()` names, with `replicas` etagd processes over one
  // real single-member etcd; checked as one history.
  void ExpectLinearizable(int replicas, const std::string& label) {
    absl::StatusOr<std::unique_ptr<EtcdCluster>> etcd =
        EtcdCluster::Start(TestPath("etcd"));
    ASSERT_THAT(etcd, IsOk());
    WorkloadOptions options;
    options.transport = GetParam().transport;
    options.fault = GetParam().fault;
    options.seed = static_cast<uint64_t>(GetParam().seed);
    options.duration = absl::Milliseconds(2500);
    options.data_dir = TestPath("unused-data");
    options.replicas = replicas;
    // A Txn sent before a kill may be applied by etcd after it.
    options.effect_grace = absl::Seconds(30);
    options.etagd_args = {
        "--engine=etcd",
        absl::StrCat("--etcd_endpoints=", (*etcd)->ClientEndpoint(0))};
    const CheckResult check =
        RunAndCheck(options, absl::StrCat(label, CaseName(GetParam())));
    EXPECT_EQ(check.verdict, Verdict::kOk) << check.explanation;
  }
};

TEST_P(EtagdOverEtcdLinearizabilityTest, HistoryIsLinearizable) {
  ExpectLinearizable(1, "Etcd");
}

// Two etagd replicas over one etcd, clients split between them: a client
// cannot tell replicas apart, so what they saw together is linearizable.
TEST_P(EtagdOverEtcdLinearizabilityTest, TwoReplicasHistoryIsLinearizable) {
  ExpectLinearizable(2, "EtcdTwoReplicas");
}

std::vector<RunCase> EtcdRuns() {
  std::vector<RunCase> runs;
  for (Transport transport : {Transport::kGrpc, Transport::kHttp}) {
    for (Fault fault : {Fault::kNone, Fault::kKill, Fault::kPause}) {
      runs.push_back({transport, fault, 1});
    }
  }
  return runs;
}

INSTANTIATE_TEST_SUITE_P(Runs, EtagdOverEtcdLinearizabilityTest,
                         testing::ValuesIn(EtcdRuns()),
                         [](const testing::TestParamInfo<RunCase>& info) {
                           return CaseName(info.param);
                         });

// ---------------------------------------------------------------------------
// Three etagd replicas over a three-member etcd, clients spread over them,
// under each fault of the cluster: kill -9 of etcd's leader (restarted
// after a while), SIGSTOP of a member (any, the leader too), kill -9 and
// restart of a replica, each replica with its consistent record cache
// (--etcd_record_cache). An acknowledged write lost when the leader dies
// would be a violation (a later read would miss it), and so would an
// ambiguous write answered as anything but what happened.
// ETAGD_CLUSTER_SECONDS (3) and ETAGD_CLUSTER_SEEDS (1) make the runs
// longer and more (cluster_long_run.sh).

enum class ClusterFault { kNone, kKillLeader, kPauseMember, kKillReplica };

struct ClusterRunCase {
  Transport transport;
  ClusterFault fault;
  int seed;
};

std::string ClusterCaseName(const ClusterRunCase& c) {
  const char* fault = c.fault == ClusterFault::kNone          ? "NoFault"
                      : c.fault == ClusterFault::kKillLeader  ? "KillEtcdLeader"
                      : c.fault == ClusterFault::kPauseMember ? "PauseEtcdMember"
                                                              : "KillReplica";
  return absl::StrCat(c.transport == Transport::kGrpc ? "Grpc" : "Http", fault,
                      c.seed);
}

int EnvInt(const char* name, int fallback);

// Three members, and the options of a run of `replicas` etagd over them.
struct ClusterRun {
  std::unique_ptr<EtcdCluster> etcd;
  WorkloadOptions options;
};

absl::StatusOr<ClusterRun> StartClusterRun(ClusterFault fault, int replicas) {
  EtcdClusterOptions cluster_options;
  cluster_options.members = 3;
  absl::StatusOr<std::unique_ptr<EtcdCluster>> etcd =
      EtcdCluster::Start(TestPath("etcd"), cluster_options);
  if (!etcd.ok()) return etcd.status();
  ClusterRun run;
  run.etcd = *std::move(etcd);
  EtcdCluster* cluster = run.etcd.get();
  WorkloadOptions& options = run.options;
  options.replicas = replicas;
  options.clients = 9;
  options.data_dir = TestPath("unused-data");
  options.etagd_args = {
      "--engine=etcd",
      absl::StrCat("--etcd_endpoints=", absl::StrJoin(cluster->ClientEndpoints(), ",")),
      "--etcd_call_timeout=3s", "--etcd_record_cache"};
  // A Txn sent before a kill may be applied by etcd after it, within its
  // request timeout (7 s by default).
  options.effect_grace = absl::Seconds(30);
  options.first_fault_after = absl::Milliseconds(700);
  options.fault_interval = absl::Seconds(4);
  switch (fault) {
    case ClusterFault::kNone:
      break;
    case ClusterFault::kKillReplica:
      options.fault = Fault::kKill;
      break;
    case ClusterFault::kKillLeader:
      options.fault = Fault::kCustom;
      options.custom_fault_name = "kill -9 of etcd's leader, then its restart";
      options.custom_fault = [cluster](std::mt19937_64& random) -> absl::Status {
        absl::StatusOr<int> leader = cluster->Leader(absl::Seconds(15));
        if (!leader.ok()) return leader.status();
        if (absl::Status killed = cluster->Kill(*leader); !killed.ok()) return killed;
        // Long enough for the others to elect a new leader and serve.
        absl::SleepFor(absl::Milliseconds(
            std::uniform_int_distribution<int>(1500, 2500)(random)));
        return cluster->Restart(*leader);
      };
      break;
    case ClusterFault::kPauseMember:
      options.fault = Fault::kCustom;
      options.custom_fault_name = "SIGSTOP of an etcd member, then SIGCONT";
      options.custom_fault = [cluster](std::mt19937_64& random) -> absl::Status {
        // Every other time the leader, otherwise a member at random.
        int member = std::uniform_int_distribution<int>(0, 2)(random);
        if (std::uniform_int_distribution<int>(0, 1)(random) == 0) {
          absl::StatusOr<int> leader = cluster->Leader(absl::Seconds(15));
          if (!leader.ok()) return leader.status();
          member = *leader;
        }
        if (absl::Status paused = cluster->Pause(member); !paused.ok()) return paused;
        absl::SleepFor(absl::Milliseconds(
            std::uniform_int_distribution<int>(1000, 2500)(random)));
        if (absl::Status resumed = cluster->Resume(member); !resumed.ok()) {
          return resumed;
        }
        return cluster->WaitHealthy(absl::Seconds(30));
      };
      break;
  }
  return run;
}

class EtagdOverEtcdClusterLinearizabilityTest
    : public testing::TestWithParam<ClusterRunCase> {};

TEST_P(EtagdOverEtcdClusterLinearizabilityTest, HistoryIsLinearizable) {
  const int seeds = EnvInt("ETAGD_CLUSTER_SEEDS", 1);
  for (int round = 0; round < seeds; ++round) {
    absl::StatusOr<ClusterRun> run = StartClusterRun(GetParam().fault, 3);
    ASSERT_THAT(run, IsOk());
    run->options.transport = GetParam().transport;
    run->options.seed = static_cast<uint64_t>(GetParam().seed + round);
    run->options.duration = absl::Seconds(EnvInt("ETAGD_CLUSTER_SECONDS", 3));
    const std::string name = absl::StrCat("Cluster", ClusterCaseName(GetParam()),
                                          "Round", round);
    const CheckResult check = RunAndCheck(run->options, name);
    EXPECT_EQ(check.verdict, Verdict::kOk) << check.explanation;
    run->etcd.reset();
    // The members' data: 64 MB of preallocated WAL each.
    std::error_code error;
    std::filesystem::remove_all(TestPath("etcd"), error);
    if (HasFailure()) break;
  }
}

std::vector<ClusterRunCase> ClusterRuns() {
  std::vector<ClusterRunCase> runs;
  for (ClusterFault fault : {ClusterFault::kKillLeader, ClusterFault::kPauseMember,
                             ClusterFault::kKillReplica}) {
    runs.push_back({Transport::kGrpc, fault, 1});
  }
  runs.push_back({Transport::kHttp, ClusterFault::kKillLeader, 2});
  return runs;
}

INSTANTIATE_TEST_SUITE_P(Runs, EtagdOverEtcdClusterLinearizabilityTest,
                         testing::ValuesIn(ClusterRuns()),
                         [](const testing::TestParamInfo<ClusterRunCase>& info) {
                           return ClusterCaseName(info.param);
                         });

// The canary over the same cluster: three replicas with compare-and-set
// broken (etcd's Txn without its compare) lose updates on two hot keys,
// and the checker says so; the control, correct, is linearizable.
WorkloadOptions HotKeys(Transport transport);

TEST(EtagdOverEtcdClusterCanaryTest, CheckerFindsLostUpdatesOfNonAtomicWrites) {
  absl::StatusOr<ClusterRun> run = StartClusterRun(ClusterFault::kNone, 3);
  ASSERT_THAT(run, IsOk());
  WorkloadOptions options = HotKeys(Transport::kGrpc);
  options.replicas = 3;
  options.clients = 9;
  options.data_dir = run->options.data_dir;
  options.effect_grace = run->options.effect_grace;
  options.etagd_args = run->options.etagd_args;
  options.etagd_args.push_back("--canary_non_atomic_writes");
  const CheckResult check = RunAndCheck(options, "ClusterCanaryGrpc");
  run->etcd.reset();
  std::error_code ignored;  // Only disk space is at stake.
  std::filesystem::remove_all(TestPath("etcd"), ignored);
  EXPECT_EQ(check.verdict, Verdict::kViolation)
      << "the checker did not catch the broken compare-and-set";
}

TEST(EtagdOverEtcdClusterCanaryTest, SameWorkloadWithoutCanaryIsLinearizable) {
  absl::StatusOr<ClusterRun> run = StartClusterRun(ClusterFault::kNone, 3);
  ASSERT_THAT(run, IsOk());
  WorkloadOptions options = HotKeys(Transport::kGrpc);
  options.replicas = 3;
  options.clients = 9;
  options.data_dir = run->options.data_dir;
  options.effect_grace = run->options.effect_grace;
  options.etagd_args = run->options.etagd_args;
  const CheckResult check = RunAndCheck(options, "ClusterHotKeysGrpc");
  run->etcd.reset();
  std::error_code ignored;  // Only disk space is at stake.
  std::filesystem::remove_all(TestPath("etcd"), ignored);
  EXPECT_EQ(check.verdict, Verdict::kOk) << check.explanation;
}

// ---------------------------------------------------------------------------
// The canary: with compare-and-set broken, If-Match writes racing on two keys
// lose updates, and the checker must say so.

// Two keys, mostly If-Match writes: many compare-and-sets race on each key.
WorkloadOptions HotKeys(Transport transport) {
  WorkloadOptions options;
  options.transport = transport;
  options.keys = 2;
  options.get_percent = 20;
  options.if_match_put_percent = 60;
  options.create_percent = 5;
  options.put_percent = 5;
  options.duration = absl::Milliseconds(1500);
  options.data_dir = TestPath("data");
  return options;
}

class EtagdCanaryTest : public testing::TestWithParam<Transport> {};

TEST_P(EtagdCanaryTest, CheckerFindsLostUpdatesOfNonAtomicWrites) {
  WorkloadOptions options = HotKeys(GetParam());
  options.etagd_args = {"--canary_non_atomic_writes"};
  const CheckResult check =
      RunAndCheck(options, absl::StrCat("Canary", TransportName(GetParam())));
  EXPECT_EQ(check.verdict, Verdict::kViolation)
      << "the checker did not catch the broken compare-and-set";
}

// The control: the same workload on a correct etagd is linearizable, so the
// canary's violations come from the broken compare-and-set.
TEST_P(EtagdCanaryTest, SameWorkloadWithoutCanaryIsLinearizable) {
  const CheckResult check = RunAndCheck(
      HotKeys(GetParam()), absl::StrCat("HotKeys", TransportName(GetParam())));
  EXPECT_EQ(check.verdict, Verdict::kOk) << check.explanation;
}

INSTANTIATE_TEST_SUITE_P(Transports, EtagdCanaryTest,
                         testing::Values(Transport::kGrpc, Transport::kHttp),
                         [](const testing::TestParamInfo<Transport>& info) {
                           return info.param == Transport::kGrpc ? "Grpc"
                                                                 : "Http";
                         });

// ---------------------------------------------------------------------------
// The soak (disabled: long_run.sh runs it): longer runs with repeated faults,
// cycling through transports and faults, on ten keys or on two hot ones.
// ETAGD_SOAK_RUNS (100), ETAGD_SOAK_SECONDS (30) and ETAGD_SOAK_SEED (1)
// shape it.

int EnvInt(const char* name, int fallback) {
  const char* text = std::getenv(name);
  int value = 0;
  return text != nullptr && absl::SimpleAtoi(text, &value) ? value : fallback;
}

TEST(EtagdSoakTest, DISABLED_LongRunsAreLinearizable) {
  const int runs = EnvInt("ETAGD_SOAK_RUNS", 100);
  const int seconds = EnvInt("ETAGD_SOAK_SECONDS", 30);
  const int first_seed = EnvInt("ETAGD_SOAK_SEED", 1);
  const Fault faults[] = {Fault::kNone, Fault::kKill, Fault::kPause};
  int failures = 0;
  for (int run = 0; run < runs; ++run) {
    WorkloadOptions options;
    options.transport = run % 2 == 0 ? Transport::kGrpc : Transport::kHttp;
    options.fault = faults[(run / 2) % 3];
    options.seed = static_cast<uint64_t>(first_seed + run);
    options.duration = absl::Seconds(seconds);
    options.first_fault_after = absl::Seconds(1);
    options.fault_interval = absl::Seconds(4);
    // Every other round of the six combinations races on two hot keys.
    if ((run / 6) % 2 == 1) {
      options.keys = 2;
      options.get_percent = 25;
      options.if_match_put_percent = 45;
      options.create_percent = 10;
      options.put_percent = 10;
    }
    options.data_dir = TestPath(absl::StrCat("data-", run));
    // Long histories on hot keys take millions of steps per key.
    CheckOptions check_options;
    check_options.max_steps_per_key = 200'000'000;
    const CheckResult check =
        RunAndCheck(options, absl::StrCat("Soak", run, "Seed", options.seed),
                    check_options);
    if (!check.ok()) ++failures;
    EXPECT_EQ(check.verdict, Verdict::kOk) << check.explanation;
    std::error_code ignored;  // Only disk space is at stake.
    std::filesystem::remove_all(options.data_dir, ignored);
  }
  std::cout << "soak: " << runs << " runs, " << failures << " failed\n";
}

}  // namespace
}  // namespace etagd
