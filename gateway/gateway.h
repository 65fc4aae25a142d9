// The HTTP face of etagd: maps HTTP requests (RFC 9110 conditional requests,
// ranges, CORS) onto the Backend's calls and their outcomes onto HTTP
// responses. It parses and maps only: preconditions are evaluated by the
// service, so HTTP and gRPC clients get the same answers.
//
// Routes:
//   GET|HEAD|PUT|DELETE|OPTIONS /v1/resources/{name}[?revision=N]
//   GET /v1/resources?prefix=&page_size=&page_token=     (JSON)
//   GET /v1/history/{name}?page_size=&page_token=        (JSON)
//   GET /healthz, /readyz, /metrics
#ifndef ETAGD_GATEWAY_GATEWAY_H_
#define ETAGD_GATEWAY_GATEWAY_H_

#include <functional>
#include <string>
#include <vector>

#include "boost/beast/http/message.hpp"
#include "boost/beast/http/string_body.hpp"
#include "gateway/backend.h"
#include "gateway/metrics.h"

namespace etagd {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse =
    boost::beast::http::response<boost::beast::http::string_body>;

struct GatewayOptions {
  // Cache-Control of 200, 206 and 304 responses; empty sends none.
  std::string cache_control = "no-cache";
  // PUT or DELETE of an existing resource without If-Match or
  // If-Unmodified-Since is refused with 428 (RFC 6585 §3).
  bool require_preconditions = false;
  // Origins allowed to call from browser scripts (CORS); "*" allows any.
  std::vector<std::string> cors_allowed_origins;
  // How long browsers may cache a preflight answer.
  absl::Duration cors_max_age = absl::Minutes(10);
};

// Thread-safe. `backend` and `metrics` must outlive it.
class Gateway {
 public:
  Gateway(Backend& backend, GatewayOptions options, HttpMetrics& metrics);

  // Answers `request`: calls `done` exactly once, on any thread, with a
  // response whose headers and body are final except for keep-alive.
  void Handle(HttpRequest request, std::function<void(HttpResponse)> done);

 private:
  struct Exchange;

  void Route(std::shared_ptr<Exchange> exchange);
  void GetResource(std::shared_ptr<Exchange> exchange, std::string name);
  void PutResource(std::shared_ptr<Exchange> exchange, std::string name);
  void DeleteResource(std::shared_ptr<Exchange> exchange, std::string name);
  void ListResources(std::shared_ptr<Exchange> exchange);
  void ListVersions(std::shared_ptr<Exchange> exchange, std::string name);
  void Ready(std::shared_ptr<Exchange> exchange);

  // Sends `response` after adding the headers every response carries.
  void Finish(Exchange& exchange, HttpResponse response);
  void FinishError(Exchange& exchange, const absl::Status& status);
  void FinishError(Exchange& exchange, int http_status,
                   absl::string_view status_name, absl::string_view message);

  // 200 with `result` as JSON, or its error.
  template <typename Message>
  void FinishJson(Exchange& exchange, const absl::StatusOr<Message>& result);
  void FinishPreconditionRequired(Exchange& exchange);

  bool OriginAllowed(absl::string_view origin) const;

  Backend& backend_;
  const GatewayOptions options_;
  HttpMetrics& metrics_;
};

}  // namespace etagd

#endif  // ETAGD_GATEWAY_GATEWAY_H_
