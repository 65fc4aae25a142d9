#include "gateway/metrics.h"

#include <map>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace etagd {
namespace {

using ::testing::Contains;
using ::testing::HasSubstr;
using ::testing::Key;
using ::testing::Not;

constexpr absl::string_view kRequests = "etagd_http_requests_total";
constexpr absl::string_view kBucket =
    "etagd_http_request_duration_seconds_bucket";

// The samples of a Prometheus text exposition: series (name and labels) to
// value. Fails the test if a series appears twice or a line is malformed.
std::map<std::string, std::string> Samples(const std::string& text) {
  std::map<std::string, std::string> samples;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    if (line.front() == '#') continue;
    const size_t space = line.rfind(' ');
    if (space == absl::string_view::npos) {
      ADD_FAILURE() << "malformed sample line: " << line;
      continue;
    }
    const bool inserted =
        samples
            .emplace(std::string(line.substr(0, space)),
                     std::string(line.substr(space + 1)))
            .second;
    EXPECT_TRUE(inserted) << "series appears twice: " << line;
  }
  return samples;
}

std::string RequestSeries(absl::string_view method, int code) {
  return std::string(kRequests) + "{method=\"" + std::string(method) +
         "\",code=\"" + std::to_string(code) + "\"}";
}

std::string BucketSeries(absl::string_view le) {
  return std::string(kBucket) + "{le=\"" + std::string(le) + "\"}";
}

// The bucket upper bounds as rendered, in order.
const std::vector<std::string> kBounds = {"0.0005", "0.001", "0.0025", "0.005",
                                          "0.01",   "0.025", "0.05",   "0.1",
                                          "0.25",   "0.5",   "1",      "5"};

TEST(HttpMetricsTest, RendersEveryMetricAtZeroBeforeAnyRequest) {
  HttpMetrics metrics;
  EXPECT_EQ(
      metrics.Render(),
      "# HELP etagd_http_requests_total HTTP requests answered, by method and "
      "status.\n"
      "# TYPE etagd_http_requests_total counter\n"
      "# HELP etagd_http_not_modified_total Conditional requests answered "
      "304.\n"
      "# TYPE etagd_http_not_modified_total counter\n"
      "etagd_http_not_modified_total 0\n"
      "# HELP etagd_http_precondition_failed_total Requests answered 412.\n"
      "# TYPE etagd_http_precondition_failed_total counter\n"
      "etagd_http_precondition_failed_total 0\n"
      "# HELP etagd_http_request_duration_seconds Time from a complete "
      "request to its response.\n"
      "# TYPE etagd_http_request_duration_seconds histogram\n"
      "etagd_http_request_duration_seconds_bucket{le=\"0.0005\"} 0\n"
      "etagd_http_request_duration_seconds_bucket{le=\"0.001\"} 0\n"
      "etagd_http_request_duration_seconds_bucket{le=\"0.0025\"} 0\n"
      "etagd_http_request_duration_seconds_bucket{le=\"0.005\"} 0\n"
      "etagd_http_request_duration_seconds_bucket{le=\"0.01\"} 0\n"
      "etagd_http_request_duration_seconds_bucket{le=\"0.025\"} 0\n"
      "etagd_http_request_duration_seconds_bucket{le=\"0.05\"} 0\n"
      "etagd_http_request_duration_seconds_bucket{le=\"0.1\"} 0\n"
      "etagd_http_request_duration_seconds_bucket{le=\"0.25\"} 0\n"
      "etagd_http_request_duration_seconds_bucket{le=\"0.5\"} 0\n"
      "etagd_http_request_duration_seconds_bucket{le=\"1\"} 0\n"
      "etagd_http_request_duration_seconds_bucket{le=\"5\"} 0\n"
      "etagd_http_request_duration_seconds_bucket{le=\"+Inf\"} 0\n"
      "etagd_http_request_duration_seconds_sum 0.000000\n"
      "etagd_http_request_duration_seconds_count 0\n"
      "# HELP etagd_http_server_responses_total Responses the HTTP server "
      "wrote itself, not a handler, by status: to requests it could not read "
      "(400, 408, 413, 431, 501) and in place of answers whose body the "
      "response budget could not hold (503; the answer replaced is in "
      "etagd_http_requests_total).\n"
      "# TYPE etagd_http_server_responses_total counter\n");
}

TEST(HttpMetricsTest, CountsTheServersOwnResponsesByCodeApartFromRequests) {
  HttpMetrics metrics;
  metrics.RecordServerResponse(431);
  metrics.RecordServerResponse(431);
  metrics.ServerResponseRecorder()(503);
  const std::string out = metrics.Render();
  EXPECT_THAT(out, HasSubstr("etagd_http_server_responses_total{code=\"431\"} 2\n"));
  EXPECT_THAT(out, HasSubstr("etagd_http_server_responses_total{code=\"503\"} 1\n"));
  EXPECT_THAT(out, Not(HasSubstr("etagd_http_requests_total{")));
  EXPECT_THAT(out, HasSubstr("etagd_http_request_duration_seconds_count 0\n"));
}

