// Request counters and a latency histogram, and the store's space as gauges,
// rendered in the Prometheus text exposition format.
#ifndef ETAGD_GATEWAY_METRICS_H_
#define ETAGD_GATEWAY_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/store/store.h"

namespace etagd {

// Thread-safe. Record() takes no lock for the gateway's method labels; a
// Render() concurrent with it may see a request in some series and not yet
// in others.
class HttpMetrics {
 public:
  // Counts one answered request.
  void Record(absl::string_view method, int status, absl::Duration latency);

  // Counts one response the HTTP server wrote itself, not a handler
  // (HttpServerOptions::on_own_response): no method or latency is known for
  // it. A 503 for a body the budget could not hold replaces a response
  // Record counted with its own status.
  void RecordServerResponse(int status);
  // RecordServerResponse as an HttpServerOptions::on_own_response; this
  // object must outlive the server.
  std::function<void(int)> ServerResponseRecorder() {
    return [this](int status) { RecordServerResponse(status); };
  }

  // Where Render() reads the store's space from (Store::Space()): called
  // once per rendering, without this object's lock held. Without it, or
  // when it answers nullopt, there are no storage gauges (etagd-gateway has
  // no store of its own).
  void SetStorageSource(std::function<std::optional<StorageSpace>()> source);

  // All metrics, in the Prometheus text format (version 0.0.4).
  std::string Render() const;

 private:
  // Upper bounds, in seconds, of the latency histogram's buckets.
  static constexpr std::array<double, 12> kBuckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,   0.1,   0.25,   0.5,   1,    5};

  // The methods the gateway labels requests with (sorted, as rendered) and
  // the status codes 100-599 are counted without a lock; other pairs in
  // `requests_` under mu_.
  static constexpr std::array<absl::string_view, 6> kMethods = {
      "DELETE", "GET", "HEAD", "OPTIONS", "PUT", "other"};
  static constexpr int kMinStatus = 100;
  static constexpr int kStatuses = 500;

  std::array<std::array<std::atomic<uint64_t>, kStatuses>, kMethods.size()>
      counts_ = {};
  // Requests per bucket: those above the bucket before's bound and at most
  // its own (not cumulative: one increment a request).
  std::array<std::atomic<uint64_t>, kBuckets.size()> bucket_counts_ = {};
  // RecordServerResponse's, by status (kMinStatus on); others not counted.
  std::array<std::atomic<uint64_t>, kStatuses> server_responses_ = {};
  std::atomic<uint64_t> latency_count_{0};
  std::atomic<double> latency_sum_{0};

  mutable absl::Mutex mu_;
  std::function<std::optional<StorageSpace>()> storage_ ABSL_GUARDED_BY(mu_);
  std::map<std::pair<std::string, int>, uint64_t> requests_ ABSL_GUARDED_BY(mu_);
};

}  // namespace etagd

#endif  // ETAGD_GATEWAY_METRICS_H_
