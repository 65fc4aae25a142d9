#include "service/precondition.h"

#include <algorithm>

namespace etagd {
namespace {

bool IsSafe(Method method) {
  return method == Method::kGet || method == Method::kHead;
}

// Truncates to whole seconds, as an HTTP-date carries them.
absl::Time ToSeconds(absl::Time t) {
  return absl::FromUnixSeconds(absl::ToUnixSeconds(t));
}

// Whether `tag` names the version of `current`, by its own tag or that of
// one of its coded representations, under `match`.
template <typename Match>
bool NamesVersion(const EntityTag& tag, const Validators& current, Match match) {
  return match(tag, current.etag) ||
         std::any_of(current.coded_etags.begin(), current.coded_etags.end(),
                     [&](const EntityTag& coded) { return match(tag, coded); });
}

// §13.1.1: "*" is true if a current representation exists; a list is true
// if any member strongly matches its entity-tag.
bool IfMatchHolds(const EntityTagCondition& condition,
                  const std::optional<Validators>& current) {
  if (!current.has_value()) return false;
  if (condition.any) return true;
  return std::any_of(condition.tags.begin(), condition.tags.end(),
                     [&](const EntityTag& tag) {
                       return NamesVersion(tag, *current, StrongMatch);
                     });
}

// §13.1.2: "*" is false if a current representation exists; a list is false
// if any member weakly matches its entity-tag.
bool IfNoneMatchHolds(const EntityTagCondition& condition,
                      const std::optional<Validators>& current) {
  if (!current.has_value()) return true;
  if (condition.any) return false;
  return std::none_of(condition.tags.begin(), condition.tags.end(),
                      [&](const EntityTag& tag) {
                        return NamesVersion(tag, *current, WeakMatch);
                      });
}

}  // namespace

Evaluation EvaluatePreconditions(Method method, const Preconditions& conditions,
                                 const std::optional<Validators>& current) {
  // §13.2.1: without preconditions, GET/HEAD/DELETE of an absent resource
  // answer 404, so the preconditions are ignored.
  if (!current.has_value() && method != Method::kPut) {
    return {Verdict::kProceed, FailedCondition::kNone};
  }

  // §13.2.2 step 1: If-Match.
  if (conditions.if_match.has_value()) {
    if (!IfMatchHolds(*conditions.if_match, current)) {
      return {Verdict::kPreconditionFailed, FailedCondition::kIfMatch};
    }
  } else if (conditions.if_unmodified_since.has_value() && current.has_value()) {
    // Step 2: If-Unmodified-Since, only without If-Match (§13.1.4), and only
    // when there is a modification date to compare (absent resource: the
    // field MAY be ignored, and we do).
    if (ToSeconds(current->last_modified) >
        ToSeconds(*conditions.if_unmodified_since)) {
      return {Verdict::kPreconditionFailed, FailedCondition::kIfUnmodifiedSince};
    }
  }

  // Step 3: If-None-Match.
  if (conditions.if_none_match.has_value()) {
    if (!IfNoneMatchHolds(*conditions.if_none_match, current)) {
      return IsSafe(method)
                 ? Evaluation{Verdict::kNotModified, FailedCondition::kIfNoneMatch}
                 : Evaluation{Verdict::kPreconditionFailed,
                              FailedCondition::kIfNoneMatch};
    }
  } else if (IsSafe(method) && conditions.if_modified_since.has_value()) {
    // Step 4: If-Modified-Since, GET and HEAD only (§13.1.3). `current` is
    // present here: absent GETs returned above.
    if (ToSeconds(current->last_modified) <=
        ToSeconds(*conditions.if_modified_since)) {
      return {Verdict::kNotModified, FailedCondition::kIfModifiedSince};
    }
  }

  return {Verdict::kProceed, FailedCondition::kNone};
}

}  // namespace etagd
