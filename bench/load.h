// A closed-loop load engine for gRPC benchmarks: N workers each keep one
// asynchronous operation in flight, starting the next as soon as the last
// completes, and record every latency.
#ifndef ETAGD_BENCH_LOAD_H_
#define ETAGD_BENCH_LOAD_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace etagd {

// Outcome of one operation: "OK", or a short error name such as
// "FAILED_PRECONDITION" or "UNEXPECTED_RESPONSE".
using Outcome = std::string;

// Starts one operation for `worker` and calls `done` exactly once, on any
// thread, when it completes. A worker's operations never overlap.
using StartOperation =
    std::function<void(int worker, std::function<void(Outcome)> done)>;

struct LoadOptions {
  int workers = 64;
  // Stop after this long of measurement, or after `max_ops` measured
  // operations (0: no limit), whichever comes first.
  absl::Duration duration = absl::Seconds(10);
  int64_t max_ops = 0;
  // Operations during this time are run but not measured.
  absl::Duration warmup = absl::Seconds(1);
  // Print a progress line this often on stderr (0: never).
  absl::Duration progress_every = absl::Seconds(5);
};

struct LoadResult {
  int64_t ops = 0;  // Measured operations that completed OK.
  absl::Duration elapsed;
  double ops_per_second = 0;
  // Latency percentiles of OK operations, in microseconds.
  double p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0, max_us = 0;
  std::map<std::string, int64_t> errors;
};

// Runs the load and waits for every operation to finish.
LoadResult RunLoad(const LoadOptions& options, const StartOperation& start);

// The `q`-quantile (0..1) of sorted `values` by nearest rank; 0 if empty.
int64_t Quantile(const std::vector<int64_t>& sorted, double q);

// The result as one JSON object, with `labels` added as string fields.
std::string ToJson(const LoadResult& result,
                   const std::map<std::string, std::string>& labels);

}  // namespace etagd

#endif  // ETAGD_BENCH_LOAD_H_
