#include "bench/load.h"

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"

namespace etagd {
namespace {

struct WorkerStats {
  std::vector<int64_t> latencies_ns;
  std::map<std::string, int64_t> errors;
};

// Shared by the workers of one run; lives until the last one stops.
struct Run {
  const LoadOptions options;
  const StartOperation& start;
  std::vector<WorkerStats> stats;
  std::atomic<bool> measuring{false};
  std::atomic<bool> stop{false};
  std::atomic<int64_t> measured{0};
  absl::Mutex mu;
  int active ABSL_GUARDED_BY(mu) = 0;

  Run(const LoadOptions& o, const StartOperation& s)
      : options(o), start(s), stats(o.workers) {}

  void Next(int worker) {
    if (stop.load()) {
      absl::MutexLock lock(&mu);
      --active;
      return;
    }
    const absl::Time began = absl::Now();
    start(worker, [this, worker, began](Outcome outcome) {
      const int64_t ns = absl::ToInt64Nanoseconds(absl::Now() - began);
      if (measuring.load()) {
        WorkerStats& s = stats[worker];
        if (outcome == "OK") {
          s.latencies_ns.push_back(ns);
          const int64_t n = measured.fetch_add(1) + 1;
          if (options.max_ops > 0 && n >= options.max_ops) stop = true;
        } else {
          ++s.errors[outcome];
        }
      }
      Next(worker);
    });
  }
};

}  // namespace

int64_t Quantile(const std::vector<int64_t>& sorted, double q) {
  if (sorted.empty()) return 0;
  const size_t rank = static_cast<size_t>(
      std::ceil(q * static_cast<double>(sorted.size())));
  return sorted[std::min(sorted.size() - 1, rank == 0 ? 0 : rank - 1)];
}

LoadResult RunLoad(const LoadOptions& options, const StartOperation& start) {
  auto run = std::make_shared<Run>(options, start);
  {
    absl::MutexLock lock(&run->mu);
    run->active = options.workers;
  }
  for (int w = 0; w < options.workers; ++w) run->Next(w);

  absl::SleepFor(options.warmup);
  const absl::Time begin = absl::Now();
  run->measuring = true;
  absl::Time next_progress = begin + options.progress_every;
  const absl::Time end = begin + options.duration;
  while (!run->stop.load() && absl::Now() < end) {
    absl::SleepFor(absl::Milliseconds(10));
    if (options.progress_every > absl::ZeroDuration() && absl::Now() >= next_progress) {
      const double seconds = absl::ToDoubleSeconds(absl::Now() - begin);
      std::fprintf(stderr, "progress: %lld ops in %.1fs (%.0f ops/s)\n",
                   static_cast<long long>(run->measured.load()), seconds,
                   static_cast<double>(run->measured.load()) / seconds);
      next_progress += options.progress_every;
    }
  }
  const absl::Time finish = absl::Now();
  run->measuring = false;
  run->stop = true;
  {
    absl::MutexLock lock(&run->mu);
    run->mu.Await(absl::Condition(
        +[](int* active) { return *active == 0; }, &run->active));
  }

  LoadResult result;
  std::vector<int64_t> all;
  for (WorkerStats& s : run->stats) {
    all.insert(all.end(), s.latencies_ns.begin(), s.latencies_ns.end());
    for (const auto& [name, count] : s.errors) result.errors[name] += count;
  }
  std::sort(all.begin(), all.end());
  result.ops = static_cast<int64_t>(all.size());
  result.elapsed = finish - begin;
  result.ops_per_second =
      static_cast<double>(result.ops) / absl::ToDoubleSeconds(result.elapsed);
  result.p50_us = Quantile(all, 0.50) / 1000.0;
  result.p90_us = Quantile(all, 0.90) / 1000.0;
  result.p99_us = Quantile(all, 0.99) / 1000.0;
  result.p999_us = Quantile(all, 0.999) / 1000.0;
  result.max_us = all.empty() ? 0 : all.back() / 1000.0;
  return result;
}

std::string ToJson(const LoadResult& result,
                   const std::map<std::string, std::string>& labels) {
  std::string out = "{";
  for (const auto& [key, value] : labels) {
    absl::StrAppend(&out, "\"", key, "\": \"", value, "\", ");
  }
  absl::StrAppendFormat(
      &out,
      "\"ops\": %d, \"seconds\": %.3f, \"ops_per_sec\": %.1f, "
      "\"latency_us\": {\"p50\": %.1f, \"p90\": %.1f, \"p99\": %.1f, "
      "\"p999\": %.1f, \"max\": %.1f}, \"errors\": {",
      result.ops, absl::ToDoubleSeconds(result.elapsed), result.ops_per_second,
      result.p50_us, result.p90_us, result.p99_us, result.p999_us, result.max_us);
  bool first = true;
  for (const auto& [name, count] : result.errors) {
    absl::StrAppend(&out, first ? "" : ", ", "\"", name, "\": ", count);
    first = false;
  }
  out += "}}";
  return out;
}

}  // namespace etagd
