// The headers an error response carries beyond its status and JSON body,
// over a Backend that fails every call with a chosen status.
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "gateway/backend.h"
#include "gateway/failed_watch_stream.h"
#include "gateway/gateway.h"
#include "gateway/metrics.h"
#include "gtest/gtest.h"
#include "service/error_details.h"

namespace etagd {
namespace {

namespace http = boost::beast::http;
namespace v1 = ::etagd::v1;

class FailingBackend : public Backend {
 public:
  explicit FailingBackend(absl::Status status) : status_(std::move(status)) {}

  void Get(const Caller&, const GetQuery&, Callback<GetAnswer> done) override {
    done(status_);
  }
  void Put(const Caller&, const v1::PutResourceRequest&,
           Callback<v1::PutResourceResponse> done) override {
    done(status_);
  }
  void Delete(const Caller&, const v1::DeleteResourceRequest&,
              Callback<v1::DeleteResourceResponse> done) override {
    done(status_);
  }
  void List(const Caller&, const v1::ListResourcesRequest&,
            Callback<v1::ListResourcesResponse> done) override {
    done(status_);
  }
  void ListVersions(const Caller&, const v1::ListVersionsRequest&,
                    Callback<v1::ListVersionsResponse> done) override {
    done(status_);
  }
  std::unique_ptr<WatchStream> Watch(const Caller&, const v1::WatchRequest&) override {
    return NewFailedWatchStream(status_);
  }
  void CheckHealth(std::function<void(absl::Status)> done) override {
    done(absl::OkStatus());
  }

 private:
  const absl::Status status_;
};

HttpResponse Answer(const absl::Status& backend_status, http::verb method) {
  FailingBackend backend(backend_status);
  HttpMetrics metrics;
  Gateway gateway(backend, GatewayOptions(), metrics);
  HttpRequest request(method, "/v1/resources/a", 11);
  request.set(http::field::host, "localhost");
  if (method == http::verb::put) {
    request.body() = "content";
    request.prepare_payload();
  }
  std::optional<HttpResponse> response;
  absl::Notification answered;
  gateway.Handle(std::move(request), [&](HttpAnswer a) {
    response = std::move(a.response);
    answered.Notify();
  });
  answered.WaitForNotification();
  return *std::move(response);
}

// RFC 9110 §15.6.4 and §10.2.3: an overload is a 503 that says when to
// come back.
TEST(ErrorResponseTest, AnOverloadedServerIs503WithRetryAfterInSeconds) {
  HttpResponse response = Answer(
      OverloadedError("too many bytes of writes in flight", absl::Milliseconds(1500)),
      http::verb::put);
  EXPECT_EQ(response.result_int(), 503);
  EXPECT_EQ(response[http::field::retry_after], "2");
}

TEST(ErrorResponseTest, ARequestOverALimitIs413WithoutRetryAfter) {
  HttpResponse response = Answer(
      absl::ResourceExhaustedError("content is 5000000 bytes; the limit is 4194304"),
      http::verb::put);
  EXPECT_EQ(response.result_int(), 413);
  EXPECT_EQ(response.count(http::field::retry_after), 0u);
}

}  // namespace
}  // namespace etagd
