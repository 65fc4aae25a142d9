#include "gateway/http_errors.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "service/error_details.h"
#include "service/request_validation.h"

namespace etagd {
namespace {

struct Mapping {
  absl::StatusCode code;
  int http_status;
};

// A code that means something else with this detail (a payload's type URL,
// error_details.h) attached. Looked up before kTable.
struct DetailMapping {
  absl::StatusCode code;
  const char* detail;
  int http_status;
};

constexpr DetailMapping kDetailTable[] = {
    // RFC 4918 §11.5 507 Insufficient Storage: the server cannot store the
    // representation, and the condition is temporary.
    {absl::StatusCode::kResourceExhausted, kStorageFullTypeUrl, 507},
    // RFC 9110 §15.6.4 503 Service Unavailable: a temporary overload (too
    // much memory held by calls in flight), with Retry-After.
    {absl::StatusCode::kResourceExhausted, kRetryInfoTypeUrl, 503},
};

// After google.rpc.Code's documented HTTP mapping, except
// FAILED_PRECONDITION (412, see the header) and RESOURCE_EXHAUSTED (413: the
// service raises it without a detail only for a request over a limit).
constexpr Mapping kTable[] = {
    {absl::StatusCode::kOk, 200},
    {absl::StatusCode::kCancelled, 499},
    {absl::StatusCode::kUnknown, 500},
    {absl::StatusCode::kInvalidArgument, 400},
    {absl::StatusCode::kDeadlineExceeded, 504},
    {absl::StatusCode::kNotFound, 404},
    {absl::StatusCode::kAlreadyExists, 409},
    {absl::StatusCode::kPermissionDenied, 403},
    {absl::StatusCode::kResourceExhausted, 413},
    {absl::StatusCode::kFailedPrecondition, 412},
    {absl::StatusCode::kAborted, 409},
    {absl::StatusCode::kOutOfRange, 400},
    {absl::StatusCode::kUnimplemented, 501},
    {absl::StatusCode::kInternal, 500},
    {absl::StatusCode::kUnavailable, 503},
    {absl::StatusCode::kDataLoss, 500},
    {absl::StatusCode::kUnauthenticated, 401},
};

}  // namespace

int HttpStatusFor(const absl::Status& status) {
  for (const DetailMapping& m : kDetailTable) {
    if (m.code == status.code() && status.GetPayload(m.detail).has_value()) {
      return m.http_status;
    }
  }
  for (const Mapping& m : kTable) {
    if (m.code == status.code()) return m.http_status;
  }
  return 500;
}

std::string JsonString(absl::string_view text) {
  std::string out = "\"";
  for (size_t i = 0; i < text.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(text[i]);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7F) {
          absl::StrAppendFormat(&out, "\\u%04x", c);
        } else if (c < 0x80) {
          out.push_back(static_cast<char>(c));
        } else {
          // Copy a whole valid UTF-8 sequence, or replace one bad byte.
          size_t len = (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
                       : (c & 0xF8) == 0xF0 ? 4 : 1;
          absl::string_view seq = text.substr(i, len);
          if (len > 1 && seq.size() == len && IsValidUtf8(seq)) {
            out.append(seq.data(), seq.size());
            i += len - 1;
          } else {
            out += "\xEF\xBF\xBD";
          }
        }
    }
  }
  out.push_back('"');
  return out;
}

std::string ErrorJson(int http_status, absl::string_view status,
                      absl::string_view message, absl::string_view current_etag) {
  std::string body = absl::StrCat("{\"error\": {\"code\": ", http_status,
                                  ", \"status\": ", JsonString(status),
                                  ", \"message\": ", JsonString(message));
  if (!current_etag.empty()) {
    absl::StrAppend(&body, ", \"current_etag\": ", JsonString(current_etag));
  }
  body += "}}\n";
  return body;
}

}  // namespace etagd
