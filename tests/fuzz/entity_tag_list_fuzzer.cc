// Fuzzes the If-Match / If-None-Match list parser (RFC 9110 §13.1.1,
// §13.1.2) against a reference written from the ABNF, and ParseEntityTag
// (§8.8.3) for round trips.
//
// Input: field lines separated by "\n" (a request may repeat the field).

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "gateway/conditional_headers.h"
#include "service/entity_tag.h"
#include "tests/fuzz/fuzz_check.h"

namespace etagd {
namespace {

// The reference: RFC 9110 read literally, structured differently from the
// parser under test. The field lines are first combined into one value
// (§5.3: joined with ", "), then parsed as
//   If-Match = "*" / #entity-tag
// with the recipient's list rule of §5.6.1.2:
//   #element => [ element ] *( OWS "," OWS [ element ] )
// Returns the members, or nullopt if the value is malformed.
class ReferenceListParser {
 public:
  static std::optional<std::vector<std::string>> Parse(
      const std::vector<absl::string_view>& lines) {
    std::vector<std::string> values;
    // §5.5: a field value excludes leading and trailing whitespace.
    for (absl::string_view line : lines) values.push_back(StripOws(line));
    ReferenceListParser parser(absl::StrJoin(values, ", "));
    return parser.List();
  }

 private:
  explicit ReferenceListParser(std::string text) : text_(std::move(text)) {}

  static std::string StripOws(absl::string_view s) {
    while (!s.empty() && IsOws(s.front())) s.remove_prefix(1);
    while (!s.empty() && IsOws(s.back())) s.remove_suffix(1);
    return std::string(s);
  }

  static bool IsOws(char c) { return c == ' ' || c == '\t'; }

  // etagc = %x21 / %x23-7E / obs-text
  static bool IsEtagc(unsigned char c) {
    return c == 0x21 || (0x23 <= c && c <= 0x7E) || (0x80 <= c && c <= 0xFF);
  }

  bool AtEnd() const { return pos_ == text_.size(); }
  bool Peek(char c) const { return !AtEnd() && text_[pos_] == c; }

  void Ows() {
    while (!AtEnd() && IsOws(text_[pos_])) ++pos_;
  }

  // element = "*" / entity-tag; entity-tag = [ "W/" ] DQUOTE *etagc DQUOTE
  std::optional<std::string> Element() {
    const size_t start = pos_;
    if (Peek('*')) {
      ++pos_;
      return std::string("*");
    }
    if (text_.compare(pos_, 2, "W/") == 0) pos_ += 2;
    if (!Peek('"')) {
      pos_ = start;
      return std::nullopt;
    }
    ++pos_;
    while (!AtEnd() && IsEtagc(static_cast<unsigned char>(text_[pos_]))) ++pos_;
    if (!Peek('"')) {
      pos_ = start;
      return std::nullopt;
    }
    ++pos_;
    return text_.substr(start, pos_ - start);
  }

  std::optional<std::vector<std::string>> List() {
    std::vector<std::string> members;
    // [ element ]
    if (std::optional<std::string> e = Element()) members.push_back(*e);
    // *( OWS "," OWS [ element ] )
    while (true) {
      const size_t before = pos_;
      Ows();
      if (!Peek(',')) {
        pos_ = before;
        break;
      }
      ++pos_;
      Ows();
      if (std::optional<std::string> e = Element()) members.push_back(*e);
    }
    if (!AtEnd()) return std::nullopt;
    // "*" stands alone; a list needs at least one member (§13.1.1).
    if (members.empty()) return std::nullopt;
    for (const std::string& m : members) {
      if (m == "*" && members.size() > 1) return std::nullopt;
    }
    return members;
  }

  const std::string text_;
  size_t pos_ = 0;
};

std::string Show(const std::vector<std::string>& members) {
  std::vector<std::string> escaped;
  for (const std::string& m : members) escaped.push_back(absl::CHexEscape(m));
  return "[" + absl::StrJoin(escaped, "|") + "]";
}

void CheckEntityTag(absl::string_view text) {
  std::optional<EntityTag> tag = ParseEntityTag(text);
  if (!tag.has_value()) return;
  ETAGD_FUZZ_CHECK(FormatEntityTag(*tag) == text,
                   "round trip of " + absl::CHexEscape(text) + " gave " +
                       absl::CHexEscape(FormatEntityTag(*tag)));
  ETAGD_FUZZ_CHECK(tag->weak == absl::StartsWith(text, "W/"), "weakness");
  // §8.8.3.2: weak comparison is reflexive; strong only for strong tags.
  ETAGD_FUZZ_CHECK(WeakMatch(*tag, *tag), "weak comparison is reflexive");
  ETAGD_FUZZ_CHECK(StrongMatch(*tag, *tag) == !tag->weak,
                   "strong comparison of a tag with itself");
  EntityTag other = *tag;
  other.weak = !other.weak;
  ETAGD_FUZZ_CHECK(WeakMatch(*tag, other) && !StrongMatch(*tag, other),
                   "weakness changes strong comparison only");
}

}  // namespace
}  // namespace etagd

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace etagd;  // NOLINT: a fuzz entry point outside the namespace.
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const std::vector<absl::string_view> lines = absl::StrSplit(input, '\n');

  CheckEntityTag(input);
  for (absl::string_view line : lines) CheckEntityTag(line);

  absl::StatusOr<std::vector<std::string>> got =
      ParseEntityTagListField("If-None-Match", lines);
  const std::optional<std::vector<std::string>> want =
      ReferenceListParser::Parse(lines);

  if (!got.ok()) {
    ETAGD_FUZZ_CHECK(absl::IsInvalidArgument(got.status()),
                     got.status().ToString());
    ETAGD_FUZZ_CHECK(absl::StartsWith(got.status().message(), "If-None-Match"),
                     "the error names the field: " + got.status().ToString());
    ETAGD_FUZZ_CHECK(!want.has_value(),
                     "rejected a valid list; the reference reads " +
                         Show(*want) + "; error: " + got.status().ToString());
    return 0;
  }
  ETAGD_FUZZ_CHECK(want.has_value(),
                   "accepted a malformed list as " + Show(*got));
  ETAGD_FUZZ_CHECK(*got == *want,
                   "parsed " + Show(*got) + ", reference " + Show(*want));

  for (const std::string& member : *got) {
    if (member == "*") continue;
    std::optional<EntityTag> tag = ParseEntityTag(member);
    ETAGD_FUZZ_CHECK(
        tag.has_value() && FormatEntityTag(*tag) == member,
        "member is not one entity-tag: " + absl::CHexEscape(member));
  }
  // The members, written back as one field line, parse to themselves; and
  // the field name does not change the outcome.
  const std::string joined = absl::StrJoin(*got, ", ");
  absl::StatusOr<std::vector<std::string>> again =
      ParseEntityTagListField("If-Match", {joined});
  ETAGD_FUZZ_CHECK(again.ok() && *again == *got,
                   "re-parse of " + absl::CHexEscape(joined));
  return 0;
}
