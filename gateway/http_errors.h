// How errors look over HTTP: the one table from status codes to HTTP
// statuses, and the one JSON error body.
#ifndef ETAGD_GATEWAY_HTTP_ERRORS_H_
#define ETAGD_GATEWAY_HTTP_ERRORS_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace etagd {

// The HTTP status for a status from the service: by its code, or by its code
// and the detail it carries where one code means several things.
// FAILED_PRECONDITION is 412 because the service uses it only for failed
// conditional requests; RESOURCE_EXHAUSTED is 507 with a StorageFull detail
// (the store is at its quota or the disk is full) and 413 otherwise.
int HttpStatusFor(const absl::Status& status);

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
