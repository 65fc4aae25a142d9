#include "gateway/gateway.h"

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/inlined_vector.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "gateway/api_preconditions.h"
#include "gateway/change_wait.h"
#include "gateway/conditional_headers.h"
#include "gateway/content_coding.h"
#include "gateway/event_stream.h"
#include "gateway/failed_watch_stream.h"
#include "gateway/http_date.h"
#include "gateway/http_errors.h"
#include "gateway/openapi.h"
#include "gateway/prefer.h"
#include "gateway/sse.h"
#include "gateway/uri.h"
#include "google/protobuf/util/json_util.h"
#include "service/auth.h"
#include "service/entity_tag.h"
#include "service/error_details.h"
#include "service/request_validation.h"

namespace etagd {
namespace {

namespace http = ::boost::beast::http;
namespace v1 = ::etagd::v1;

constexpr absl::string_view kResourcesPrefix = "/v1/resources/";
constexpr absl::string_view kResourcesCollection = "/v1/resources";
constexpr absl::string_view kHistoryPrefix = "/v1/history/";
constexpr absl::string_view kWatchPath = "/v1/watch";
constexpr char kAllowResource[] = "GET, HEAD, PUT, DELETE, OPTIONS";
constexpr char kAllowReadOnly[] = "GET, HEAD, OPTIONS";
constexpr char kCorsAllowHeaders[] =
    "Content-Type, If-Match, If-None-Match, If-Modified-Since, "
    "If-Unmodified-Since, If-Range, Range, Idempotency-Key, Authorization, "
    "Prefer, Last-Event-ID";
constexpr char kCorsExposeHeaders[] =
    "ETag, Last-Modified, Location, Content-Range, Accept-Ranges, "
    "Content-Disposition, Preference-Applied";
// User metadata travels as X-Etagd-Meta-<key> (S3's x-amz-meta-).
constexpr absl::string_view kUserMetadataPrefix = "x-etagd-meta-";

absl::string_view ToAbsl(boost::beast::string_view s) {
  return absl::string_view(s.data(), s.size());
}

boost::beast::string_view ToBeast(absl::string_view s) {
  return boost::beast::string_view(s.data(), s.size());
}

// The values of every `field` line, in order. A scan of the list comparing
// the field enums Beast assigned when parsing, not equal_range: that walks
// a tree comparing names case-insensitively, which costs more than the
// scan for the handful of fields a request has.
std::vector<absl::string_view> FieldLines(const HttpRequest& request,
                                          http::field field) {
  std::vector<absl::string_view> lines;
  for (const auto& line : request) {
    if (line.name() == field) lines.push_back(ToAbsl(line.value()));
  }
  return lines;
}

// The lines of one field, in order; one line is held without allocating.
using FieldValues = absl::InlinedVector<absl::string_view, 1>;

// The lines of the fields every request may be read for (authorization, a
// GET's negotiation, long-poll, range and preconditions, a write's
// preconditions), gathered in one scan of the request's fields instead of
// a scan per field.
struct RequestFields {
  FieldValues authorization;
  FieldValues accept_encoding;
  FieldValues prefer;
  FieldValues range;
  FieldValues if_match;
  FieldValues if_none_match;
  FieldValues if_modified_since;
  FieldValues if_unmodified_since;
};

RequestFields GatherFields(const HttpRequest& request) {
  RequestFields fields;
  for (const auto& line : request) {
    FieldValues* values = nullptr;
    switch (line.name()) {
      case http::field::authorization:
        values = &fields.authorization;
        break;
      case http::field::accept_encoding:
        values = &fields.accept_encoding;
        break;
      case http::field::prefer:
        values = &fields.prefer;
        break;
      case http::field::range:
        values = &fields.range;
        break;
      case http::field::if_match:
        values = &fields.if_match;
        break;
      case http::field::if_none_match:
        values = &fields.if_none_match;
        break;
      case http::field::if_modified_since:
        values = &fields.if_modified_since;
        break;
      case http::field::if_unmodified_since:
        values = &fields.if_unmodified_since;
        break;
      default:
        continue;
    }
    values->push_back(ToAbsl(line.value()));
  }
  return fields;
}

// Adds `field` with the IMF-fixdate of `t`; no allocation for years 0-9999.
// Every response is built fresh and names each field once, so fields are
// inserted, not set (set looks for an earlier one to replace first).
void InsertDate(http::field field, absl::Time t, HttpResponse& response) {
  char text[kHttpDateSize];
  if (FormatHttpDateTo(absl::ToUnixSeconds(t), text)) {
    response.insert(field, boost::beast::string_view(text, kHttpDateSize));
  } else {
    response.insert(field, FormatHttpDate(t));
  }
}

// "Date: <IMF-fixdate of now>\r\nServer: etagd\r\n" (RFC 9110 §6.6.1,
// §10.2.4), formatted once a second per thread and shared with the answers
// that carry it (they may be written on another thread).
std::shared_ptr<const std::string> DateAndServerLines(absl::Time now) {
  thread_local int64_t second = 0;
  thread_local std::shared_ptr<const std::string> lines;
  const int64_t unix_seconds = absl::ToUnixSeconds(now);
  if (lines == nullptr || unix_seconds != second) {
    lines = std::make_shared<const std::string>(
        absl::StrCat("Date: ", CachedHttpDate(now), "\r\nServer: etagd\r\n"));
    second = unix_seconds;
  }
  return lines;
}

absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// The four precondition header fields (RFC 9110 §13.1), parsed once into
// the form the service evaluates. Malformed entity-tag lists are errors;
// dates that do not parse are ignored, as §13.1.3 and §13.1.4 require.
absl::StatusOr<Preconditions> ParsePreconditionFields(const RequestFields& fields) {
  Preconditions p;
  absl::StatusOr<std::optional<EntityTagCondition>> if_match =
      ParseEntityTagConditionField("If-Match", fields.if_match);
  if (!if_match.ok()) return if_match.status();
  p.if_match = *std::move(if_match);
  absl::StatusOr<std::optional<EntityTagCondition>> if_none_match =
      ParseEntityTagConditionField("If-None-Match", fields.if_none_match);
  if (!if_none_match.ok()) return if_none_match.status();
  p.if_none_match = *std::move(if_none_match);
  if (!fields.if_modified_since.empty()) {
    p.if_modified_since = ParseDateField(fields.if_modified_since);
  }
  if (!fields.if_unmodified_since.empty()) {
    p.if_unmodified_since = ParseDateField(fields.if_unmodified_since);
  }
  return p;
}

// A PUT's representation metadata: Cache-Control, Content-Disposition,
// Content-Encoding, Content-Language, Expires and X-Etagd-Meta-* (the
// service checks the values and limits). Lines of a list field are joined
// (RFC 9110 §5.3); a singleton field or a metadata key given twice, or an
// Expires that is no HTTP-date, is an error.
absl::StatusOr<v1::HttpMetadata> ParseMetadataFields(const HttpRequest& request) {
  v1::HttpMetadata metadata;
  const std::pair<http::field, std::string*> lists[] = {
      {http::field::cache_control, metadata.mutable_cache_control()},
      {http::field::content_encoding, metadata.mutable_content_encoding()},
      {http::field::content_language, metadata.mutable_content_language()},
  };
  for (const auto& [field, out] : lists) {
    *out = absl::StrJoin(FieldLines(request, field), ", ");
  }
  std::vector<absl::string_view> disposition =
      FieldLines(request, http::field::content_disposition);
  if (disposition.size() > 1) {
    return absl::InvalidArgumentError("Content-Disposition is given twice");
  }
  if (!disposition.empty()) {
    metadata.set_content_disposition(std::string(disposition[0]));
  }
  std::vector<absl::string_view> expires = FieldLines(request, http::field::expires);
  if (expires.size() > 1) {
    return absl::InvalidArgumentError("Expires is given twice");
  }
  if (!expires.empty()) {
    std::optional<absl::Time> t = ParseHttpDate(expires[0]);
    if (!t.has_value()) {
      return absl::InvalidArgumentError(
          "Expires must be an HTTP-date (RFC 9110 section 5.6.7)");
    }
    metadata.mutable_expires()->set_seconds(absl::ToUnixSeconds(*t));
  }
  for (const auto& line : request) {
    absl::string_view name = ToAbsl(line.name_string());
    if (!absl::StartsWithIgnoreCase(name, kUserMetadataPrefix)) continue;
    std::string key = absl::AsciiStrToLower(name.substr(kUserMetadataPrefix.size()));
    if (!metadata.mutable_user_metadata()
             ->emplace(key, std::string(line.value()))
             .second) {
      return absl::InvalidArgumentError(
          absl::StrCat("X-Etagd-Meta-", key, " is given twice"));
    }
  }
  return metadata;
}

// Whether `if_none_match` names `etag`, a valid entity-tag in field-value
// form (weak comparison, §13.1.2); true without one, or with "*".
bool IfNoneMatchNames(const std::optional<EntityTagCondition>& if_none_match,
                      absl::string_view etag) {
  if (!if_none_match.has_value() || if_none_match->any) return true;
  // Weak comparison compares the opaque-tags: the text between the quotes.
  if (absl::StartsWith(etag, "W/")) etag.remove_prefix(2);
  if (etag.size() < 2) return false;
  const absl::string_view opaque = etag.substr(1, etag.size() - 2);
  return std::any_of(if_none_match->tags.begin(), if_none_match->tags.end(),
                     [opaque](const EntityTag& tag) { return tag.opaque == opaque; });
}

std::string Json(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string out;
  if (!google::protobuf::util::MessageToJsonString(message, &out, options).ok()) {
    // Only a message with unknown Any types can fail; ours have none.
    out = "{}";
  }
  out.push_back('\n');
  return out;
}


absl::string_view MethodLabel(http::verb method) {
  switch (method) {
    case http::verb::get:
      return "GET";
    case http::verb::head:
      return "HEAD";
    case http::verb::put:
      return "PUT";
    case http::verb::delete_:
      return "DELETE";
    case http::verb::options:
      return "OPTIONS";
    default:
      return "other";
  }
}

// The credentials to pass on: the token of the one Authorization field, if
// it is "Bearer <token>" (RFC 6750 §2.1). Anything else passes on nothing,
// and the service answers UNAUTHENTICATED if it wants a token.
Caller CallerOf(const RequestFields& request) {
  Caller caller;
  const FieldValues& fields = request.authorization;
  if (fields.size() == 1) {
    if (auto token = ParseBearerAuthorization(fields[0])) {
      caller.bearer_token = std::string(*token);
    }
  }
  return caller;
}

// The Idempotency-Key field, the request id of a PUT or DELETE (AIP-155).
absl::StatusOr<std::string> RequestIdField(const HttpRequest& request) {
  auto field = request.find("Idempotency-Key");
  if (field == request.end()) return std::string();
  std::string id(field->value());
  if (absl::Status valid = ValidateRequestId(id); !valid.ok()) return valid;
  return id;
}

// RFC 6585 §3 with --require_preconditions: a write without If-Match or
// If-Unmodified-Since may only create. Asking the service for
// If-None-Match: * checks that atomically, and its failure means 428. Returns
// whether it rewrote `p` so (a client's own "*" stays the client's: 412).
bool RequireConditionToOverwrite(v1::Preconditions* p) {
  const bool client_star =
      p->if_none_match_size() == 1 && p->if_none_match(0) == "*";
  if (p->if_match_size() > 0 || p->has_if_unmodified_since() || client_star) {
    return false;
  }
  p->clear_if_none_match();
  p->add_if_none_match("*");
  return true;
}

// The paging parameters of a listing; `prefix` is null where the listing
// takes none.
struct Paging {
  std::string* prefix;
  std::string* page_token;
  int32_t* page_size;
};

absl::Status ParsePaging(const std::vector<std::pair<std::string, std::string>>& query,
                         const Paging& paging) {
  for (const auto& [key, value] : query) {
    if (key == "prefix" && paging.prefix != nullptr) {
      *paging.prefix = value;
    } else if (key == "page_token") {
      *paging.page_token = value;
    } else if (key == "page_size") {
      if (!absl::SimpleAtoi(value, paging.page_size)) {
        return absl::InvalidArgumentError("page_size must be an integer");
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown query parameter '", key, "'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

const std::vector<RouteSpec>& GatewayRoutes() {
  static const auto* const kRoutes = new std::vector<RouteSpec>{
      {"/v1/resources/{name}", {"get", "head", "put", "delete", "options"}},
      {"/v1/resources", {"get", "head", "options"}},
      {"/v1/history/{name}", {"get", "head", "options"}},
      {"/v1/watch", {"get", "head", "options"}},
      {"/healthz", {"get", "head", "options"}},
      {"/readyz", {"get", "head", "options"}},
      {"/metrics", {"get", "head", "options"}},
      {"/openapi.json", {"get", "head", "options"}},
  };
  return *kRoutes;
}

const RouteSpec* FindRoute(absl::string_view path) {
  for (const RouteSpec& route : GatewayRoutes()) {
    absl::string_view pattern = route.path;
    const size_t hole = pattern.find("{name}");
    if (hole == absl::string_view::npos ? path == pattern
                                        : absl::StartsWith(path, pattern.substr(0, hole))) {
      return &route;
    }
  }
  return nullptr;
}

struct Gateway::Exchange {
  HttpRequest request;
  // Views of `request`'s field values.
  RequestFields fields;
  std::function<void(HttpAnswer)> done;
  absl::Time start;
  Caller caller;
  // The request's path, percent-decoded: a view of the request-target, or
  // of decoded_path when it had something to decode.
  absl::string_view path;
  std::string decoded_path;
  std::vector<std::pair<std::string, std::string>> query;
  // GET/HEAD: the content coding Accept-Encoding picks among the gateway's
  // ("" for none), whatever the resource.
  std::string accepted_coding;
  // GET/HEAD: the request is being asked again without If-None-Match and
  // If-Modified-Since (see GetResource).
  bool unconditional = false;
  // Set once a long-poll was held: how long it was allowed to wait.
  std::optional<absl::Duration> waited;
  // GET/HEAD of a resource: the read asked of the backend (its name a view
  // of `path`); replaced by an ask again only once its answer came.
  GetQuery get;

  bool is_head() const { return request.method() == http::verb::head; }

  std::optional<std::string> Query(absl::string_view key) const {
    for (const auto& [k, v] : query) {
      if (k == key) return v;
    }
    return std::nullopt;
  }

  HttpResponse NewResponse(http::status status) const {
    HttpResponse response(status, request.version());
    return response;
  }
};

Gateway::Gateway(Backend& backend, GatewayOptions options, HttpMetrics& metrics)
    : backend_(backend),
      options_(std::move(options)),
      metrics_(metrics),
      coded_cache_(std::make_unique<CodedCache>(options_.coded_cache_bytes)),
      head_cache_(std::make_unique<VersionHeadCache>(options_.head_cache_bytes)) {}

void Gateway::Handle(HttpRequest&& request, std::function<void(HttpAnswer)> done) {
  auto exchange = std::make_shared<Exchange>();
  exchange->request = std::move(request);
  exchange->done = std::move(done);
  exchange->start = absl::Now();
  exchange->fields = GatherFields(exchange->request);
  exchange->caller = CallerOf(exchange->fields);
  Route(std::move(exchange));
}

void Gateway::Drain() {
  draining_ = true;
  timers_.ExpireAll();
}

bool Gateway::OriginAllowed(absl::string_view origin) const {
  return std::any_of(options_.cors_allowed_origins.begin(),
                     options_.cors_allowed_origins.end(),
                     [&](const std::string& allowed) {
                       return allowed == "*" || allowed == origin;
                     });
}

void Gateway::Route(std::shared_ptr<Exchange> exchange) {
  const HttpRequest& request = exchange->request;
  absl::string_view target(request.target().data(), request.target().size());
  // RFC 9112 §3.2.2: servers must accept the absolute form too.
  for (absl::string_view scheme : {"http://", "https://"}) {
    if (absl::StartsWith(target, scheme)) {
      target.remove_prefix(scheme.size());
      const size_t slash = target.find('/');
      target = slash == absl::string_view::npos ? "/" : target.substr(slash);
    }
  }
  const size_t question = target.find('?');
  absl::string_view raw_path = target.substr(0, question);
  if (question != absl::string_view::npos) {
    auto query = ParseQuery(target.substr(question + 1));
    if (!query.ok()) return FinishError(*exchange, query.status());
    exchange->query = *std::move(query);
  }
  if (raw_path.empty() || raw_path.front() != '/') {
    return FinishError(*exchange, 400, "INVALID_ARGUMENT",
                       "the request-target must be an absolute path");
  }
  // Most paths have nothing to decode: they are used where they are, in
  // the request.
  absl::string_view path = raw_path;
  if (raw_path.find('%') != absl::string_view::npos) {
    absl::StatusOr<std::string> decoded = PercentDecode(raw_path);
    if (!decoded.ok()) return FinishError(*exchange, decoded.status());
    exchange->decoded_path = *std::move(decoded);
    path = exchange->decoded_path;
  }
  // The API's names and parameters are UTF-8 strings.
  if (!IsValidUtf8(path)) {
    return FinishError(*exchange, 400, "INVALID_ARGUMENT",
                       "the path is not valid UTF-8 once percent-decoded");
  }
  for (const auto& [key, value] : exchange->query) {
    if (!IsValidUtf8(key) || !IsValidUtf8(value)) {
      return FinishError(*exchange, 400, "INVALID_ARGUMENT",
                         "a query parameter is not valid UTF-8");
    }
  }
  exchange->path = path;
  // A view: comparing it with each fixed path is a length check first.
  const absl::string_view p = exchange->path;
  const http::verb method = request.method();
  if (FindRoute(p) == nullptr) {
    return FinishError(*exchange, 404, "NOT_FOUND", absl::StrCat("no route for ", p));
  }

  if (method == http::verb::options) {
    HttpResponse response = exchange->NewResponse(http::status::no_content);
    const bool resource = absl::StartsWith(p, kResourcesPrefix);
    response.insert(http::field::allow, resource ? kAllowResource : kAllowReadOnly);
    auto origin = request.find(http::field::origin);
    if (origin != request.end() &&
        request.find(http::field::access_control_request_method) != request.end() &&
        OriginAllowed(ToAbsl(origin->value()))) {
      response.insert(http::field::access_control_allow_methods,
                   resource ? kAllowResource : kAllowReadOnly);
      response.insert(http::field::access_control_allow_headers, kCorsAllowHeaders);
      response.insert(http::field::access_control_max_age,
                   std::to_string(absl::ToInt64Seconds(options_.cors_max_age)));
    }
    return Finish(*exchange, std::move(response));
  }

  const bool read = method == http::verb::get || method == http::verb::head;
  if (p == "/healthz" || p == "/readyz" || p == "/metrics" ||
      p == "/openapi.json" || p == kResourcesCollection ||
      p == "/v1/resources/" || p == kWatchPath ||
      absl::StartsWith(p, kHistoryPrefix)) {
    if (!read) {
      HttpResponse response = exchange->NewResponse(http::status::method_not_allowed);
      response.insert(http::field::allow, kAllowReadOnly);
      response.insert(http::field::content_type, "application/json");
      response.body() = ErrorJson(405, "METHOD_NOT_ALLOWED",
                                  absl::StrCat("this path allows ", kAllowReadOnly));
      return Finish(*exchange, std::move(response));
    }
    if (p == "/healthz") {
      HttpResponse response = exchange->NewResponse(http::status::ok);
      response.insert(http::field::content_type, "text/plain");
      response.body() = "ok\n";
      return Finish(*exchange, std::move(response));
    }
    if (p == "/readyz") return Ready(std::move(exchange));
    if (p == "/openapi.json") {
      HttpResponse response = exchange->NewResponse(http::status::ok);
      response.insert(http::field::content_type, "application/json");
      response.insert(http::field::cache_control, "no-cache");
      response.body() = std::string(OpenApiDocument());
      return Finish(*exchange, std::move(response));
    }
    if (p == kWatchPath) return WatchEvents(std::move(exchange));
    if (p == "/metrics") {
      HttpResponse response = exchange->NewResponse(http::status::ok);
      response.insert(http::field::content_type, "text/plain; version=0.0.4");
      response.body() = metrics_.Render();
      return Finish(*exchange, std::move(response));
    }
    if (absl::StartsWith(p, kHistoryPrefix)) {
      return ListVersions(std::move(exchange),
                          std::string(p.substr(kHistoryPrefix.size())));
    }
    return ListResources(std::move(exchange));
  }

  if (!absl::StartsWith(p, kResourcesPrefix)) {
    return FinishError(*exchange, 404, "NOT_FOUND",
                       absl::StrCat("no route for ", p));
  }
  // A view of exchange->path, which lives as long as the exchange.
  const absl::string_view name = p.substr(kResourcesPrefix.size());
  switch (method) {
    case http::verb::get:
    case http::verb::head:
      return GetResource(std::move(exchange), name);
    case http::verb::put:
      return PutResource(std::move(exchange), std::string(name));
    case http::verb::delete_:
      return DeleteResource(std::move(exchange), std::string(name));
    default: {
      HttpResponse response = exchange->NewResponse(http::status::method_not_allowed);
      response.insert(http::field::allow, kAllowResource);
      response.insert(http::field::content_type, "application/json");
      response.body() = ErrorJson(405, "METHOD_NOT_ALLOWED",
                                  absl::StrCat("resources allow ", kAllowResource));
      return Finish(*exchange, std::move(response));
    }
  }
}

void Gateway::GetResource(std::shared_ptr<Exchange> exchange, absl::string_view name) {
  GetQuery& get = exchange->get;
  get = GetQuery();
  get.name = name;
  for (const auto& [key, value] : exchange->query) {
    if (key == "revision") {
      int64_t revision;
      if (!absl::SimpleAtoi(value, &revision) || revision <= 0) {
        return FinishError(*exchange, 400, "INVALID_ARGUMENT",
                           "revision must be a positive integer");
      }
      get.revision = revision;
    } else {
      return FinishError(*exchange, 400, "INVALID_ARGUMENT",
                         absl::StrCat("unknown query parameter '", key, "'"));
    }
  }
  absl::StatusOr<Preconditions> preconditions =
      ParsePreconditionFields(exchange->fields);
  if (!preconditions.ok()) return FinishError(*exchange, preconditions.status());
  get.preconditions = *std::move(preconditions);
  if (exchange->unconditional) {
    get.preconditions.if_none_match.reset();
    get.preconditions.if_modified_since.reset();
  }
  exchange->accepted_coding =
      NegotiateContentCoding(exchange->fields.accept_encoding, options_.content_codings);
  // A HEAD that may be answered in a coding needs the content to tell the
  // coded length (computed once: the coded form is kept).
  get.metadata_only = exchange->is_head() && exchange->accepted_coding.empty();

  // A long-poll: a read of the current version that the client already
  // has (If-None-Match), asking to wait (RFC 7240 §4.3), not yet held.
  std::optional<absl::Duration> hold;
  if (!exchange->waited.has_value() && get.revision == 0 &&
      get.preconditions.if_none_match.has_value() &&
      options_.max_wait > absl::ZeroDuration() && !draining_.load()) {
    hold = ParsePreferWait(exchange->fields.prefer);
    // §4.3: the server may cap the wait; Preference-Applied says what it
    // applied.
    if (hold.has_value()) hold = std::min(*hold, options_.max_wait);
    if (hold.has_value() && *hold <= absl::ZeroDuration()) hold.reset();
  }

  backend_.Get(exchange->caller, get, [this, exchange, hold](
                                          absl::StatusOr<GetAnswer>&& result) {
    if (!result.ok()) return FinishError(*exchange, result.status());
    Record& version = result->version;
    const absl::string_view name = exchange->get.name;
    if (result->not_modified) {
      Choice choice = Choose(*exchange, version, /*complete=*/false);
      const absl::string_view etag = choice.etag(version);
      // The service matched If-None-Match against every representation of
      // the version (precondition.h); §13.1.2 compares it with the one
      // selected. If the client holds another one (a gzip copy, asking
      // without gzip now), it gets the selected one in full.
      if (!exchange->unconditional &&
          !IfNoneMatchNames(exchange->get.preconditions.if_none_match, etag)) {
        exchange->unconditional = true;
        return GetResource(exchange, name);
      }
      // A long-poll waits for the next change instead of this 304.
      if (hold.has_value()) return HoldGet(exchange, name, version.revision, *hold);
      // §15.4.5: ETag, Date, and the Cache-Control, Expires and Vary a 200
      // would carry (the version's own); no other representation metadata
      // and no content (Content-Location: none is ever sent).
      if (choice.head == nullptr) {
        choice.head = HeadOf(Describe(etag, version, choice.representation, 0),
                             /*complete=*/false);
      }
      const absl::string_view lines = choice.head->not_modified();
      return FinishVersion(*exchange, exchange->NewResponse(http::status::not_modified),
                           lines, std::move(choice.head));
    }
    Choice choice = Choose(*exchange, version, /*complete=*/true);
    std::string content = std::move(version.content);
    uint64_t length = static_cast<uint64_t>(version.content_length);
    if (!choice.representation.coding.empty()) {
      absl::StatusOr<std::shared_ptr<const std::string>> coded =
          coded_cache_->Get(version.etag, choice.representation.coding, content);
      if (coded.ok()) {
        content = **coded;
        length = content.size();
      } else {
        // The stored bytes are a representation too: send those.
        choice.representation.coding.clear();
      }
    }
    const absl::string_view etag = choice.etag(version);
    if (choice.head == nullptr) {
      choice.head = HeadOf(Describe(etag, version, choice.representation, length),
                           /*complete=*/true);
    }
    std::shared_ptr<const VersionHead>& head = choice.head;

    // §14.2: Range applies to GET only, after the preconditions (§13.2.2
    // step 5), and If-Range can veto it (§13.1.5).
    const FieldValues& range = exchange->fields.range;
    auto if_range = exchange->request.find(http::field::if_range);
    const bool honour_range =
        !range.empty() && !exchange->is_head() &&
        (if_range == exchange->request.end() ||
         IfRangeHolds(ToAbsl(if_range->value()), etag, version.update_time));
    if (honour_range) {
      RangeDecision decision = DecideRange(range, length);
      if (decision.outcome == RangeOutcome::kUnsatisfiable) {
        HttpResponse unsatisfiable =
            exchange->NewResponse(http::status::range_not_satisfiable);
        unsatisfiable.insert(http::field::content_range, absl::StrCat("bytes */", length));
        unsatisfiable.insert(http::field::content_type, "application/json");
        unsatisfiable.body() = ErrorJson(
            416, "RANGE_NOT_SATISFIABLE",
            absl::StrCat("the representation is ", length, " bytes long"));
        return Finish(*exchange, std::move(unsatisfiable));
      }
      if (decision.outcome == RangeOutcome::kPartial) {
        HttpResponse partial = exchange->NewResponse(http::status::partial_content);
        partial.insert(http::field::content_range,
                       absl::StrCat("bytes ", decision.range.first, "-",
                                    decision.range.last, "/", length));
        partial.body() = content.substr(
            decision.range.first, decision.range.last - decision.range.first + 1);
        const absl::string_view lines = head->unframed();
        return FinishVersion(*exchange, std::move(partial), lines, std::move(head));
      }
    }
    HttpResponse response = exchange->NewResponse(http::status::ok);
    if (!exchange->is_head()) response.body() = std::move(content);
    const absl::string_view lines = head->lines;
    FinishVersion(*exchange, std::move(response), lines, std::move(head));
  });
}

Gateway::Representation Gateway::SelectRepresentation(const Exchange& exchange,
                                                      const Record& version) const {
  Representation representation;
  // Content stored coded is sent as it is, never coded twice; small or
  // already compressed media gain nothing.
  if (options_.content_codings.empty() || !version.metadata.content_encoding.empty() ||
      version.content_length < options_.compress_min_bytes ||
      !IsCompressibleMediaType(version.content_type)) {
    return representation;
  }
  representation.varies = true;
  representation.coding = exchange.accepted_coding;
  return representation;
}

std::shared_ptr<const VersionHead> Gateway::KeptStoredFormHead(
    const Exchange& exchange, absl::string_view etag, bool complete) const {
  if (!exchange.accepted_coding.empty()) return nullptr;
  std::shared_ptr<const VersionHead> kept = head_cache_->Find(etag);
  if (kept == nullptr || (complete && !kept->complete)) return nullptr;
  return kept;
}

Gateway::Choice Gateway::Choose(const Exchange& exchange, const Record& version,
                                bool complete) const {
  Choice choice;
  choice.head = KeptStoredFormHead(exchange, version.etag, complete);
  if (choice.head != nullptr) return choice;
  choice.representation = SelectRepresentation(exchange, version);
  if (!choice.representation.coding.empty()) {
    choice.coded_etag = FormatEntityTag(
        CodedEntityTag(*ParseEntityTag(version.etag), choice.representation.coding));
  }
  return choice;
}

VersionRepresentation Gateway::Describe(absl::string_view etag, const Record& version,
                                        const Representation& representation,
                                        uint64_t content_length) const {
  VersionRepresentation fields;
  fields.etag = etag;
  fields.last_modified = version.update_time;
  fields.content_type = version.content_type;
  fields.metadata = &version.metadata;
  fields.default_cache_control = options_.cache_control;
  fields.coding = representation.coding;
  fields.varies = representation.varies;
  fields.content_length = content_length;
  return fields;
}

std::shared_ptr<const VersionHead> Gateway::HeadOf(
    const VersionRepresentation& representation, bool complete) {
  std::shared_ptr<const VersionHead> kept = head_cache_->Find(representation.etag);
  if (kept != nullptr && (kept->complete || !complete)) return kept;
  auto head = std::make_shared<const VersionHead>(
      FormatVersionHead(representation, complete));
  head_cache_->Insert(representation.etag, head);
  return head;
}

void Gateway::HoldGet(std::shared_ptr<Exchange> exchange, absl::string_view name,
                      int64_t revision, absl::Duration wait) {
  exchange->waited = wait;
  // Every change after the version the client has: none is missed between
  // the read above and the watch's start.
  v1::WatchRequest watch;
  watch.set_prefix(std::string(name));
  watch.set_exact(true);
  watch.set_start_revision(revision + 1);
  WaitForChange(timers_, backend_.Watch(exchange->caller, watch), *exchange->waited,
                [this, exchange, name](bool) {
                  // Answered as a GET now would be: 200 with the new version,
                  // or 304 if it still matches (or nothing changed).
                  long_poll_answers_.Schedule([this, exchange, name] {
                    GetResource(exchange, name);
                  });
                });
}

void Gateway::WatchEvents(std::shared_ptr<Exchange> exchange) {
  v1::WatchRequest watch;
  for (const auto& [key, value] : exchange->query) {
    if (key == "prefix") {
      watch.set_prefix(value);
    } else if (key == "start_revision") {
      int64_t revision;
      if (!absl::SimpleAtoi(value, &revision) || revision <= 0) {
        return FinishError(*exchange, 400, "INVALID_ARGUMENT",
                           "start_revision must be a positive integer");
      }
      watch.set_start_revision(revision);
    } else {
      return FinishError(*exchange, 400, "INVALID_ARGUMENT",
                         absl::StrCat("unknown query parameter '", key, "'"));
    }
  }
  HttpResponse head = exchange->NewResponse(http::status::ok);
  head.insert(http::field::content_type, "text/event-stream");
  head.insert(http::field::cache_control, "no-store");
  // nginx buffers proxied responses unless told not to.
  head.insert("X-Accel-Buffering", "no");
  if (exchange->is_head()) return FinishStream(*exchange, std::move(head), nullptr);

  // WHATWG HTML §9.2.4: a reconnecting EventSource sends the last event ID
  // it saw; ours are revisions, so the stream resumes right after it. It
  // overrides start_revision (the URL the page opened stays the same).
  std::unique_ptr<WatchStream> stream;
  std::vector<absl::string_view> last_id;
  for (const auto& line : exchange->request) {
    if (boost::beast::iequals(line.name_string(), "Last-Event-ID")) {
      last_id.push_back(ToAbsl(line.value()));
    }
  }
  if (!last_id.empty()) {
    std::optional<int64_t> revision = ParseLastEventId(last_id.front());
    if (last_id.size() > 1 || !revision.has_value() || *revision == INT64_MAX) {
      // Not an id of ours: resuming from anywhere else could skip changes.
      // Said as an event, since EventSource hides a non-200 from scripts.
      stream = NewFailedWatchStream(absl::InvalidArgumentError(
          "Last-Event-ID is not a revision this server sent"));
    } else {
      watch.set_start_revision(*revision + 1);
    }
  }
  if (stream == nullptr) stream = backend_.Watch(exchange->caller, watch);
  EventStreamOptions options;
  options.heartbeat = options_.sse_heartbeat;
  options.retry = options_.sse_retry;
  FinishStream(*exchange, std::move(head),
               NewEventStream(timers_, std::move(stream), options, draining_));
}

void Gateway::PutResource(std::shared_ptr<Exchange> exchange, std::string name) {
  if (!exchange->query.empty()) {
    return FinishError(*exchange, 400, "INVALID_ARGUMENT",
                       "PUT takes no query parameters");
  }
  // §14.5: a partial PUT the server does not support must be refused.
  if (exchange->request.find(http::field::content_range) != exchange->request.end()) {
    return FinishError(*exchange, 400, "INVALID_ARGUMENT",
                       "partial PUT (Content-Range) is not supported");
  }
  v1::PutResourceRequest put;
  put.set_name(std::move(name));
  auto content_type = exchange->request.find(http::field::content_type);
  if (content_type != exchange->request.end()) {
    put.set_content_type(std::string(content_type->value()));
    if (absl::Status valid = ValidateContentType(put.content_type()); !valid.ok()) {
      return FinishError(*exchange, valid);
    }
  }
  absl::StatusOr<std::string> request_id = RequestIdField(exchange->request);
  if (!request_id.ok()) return FinishError(*exchange, request_id.status());
  put.set_request_id(*std::move(request_id));
  absl::StatusOr<v1::HttpMetadata> metadata = ParseMetadataFields(exchange->request);
  if (!metadata.ok()) return FinishError(*exchange, metadata.status());
  *put.mutable_http_metadata() = *std::move(metadata);
  absl::StatusOr<Preconditions> preconditions =
      ParsePreconditionFields(exchange->fields);
  if (!preconditions.ok()) return FinishError(*exchange, preconditions.status());
  *put.mutable_preconditions() = ToApiPreconditions(*preconditions);
  const bool enforce = options_.require_preconditions &&
                       RequireConditionToOverwrite(put.mutable_preconditions());
  put.set_content(std::move(exchange->request.body()));

  backend_.Put(exchange->caller, put, [this, exchange, enforce](
                        absl::StatusOr<v1::PutResourceResponse> result) {
    if (!result.ok()) {
      if (enforce && absl::IsFailedPrecondition(result.status())) {
        return FinishPreconditionRequired(*exchange);
      }
      return FinishError(*exchange, result.status());
    }
    const v1::Resource& resource = result->resource();
    HttpResponse response = exchange->NewResponse(
        result->created() ? http::status::created : http::status::no_content);
    response.insert(http::field::etag, resource.etag());
    InsertDate(http::field::last_modified, ToTime(resource.update_time()), response);
    if (result->created()) {
      response.insert(http::field::location,
                   absl::StrCat(kResourcesPrefix, PercentEncodePath(resource.name())));
    }
    Finish(*exchange, std::move(response));
  });
}

void Gateway::DeleteResource(std::shared_ptr<Exchange> exchange, std::string name) {
  if (!exchange->query.empty()) {
    return FinishError(*exchange, 400, "INVALID_ARGUMENT",
                       "DELETE takes no query parameters");
  }
  v1::DeleteResourceRequest del;
  del.set_name(std::move(name));
  absl::StatusOr<std::string> request_id = RequestIdField(exchange->request);
  if (!request_id.ok()) return FinishError(*exchange, request_id.status());
  del.set_request_id(*std::move(request_id));
  absl::StatusOr<Preconditions> preconditions =
      ParsePreconditionFields(exchange->fields);
  if (!preconditions.ok()) return FinishError(*exchange, preconditions.status());
  *del.mutable_preconditions() = ToApiPreconditions(*preconditions);
  const bool enforce = options_.require_preconditions &&
                       RequireConditionToOverwrite(del.mutable_preconditions());
  backend_.Delete(exchange->caller, del, [this, exchange, enforce](
                           absl::StatusOr<v1::DeleteResourceResponse> result) {
    if (!result.ok()) {
      if (enforce && absl::IsFailedPrecondition(result.status())) {
        return FinishPreconditionRequired(*exchange);
      }
      return FinishError(*exchange, result.status());
    }
    Finish(*exchange, exchange->NewResponse(http::status::no_content));
  });
}

void Gateway::ListResources(std::shared_ptr<Exchange> exchange) {
  v1::ListResourcesRequest list;
  std::string prefix, page_token;
  int32_t page_size = 0;
  if (absl::Status query = ParsePaging(exchange->query, {&prefix, &page_token, &page_size});
      !query.ok()) {
    return FinishError(*exchange, query);
  }
  list.set_prefix(std::move(prefix));
  list.set_page_token(std::move(page_token));
  list.set_page_size(page_size);
  backend_.List(exchange->caller, list,
                [this, exchange](absl::StatusOr<v1::ListResourcesResponse> result) {
                  FinishJson(*exchange, result);
                });
}

void Gateway::ListVersions(std::shared_ptr<Exchange> exchange, std::string name) {
  v1::ListVersionsRequest list;
  list.set_name(std::move(name));
  std::string page_token;
  int32_t page_size = 0;
  if (absl::Status query = ParsePaging(exchange->query, {nullptr, &page_token, &page_size});
      !query.ok()) {
    return FinishError(*exchange, query);
  }
  list.set_page_token(std::move(page_token));
  list.set_page_size(page_size);
  backend_.ListVersions(
      exchange->caller, list,
      [this, exchange](absl::StatusOr<v1::ListVersionsResponse> result) {
        FinishJson(*exchange, result);
      });
}

template <typename Message>
void Gateway::FinishJson(Exchange& exchange, const absl::StatusOr<Message>& result) {
  if (!result.ok()) return FinishError(exchange, result.status());
  HttpResponse response = exchange.NewResponse(http::status::ok);
  response.insert(http::field::content_type, "application/json");
  response.insert(http::field::cache_control, "no-store");
  response.body() = Json(*result);
  Finish(exchange, std::move(response));
}

void Gateway::FinishPreconditionRequired(Exchange& exchange) {
  FinishError(exchange, 428, "PRECONDITION_REQUIRED",
              "this server requires If-Match or If-Unmodified-Since to change "
              "or delete an existing resource (RFC 6585 section 3)");
}

void Gateway::Ready(std::shared_ptr<Exchange> exchange) {
  backend_.CheckHealth([this, exchange](absl::Status status) {
    if (!status.ok()) {
      return FinishError(*exchange, 503, "UNAVAILABLE",
                         absl::StrCat("not ready: ", status.message()));
    }
    HttpResponse response = exchange->NewResponse(http::status::ok);
    response.insert(http::field::content_type, "text/plain");
    response.body() = "ready\n";
    Finish(*exchange, std::move(response));
  });
}

void Gateway::FinishError(Exchange& exchange, const absl::Status& status) {
  const int http_status = HttpStatusFor(status);
  HttpResponse response =
      exchange.NewResponse(static_cast<http::status>(http_status));
  std::string current_etag;
  if (auto detail = GetPreconditionFailure(status); detail.has_value()) {
    current_etag = detail->current_etag();
  }
  // §15.5.13: tell the client the current ETag, so it can refetch or retry.
  if (!current_etag.empty()) response.insert(http::field::etag, current_etag);
  // RFC 9110 §15.5.2: a 401 says how to authenticate; RFC 6750 §3 adds
  // why a token was refused. A 403 names the error too (§3.1).
  if (status.code() == absl::StatusCode::kUnauthenticated) {
    response.insert(http::field::www_authenticate,
                 exchange.caller.bearer_token.empty()
                     ? "Bearer realm=\"etagd\""
                     : "Bearer realm=\"etagd\", error=\"invalid_token\"");
  } else if (status.code() == absl::StatusCode::kPermissionDenied) {
    response.insert(http::field::www_authenticate,
                 "Bearer realm=\"etagd\", error=\"insufficient_scope\"");
  }
  // §10.2.3: how long to wait before retrying (seconds, rounded up).
  if (std::optional<absl::Duration> delay = GetRetryDelay(status); delay.has_value()) {
    response.insert(http::field::retry_after,
                    absl::StrCat(std::max<int64_t>(
                        1, absl::ToInt64Seconds(absl::Ceil(*delay, absl::Seconds(1))))));
  }
  response.insert(http::field::content_type, "application/json");
  response.body() = ErrorJson(http_status, absl::StatusCodeToString(status.code()),
                              status.message(), current_etag);
  Finish(exchange, std::move(response));
}

void Gateway::FinishError(Exchange& exchange, int http_status,
                          absl::string_view status_name,
                          absl::string_view message) {
  HttpResponse response =
      exchange.NewResponse(static_cast<http::status>(http_status));
  response.insert(http::field::content_type, "application/json");
  response.body() = ErrorJson(http_status, status_name, message);
  Finish(exchange, std::move(response));
}

void Gateway::FinishStream(Exchange& exchange, HttpResponse head,
                           std::unique_ptr<BodyStream> body) {
  const absl::Time now = absl::Now();
  AddCommonFields(exchange, head, now);
  metrics_.Record(MethodLabel(exchange.request.method()), head.result_int(),
                  now - exchange.start);
  exchange.done(HttpAnswer(std::move(head), std::move(body)));
}

void Gateway::AddCommonFields(Exchange& exchange, HttpResponse& response,
                              absl::Time now) {
  response.insert(http::field::date, ToBeast(CachedHttpDate(now)));
  response.insert(http::field::server, "etagd");
  AddExchangeFields(exchange, response);
}

void Gateway::AddExchangeFields(Exchange& exchange, HttpResponse& response,
                                absl::string_view version_lines) {
  // RFC 7240 §3: the wait preference was honoured, up to this long.
  if (exchange.waited.has_value() && *exchange.waited > absl::ZeroDuration()) {
    response.insert("Preference-Applied",
                    absl::StrCat("wait=", absl::ToInt64Seconds(*exchange.waited)));
  }

  if (!options_.cors_allowed_origins.empty()) {
    // Responses differ by Origin, so caches must key on it (on 304 too).
    response.insert(http::field::vary, "Origin");
    auto origin = exchange.request.find(http::field::origin);
    if (origin != exchange.request.end()) {
      absl::string_view value = ToAbsl(origin->value());
      if (OriginAllowed(value)) {
        response.insert(http::field::access_control_allow_origin, ToBeast(value));
        // Fetch hides every other field from scripts: the stored user
        // metadata is named too (its keys are the resource's own).
        std::string exposed = kCorsExposeHeaders;
        auto expose_if_user_metadata = [&exposed](absl::string_view name) {
          if (absl::StartsWithIgnoreCase(name, kUserMetadataPrefix)) {
            absl::StrAppend(&exposed, ", ", name);
          }
        };
        for (const auto& field : response) {
          expose_if_user_metadata(ToAbsl(field.name_string()));
        }
        for (absl::string_view line : absl::StrSplit(version_lines, "\r\n")) {
          expose_if_user_metadata(line.substr(0, line.find(':')));
        }
        response.insert(http::field::access_control_expose_headers, exposed);
      }
    }
  }
}

void Gateway::Finish(Exchange& exchange, HttpResponse response) {
  const absl::Time now = absl::Now();
  AddCommonFields(exchange, response, now);

  const unsigned status = response.result_int();
  if (status == 204 || status == 304 || (status >= 100 && status < 200)) {
    // §8.6: no Content-Length on 1xx or 204; on 304 only the 200's, which
    // we do not repeat.
    response.body().clear();
    response.erase(http::field::content_length);
  } else if (!exchange.is_head()) {
    response.prepare_payload();
  } else if (response.find(http::field::content_length) == response.end()) {
    response.content_length(response.body().size());
    response.body().clear();
  }
  metrics_.Record(MethodLabel(exchange.request.method()), static_cast<int>(status),
                  now - exchange.start);
  exchange.done(std::move(response));
}

void Gateway::FinishVersion(Exchange& exchange, HttpResponse&& response,
                            absl::string_view fields,
                            std::shared_ptr<const VersionHead> head) {
  const absl::Time now = absl::Now();
  AddExchangeFields(exchange, response, fields);
  const unsigned status = response.result_int();
  if (status == 206) response.prepare_payload();
  metrics_.Record(MethodLabel(exchange.request.method()), static_cast<int>(status),
                  now - exchange.start);
  std::shared_ptr<const std::string> common = DateAndServerLines(now);
  const absl::string_view common_lines = *common;
  exchange.done(HttpAnswer(std::move(response), HeadLines{common_lines, std::move(common)},
                           HeadLines{fields, std::move(head)}));
}

}  // namespace etagd
