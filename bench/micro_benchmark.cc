// Google Benchmark microbenchmarks of etagd's hot pure functions and of the
// store without gRPC. Run: bazel run -c opt //bench:micro_benchmark
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "benchmark/benchmark.h"
#include "gateway/conditional_headers.h"
#include "gateway/http_date.h"
#include "service/entity_tag.h"
#include "service/precondition.h"
#include "service/store/rocksdb/rocksdb_store.h"

namespace etagd {
namespace {

void BM_EvaluatePreconditions(benchmark::State& state) {
  Preconditions conditions;
  conditions.if_none_match = EntityTagCondition{
      false, {*ParseEntityTag("\"a\""), *ParseEntityTag("\"2a-0123456789abcdef\"")}};
  const std::optional<Validators> current =
      Validators{*ParseEntityTag("\"2a-0123456789abcdef\""), absl::Now()};
  for (auto _ : state) {
    benchmark::DoNotOptimize(EvaluatePreconditions(Method::kGet, conditions, current));
  }
}
BENCHMARK(BM_EvaluatePreconditions);

void BM_ParseEntityTag(benchmark::State& state) {
  for (auto _ : state) {
    benchmark::DoNotOptimize(ParseEntityTag("W/\"2a-0123456789abcdef\""));
  }
}
BENCHMARK(BM_ParseEntityTag);

void BM_ParseEntityTagListField(benchmark::State& state) {
  const std::vector<absl::string_view> lines = {
      "\"1-aaaa\", W/\"2-bbbb\" ,\"3-cccc\"", "\"4-dddd\""};
  for (auto _ : state) {
    benchmark::DoNotOptimize(ParseEntityTagListField("If-None-Match", lines));
  }
}
BENCHMARK(BM_ParseEntityTagListField);

void BM_ParseHttpDate(benchmark::State& state) {
  const char* formats[] = {"Sun, 06 Nov 1994 08:49:37 GMT",
                           "Sunday, 06-Nov-94 08:49:37 GMT",
                           "Sun Nov  6 08:49:37 1994"};
  const char* text = formats[state.range(0)];
  const absl::Time now = absl::Now();
  for (auto _ : state) benchmark::DoNotOptimize(ParseHttpDate(text, now));
}
BENCHMARK(BM_ParseHttpDate)->DenseRange(0, 2)->ArgNames({"format"});

void BM_FormatHttpDate(benchmark::State& state) {
  const absl::Time t = absl::Now();
  for (auto _ : state) benchmark::DoNotOptimize(FormatHttpDate(t));
}
BENCHMARK(BM_FormatHttpDate);

// The store on a temporary directory, with `keys` resources of 1 KiB.
class StoreFixture : public benchmark::Fixture {
 public:
  void SetUp(const benchmark::State& state) override {
    RocksDbStoreOptions options;
    options.path = absl::StrCat(std::getenv("TMPDIR") ? std::getenv("TMPDIR") : "/tmp",
                                "/etagd-micro-", getpid(), "-", state.range(0));
    options.sync_writes = state.range(0) != 0;
    store_ = *OpenRocksDbStore(options);
    for (int k = 0; k < kKeys; ++k) Write(absl::StrCat("key/", k));
  }
  void TearDown(const benchmark::State&) override { store_.reset(); }

 protected:
  static constexpr int kKeys = 10000;

  void Write(const std::string& name) {
    absl::StatusOr<std::optional<Record>> current = store_->ReadCurrent(name, false);
    WriteRequest write;
    write.name = name;
    write.expected_revision =
        current.ok() && current->has_value() ? (*current)->revision : 0;
    write.content = value_;
    store_->Write(write).IgnoreError();
  }

  std::unique_ptr<Store> store_;
  std::string value_ = std::string(1024, 'v');
};

BENCHMARK_DEFINE_F(StoreFixture, ReadCurrent)(benchmark::State& state) {
  int k = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(
        store_->ReadCurrent(absl::StrCat("key/", k++ % kKeys), true));
  }
}
BENCHMARK_REGISTER_F(StoreFixture, ReadCurrent)->Arg(0)->ArgNames({"sync"});

BENCHMARK_DEFINE_F(StoreFixture, CompareAndWrite)(benchmark::State& state) {
  int k = 0;
  for (auto _ : state) Write(absl::StrCat("key/", k++ % kKeys));
}
// Unsynced, and synced (one WAL sync per write: a single writer cannot
// share its sync; concurrent writers do, see etagd-bench --op=cas).
BENCHMARK_REGISTER_F(StoreFixture, CompareAndWrite)
    ->Arg(0)
    ->Arg(1)
    ->ArgNames({"sync"});

// 64 compare-and-writes of distinct names in one commit (what the write
// pipeline does under load): the time per write, synced and not.
BENCHMARK_DEFINE_F(StoreFixture, CompareAndWriteBatchOf64)(benchmark::State& state) {
  constexpr int kBatch = 64;
  int k = 0;
  std::vector<std::string> names(kBatch);
  std::vector<WriteRequest> writes(kBatch);
  for (auto _ : state) {
    for (int i = 0; i < kBatch; ++i) {
      names[i] = absl::StrCat("key/", k++ % kKeys);
      absl::StatusOr<std::optional<Record>> current =
          store_->ReadCurrent(names[i], false);
      writes[i].name = names[i];
      writes[i].expected_revision =
          current.ok() && current->has_value() ? (*current)->revision : 0;
      writes[i].content = value_;
    }
    benchmark::DoNotOptimize(store_->WriteMany(writes));
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}
BENCHMARK_REGISTER_F(StoreFixture, CompareAndWriteBatchOf64)
    ->Arg(0)
    ->Arg(1)
    ->ArgNames({"sync"});

}  // namespace
}  // namespace etagd

int main(int argc, char** argv) {
  // As in etagd: Debian's Abseil leaves absl::Mutex deadlock detection on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
