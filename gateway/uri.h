// Request-target handling: the path's percent-decoding and the query string.
#ifndef ETAGD_GATEWAY_URI_H_
#define ETAGD_GATEWAY_URI_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace etagd {

// Decodes %XX escapes (RFC 3986 §2.1); "+" stays "+". INVALID_ARGUMENT for
// a "%" not followed by two hex digits.
absl::StatusOr<std::string> PercentDecode(absl::string_view text);

// Encodes everything but unreserved characters and "/" (for Location).
std::string PercentEncodePath(absl::string_view text);

// Splits "a=1&b=x%20y" into decoded pairs; "+" means space, as in HTML
// forms. A key without "=" has an empty value.
absl::StatusOr<std::vector<std::pair<std::string, std::string>>> ParseQuery(
    absl::string_view query);

}  // namespace etagd

#endif  // ETAGD_GATEWAY_URI_H_
