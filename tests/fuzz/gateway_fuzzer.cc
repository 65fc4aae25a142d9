// Fuzzes the gateway's whole request path: bytes -> Beast's request parser
// -> Gateway::Handle over an in-memory Backend -> response, and checks
// every response against the HTTP invariants the gateway promises.
//
// Input: one byte of options (its value XOR '0', so "0" is the defaults:
// bit 0 --require_preconditions, bit 1 CORS for any origin, bit 2 CORS for
// https://app.example, bit 3 no Cache-Control, bit 4 backend not ready),
// then up to kMaxRequests pipelined HTTP/1.x requests. They share one
// store, seeded with "a" (text), "dir/b" (empty) and "gone" (deleted).
// Names "error/<code>" make the backend fail with that absl status code;
// names under "private/" need a bearer token, and only "readonly" can't
// write.

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"
#include "absl/strings/strip.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "boost/asio/buffer.hpp"
#include "boost/beast/core/buffers_range.hpp"
#include "boost/beast/http/error.hpp"
#include "boost/beast/http/parser.hpp"
#include "boost/beast/http/serializer.hpp"
#include "boost/beast/http/status.hpp"
#include "boost/beast/http/string_body.hpp"
#include "boost/beast/http/write.hpp"
#include "gateway/backend.h"
#include "gateway/content_coding.h"
#include "gateway/failed_watch_stream.h"
#include "gateway/gateway.h"
#include "gateway/http_date.h"
#include "gateway/metrics.h"
#include "gateway/response_head.h"
#include "service/entity_tag.h"
#include "service/error_details.h"
#include "service/precondition.h"
#include "service/request_validation.h"
#include "tests/fuzz/fuzz_check.h"

namespace etagd {
namespace {

namespace http = ::boost::beast::http;
namespace v1 = ::etagd::v1;

constexpr int kMaxRequests = 8;
constexpr size_t kMaxContentBytes = 4096;
// Names starting with this and a status code number make the backend
// answer with that code, to cover the gateway's whole error table.
constexpr absl::string_view kErrorPrefix = "error/";
constexpr absl::string_view kPrivatePrefix = "private/";

void ToProto(absl::Time t, google::protobuf::Timestamp* out) {
  const absl::Duration since_epoch = t - absl::UnixEpoch();
  const int64_t seconds = absl::ToUnixSeconds(t);
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(
      absl::ToInt64Nanoseconds(since_epoch - absl::Seconds(seconds))));
}

// A Backend over a map, answering synchronously. It evaluates
// preconditions with the service's own pure functions, as etagd does, so
// the gateway sees realistic answers (304s, 412s with details, 404s).
class FakeBackend : public Backend {
 public:
  explicit FakeBackend(bool ready) : ready_(ready) {
    Write("a", "hello, world\n", "text/plain", false);
    Write("dir/b", "", "", false);
    Write("gone", "x", "", false);
    Write("gone", "", "", true);
  }

  // The content of the last resource Get answered with, if any.
  const std::optional<std::string>& last_content() const {
    return last_content_;
  }
  void ForgetLastContent() { last_content_.reset(); }

  void Get(const Caller& caller, const GetQuery& query,
           Callback<GetAnswer> done) override {
    const std::string name(query.name);
    if (absl::Status s = Check(caller, name, ValidatePreconditions(query.preconditions));
        !s.ok()) {
      return done(s);
    }
    if (query.revision < 0) {
      return done(absl::InvalidArgumentError("revision must not be negative"));
    }
    const Version* selected = nullptr;
    if (query.revision > 0) {
      for (const Version& v : store_[name]) {
        if (v.revision == query.revision && !v.deleted) selected = &v;
      }
    } else {
      selected = Live(name);
    }
    const Evaluation evaluation = EvaluatePreconditions(
        query.metadata_only ? Method::kHead : Method::kGet, query.preconditions,
        ValidatorsOf(selected));
    if (selected == nullptr)
      return done(absl::NotFoundError("no such resource"));
    switch (evaluation.verdict) {
      case Verdict::kProceed:
        last_content_ = selected->content;
        return done(GetAnswer{false, ToRecord(name, *selected, !query.metadata_only)});
      case Verdict::kNotModified:
        return done(GetAnswer{true, ToRecord(name, *selected, false)});
      case Verdict::kPreconditionFailed:
        return done(Failed(evaluation.condition, selected));
    }
  }

