// Evaluation of conditional requests (RFC 9110 §13), as a pure function so
// that gRPC and HTTP share one implementation and tests can cover it all.
#ifndef ETAGD_SERVICE_PRECONDITION_H_
#define ETAGD_SERVICE_PRECONDITION_H_

#include <optional>
#include <vector>

#include "absl/time/time.h"
#include "service/entity_tag.h"

namespace etagd {

enum class Method { kGet, kHead, kPut, kDelete };

// The value of If-Match or If-None-Match: "*" or a list of entity-tags.
struct EntityTagCondition {
  bool any = false;
  std::vector<EntityTag> tags;
};

// The four precondition header fields of §13.1; nullopt means absent (or,
// for the dates, ignored because the field value was not a valid date).
struct Preconditions {
  std::optional<EntityTagCondition> if_match;
  std::optional<EntityTagCondition> if_none_match;
  std::optional<absl::Time> if_modified_since;
  std::optional<absl::Time> if_unmodified_since;
};

// The selected version's validators. A request for an absent resource
// evaluates against std::nullopt.
struct Validators {
  // The version's own entity-tag.
  EntityTag etag;
  absl::Time last_modified;
  // The strong entity-tags of the version's other representations, its
  // content-coded forms (CodedEntityTag). A client holding any of them saw
  // this version: If-Match accepts them (strong comparison), and
  // If-None-Match matches them (weak comparison). Which representation a
  // GET then sends, and so which tag its 304 carries, is the caller's
  // choice (content negotiation, RFC 9110 §12).
  std::vector<EntityTag> coded_etags;
};

enum class Verdict {
  // Perform the method (which may still fail on its own, e.g. 404).
  kProceed,
  // §13.2.2 steps 3 and 4: answer 304 Not Modified (GET and HEAD only).
  kNotModified,
  // Answer 412 Precondition Failed.
  kPreconditionFailed,
};

enum class FailedCondition {
  kNone,
  kIfMatch,
  kIfUnmodifiedSince,
  kIfNoneMatch,
  kIfModifiedSince,
};

struct Evaluation {
  Verdict verdict = Verdict::kProceed;
  // Which condition produced a kPreconditionFailed or kNotModified verdict;
  // kNone with kProceed.
  FailedCondition condition = FailedCondition::kNone;

  friend bool operator==(const Evaluation& a, const Evaluation& b) {
    return a.verdict == b.verdict && a.condition == b.condition;
  }
};

// Applies §13.2.1 and the evaluation order of §13.2.2 to a request with
// `method` whose selected representation is `current`:
//  - §13.2.1: preconditions are ignored when the request without them would
//    not succeed: GET, HEAD or DELETE of an absent resource proceed (and then
//    fail with 404). A PUT of an absent resource would succeed (201), so its
//    preconditions are evaluated.
//  - If-Match (strong comparison), else If-Unmodified-Since; then
//    If-None-Match (weak comparison), else If-Modified-Since (GET/HEAD only).
//    Entity-tags compare with the version's own tag and its coded_etags.
// Dates compare at one-second resolution, the resolution of HTTP-date.
// It does not handle the "already succeeded" exception of §13.1.1: callers
// that can recognise a retried write (by request id) do so before calling.
Evaluation EvaluatePreconditions(Method method, const Preconditions& conditions,
                                 const std::optional<Validators>& current);

}  // namespace etagd

#endif  // ETAGD_SERVICE_PRECONDITION_H_
