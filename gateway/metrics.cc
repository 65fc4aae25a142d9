#include "gateway/metrics.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace etagd {

void HttpMetrics::Record(absl::string_view method, int status,
                         absl::Duration latency) {
  const double seconds = absl::ToDoubleSeconds(latency);
  size_t m = 0;
  while (m < kMethods.size() && kMethods[m] != method) ++m;
  if (m < kMethods.size() && status >= kMinStatus &&
      status < kMinStatus + kStatuses) {
    counts_[m][status - kMinStatus].fetch_add(1, std::memory_order_relaxed);
  } else {
    absl::MutexLock lock(&mu_);
    ++requests_[{std::string(method), status}];
  }
  // One count, in the first bucket that holds it; Render adds them up.
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) {
      bucket_counts_[i].fetch_add(1, std::memory_order_relaxed);
      break;
    }
  }
  latency_count_.fetch_add(1, std::memory_order_relaxed);
  double sum = latency_sum_.load(std::memory_order_relaxed);
  while (!latency_sum_.compare_exchange_weak(sum, sum + seconds,
                                             std::memory_order_relaxed)) {
  }
}

void HttpMetrics::RecordServerResponse(int status) {
  if (status < kMinStatus || status >= kMinStatus + kStatuses) return;
  server_responses_[status - kMinStatus].fetch_add(1, std::memory_order_relaxed);
}

void HttpMetrics::SetStorageSource(
    std::function<std::optional<StorageSpace>()> source) {
  absl::MutexLock lock(&mu_);
  storage_ = std::move(source);
}

namespace {

void AppendGauge(absl::string_view name, absl::string_view help, int64_t value,
                 std::string* out) {
  absl::StrAppend(out, "# HELP ", name, " ", help, "\n# TYPE ", name,
                  " gauge\n", name, " ", value, "\n");
}

// The store's space; the same names whatever the engine.
void AppendStorage(const StorageSpace& space, std::string* out) {
  AppendGauge("etagd_store_bytes",
              "Bytes the store's files take (what --quota_bytes limits).",
              space.store_bytes, out);
  AppendGauge("etagd_store_quota_bytes",
              "Most bytes the store's files may take (--quota_bytes); 0: no "
              "quota.",
              space.quota_bytes, out);
  AppendGauge("etagd_disk_free_bytes", "Free bytes on the data volume.",
              space.free_bytes, out);
  AppendGauge("etagd_disk_reserve_bytes",
              "Free bytes etagd keeps on the data volume "
              "(--disk_reserve_bytes).",
              space.reserve_bytes, out);
  AppendGauge("etagd_store_full",
              "1 while writes are refused for lack of space (quota, disk or "
              "storage engine), else 0.",
              space.full ? 1 : 0, out);
  AppendGauge("etagd_store_read_only",
              "1 while the store is open read-only because the disk was full "
              "when etagd started, else 0.",
              space.read_only ? 1 : 0, out);
}

}  // namespace

std::string HttpMetrics::Render() const {
  std::function<std::optional<StorageSpace>()> storage;
  {
    absl::MutexLock lock(&mu_);
    storage = storage_;
  }
  std::optional<StorageSpace> space;
  if (storage) space = storage();
  // Every series, in (method, code) order, from the lock-free counts and
  // the others.
  std::map<std::pair<std::string, int>, uint64_t> requests;
  for (size_t m = 0; m < kMethods.size(); ++m) {
    for (int i = 0; i < kStatuses; ++i) {
      const uint64_t count = counts_[m][i].load(std::memory_order_relaxed);
      if (count > 0) requests[{std::string(kMethods[m]), kMinStatus + i}] += count;
    }
  }
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [key, count] : requests_) requests[key] += count;
  }
  std::string out =
      "# HELP etagd_http_requests_total HTTP requests answered, by method and "
      "status.\n# TYPE etagd_http_requests_total counter\n";
  uint64_t not_modified = 0;
  uint64_t precondition_failed = 0;
  for (const auto& [key, count] : requests) {
    absl::StrAppend(&out, "etagd_http_requests_total{method=\"", key.first,
                    "\",code=\"", key.second, "\"} ", count, "\n");
    if (key.second == 304) not_modified += count;
    if (key.second == 412) precondition_failed += count;
  }
  absl::StrAppend(
      &out,
      "# HELP etagd_http_not_modified_total Conditional requests answered 304.\n"
      "# TYPE etagd_http_not_modified_total counter\n"
      "etagd_http_not_modified_total ",
      not_modified,
      "\n# HELP etagd_http_precondition_failed_total Requests answered 412.\n"
      "# TYPE etagd_http_precondition_failed_total counter\n"
      "etagd_http_precondition_failed_total ",
      precondition_failed,
      "\n# HELP etagd_http_request_duration_seconds Time from a complete "
      "request to its response.\n"
      "# TYPE etagd_http_request_duration_seconds histogram\n");
  // Prometheus buckets are cumulative: each counts those at most its bound.
  uint64_t at_most = 0;
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    at_most += bucket_counts_[i].load(std::memory_order_relaxed);
    absl::StrAppend(&out, "etagd_http_request_duration_seconds_bucket{le=\"",
                    absl::StrFormat("%g", kBuckets[i]), "\"} ", at_most, "\n");
  }
  // Record counts a request's bucket before the total, so a rendering
  // between the two would show +Inf below the last bucket: never less.
  const uint64_t count =
      std::max(at_most, latency_count_.load(std::memory_order_relaxed));
  absl::StrAppend(&out,
                  "etagd_http_request_duration_seconds_bucket{le=\"+Inf\"} ",
                  count, "\netagd_http_request_duration_seconds_sum ",
                  absl::StrFormat("%.6f", latency_sum_.load(std::memory_order_relaxed)),
                  "\netagd_http_request_duration_seconds_count ", count, "\n");
  absl::StrAppend(&out,
                  "# HELP etagd_http_server_responses_total Responses the HTTP "
                  "server wrote itself, not a handler, by status: to requests "
                  "it could not read (400, 408, 413, 431, 501) and in place of "
                  "answers whose body the response budget could not hold "
                  "(503; the answer replaced is in etagd_http_requests_total)."
                  "\n# TYPE etagd_http_server_responses_total counter\n");
  for (int i = 0; i < kStatuses; ++i) {
    const uint64_t n = server_responses_[i].load(std::memory_order_relaxed);
    if (n == 0) continue;
    absl::StrAppend(&out, "etagd_http_server_responses_total{code=\"",
                    kMinStatus + i, "\"} ", n, "\n");
  }
  if (space.has_value()) AppendStorage(*space, &out);
  return out;
}

}  // namespace etagd