TEST(HttpMetricsTest, CountsRequestsByMethodAndCode) {
  HttpMetrics metrics;
  metrics.Record("GET", 200, absl::Milliseconds(1));
  metrics.Record("GET", 200, absl::Milliseconds(1));
  metrics.Record("GET", 404, absl::Milliseconds(1));
  metrics.Record("PUT", 200, absl::Milliseconds(1));
  metrics.Record("DELETE", 204, absl::Milliseconds(1));

  std::map<std::string, std::string> samples = Samples(metrics.Render());
  EXPECT_EQ(samples[RequestSeries("GET", 200)], "2");
  EXPECT_EQ(samples[RequestSeries("GET", 404)], "1");
  EXPECT_EQ(samples[RequestSeries("PUT", 200)], "1");
  EXPECT_EQ(samples[RequestSeries("DELETE", 204)], "1");
}

TEST(HttpMetricsTest, OmitsMethodCodePairsNeverSeen) {
  HttpMetrics metrics;
  metrics.Record("GET", 200, absl::Milliseconds(1));
  std::map<std::string, std::string> samples = Samples(metrics.Render());
  EXPECT_THAT(samples, Not(Contains(Key(RequestSeries("GET", 404)))));
  EXPECT_THAT(samples, Not(Contains(Key(RequestSeries("PUT", 200)))));
}

TEST(HttpMetricsTest, TotalsNotModifiedAcrossMethods) {
  HttpMetrics metrics;
  metrics.Record("GET", 304, absl::Milliseconds(1));
  metrics.Record("GET", 304, absl::Milliseconds(1));
  metrics.Record("HEAD", 304, absl::Milliseconds(1));
  metrics.Record("GET", 200, absl::Milliseconds(1));
  metrics.Record("PUT", 412, absl::Milliseconds(1));

  std::map<std::string, std::string> samples = Samples(metrics.Render());
  EXPECT_EQ(samples["etagd_http_not_modified_total"], "3");
  EXPECT_EQ(samples[RequestSeries("GET", 304)], "2");
  EXPECT_EQ(samples[RequestSeries("HEAD", 304)], "1");
}

TEST(HttpMetricsTest, TotalsPreconditionFailedAcrossMethods) {
  HttpMetrics metrics;
  metrics.Record("PUT", 412, absl::Milliseconds(1));
  metrics.Record("PUT", 412, absl::Milliseconds(1));
  metrics.Record("DELETE", 412, absl::Milliseconds(1));
  metrics.Record("GET", 412, absl::Milliseconds(1));
  metrics.Record("GET", 304, absl::Milliseconds(1));
  metrics.Record("PUT", 409, absl::Milliseconds(1));

  std::map<std::string, std::string> samples = Samples(metrics.Render());
  EXPECT_EQ(samples["etagd_http_precondition_failed_total"], "4");
  EXPECT_EQ(samples["etagd_http_not_modified_total"], "1");
}

TEST(HttpMetricsTest, DeclaresTheTypeOfEveryMetric) {
  HttpMetrics metrics;
  const std::string text = metrics.Render();
  for (absl::string_view line :
       {"# TYPE etagd_http_requests_total counter\n",
        "# TYPE etagd_http_not_modified_total counter\n",
        "# TYPE etagd_http_precondition_failed_total counter\n",
        "# TYPE etagd_http_request_duration_seconds histogram\n"}) {
    EXPECT_NE(text.find(std::string(line)), std::string::npos) << line;
  }
}

// A histogram's bucket le="x" counts observations <= x, so counts are
// cumulative and non-decreasing, and le="+Inf" equals _count.
struct HistogramCase {
  std::string rule;
  std::vector<absl::Duration> latencies;
  // The count of every bucket in kBounds order, then +Inf.
  std::vector<std::string> buckets;
  std::string sum;
};

std::ostream& operator<<(std::ostream& os, const HistogramCase& c) {
  return os << c.rule;
}

class HistogramTest : public testing::TestWithParam<HistogramCase> {};

TEST_P(HistogramTest, CountsCumulativelyPerPrometheusHistograms) {
  const HistogramCase& c = GetParam();
  HttpMetrics metrics;
  for (absl::Duration latency : c.latencies) {
    metrics.Record("GET", 200, latency);
  }
  std::map<std::string, std::string> samples = Samples(metrics.Render());
  ASSERT_EQ(c.buckets.size(), kBounds.size() + 1) << c.rule;
  for (size_t i = 0; i < kBounds.size(); ++i) {
    EXPECT_EQ(samples[BucketSeries(kBounds[i])], c.buckets[i])
        << c.rule << ": le=" << kBounds[i];
  }
  EXPECT_EQ(samples[BucketSeries("+Inf")], c.buckets.back()) << c.rule;
  EXPECT_EQ(samples["etagd_http_request_duration_seconds_count"],
            std::to_string(c.latencies.size()))
      << c.rule;
  EXPECT_EQ(samples[BucketSeries("+Inf")],
            samples["etagd_http_request_duration_seconds_count"])
      << c.rule;
  EXPECT_EQ(samples["etagd_http_request_duration_seconds_sum"], c.sum)
      << c.rule;
}

