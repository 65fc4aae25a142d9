#include "gateway/prefer.h"

#include <cstdint>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/types/span.h"

namespace etagd {
namespace {

// delta-seconds (RFC 9111 §1.2.2): 1*DIGIT, saturating at 2^31 - 1.
std::optional<int64_t> DeltaSeconds(absl::string_view text) {
  if (text.empty()) return std::nullopt;
  int64_t value = 0;
  for (char c : text) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    value = value * 10 + (c - '0');
    if (value > INT32_MAX) value = INT32_MAX;
  }
  return value;
}

}  // namespace

std::optional<absl::Duration> ParsePreferWait(
    absl::Span<const absl::string_view> field_lines) {
  for (absl::string_view line : field_lines) {
    // Preferences are comma-separated; a quoted value holding a comma
    // cannot be a wait, so splitting without regard to quotes is safe for it.
    for (absl::string_view preference : absl::StrSplit(line, ',')) {
      // The preference itself is before any ';' parameter.
      absl::string_view head = preference.substr(0, preference.find(';'));
      const size_t equals = head.find('=');
      absl::string_view name = absl::StripAsciiWhitespace(head.substr(0, equals));
      if (!absl::EqualsIgnoreCase(name, "wait")) continue;
      if (equals == absl::string_view::npos) return std::nullopt;
      absl::string_view value = absl::StripAsciiWhitespace(head.substr(equals + 1));
      if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
        value = value.substr(1, value.size() - 2);
      }
      std::optional<int64_t> seconds = DeltaSeconds(value);
      if (!seconds.has_value()) return std::nullopt;
      return absl::Seconds(*seconds);
    }
  }
  return std::nullopt;
}

}  // namespace etagd
