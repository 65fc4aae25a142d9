// The HTTP face of etagd: maps HTTP requests (RFC 9110 conditional requests,
// ranges, CORS) onto the Backend's calls and their outcomes onto HTTP
// responses. It parses and maps only: preconditions are evaluated by the
// service, so HTTP and gRPC clients get the same answers.
//
// Routes:
//   GET|HEAD|PUT|DELETE|OPTIONS /v1/resources/{name}[?revision=N]
//   GET /v1/resources?prefix=&page_size=&page_token=     (JSON)
//   GET /v1/history/{name}?page_size=&page_token=        (JSON)
//   GET /v1/watch?prefix=&start_revision=                (text/event-stream)
//   GET /healthz, /readyz, /metrics, /openapi.json
//
// A GET or HEAD of a resource with If-None-Match and `Prefer: wait=N`
// (RFC 7240 §4.3) that would answer 304 is held until the resource changes
// or N seconds (at most max_wait) pass, then answered as a GET then would
// be, with `Preference-Applied: wait=<seconds waited at most>` (§3).
#ifndef ETAGD_GATEWAY_GATEWAY_H_
#define ETAGD_GATEWAY_GATEWAY_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "boost/beast/http/message.hpp"
#include "boost/beast/http/string_body.hpp"
#include "gateway/backend.h"
#include "gateway/body_stream.h"
#include "gateway/coded_cache.h"
#include "gateway/metrics.h"
#include "gateway/timer_queue.h"
#include "gateway/version_head.h"
#include "gateway/version_head_cache.h"
#include "service/get_query.h"
#include "service/store/record.h"
#include "service/thread_pool.h"

namespace etagd {

using HttpRequest = boost::beast::http::request<boost::beast::http::string_body>;
using HttpResponse =
    boost::beast::http::response<boost::beast::http::string_body>;

// Pre-formatted field lines ("Name: value\r\n" each, RFC 9112 §5), valid
// while `owner` lives.
struct HeadLines {
  absl::string_view text;
  std::shared_ptr<const void> owner;
};

// The answer to one request: a whole response, or, with a body_stream, the
// head of a response whose body that stream produces piece by piece (the
// response's own body is then empty and it carries no Content-Length; the
// server frames the pieces).
struct HttpAnswer {
  // A whole response.
  HttpAnswer(HttpResponse whole) : response(std::move(whole)) {}  // NOLINT
  HttpAnswer(HttpResponse head, std::unique_ptr<BodyStream> body)
      : response(std::move(head)), body_stream(std::move(body)) {}
  // A whole response whose head carries `common` and `version` after its
  // own fields.
  HttpAnswer(HttpResponse whole, HeadLines common, HeadLines version)
      : response(std::move(whole)),
        more_fields{std::move(common), std::move(version)} {}

