// Checks of client input and its translation into domain types. Every
// function answers INVALID_ARGUMENT (or RESOURCE_EXHAUSTED for sizes) with a
// message that names the offending field, and never echoes bytes that are
// not valid UTF-8.
#ifndef ETAGD_SERVICE_REQUEST_VALIDATION_H_
#define ETAGD_SERVICE_REQUEST_VALIDATION_H_

#include <cstddef>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "etagd/v1/etagd.pb.h"
#include "service/precondition.h"
#include "service/store/record.h"

namespace etagd {

// Longest resource name accepted, in bytes.
inline constexpr size_t kMaxNameBytes = 1024;
// Longest content type accepted, in bytes.
inline constexpr size_t kMaxContentTypeBytes = 256;
// Longest request id accepted, in bytes.
inline constexpr size_t kMaxRequestIdBytes = 128;
// Most entity-tags accepted in one If-Match or If-None-Match.
inline constexpr int kMaxEntityTags = 64;
// Most user metadata entries a Put may store.
inline constexpr int kMaxUserMetadataEntries = 64;
// Most bytes of HTTP metadata a Put may store: every string, keys included.
inline constexpr size_t kMaxHttpMetadataBytes = 8192;
// Longest user metadata key.
inline constexpr size_t kMaxUserMetadataKeyBytes = 128;

// True if `text` is well-formed UTF-8 (no overlong forms, surrogates or code
// points above U+10FFFF).
bool IsValidUtf8(absl::string_view text);

// A name is 1 to kMaxNameBytes bytes of UTF-8 with no control characters
// (U+0000-U+001F, U+007F-U+009F).
absl::Status ValidateName(absl::string_view name);

// A name a Put may store: ValidateName, and each '/'-separated segment is
// non-empty and neither "." nor "..". Its URL, /v1/resources/<name>, then
// stays the same under standard normalization (RFC 3986 §5.2.4
// remove_dot_segments, which every client applies to a Location, and the
// merging of "//" that proxies such as nginx do), so it always addresses
// this name. Reads and deletes take any ValidateName name, so that
// resources stored before this rule stay reachable.
absl::Status ValidateNewName(absl::string_view name);

// A listing prefix follows the name rules but may be empty.
absl::Status ValidatePrefix(absl::string_view prefix);

// A content type is at most kMaxContentTypeBytes of visible ASCII and
// spaces, so that it can travel as an HTTP header value unchanged.
absl::Status ValidateContentType(absl::string_view content_type);

// A request id is empty or at most kMaxRequestIdBytes of visible ASCII.
absl::Status ValidateRequestId(absl::string_view request_id);

// Translates a Put's HTTP metadata (etagd.proto, HttpMetadata, states the
// rules): each string a valid field value, content_encoding a list of
// coding tokens other than "identity", keys lowercase tokens, and the
// limits on count and bytes.
absl::StatusOr<HttpMetadata> ParseHttpMetadata(
    const etagd::v1::HttpMetadata& proto);

// Translates the API's preconditions: each entity-tag must parse (§8.8.3),
// "*" must stand alone, timestamps must be valid.
absl::StatusOr<Preconditions> ParsePreconditions(
    const etagd::v1::Preconditions& proto);

// What ParsePreconditions checks beyond the syntax, for preconditions parsed
// elsewhere (the gateway's, from HTTP fields, for GetQuery): at most
// kMaxEntityTags members a list, "*" alone, dates within the range of
// google.protobuf.Timestamp (years 1 to 9999). Its errors are the ones
// ParsePreconditions gives for the same preconditions in the API's form.
absl::Status ValidatePreconditions(const Preconditions& conditions);

}  // namespace etagd

#endif  // ETAGD_SERVICE_REQUEST_VALIDATION_H_
