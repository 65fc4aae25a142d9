#include "gateway/conditional_headers.h"

#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/types/span.h"
#include "gateway/http_date.h"
#include "service/entity_tag.h"

namespace etagd {
namespace {

bool IsOws(char c) { return c == ' ' || c == '\t'; }

// etagc = %x21 / %x23-7E / obs-text
bool IsEtagChar(unsigned char c) {
  return c == 0x21 || (c >= 0x23 && c <= 0x7E) || c >= 0x80;
}

absl::Status ListError(absl::string_view field_name, absl::string_view line) {
  return absl::InvalidArgumentError(absl::StrCat(
      field_name,
      " must be \"*\" or a comma-separated list of entity-tags such as "
      "\"abc\" or W/\"abc\" (RFC 9110 section 8.8.3); got: ",
      absl::CHexEscape(line.substr(0, 200))));
}

bool ParseDigits(absl::string_view text, uint64_t* value) {
  if (text.empty() || text.size() > 19) return false;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return absl::SimpleAtoi(text, value);
}

}  // namespace

namespace {

// Scans the list of `lines` (If-Match or If-None-Match), calling
// on_tag(text, weak, opaque) for each entity-tag member; `star` says
// whether one was "*". The checks of ParseEntityTagListField.
template <typename OnTag>
absl::Status ScanEntityTagList(absl::string_view field_name,
                               absl::Span<const absl::string_view> lines,
                               bool& star, OnTag on_tag) {
  size_t members = 0;
  star = false;
  for (absl::string_view line : lines) {
    size_t i = 0;
    const size_t n = line.size();
    while (true) {
      // Skip OWS and empty list elements.
      while (i < n && (IsOws(line[i]) || line[i] == ',')) ++i;
      if (i == n) break;
      if (line[i] == '*') {
        star = true;
        ++i;
      } else {
        const size_t start = i;
        const bool weak = line.substr(i, 2) == "W/";
        if (weak) i += 2;
        if (i >= n || line[i] != '"') return ListError(field_name, line);
        ++i;
        const size_t opaque = i;
        while (i < n && IsEtagChar(static_cast<unsigned char>(line[i]))) ++i;
        if (i >= n || line[i] != '"') return ListError(field_name, line);
        on_tag(line.substr(start, i + 1 - start), weak,
               line.substr(opaque, i - opaque));
        ++i;
      }
      ++members;
      // After an element: OWS, then a comma or the end.
      while (i < n && IsOws(line[i])) ++i;
      if (i < n && line[i] != ',') return ListError(field_name, line);
    }
  }
  if (star && members > 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        field_name, ": \"*\" cannot be combined with entity-tags"));
  }
  if (members == 0 && !lines.empty()) {
    // A field present with no members is a malformed list: "*" or at least
    // one entity-tag is required (§13.1.1).
    return ListError(field_name, lines.front());
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::vector<std::string>> ParseEntityTagListField(
    absl::string_view field_name, absl::Span<const absl::string_view> lines) {
  std::vector<std::string> members;
  bool star;
  absl::Status scanned = ScanEntityTagList(
      field_name, lines, star,
      [&members](absl::string_view text, bool, absl::string_view) {
        members.emplace_back(text);
      });
  if (!scanned.ok()) return scanned;
  if (star) members.insert(members.begin(), "*");
  return members;
}

absl::StatusOr<std::optional<EntityTagCondition>> ParseEntityTagConditionField(
    absl::string_view field_name, absl::Span<const absl::string_view> lines) {
  if (lines.empty()) return std::nullopt;
  EntityTagCondition condition;
  absl::Status scanned = ScanEntityTagList(
      field_name, lines, condition.any,
      [&condition](absl::string_view, bool weak, absl::string_view opaque) {
        condition.tags.push_back(EntityTag{std::string(opaque), weak});
      });
  if (!scanned.ok()) return scanned;
  return std::optional<EntityTagCondition>(std::move(condition));
}

std::optional<absl::Time> ParseDateField(absl::Span<const absl::string_view> lines,
                                         absl::Time now) {
  if (lines.size() != 1) return std::nullopt;
  return ParseHttpDate(absl::StripAsciiWhitespace(lines.front()), now);
}

RangeDecision DecideRange(absl::Span<const absl::string_view> lines,
                          uint64_t length) {
  RangeDecision decision;
  if (lines.size() != 1) return decision;
  absl::string_view value = absl::StripAsciiWhitespace(lines.front());
  // Range unit names are case-insensitive (§14.1).
  if (value.size() < 6 || !absl::EqualsIgnoreCase(value.substr(0, 6), "bytes=")) {
    return decision;
  }
  absl::string_view spec = absl::StripAsciiWhitespace(value.substr(6));
  if (spec.find(',') != absl::string_view::npos) return decision;
  const size_t dash = spec.find('-');
  if (dash == absl::string_view::npos) return decision;
  absl::string_view first_text = spec.substr(0, dash);
  absl::string_view last_text = spec.substr(dash + 1);

  if (first_text.empty()) {
    // suffix-range = "-" suffix-length: the last N bytes.
    uint64_t suffix;
    if (!ParseDigits(last_text, &suffix)) return decision;
    if (suffix == 0) {
      decision.outcome = RangeOutcome::kUnsatisfiable;
      return decision;
    }
    // §14.1.2: on an empty representation this is the one satisfiable
    // form, but there are no bytes to send in a 206: answer 200.
    if (length == 0) return decision;
    decision.outcome = RangeOutcome::kPartial;
    decision.range.first = suffix >= length ? 0 : length - suffix;
    decision.range.last = length - 1;
    return decision;
  }

  uint64_t first;
  if (!ParseDigits(first_text, &first)) return decision;
  uint64_t last = UINT64_MAX;
  if (!last_text.empty()) {
    if (!ParseDigits(last_text, &last)) return decision;
    // §14.1.1: a last-pos less than the first-pos is invalid.
    if (last < first) return decision;
  }
  if (first >= length) {
    decision.outcome = RangeOutcome::kUnsatisfiable;
    return decision;
  }
  decision.outcome = RangeOutcome::kPartial;
  decision.range.first = first;
  decision.range.last = std::min(last, length - 1);
  return decision;
}

bool IfRangeHolds(absl::string_view field, absl::string_view current_etag,
                  absl::Time last_modified) {
  field = absl::StripAsciiWhitespace(field);
  if (!field.empty() && (field.front() == '"' || field.substr(0, 2) == "W/")) {
    std::optional<EntityTag> tag = ParseEntityTag(field);
    std::optional<EntityTag> current = ParseEntityTag(current_etag);
    return tag.has_value() && current.has_value() && StrongMatch(*tag, *current);
  }
  std::optional<absl::Time> date = ParseHttpDate(field);
  return date.has_value() &&
         *date == absl::FromUnixSeconds(absl::ToUnixSeconds(last_modified));
}

}  // namespace etagd
