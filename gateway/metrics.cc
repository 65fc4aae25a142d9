#include "gateway/metrics.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace etagd {

void HttpMetrics::Record(absl::string_view method, int status,
                         absl::Duration latency) {
  const double seconds = absl::ToDoubleSeconds(latency);
  absl::MutexLock lock(&mu_);
  ++requests_[{std::string(method), status}];
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    if (seconds <= kBuckets[i]) ++bucket_counts_[i];
  }
  ++latency_count_;
  latency_sum_ += seconds;
}

std::string HttpMetrics::Render() const {
  absl::MutexLock lock(&mu_);
  std::string out =
      "# HELP etagd_http_requests_total HTTP requests answered, by method and "
      "status.\n# TYPE etagd_http_requests_total counter\n";
  uint64_t not_modified = 0;
  uint64_t precondition_failed = 0;
  for (const auto& [key, count] : requests_) {
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
  for (size_t i = 0; i < kBuckets.size(); ++i) {
    absl::StrAppend(&out, "etagd_http_request_duration_seconds_bucket{le=\"",
                    absl::StrFormat("%g", kBuckets[i]), "\"} ",
                    bucket_counts_[i], "\n");
  }
  absl::StrAppend(&out,
                  "etagd_http_request_duration_seconds_bucket{le=\"+Inf\"} ",
                  latency_count_, "\netagd_http_request_duration_seconds_sum ",
                  absl::StrFormat("%.6f", latency_sum_),
                  "\netagd_http_request_duration_seconds_count ",
                  latency_count_, "\n");
  return out;
}

}  // namespace etagd
