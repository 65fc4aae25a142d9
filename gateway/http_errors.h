// How errors look over HTTP: the one table from status codes to HTTP
// statuses, and the one JSON error body.
#ifndef ETAGD_GATEWAY_HTTP_ERRORS_H_
#define ETAGD_GATEWAY_HTTP_ERRORS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace etagd {

// The HTTP status for a status code from the service. FAILED_PRECONDITION
// is 412 because the service uses it only for failed conditional requests.
int HttpStatusFor(absl::StatusCode code);

// {"error": {"code": <http_status>, "status": "<status>", "message": "..."}}
// plus "current_etag" when non-empty.
std::string ErrorJson(int http_status, absl::string_view status,
                      absl::string_view message,
                      absl::string_view current_etag = "");

// A JSON string literal (with quotes) for UTF-8 `text`; bytes that are not
// valid UTF-8 are replaced by U+FFFD.
std::string JsonString(absl::string_view text);

}  // namespace etagd

#endif  // ETAGD_GATEWAY_HTTP_ERRORS_H_