  void Put(const Caller& caller, const v1::PutResourceRequest& request,
           Callback<v1::PutResourceResponse> done) override {
    if (absl::Status s = Check(caller, request.name(),
                               ParsePreconditions(request.preconditions()).status(),
                               /*write=*/true);
        !s.ok()) {
      return done(s);
    }
    if (request.content().size() > kMaxContentBytes) {
      return done(absl::ResourceExhaustedError("content too large"));
    }
    if (absl::Status s = ValidateContentType(request.content_type()); !s.ok()) {
      return done(s);
    }
    if (absl::Status s = ValidateRequestId(request.request_id()); !s.ok()) {
      return done(s);
    }
    const Version* live = Live(request.name());
    const Evaluation evaluation = EvaluatePreconditions(
        Method::kPut, *ParsePreconditions(request.preconditions()),
        ValidatorsOf(live));
    if (evaluation.verdict != Verdict::kProceed) {
      return done(Failed(evaluation.condition, live));
    }
    const bool created = live == nullptr;
    const Version& v =
        Write(request.name(), request.content(), request.content_type(), false);
    v1::PutResourceResponse response;
    response.set_created(created);
    ToResource(request.name(), v, false, response.mutable_resource());
    done(response);
  }

  void Delete(const Caller& caller, const v1::DeleteResourceRequest& request,
              Callback<v1::DeleteResourceResponse> done) override {
    if (absl::Status s = Check(caller, request.name(),
                               ParsePreconditions(request.preconditions()).status(),
                               /*write=*/true);
        !s.ok()) {
      return done(s);
    }
    if (absl::Status s = ValidateRequestId(request.request_id()); !s.ok()) {
      return done(s);
    }
    const Version* live = Live(request.name());
    const Evaluation evaluation = EvaluatePreconditions(
        Method::kDelete, *ParsePreconditions(request.preconditions()),
        ValidatorsOf(live));
    if (live == nullptr) return done(absl::NotFoundError("no such resource"));
    if (evaluation.verdict != Verdict::kProceed) {
      return done(Failed(evaluation.condition, live));
    }
    const std::string etag = live->etag;
    const Version& v = Write(request.name(), "", "", true);
    v1::DeleteResourceResponse response;
    response.set_revision(v.revision);
    response.set_deleted_etag(etag);
    done(response);
  }

  void List(const Caller& caller, const v1::ListResourcesRequest& request,
            Callback<v1::ListResourcesResponse> done) override {
    if (absl::Status s = Authorize(caller, request.prefix()); !s.ok())
      return done(s);
    if (absl::Status s = ValidatePrefix(request.prefix()); !s.ok())
      return done(s);
    if (request.page_size() < 0) {
      return done(absl::InvalidArgumentError("page_size must not be negative"));
    }
    const int limit = request.page_size() == 0 ? 100 : request.page_size();
    v1::ListResourcesResponse response;
    for (auto it = store_.upper_bound(request.page_token()); it != store_.end();
         ++it) {
      if (!absl::StartsWith(it->first, request.prefix())) continue;
      const Version* live = Live(it->first);
      if (live == nullptr) continue;
      if (response.resources_size() == limit) {
        response.set_next_page_token(response.resources().rbegin()->name());
        break;
      }
      ToResource(it->first, *live, request.include_content(),
                 response.add_resources());
    }
    done(response);
  }

  void ListVersions(const Caller& caller,
                    const v1::ListVersionsRequest& request,
                    Callback<v1::ListVersionsResponse> done) override {
    if (absl::Status s = Authorize(caller, request.name()); !s.ok())
      return done(s);
    if (absl::Status s = ValidateName(request.name()); !s.ok()) return done(s);
    if (!request.page_token().empty()) {
      return done(absl::InvalidArgumentError("bad page_token"));
    }
    v1::ListVersionsResponse response;
    const std::vector<Version>& history = store_[request.name()];
    for (auto it = history.rbegin(); it != history.rend(); ++it) {
      v1::Version* version = response.add_versions();
      version->set_deleted(it->deleted);
      ToResource(request.name(), *it, false, version->mutable_resource());
    }
    done(response);
  }

