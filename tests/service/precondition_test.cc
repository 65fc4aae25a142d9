#include "service/precondition.h"

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace etagd {
namespace {

// The resource's last modification: 12:00:10.5, i.e. 12:00:10 as an
// HTTP-date.
const absl::Time kModified =
    absl::FromUnixMillis(1700000010500);
const absl::Time kSameSecond = absl::FromUnixSeconds(1700000010);
const absl::Time kSecondBefore = absl::FromUnixSeconds(1700000009);
const absl::Time kSecondAfter = absl::FromUnixSeconds(1700000011);

EntityTagCondition Any() { return {true, {}}; }
EntityTagCondition Tags(std::vector<std::string> texts) {
  EntityTagCondition condition;
  for (const std::string& text : texts) {
    condition.tags.push_back(*ParseEntityTag(text));
  }
  return condition;
}

// The selected representation "v2" modified at kModified, or none.
const std::optional<Validators> kPresent =
    Validators{EntityTag{"v2", false}, kModified, {}};
// "v2" with a gzip-coded representation "v2-gzip".
const std::optional<Validators> kPresentCoded = Validators{
    EntityTag{"v2", false}, kModified, {EntityTag{"v2-gzip", false}}};
const std::optional<Validators> kAbsent = std::nullopt;

struct Case {
  // The RFC 9110 section the case pins down, and what it shows.
  std::string rule;
  Method method;
  Preconditions conditions;
  std::optional<Validators> current;
  Evaluation expected;
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.rule; }

Preconditions IfMatch(EntityTagCondition c) {
  Preconditions p;
  p.if_match = std::move(c);
  return p;
}
Preconditions IfNoneMatch(EntityTagCondition c) {
  Preconditions p;
  p.if_none_match = std::move(c);
  return p;
}
Preconditions IfModifiedSince(absl::Time t) {
  Preconditions p;
  p.if_modified_since = t;
  return p;
}
Preconditions IfUnmodifiedSince(absl::Time t) {
  Preconditions p;
  p.if_unmodified_since = t;
  return p;
}
Preconditions Combine(Preconditions a, const Preconditions& b) {
  if (b.if_match) a.if_match = b.if_match;
  if (b.if_none_match) a.if_none_match = b.if_none_match;
  if (b.if_modified_since) a.if_modified_since = b.if_modified_since;
  if (b.if_unmodified_since) a.if_unmodified_since = b.if_unmodified_since;
  return a;
}

constexpr Evaluation kProceed{Verdict::kProceed, FailedCondition::kNone};
constexpr Evaluation kIfMatchFailed{Verdict::kPreconditionFailed,
                                    FailedCondition::kIfMatch};
constexpr Evaluation kIfUnmodifiedSinceFailed{
    Verdict::kPreconditionFailed, FailedCondition::kIfUnmodifiedSince};
constexpr Evaluation kIfNoneMatchFailed{Verdict::kPreconditionFailed,
                                        FailedCondition::kIfNoneMatch};
constexpr Evaluation kNotModifiedByIfNoneMatch{Verdict::kNotModified,
                                               FailedCondition::kIfNoneMatch};
constexpr Evaluation kNotModifiedByIfModifiedSince{
    Verdict::kNotModified, FailedCondition::kIfModifiedSince};

class PreconditionTest : public testing::TestWithParam<Case> {};

TEST_P(PreconditionTest, EvaluatesPerRfc9110Section13) {
  const Case& c = GetParam();
  Evaluation got = EvaluatePreconditions(c.method, c.conditions, c.current);
  EXPECT_EQ(got.verdict, c.expected.verdict) << c.rule;
  EXPECT_EQ(got.condition, c.expected.condition) << c.rule;
}

INSTANTIATE_TEST_SUITE_P(
    Rfc9110, PreconditionTest,
    testing::Values(
        // §13.2.1: preconditions are ignored when the request without them
        // would not be 2xx: GET/HEAD/DELETE of an absent resource is a 404.
        Case{"13.2.1 GET absent ignores If-Match *", Method::kGet,
             IfMatch(Any()), kAbsent, kProceed},
        Case{"13.2.1 HEAD absent ignores If-Match list", Method::kHead,
             IfMatch(Tags({"\"v2\""})), kAbsent, kProceed},
        Case{"13.2.1 DELETE absent ignores If-Match *", Method::kDelete,
             IfMatch(Any()), kAbsent, kProceed},
        Case{"13.2.1 GET absent ignores If-None-Match *", Method::kGet,
             IfNoneMatch(Any()), kAbsent, kProceed},
        Case{"13.2.1 DELETE absent ignores If-Unmodified-Since",
             Method::kDelete, IfUnmodifiedSince(kSecondBefore), kAbsent,
             kProceed},

        // §13.1.1 If-Match: "*" needs a current representation; a list
        // needs a strong match.
        Case{"13.1.1 If-Match * on present proceeds", Method::kGet,
             IfMatch(Any()), kPresent, kProceed},
        Case{"13.1.1 If-Match with the current tag proceeds", Method::kPut,
             IfMatch(Tags({"\"v2\""})), kPresent, kProceed},
        Case{"13.1.1 If-Match with another tag fails", Method::kPut,
             IfMatch(Tags({"\"v1\""})), kPresent, kIfMatchFailed},
        Case{"13.1.1 If-Match uses strong comparison: weak tag fails",
             Method::kPut, IfMatch(Tags({"W/\"v2\""})), kPresent,
             kIfMatchFailed},
        Case{"13.1.1 If-Match list with the current tag proceeds",
             Method::kPut, IfMatch(Tags({"\"v1\"", "\"v2\""})), kPresent,
             kProceed},
        Case{"13.1.1 If-Match * on an absent PUT fails", Method::kPut,
             IfMatch(Any()), kAbsent, kIfMatchFailed},
        Case{"13.1.1 If-Match list on an absent PUT fails", Method::kPut,
             IfMatch(Tags({"\"v2\""})), kAbsent, kIfMatchFailed},
        Case{"13.1.1 If-Match failing on GET is 412, not 304", Method::kGet,
             IfMatch(Tags({"\"v1\""})), kPresent, kIfMatchFailed},
        Case{"13.1.1 If-Match failing on DELETE", Method::kDelete,
             IfMatch(Tags({"\"v1\""})), kPresent, kIfMatchFailed},

        // §13.1.4 If-Unmodified-Since: true if last modified <= date, at
        // one-second resolution.
        Case{"13.1.4 If-Unmodified-Since at the same second proceeds",
             Method::kPut, IfUnmodifiedSince(kSameSecond), kPresent,
             kProceed},
        Case{"13.1.4 If-Unmodified-Since a second before fails",
             Method::kPut, IfUnmodifiedSince(kSecondBefore), kPresent,
             kIfUnmodifiedSinceFailed},
        Case{"13.1.4 If-Unmodified-Since later proceeds", Method::kDelete,
             IfUnmodifiedSince(kSecondAfter), kPresent, kProceed},
        Case{"13.1.4 If-Unmodified-Since is ignored with If-Match",
             Method::kPut,
             Combine(IfMatch(Tags({"\"v2\""})), IfUnmodifiedSince(kSecondBefore)),
             kPresent, kProceed},
        Case{"13.1.4 If-Unmodified-Since is ignored without a date (absent)",
             Method::kPut, IfUnmodifiedSince(kSecondBefore), kAbsent,
             kProceed},
        Case{"13.1.4 If-Unmodified-Since failing on GET is 412",
             Method::kGet, IfUnmodifiedSince(kSecondBefore), kPresent,
             kIfUnmodifiedSinceFailed},

        // §13.1.2 If-None-Match: weak comparison; 304 on GET/HEAD, 412
        // otherwise.
        Case{"13.1.2 If-None-Match with the current tag on GET is 304",
             Method::kGet, IfNoneMatch(Tags({"\"v2\""})), kPresent,
             kNotModifiedByIfNoneMatch},
        Case{"13.1.2 If-None-Match uses weak comparison", Method::kGet,
             IfNoneMatch(Tags({"W/\"v2\""})), kPresent,
             kNotModifiedByIfNoneMatch},
        Case{"13.1.2 If-None-Match with other tags on HEAD proceeds",
             Method::kHead, IfNoneMatch(Tags({"\"v1\"", "W/\"v3\""})),
             kPresent, kProceed},
        Case{"13.1.2 If-None-Match * on a present GET is 304", Method::kGet,
             IfNoneMatch(Any()), kPresent, kNotModifiedByIfNoneMatch},
        Case{"13.1.2 If-None-Match * on a present PUT fails", Method::kPut,
             IfNoneMatch(Any()), kPresent, kIfNoneMatchFailed},
        Case{"13.1.2 If-None-Match * on an absent PUT proceeds",
             Method::kPut, IfNoneMatch(Any()), kAbsent, kProceed},
        Case{"13.1.2 If-None-Match matching on PUT fails", Method::kPut,
             IfNoneMatch(Tags({"\"v2\""})), kPresent, kIfNoneMatchFailed},
        Case{"13.1.2 If-None-Match weakly matching on DELETE fails",
             Method::kDelete, IfNoneMatch(Tags({"W/\"v2\""})), kPresent,
             kIfNoneMatchFailed},
        Case{"13.1.2 If-None-Match not matching on PUT proceeds",
             Method::kPut, IfNoneMatch(Tags({"\"v1\""})), kPresent, kProceed},

        // §13.1.3 If-Modified-Since: GET/HEAD only; 304 if last modified
        // <= date, at one-second resolution.
        Case{"13.1.3 If-Modified-Since at the same second is 304",
             Method::kGet, IfModifiedSince(kSameSecond), kPresent,
             kNotModifiedByIfModifiedSince},
        Case{"13.1.3 If-Modified-Since a second before proceeds",
             Method::kGet, IfModifiedSince(kSecondBefore), kPresent, kProceed},
        Case{"13.1.3 If-Modified-Since later is 304", Method::kGet,
             IfModifiedSince(kSecondAfter), kPresent,
             kNotModifiedByIfModifiedSince},
        Case{"13.1.3 If-Modified-Since applies to HEAD", Method::kHead,
             IfModifiedSince(kSameSecond), kPresent,
             kNotModifiedByIfModifiedSince},
        Case{"13.1.3 If-Modified-Since is ignored on PUT", Method::kPut,
             IfModifiedSince(kSameSecond), kPresent, kProceed},
        Case{"13.1.3 If-Modified-Since is ignored on DELETE", Method::kDelete,
             IfModifiedSince(kSecondAfter), kPresent, kProceed},
        Case{"13.1.3 If-Modified-Since is ignored with If-None-Match",
             Method::kGet,
             Combine(IfNoneMatch(Tags({"\"v1\""})), IfModifiedSince(kSameSecond)),
             kPresent, kProceed},

        // §13.2.2: the order of evaluation.
        Case{"13.2.2 If-Match is evaluated before If-None-Match",
             Method::kGet,
             Combine(IfMatch(Tags({"\"v1\""})), IfNoneMatch(Tags({"\"v2\""}))),
             kPresent, kIfMatchFailed},
        Case{"13.2.2 If-Unmodified-Since is evaluated before If-None-Match",
             Method::kGet,
             Combine(IfUnmodifiedSince(kSecondBefore),
                     IfNoneMatch(Tags({"\"v2\""}))),
             kPresent, kIfUnmodifiedSinceFailed},
        Case{"13.2.2 PUT passing If-Match then failing If-None-Match",
             Method::kPut,
             Combine(IfMatch(Tags({"\"v2\""})), IfNoneMatch(Tags({"\"v2\""}))),
             kPresent, kIfNoneMatchFailed},
        Case{"13.2.2 GET passing If-Match then matching If-None-Match is 304",
             Method::kGet,
             Combine(IfMatch(Tags({"\"v2\""})), IfNoneMatch(Tags({"\"v2\""}))),
             kPresent, kNotModifiedByIfNoneMatch},
        Case{"13.2.2 GET passing If-Match * then If-Modified-Since is 304",
             Method::kGet,
             Combine(IfMatch(Any()), IfModifiedSince(kSameSecond)), kPresent,
             kNotModifiedByIfModifiedSince},
        Case{"13.2.2 no preconditions on a present GET proceeds",
             Method::kGet, Preconditions{}, kPresent, kProceed},
        Case{"13.2.2 no preconditions on an absent PUT proceeds",
             Method::kPut, Preconditions{}, kAbsent, kProceed}));

// §8.8.3: a version's coded representation has a strong tag of its own; a
// client holding it saw the version, whichever coding it got.
INSTANTIATE_TEST_SUITE_P(
    CodedRepresentations, PreconditionTest,
    testing::Values(
        Case{"If-Match with the coded representation's tag proceeds",
             Method::kPut, IfMatch(Tags({"\"v2-gzip\""})), kPresentCoded,
             kProceed},
        Case{"If-Match with the version's own tag still proceeds",
             Method::kDelete, IfMatch(Tags({"\"v2\""})), kPresentCoded,
             kProceed},
        Case{"If-Match with a weak coded tag fails (strong comparison)",
             Method::kPut, IfMatch(Tags({"W/\"v2-gzip\""})), kPresentCoded,
             kIfMatchFailed},
        Case{"If-Match with a coding the version has no form in fails",
             Method::kPut, IfMatch(Tags({"\"v2-br\""})), kPresentCoded,
             kIfMatchFailed},
        Case{"If-Match with a coded tag of a version without coded forms fails",
             Method::kPut, IfMatch(Tags({"\"v2-gzip\""})), kPresent,
             kIfMatchFailed},
        Case{"If-None-Match with the coded tag on GET is 304", Method::kGet,
             IfNoneMatch(Tags({"\"v2-gzip\""})), kPresentCoded,
             kNotModifiedByIfNoneMatch},
        Case{"If-None-Match with the weak coded tag on HEAD is 304",
             Method::kHead, IfNoneMatch(Tags({"W/\"v2-gzip\""})),
             kPresentCoded, kNotModifiedByIfNoneMatch},
        Case{"If-None-Match with the coded tag on PUT fails", Method::kPut,
             IfNoneMatch(Tags({"\"v2-gzip\""})), kPresentCoded,
             kIfNoneMatchFailed},
        Case{"If-None-Match with another version's coded tag proceeds",
             Method::kGet, IfNoneMatch(Tags({"\"v1-gzip\""})), kPresentCoded,
             kProceed}));

}  // namespace
}  // namespace etagd
