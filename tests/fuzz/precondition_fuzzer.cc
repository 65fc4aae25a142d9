// Fuzzes EvaluatePreconditions against a small reference implementation of
// RFC 9110 §13.2.1 and §13.2.2 written here, separately, from the RFC text.
//
// Input: whitespace-separated words (unknown words are ignored):
//   GET | HEAD | PUT | DELETE                   the method (default GET)
//   if-match=LIST  if-none-match=LIST           LIST: "*" or comma-separated
//                                               entity-tags ("a", W/"a")
//   if-modified-since=T  if-unmodified-since=T  T: [-]seconds[.fraction]
//   current=ETAG@T | current=none               the selected representation
// e.g. `PUT if-match=W/"a","b" if-unmodified-since=99.5 current="b"@99.9`

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/entity_tag.h"
#include "service/precondition.h"
#include "tests/fuzz/fuzz_check.h"

namespace etagd {
namespace {

// The timestamps stay within what the API accepts (years 1-9999 or so).
constexpr int64_t kMaxAbsSeconds = int64_t{1} << 38;

// The decoded request, in the reference's own terms.
struct Tag {
  bool weak;
  std::string opaque;
};
struct TagList {
  bool star = false;
  std::vector<Tag> tags;
};
struct Moment {
  int64_t seconds;  // floor of the instant
  int64_t nanos;    // [0, 1e9)
};
struct Scenario {
  Method method = Method::kGet;
  std::optional<TagList> if_match, if_none_match;
  std::optional<Moment> if_modified_since, if_unmodified_since;
  // The current representation: its entity-tag and modification date.
  std::optional<std::pair<Tag, Moment>> current;
};

std::optional<Tag> DecodeTag(absl::string_view text) {
  std::optional<EntityTag> tag = ParseEntityTag(text);
  if (!tag.has_value()) return std::nullopt;
  return Tag{tag->weak, tag->opaque};
}

TagList DecodeList(absl::string_view text) {
  TagList list;
  if (text == "*") {
    list.star = true;
    return list;
  }
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    if (std::optional<Tag> tag = DecodeTag(part)) list.tags.push_back(*tag);
  }
  return list;
}

std::optional<Moment> DecodeMoment(absl::string_view text) {
  const std::pair<absl::string_view, absl::string_view> parts =
      absl::StrSplit(text, absl::MaxSplits('.', 1));
  int64_t seconds;
  if (!absl::SimpleAtoi(parts.first, &seconds) || seconds > kMaxAbsSeconds ||
      seconds < -kMaxAbsSeconds) {
    return std::nullopt;
  }
  std::string fraction(parts.second.substr(0, 9));
  for (char c : fraction) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  fraction.resize(9, '0');
  int64_t nanos = 0;
  if (!absl::SimpleAtoi(fraction, &nanos)) return std::nullopt;
  return Moment{seconds, nanos};
}

Scenario Decode(absl::string_view input) {
  Scenario s;
  for (absl::string_view word :
       absl::StrSplit(input, absl::ByAnyChar(" \t\r\n"), absl::SkipEmpty())) {
    const std::pair<absl::string_view, absl::string_view> kv =
        absl::StrSplit(word, absl::MaxSplits('=', 1));
    const absl::string_view key = kv.first;
    const absl::string_view value = kv.second;
    if (word == "GET") {
      s.method = Method::kGet;
    } else if (word == "HEAD") {
      s.method = Method::kHead;
    } else if (word == "PUT") {
      s.method = Method::kPut;
    } else if (word == "DELETE") {
      s.method = Method::kDelete;
    } else if (key == "if-match") {
      s.if_match = DecodeList(value);
    } else if (key == "if-none-match") {
      s.if_none_match = DecodeList(value);
    } else if (key == "if-modified-since") {
      s.if_modified_since = DecodeMoment(value);
    } else if (key == "if-unmodified-since") {
      s.if_unmodified_since = DecodeMoment(value);
    } else if (key == "current") {
      if (value == "none") {
        s.current.reset();
        continue;
      }
      const size_t at = value.rfind('@');
      if (at == absl::string_view::npos) continue;
      std::optional<Tag> tag = DecodeTag(value.substr(0, at));
      std::optional<Moment> when = DecodeMoment(value.substr(at + 1));
      if (tag.has_value() && when.has_value()) s.current.emplace(*tag, *when);
    }
  }
  return s;
}

// ---------------------------------------------------------------------------
// The reference, from RFC 9110. Outcomes are spelled as the status code the
// origin server answers with and the field that decided it.

enum class Outcome { kPerform, k304, k412 };

struct Answer {
  Outcome outcome;
  const char* field;  // "" when performing
};

bool IsGetOrHead(Method m) { return m == Method::kGet || m == Method::kHead; }

// §8.8.3.2: strong comparison needs both strong and identical opaque-tags;
// weak comparison needs identical opaque-tags.
bool Strong(const Tag& a, const Tag& b) {
  return !a.weak && !b.weak && a.opaque == b.opaque;
}
bool Weak(const Tag& a, const Tag& b) { return a.opaque == b.opaque; }

Answer Reference(const Scenario& s) {
  const bool exists = s.current.has_value();
  // §13.2.1: "A server MUST ignore all received preconditions if its
  // response to the same request without those conditions ... would have
  // been a status code other than a 2xx or 412". GET, HEAD and DELETE of a
  // missing resource are 404; a PUT creates it (201).
  if (!exists && s.method != Method::kPut) return {Outcome::kPerform, ""};

  // §13.2.2 step 1.
  if (s.if_match.has_value()) {
    // §13.1.1: "*" is false iff there is no current representation; a list
    // is true iff one member strongly matches the current entity-tag.
    bool holds = false;
    if (s.if_match->star) {
      holds = exists;
    } else if (exists) {
      for (const Tag& t : s.if_match->tags)
        holds = holds || Strong(t, s.current->first);
    }
    if (!holds) return {Outcome::k412, "If-Match"};
  }
  // Step 2. §13.1.4: ignored with If-Match, and ignored when the resource
  // has no modification date (it does not exist). True iff last modified
  // is earlier than or equal to the date. Seconds only: HTTP-date has no
  // finer resolution.
  if (!s.if_match.has_value() && s.if_unmodified_since.has_value() && exists) {
    if (!(s.current->second.seconds <= s.if_unmodified_since->seconds)) {
      return {Outcome::k412, "If-Unmodified-Since"};
    }
  }
  // Step 3. §13.1.2: "*" is false iff a current representation exists; a
  // list is false iff one member weakly matches.
  if (s.if_none_match.has_value()) {
    bool holds = true;
    if (s.if_none_match->star) {
      holds = !exists;
    } else if (exists) {
      for (const Tag& t : s.if_none_match->tags) {
        holds = holds && !Weak(t, s.current->first);
      }
    }
    if (!holds) {
      return {IsGetOrHead(s.method) ? Outcome::k304 : Outcome::k412,
              "If-None-Match"};
    }
  }
  // Step 4. §13.1.3: only for GET and HEAD, only without If-None-Match;
  // false (304) iff last modified is earlier than or equal to the date.
  if (IsGetOrHead(s.method) && !s.if_none_match.has_value() &&
      s.if_modified_since.has_value() && exists) {
    if (s.current->second.seconds <= s.if_modified_since->seconds) {
      return {Outcome::k304, "If-Modified-Since"};
    }
  }
  return {Outcome::kPerform, ""};
}

// ---------------------------------------------------------------------------
// Translation to the types under test.

absl::Time ToTime(const Moment& m) {
  return absl::FromUnixSeconds(m.seconds) + absl::Nanoseconds(m.nanos);
}

EntityTagCondition ToCondition(const TagList& list) {
  EntityTagCondition c;
  c.any = list.star;
  for (const Tag& t : list.tags) c.tags.push_back(EntityTag{t.opaque, t.weak});
  return c;
}

Evaluation Expected(const Answer& a) {
  const std::string field = a.field;
  FailedCondition condition = FailedCondition::kNone;
  if (field == "If-Match") condition = FailedCondition::kIfMatch;
  if (field == "If-Unmodified-Since")
    condition = FailedCondition::kIfUnmodifiedSince;
  if (field == "If-None-Match") condition = FailedCondition::kIfNoneMatch;
  if (field == "If-Modified-Since")
    condition = FailedCondition::kIfModifiedSince;
  switch (a.outcome) {
    case Outcome::kPerform:
      return {Verdict::kProceed, FailedCondition::kNone};
    case Outcome::k304:
      return {Verdict::kNotModified, condition};
    case Outcome::k412:
      return {Verdict::kPreconditionFailed, condition};
  }
  return {};
}

std::string Show(const Evaluation& e) {
  static constexpr const char* kVerdicts[] = {"proceed", "not-modified",
                                              "precondition-failed"};
  static constexpr const char* kConditions[] = {
      "none", "If-Match", "If-Unmodified-Since", "If-None-Match",
      "If-Modified-Since"};
  return absl::StrCat(kVerdicts[static_cast<int>(e.verdict)], "/",
                      kConditions[static_cast<int>(e.condition)]);
}

}  // namespace
}  // namespace etagd

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace etagd;  // NOLINT: a fuzz entry point outside the namespace.
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  const Scenario s = Decode(input);

  Preconditions conditions;
  if (s.if_match) conditions.if_match = ToCondition(*s.if_match);
  if (s.if_none_match) conditions.if_none_match = ToCondition(*s.if_none_match);
  if (s.if_modified_since)
    conditions.if_modified_since = ToTime(*s.if_modified_since);
  if (s.if_unmodified_since) {
    conditions.if_unmodified_since = ToTime(*s.if_unmodified_since);
  }
  std::optional<Validators> current;
  if (s.current) {
    current =
        Validators{EntityTag{s.current->first.opaque, s.current->first.weak},
                   ToTime(s.current->second), {}};
  }

  const Evaluation got = EvaluatePreconditions(s.method, conditions, current);
  const Evaluation want = Expected(Reference(s));
  ETAGD_FUZZ_CHECK(got == want,
                   absl::StrCat("for `", input, "`: evaluated ", Show(got),
                                ", RFC 9110 says ", Show(want)));
  return 0;
}