  // No change feed: every watch fails at once, so a long-poll is answered
  // as a plain conditional GET and an event stream ends after its error.
  std::unique_ptr<WatchStream> Watch(const Caller&, const v1::WatchRequest&) override {
    return NewFailedWatchStream(absl::UnimplementedError("no change feed"));
  }

  void CheckHealth(std::function<void(absl::Status)> done) override {
    done(ready_ ? absl::OkStatus() : absl::UnavailableError("NOT_SERVING"));
  }

 private:
  struct Version {
    int64_t revision;
    bool deleted;
    std::string content;
    std::string content_type;
    std::string etag;
    absl::Time update_time;
  };

  // Names under "private/" need a bearer token, and the token "readonly"
  // may only read; the real decision is the service's (service/auth.h).
  static absl::Status Authorize(const Caller& caller, absl::string_view name,
                                bool write = false) {
    if (!absl::StartsWith(name, kPrivatePrefix)) return absl::OkStatus();
    if (caller.bearer_token.empty()) {
      return absl::UnauthenticatedError("a bearer token is required");
    }
    if (write && caller.bearer_token == "readonly") {
      return absl::PermissionDeniedError("the token may only read");
    }
    return absl::OkStatus();
  }

  // The service's request checks, and the error injection by name;
  // `preconditions` is the check of the request's preconditions.
  absl::Status Check(const Caller& caller, const std::string& name,
                     absl::Status preconditions, bool write = false) {
    if (absl::Status s = Authorize(caller, name, write); !s.ok()) return s;
    if (absl::Status s = ValidateName(name); !s.ok()) return s;
    int code;
    if (absl::StartsWith(name, kErrorPrefix) &&
        absl::SimpleAtoi(absl::string_view(name).substr(kErrorPrefix.size()),
                         &code) &&
        code > 0 && code <= 16) {
      return absl::Status(static_cast<absl::StatusCode>(code), "injected");
    }
    return preconditions;
  }

  const Version* Live(const std::string& name) {
    auto it = store_.find(name);
    if (it == store_.end() || it->second.empty() || it->second.back().deleted) {
      return nullptr;
    }
    return &it->second.back();
  }

  static std::optional<Validators> ValidatorsOf(const Version* v) {
    if (v == nullptr) return std::nullopt;
    return Validators{*ParseEntityTag(v->etag), v->update_time, {}};
  }

  const Version& Write(const std::string& name, absl::string_view content,
                       absl::string_view content_type, bool deleted) {
    ++revision_;
    // Sub-second update times: HTTP-dates must truncate them.
    const absl::Time t =
        absl::FromCivil(absl::CivilSecond(2024, 6, 15, 12, 0, 0),
                        absl::UTCTimeZone()) +
        absl::Seconds(revision_) + absl::Milliseconds(250);
    std::vector<Version>& history = store_[name];
    history.push_back(Version{revision_, deleted, std::string(content),
                              std::string(content_type),
                              absl::StrFormat("\"%x-f00d\"", revision_), t});
    return history.back();
  }

  static Record ToRecord(const std::string& name, const Version& v,
                         bool with_content) {
    Record record;
    record.name = name;
    if (with_content) record.content = v.content;
    record.content_type = v.content_type;
    record.etag = v.etag;
    record.revision = v.revision;
    record.content_length = static_cast<int64_t>(v.content.size());
    record.update_time = v.update_time;
    return record;
  }

  static void ToResource(const std::string& name, const Version& v,
                         bool with_content, v1::Resource* out) {
    out->set_name(name);
    if (with_content) out->set_content(v.content);
    out->set_content_type(v.content_type);
    out->set_etag(v.etag);
    out->set_revision(v.revision);
    out->set_content_length(static_cast<int64_t>(v.content.size()));
    ToProto(v.update_time, out->mutable_update_time());
  }

  static absl::Status Failed(FailedCondition condition, const Version* live) {
    v1::PreconditionFailure detail;
    detail.set_reason(
        condition == FailedCondition::kIfMatch
            ? v1::PreconditionFailure::REASON_IF_MATCH_FAILED
        : condition == FailedCondition::kIfNoneMatch
            ? v1::PreconditionFailure::REASON_IF_NONE_MATCH_FAILED
            : v1::PreconditionFailure::REASON_IF_UNMODIFIED_SINCE_FAILED);
    if (live != nullptr) {
      detail.set_exists(true);
      detail.set_current_etag(live->etag);
      detail.set_current_revision(live->revision);
    }
    return PreconditionFailedError("precondition failed", detail);
  }

