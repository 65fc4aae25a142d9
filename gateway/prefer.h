// The Prefer request header field (RFC 7240): the one preference etagd
// honours, wait.
#ifndef ETAGD_GATEWAY_PREFER_H_
#define ETAGD_GATEWAY_PREFER_H_

#include <optional>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "absl/types/span.h"

namespace etagd {

// The `wait` preference (RFC 7240 §4.3, `wait = "wait" BWS "=" BWS
// delta-seconds`) among the Prefer field lines: preference names are
// case-insensitive (§2), a quoted value is accepted as the general syntax
// allows, parameters after ';' are ignored, and of several wait preferences
// the first counts (§2: a preference given twice is the first). A missing or
// malformed one is nullopt: a preference the server does not understand is
// ignored (§2). Huge values saturate at about 68 years.
std::optional<absl::Duration> ParsePreferWait(
    absl::Span<const absl::string_view> field_lines);

}  // namespace etagd

#endif  // ETAGD_GATEWAY_PREFER_H_