INSTANTIATE_TEST_SUITE_P(
    Prometheus, HistogramTest,
    testing::Values(
        HistogramCase{"zero latency is in every bucket",
                      {absl::ZeroDuration()},
                      {"1", "1", "1", "1", "1", "1", "1", "1", "1", "1", "1",
                       "1", "1"},
                      "0.000000"},
        HistogramCase{"an upper bound is inclusive",
                      {absl::Microseconds(500)},
                      {"1", "1", "1", "1", "1", "1", "1", "1", "1", "1", "1",
                       "1", "1"},
                      "0.000500"},
        HistogramCase{"just above a bound goes to the next bucket",
                      {absl::Microseconds(501)},
                      {"0", "1", "1", "1", "1", "1", "1", "1", "1", "1", "1",
                       "1", "1"},
                      "0.000501"},
        HistogramCase{"3 ms is counted from le=0.005 up",
                      {absl::Milliseconds(3)},
                      {"0", "0", "0", "1", "1", "1", "1", "1", "1", "1", "1",
                       "1", "1"},
                      "0.003000"},
        HistogramCase{"exactly 1 s is in le=1",
                      {absl::Seconds(1)},
                      {"0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "1",
                       "1", "1"},
                      "1.000000"},
        HistogramCase{"exactly 5 s is in le=5",
                      {absl::Seconds(5)},
                      {"0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0",
                       "1", "1"},
                      "5.000000"},
        HistogramCase{"over the last bound counts only in +Inf",
                      {absl::Seconds(10)},
                      {"0", "0", "0", "0", "0", "0", "0", "0", "0", "0", "0",
                       "0", "1"},
                      "10.000000"},
        HistogramCase{"several observations accumulate",
                      {absl::Microseconds(100), absl::Milliseconds(2),
                       absl::Milliseconds(20), absl::Milliseconds(200),
                       absl::Seconds(2), absl::Seconds(30)},
                      {"1", "1", "2", "2", "2", "3", "3", "3", "4", "4", "4",
                       "5", "6"},
                      "32.222100"}));

TEST(HttpMetricsTest, RendersTheStoreSpaceAsGauges) {
  HttpMetrics metrics;
  metrics.SetStorageSource([] {
    StorageSpace space;
    space.store_bytes = 1000;
    space.quota_bytes = 2000;
    space.free_bytes = 300;
    space.reserve_bytes = 400;
    space.full = true;
    return std::optional<StorageSpace>(space);
  });
  const std::string text = metrics.Render();
  std::map<std::string, std::string> samples = Samples(text);
  EXPECT_EQ(samples["etagd_store_bytes"], "1000");
  EXPECT_EQ(samples["etagd_store_quota_bytes"], "2000");
  EXPECT_EQ(samples["etagd_disk_free_bytes"], "300");
  EXPECT_EQ(samples["etagd_disk_reserve_bytes"], "400");
  EXPECT_EQ(samples["etagd_store_full"], "1");
  EXPECT_EQ(samples["etagd_store_read_only"], "0");
  for (absl::string_view name :
       {"etagd_store_bytes", "etagd_store_quota_bytes", "etagd_disk_free_bytes",
        "etagd_disk_reserve_bytes", "etagd_store_full",
        "etagd_store_read_only"}) {
    EXPECT_NE(text.find(absl::StrCat("# TYPE ", name, " gauge\n")),
              std::string::npos)
        << name;
  }
}

TEST(HttpMetricsTest, RendersNoStorageGaugesWithoutAStore) {
  HttpMetrics metrics;
  metrics.SetStorageSource([] { return std::optional<StorageSpace>(); });
  std::map<std::string, std::string> samples = Samples(metrics.Render());
  EXPECT_THAT(samples, Not(Contains(Key("etagd_store_bytes"))));
  EXPECT_THAT(samples, Not(Contains(Key("etagd_store_full"))));
}

TEST(HttpMetricsTest, CountsEveryRecordFromConcurrentThreads) {
  HttpMetrics metrics;
  constexpr int kThreads = 4;
  constexpr int kPerThread = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&metrics] {
      for (int i = 0; i < kPerThread; ++i) {
        metrics.Record("GET", 304, absl::Milliseconds(1));
      }
    });
  }
  for (std::thread& thread : threads) thread.join();

  std::map<std::string, std::string> samples = Samples(metrics.Render());
  const std::string total = std::to_string(kThreads * kPerThread);
  EXPECT_EQ(samples[RequestSeries("GET", 304)], total);
  EXPECT_EQ(samples["etagd_http_not_modified_total"], total);
  EXPECT_EQ(samples["etagd_http_request_duration_seconds_count"], total);
  EXPECT_EQ(samples[BucketSeries("0.001")], total);
}

}  // namespace
}  // namespace etagd