  HttpResponse response;
  // Field lines the head carries after the response's own fields, in
  // order, as they are: the Date and Server lines of the second, then a
  // resource version's (version_head.h). Never a framing field but
  // Content-Length, and then the response has none of its own.
  std::array<HeadLines, 2> more_fields;
  std::unique_ptr<BodyStream> body_stream;
};

struct GatewayOptions {
  // Cache-Control of 200, 206 and 304 responses of resources that store
  // none of their own (HttpMetadata.cache_control); empty sends none.
  std::string cache_control = "no-cache";
  // PUT or DELETE of an existing resource without If-Match or
  // If-Unmodified-Since is refused with 428 (RFC 6585 §3).
  bool require_preconditions = false;
  // Origins allowed to call from browser scripts (CORS); "*" allows any.
  std::vector<std::string> cors_allowed_origins;
  // How long browsers may cache a preflight answer.
  absl::Duration cors_max_age = absl::Minutes(10);
  // Content codings (RFC 9110 §8.4) GET responses may be compressed in,
  // most preferred first ("br", "gzip"); empty: none. Only content of a
  // compressible media type, at least compress_min_bytes long and without
  // a stored Content-Encoding, is compressed; its coded form has an
  // entity-tag of its own (CodedEntityTag) and its responses say
  // "Vary: Accept-Encoding".
  std::vector<std::string> content_codings = {"br", "gzip"};
  int64_t compress_min_bytes = 1024;
  // Bytes of coded forms kept for reuse (each is computed once per version
  // and coding while it stays); 0 keeps none.
  int64_t coded_cache_bytes = int64_t{64} << 20;
  // Bytes of versions' formatted response fields kept for reuse
  // (version_head_cache.h); 0 formats them for every response.
  int64_t head_cache_bytes = int64_t{8} << 20;
  // The longest a long-poll is held (Prefer: wait is capped at it); zero
  // turns long-polls off (Prefer: wait is ignored).
  absl::Duration max_wait = absl::Seconds(60);
  // An event stream sends a comment when nothing else went out for this
  // long, so that proxies do not close it as idle.
  absl::Duration sse_heartbeat = absl::Seconds(15);
  // The reconnection delay event streams tell browsers (`retry:`).
  absl::Duration sse_retry = absl::Seconds(1);
};

// A route as OpenAPI writes it: a path template ({name} takes the rest of
// the path, '/' included) and its methods, lowercase.
struct RouteSpec {
  std::string path;
  std::vector<std::string> methods;
};

// Every route Gateway serves: what /openapi.json documents
// (tests/gateway/openapi_test checks that both say the same, and that the
// gateway answers each).
const std::vector<RouteSpec>& GatewayRoutes();

// The route a decoded request path is for ("{name}" stands for the rest of
// the path, empty included), or null. The gateway answers 404 to a path
// that has none before looking further, so a route it serves is always in
// GatewayRoutes(), hence documented.
const RouteSpec* FindRoute(absl::string_view path);

// Thread-safe. `backend` and `metrics` must outlive it.
class Gateway {
 public:
  Gateway(Backend& backend, GatewayOptions options, HttpMetrics& metrics);

  // Answers `request`: calls `done` exactly once, on any thread, with a
  // response whose headers and body are final except for keep-alive (and,
  // for a streamed body, its framing).
  void Handle(HttpRequest&& request, std::function<void(HttpAnswer)> done);

  // Answers held long-polls now (each as at the end of its wait), ends
  // event streams at their next piece, and from now on holds nothing and
  // ends new streams at once. Call before the HTTP server's Shutdown.
  void Drain();

 private:
  struct Exchange;

  void Route(std::shared_ptr<Exchange> exchange);
  // `name` is a view of the exchange's path.
  void GetResource(std::shared_ptr<Exchange> exchange, absl::string_view name);
  void PutResource(std::shared_ptr<Exchange> exchange, std::string name);
  void DeleteResource(std::shared_ptr<Exchange> exchange, std::string name);
  void ListResources(std::shared_ptr<Exchange> exchange);
  void ListVersions(std::shared_ptr<Exchange> exchange, std::string name);
  void WatchEvents(std::shared_ptr<Exchange> exchange);
  // Holds a GET that would answer 304 with current revision `revision`
  // until a change or `wait` passes, then answers it again.
  void HoldGet(std::shared_ptr<Exchange> exchange, absl::string_view name,
               int64_t revision, absl::Duration wait);
  void Ready(std::shared_ptr<Exchange> exchange);

  // Sends `response` after adding the headers every response carries.
  void Finish(Exchange& exchange, HttpResponse response);
  // Sends the head of a streamed response, and `body` after it.
  void FinishStream(Exchange& exchange, HttpResponse head,
                    std::unique_ptr<BodyStream> body);
  // Date, Server, CORS and Preference-Applied.
  void AddCommonFields(Exchange& exchange, HttpResponse& response, absl::Time now);
  // CORS and Preference-Applied: the common fields that depend on the
  // request. `version_lines`: the pre-formatted field lines that will go
  // out with `response` (a VersionHead's), whose user metadata CORS
  // exposes too.
  void AddExchangeFields(Exchange& exchange, HttpResponse& response,
                         absl::string_view version_lines = {});
  void FinishError(Exchange& exchange, const absl::Status& status);
  void FinishError(Exchange& exchange, int http_status,
                   absl::string_view status_name, absl::string_view message);