  const bool ready_;
  std::map<std::string, std::vector<Version>> store_;
  int64_t revision_ = 0;
  std::optional<std::string> last_content_;
};

std::string Header(const HttpResponse& r, http::field f) {
  auto it = r.find(f);
  return it == r.end() ? std::string() : std::string(it->value());
}

bool Has(const HttpResponse& r, http::field f) { return r.find(f) != r.end(); }

// "bytes F-L/N" -> {F, L, N}.
std::optional<std::array<uint64_t, 3>> ParseContentRange(absl::string_view v) {
  if (!absl::ConsumePrefix(&v, "bytes ")) return std::nullopt;
  const size_t dash = v.find('-');
  const size_t slash = v.find('/');
  std::array<uint64_t, 3> out;
  if (dash == absl::string_view::npos || slash == absl::string_view::npos ||
      slash < dash || !absl::SimpleAtoi(v.substr(0, dash), &out[0]) ||
      !absl::SimpleAtoi(v.substr(dash + 1, slash - dash - 1), &out[1]) ||
      !absl::SimpleAtoi(v.substr(slash + 1), &out[2])) {
    return std::nullopt;
  }
  return out;
}

// The invariants of one answer to `request`.
// The head of an event stream (GET /v1/watch): a 200 whose body the server
// frames, so no length of its own; a HEAD gets the head alone.
void CheckEventStreamHead(const HttpRequest& request, const HttpResponse& response,
                          bool streamed) {
  const std::string what = absl::StrCat(std::string(request.method_string()), " ",
                                        std::string(request.target()), " -> event stream");
  ETAGD_FUZZ_CHECK(response.result_int() == 200, what);
  ETAGD_FUZZ_CHECK(response.body().empty(), what + ": has a body of its own");
  ETAGD_FUZZ_CHECK(!Has(response, http::field::content_length), what + ": Content-Length");
  ETAGD_FUZZ_CHECK(!Has(response, http::field::transfer_encoding), what);
  ETAGD_FUZZ_CHECK(streamed == (request.method() == http::verb::get),
                   what + ": a body stream for GET only");
}

void CheckResponse(const HttpRequest& request, const HttpResponse& response,
                   std::optional<std::string> served_content) {
  const unsigned status = response.result_int();
  // A compressed representation (the fake backend stores no coding of its
  // own): what was sent is the content in that coding, which is
  // deterministic (content_coding.h).
  if (served_content.has_value() && Has(response, http::field::content_encoding)) {
    absl::StatusOr<std::string> coded = EncodeContent(
        Header(response, http::field::content_encoding), *served_content);
    ETAGD_FUZZ_CHECK(coded.ok(), "Content-Encoding " +
                                     Header(response, http::field::content_encoding));
    served_content = *std::move(coded);
  }
  const std::string what =
      absl::StrCat(std::string(request.method_string()), " ",
                   std::string(request.target()), " -> ", status);
  const bool head = request.method() == http::verb::head;

  // A final status the gateway's table can produce (499 is gRPC's
  // CANCELLED, as in google.rpc.Code's mapping).
  ETAGD_FUZZ_CHECK(status >= 200 && status <= 599 &&
                       (http::int_to_status(status) != http::status::unknown ||
                        status == 499),
                   what);
  ETAGD_FUZZ_CHECK(response.version() == request.version(), what + ": version");
  ETAGD_FUZZ_CHECK(
      ParseHttpDate(Header(response, http::field::date)).has_value(),
      what + ": Date " + Header(response, http::field::date));
  ETAGD_FUZZ_CHECK(Header(response, http::field::server) == "etagd", what);
  ETAGD_FUZZ_CHECK(!Has(response, http::field::transfer_encoding), what);

  if (status == 204 || status == 304) {
    // RFC 9110 §6.4.1, §8.6: no content and no Content-Length.
    ETAGD_FUZZ_CHECK(response.body().empty(), what + ": has a body");
    ETAGD_FUZZ_CHECK(!Has(response, http::field::content_length),
                     what + ": has Content-Length");
  } else if (head) {
    ETAGD_FUZZ_CHECK(response.body().empty(), what + ": HEAD with a body");
    ETAGD_FUZZ_CHECK(Has(response, http::field::content_length), what);
  } else {
    ETAGD_FUZZ_CHECK(Header(response, http::field::content_length) ==
                         std::to_string(response.body().size()),
                     what + ": Content-Length " +
                         Header(response, http::field::content_length) +
                         " for a body of " +
                         std::to_string(response.body().size()));
  }

  if (status == 304) {
    // §15.4.5: the validators and cache headers only.
    ETAGD_FUZZ_CHECK(
        ParseEntityTag(Header(response, http::field::etag)).has_value(),
        what + ": ETag");
    for (http::field f : {http::field::content_type, http::field::last_modified,
                          http::field::content_range,
                          http::field::accept_ranges, http::field::location}) {
      ETAGD_FUZZ_CHECK(!Has(response, f),
                       what + ": 304 with " + std::string(http::to_string(f)));
    }
  }
  if (status == 200 &&
      absl::StartsWith(
          absl::string_view(request.target().data(), request.target().size()),
          "/v1/resources/") &&
      Has(response, http::field::last_modified)) {
    std::optional<EntityTag> tag =
        ParseEntityTag(Header(response, http::field::etag));
    ETAGD_FUZZ_CHECK(tag.has_value() && !tag->weak, what + ": strong ETag");
    ETAGD_FUZZ_CHECK(
        ParseHttpDate(Header(response, http::field::last_modified)).has_value(),
        what + ": Last-Modified");
    if (!head && served_content.has_value()) {
      ETAGD_FUZZ_CHECK(response.body() == *served_content, what + ": content");
    }
    if (head && served_content.has_value()) {
      ETAGD_FUZZ_CHECK(Header(response, http::field::content_length) ==
                           std::to_string(served_content->size()),
                       what + ": HEAD Content-Length");
    }
  }
  if (status == 206) {
    // §14.4: Content-Range names the bytes sent.
    auto range =
        ParseContentRange(Header(response, http::field::content_range));
    ETAGD_FUZZ_CHECK(range.has_value(),
                     what + ": Content-Range " +
                         Header(response, http::field::content_range));
    const auto [first, last, length] = *range;
    ETAGD_FUZZ_CHECK(first <= last && last < length, what + ": range bounds");
    ETAGD_FUZZ_CHECK(response.body().size() == last - first + 1,
                     what + ": range size");
    if (served_content.has_value()) {
      ETAGD_FUZZ_CHECK(served_content->size() == length &&
                           response.body() ==
                               served_content->substr(first, last - first + 1),
                       what + ": range content");
    }
  }
  if (status == 416) {
    ETAGD_FUZZ_CHECK(
        absl::StartsWith(Header(response, http::field::content_range),
                         "bytes */"),
        what + ": 416 Content-Range");
  }
  if (status == 401 || status == 403) {
    // RFC 9110 §15.5.2, RFC 6750 §3: how to authenticate, and why not.
    ETAGD_FUZZ_CHECK(
        absl::StartsWith(Header(response, http::field::www_authenticate),
                         "Bearer realm=\"etagd\""),
        what + ": WWW-Authenticate");
  }
  if (status == 201) {
    ETAGD_FUZZ_CHECK(absl::StartsWith(Header(response, http::field::location),
                                      "/v1/resources/"),
                     what + ": Location");
  }
  if (status >= 400 && !head) {
    // One JSON error shape, always valid UTF-8.
    ETAGD_FUZZ_CHECK(
        Header(response, http::field::content_type) == "application/json",
        what);
    ETAGD_FUZZ_CHECK(
        absl::StartsWith(response.body(),
                         absl::StrCat("{\"error\": {\"code\": ", status, ",")),
        what + ": error body " + response.body());
  }
  if (absl::StartsWith(Header(response, http::field::content_type),
                       "application/json")) {
    ETAGD_FUZZ_CHECK(IsValidUtf8(response.body()),
                     what + ": JSON is not UTF-8");
  }

  // The message serializes, and what is on the wire parses back to it.
  std::string wire;
  {
    HttpResponse copy = response;
    http::serializer<false, http::string_body> serializer(copy);
    boost::beast::error_code ec;
    while (!serializer.is_done() && !ec) {
      serializer.next(ec, [&](boost::beast::error_code&, const auto& buffers) {
        size_t n = 0;
        for (auto b : boost::beast::buffers_range_ref(buffers)) {
          wire.append(static_cast<const char*>(b.data()), b.size());
          n += b.size();
        }
        serializer.consume(n);
      });
    }
    ETAGD_FUZZ_CHECK(!ec, what + ": serialize: " + ec.message());
  }
  http::response_parser<http::string_body> parser;
  parser.skip(head);
  parser.eager(true);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(wire), ec);
  if (ec == http::error::need_more) parser.put_eof(ec);
  ETAGD_FUZZ_CHECK(!ec && parser.is_done(),
                   what + ": re-parse: " + ec.message() + "\n" + wire);
  ETAGD_FUZZ_CHECK(parser.get().result_int() == status &&
                       parser.get().body() == response.body(),
                   what + ": re-parsed differently");
}

}  // namespace
}  // namespace etagd

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace etagd;  // NOLINT: a fuzz entry point outside the namespace.
  // ETAGD_FUZZ_TRACE=1 prints each request line and its answer, to see
  // what a seed exercises.
  static const bool trace = std::getenv("ETAGD_FUZZ_TRACE") != nullptr;
  if (size == 0) return 0;
  const unsigned options_byte = static_cast<unsigned>(data[0] ^ '0');
  absl::string_view rest(reinterpret_cast<const char*>(data) + 1, size - 1);

  GatewayOptions options;
  options.require_preconditions = (options_byte & 1) != 0;
  if ((options_byte & 2) != 0) options.cors_allowed_origins.push_back("*");
  if ((options_byte & 4) != 0) {
    options.cors_allowed_origins.push_back("https://app.example");
  }
  if ((options_byte & 8) != 0) options.cache_control.clear();
  // Every answer must come before Handle returns: no long-poll is held
  // (Prefer: wait is parsed, and ignored). change_feed_http_test holds them.
  options.max_wait = absl::ZeroDuration();
  FakeBackend backend(/*ready=*/(options_byte & 16) == 0);
  HttpMetrics metrics;
  Gateway gateway(backend, options, metrics);

  for (int i = 0; i < kMaxRequests && !rest.empty(); ++i) {
    http::request_parser<http::string_body> parser;
    parser.header_limit(8192);
    parser.body_limit(kMaxContentBytes);
    parser.eager(true);
    boost::beast::error_code ec;
    // As http::read does: put() all there is; on need_more there is no
    // more to read (calling put() again without new bytes breaks Beast's
    // contract and trips its assertions), so the stream ends there.
    const size_t used =
        parser.put(boost::asio::buffer(rest.data(), rest.size()), ec);
    rest.remove_prefix(used);
    if (ec == http::error::need_more) parser.put_eof(ec);
    // The server answers a request it cannot read with 400 and closes.
    if (ec || !parser.is_done()) break;

    const HttpRequest request = parser.get();
    backend.ForgetLastContent();
    int answers = 0;
    HttpResponse response;
    bool streamed = false;
    gateway.Handle(parser.release(), [&](HttpAnswer a) {
      ++answers;
      // The body of an event stream is not pulled: dropping it ends it.
      streamed = a.body_stream != nullptr;
      response = WholeResponse(std::move(a));
    });
    // The backend answers synchronously, so the answer is in by now.
    ETAGD_FUZZ_CHECK(answers == 1, absl::StrCat(answers, " answers to ",
                                                std::string(request.target())));
    if (trace) {
      std::fprintf(stderr, "%s %s -> %u %s\n",
                   std::string(request.method_string()).c_str(),
                   std::string(request.target()).c_str(), response.result_int(),
                   response.body().substr(0, 120).c_str());
    }
    if (Header(response, http::field::content_type) == "text/event-stream") {
      CheckEventStreamHead(request, response, streamed);
    } else {
      ETAGD_FUZZ_CHECK(!streamed, "a streamed body that is no event stream");
      CheckResponse(request, response, backend.last_content());
    }
    if (!request.keep_alive()) break;
  }
  return 0;
}
