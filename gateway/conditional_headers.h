// Parsing of the request header fields behind conditional and range
// requests (RFC 9110 §13.1 and §14). Pure functions: malformed input gives
// an error or an "ignore" result as the RFC prescribes, never an exception.
#ifndef ETAGD_GATEWAY_CONDITIONAL_HEADERS_H_
#define ETAGD_GATEWAY_CONDITIONAL_HEADERS_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "service/precondition.h"

namespace etagd {

// If-Match / If-None-Match = "*" / #entity-tag (§13.1.1, §13.1.2), over all
// field lines of the request (a list may be split across lines, §5.3).
// Empty list elements and optional whitespace are allowed (§5.6.1). Returns
// the members in the API's form ("*" or an entity-tag with its quotes);
// INVALID_ARGUMENT naming `field_name` and the offending text otherwise.
absl::StatusOr<std::vector<std::string>> ParseEntityTagListField(
    absl::string_view field_name, absl::Span<const absl::string_view> lines);

// The same list parsed once into the form precondition.h evaluates: nullopt
// without a field line, the same errors as ParseEntityTagListField.
absl::StatusOr<std::optional<EntityTagCondition>> ParseEntityTagConditionField(
    absl::string_view field_name, absl::Span<const absl::string_view> lines);

// If-Modified-Since / If-Unmodified-Since (§13.1.3, §13.1.4): one HTTP-date.
// nullopt, meaning "ignore the field", if it is not a valid HTTP-date or
// appears more than once.
std::optional<absl::Time> ParseDateField(absl::Span<const absl::string_view> lines,
                                         absl::Time now = absl::Now());

// One byte range after resolution against a representation length:
// [first, last], inclusive.
struct ByteRange {
  uint64_t first = 0;
  uint64_t last = 0;
};

enum class RangeOutcome {
  // No Range field, or one to ignore (not "bytes", invalid, several
  // ranges): answer 200 with the whole representation.
  kIgnore,
  // Answer 206 with the range.
  kPartial,
  // Answer 416 (§15.5.17): no range overlaps the representation.
  kUnsatisfiable,
};

struct RangeDecision {
  RangeOutcome outcome = RangeOutcome::kIgnore;
  ByteRange range;
};

// Range (§14.2) against a representation of `length` bytes. Only a single
// range of unit "bytes" is served; a list of several ranges is ignored
// (which §14.2 allows), as are fields that do not parse.
RangeDecision DecideRange(absl::Span<const absl::string_view> lines,
                          uint64_t length);

// If-Range (§13.1.5): true if the Range should be honoured: the field is an
// entity-tag that strongly matches `current_etag`, or an HTTP-date equal to
// `last_modified` (at one-second resolution). Anything else, including a
// weak tag or an unparseable value, is false: send the whole representation.
bool IfRangeHolds(absl::string_view field, absl::string_view current_etag,
                  absl::Time last_modified);

}  // namespace etagd

#endif  // ETAGD_GATEWAY_CONDITIONAL_HEADERS_H_