  // 200 with `result` as JSON, or its error.
  template <typename Message>
  void FinishJson(Exchange& exchange, const absl::StatusOr<Message>& result);
  void FinishPreconditionRequired(Exchange& exchange);

  bool OriginAllowed(absl::string_view origin) const;

  // The representation of a version a GET sends (§12.1 proactive
  // negotiation): its content coding ("" for the stored bytes) and whether
  // the choice depended on Accept-Encoding (Vary, §12.5.5).
  struct Representation {
    std::string coding;
    bool varies = false;
  };
  Representation SelectRepresentation(const Exchange& exchange,
                                      const Record& version) const;

  // The lines kept for the stored form of the version tagged `etag`, when
  // the client accepts none of the gateway's codings: it then gets the
  // stored form whatever the version (SelectRepresentation), and the kept
  // lines already say whether that depended on Accept-Encoding (Vary).
  // Null otherwise, or if none (or, asking for `complete`, only a 304's)
  // are kept.
  std::shared_ptr<const VersionHead> KeptStoredFormHead(const Exchange& exchange,
                                                        absl::string_view etag,
                                                        bool complete) const;
  // How a version goes out, as a 304 or (`complete`) a 200 chooses it: the
  // kept lines of its stored form if they serve (KeptStoredFormHead), else
  // the representation negotiated and, for a coded one, its entity-tag.
  struct Choice {
    // Null if none are kept: format them (HeadOf) once the representation
    // is final.
    std::shared_ptr<const VersionHead> head;
    Representation representation;
    std::string coded_etag;
    // The entity-tag of the representation chosen, of `version`'s own.
    absl::string_view etag(const Record& version) const {
      return representation.coding.empty() ? absl::string_view(version.etag)
                                           : absl::string_view(coded_etag);
    }
  };
  Choice Choose(const Exchange& exchange, const Record& version, bool complete) const;
  // What FormatVersionHead needs of `version` sent as `representation`
  // tagged `etag` (its fields borrow from the arguments).
  VersionRepresentation Describe(absl::string_view etag, const Record& version,
                                 const Representation& representation,
                                 uint64_t content_length) const;
  // The field lines of `representation`: kept ones, else formatted now
  // (and kept); `complete` asks for a 200's too, not only a 304's.
  std::shared_ptr<const VersionHead> HeadOf(
      const VersionRepresentation& representation, bool complete);
  // Sends `response` (a 200, 206 or 304 of a version) with `fields`, a part
  // of `head`, after its own fields. A 200's Content-Length is among the
  // fields; a 206 gets its own.
  void FinishVersion(Exchange& exchange, HttpResponse&& response,
                     absl::string_view fields, std::shared_ptr<const VersionHead> head);

  static constexpr int kLongPollAnswerThreads = 2;

  Backend& backend_;
  const GatewayOptions options_;
  HttpMetrics& metrics_;
  const std::unique_ptr<CodedCache> coded_cache_;
  const std::unique_ptr<VersionHeadCache> head_cache_;
  std::atomic<bool> draining_{false};
  // Where a long-poll is read and answered again once its wait ends, so
  // that a slow read (the etcd engine's, a large compression) holds up
  // neither the timers nor an I/O thread. Before timers_: what the timers
  // still run at destruction schedules here.
  ThreadPool long_poll_answers_{kLongPollAnswerThreads};
  // Long-poll deadlines and event streams' work. Declared last: its
  // destructor runs what is still pending, which uses the members above.
  TimerQueue timers_;
};

}  // namespace etagd

#endif  // ETAGD_GATEWAY_GATEWAY_H_
