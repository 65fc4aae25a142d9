// CI's smoke run of the benchmark tools: a few hundred operations of each
// kind against a real etagd, and one pass of the microbenchmarks. Figures
// are not asserted (this machine is shared); only that the tools work and
// every operation succeeds.
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

using ::testing::HasSubstr;

class BenchSmokeTest : public testing::TestWithParam<std::string> {};

TEST_P(BenchSmokeTest, EtagdBenchRunsEveryOperationWithoutErrors) {
  absl::StatusOr<EtagdProcess> etagd = StartEtagd(TestPath("data"));
  ASSERT_THAT(etagd, IsOk());
  const std::string json = TestPath("result.json");
  absl::StatusOr<CommandResult> run = RunCommand(
      DataBinaryPath("bench/etagd-bench"),
      {"--system=etagd", "--target=" + etagd->target(), "--op=" + GetParam(),
       "--ops=300", "--duration=60s", "--warmup=0s", "--connections=2",
       "--in_flight=4", "--keys=50", "--progress_every=0", "--json_out=" + json});
  ASSERT_THAT(run, IsOk());
  EXPECT_EQ(run->exit_code, 0) << run->stderr_text;
  EXPECT_THAT(run->stdout_text, HasSubstr(absl::StrCat("etagd ", GetParam(), ":")));
  EXPECT_THAT(run->stdout_text, testing::Not(HasSubstr("errors")));
  absl::StatusOr<CommandResult> cat = RunCommand("/bin/cat", {json});
  ASSERT_THAT(cat, IsOk());
  EXPECT_THAT(cat->stdout_text, HasSubstr("\"errors\": {}"));
  EXPECT_THAT(cat->stdout_text, HasSubstr("\"ops_per_sec\""));
}

INSTANTIATE_TEST_SUITE_P(Operations, BenchSmokeTest,
                         testing::Values("get", "cond_get", "put", "cas", "create",
                                         "incr"));

// --op=incr checks after its run that the counters add up to the increments
// made: contended If-Match writes through etagd lose no update.
TEST(EtagdBenchIncrTest, ContendedIncrementsLoseNoUpdate) {
  absl::StatusOr<EtagdProcess> etagd = StartEtagd(TestPath("data"));
  ASSERT_THAT(etagd, IsOk());
  absl::StatusOr<CommandResult> run = RunCommand(
      DataBinaryPath("bench/etagd-bench"),
      {"--system=etagd", "--target=" + etagd->target(), "--op=incr",
       "--ops=200", "--duration=60s", "--warmup=0s", "--connections=2",
       "--in_flight=8", "--keys=2", "--progress_every=0"});
  ASSERT_THAT(run, IsOk());
  EXPECT_EQ(run->exit_code, 0) << run->stderr_text;
  EXPECT_THAT(run->stdout_text, HasSubstr("(no update lost)"));
  EXPECT_THAT(run->stdout_text, HasSubstr("conflicts retried"));
}

TEST(MicroBenchmarkSmokeTest, RunsEveryBenchmarkOnce) {
  // The store benchmarks put their databases under TMPDIR.
  const char* test_tmpdir = std::getenv("TEST_TMPDIR");
  absl::StatusOr<CommandResult> run = RunCommand(
      "/usr/bin/env",
      {absl::StrCat("TMPDIR=", test_tmpdir != nullptr ? test_tmpdir : "/tmp"),
       DataBinaryPath("bench/micro_benchmark"), "--benchmark_min_time=0.001"},
      absl::nullopt,
      // About 10 s alone; its synced store writes take several times that
      // on a disk other builds share. A bound on a hang, not a duration.
      absl::Minutes(4));
  ASSERT_THAT(run, IsOk());
  EXPECT_EQ(run->exit_code, 0) << run->stderr_text;
  for (const char* name : {"BM_EvaluatePreconditions", "BM_ParseEntityTag",
                           "BM_ParseHttpDate", "StoreFixture/ReadCurrent",
                           "StoreFixture/CompareAndWrite"}) {
    EXPECT_THAT(run->stdout_text, HasSubstr(name));
  }
}

}  // namespace
}  // namespace etagd
