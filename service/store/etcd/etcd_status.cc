#include "service/store/etcd/etcd_status.h"

#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "service/error_details.h"

namespace etagd {
namespace {

// What the outcome of a write means to the caller; said in every message
// of a failed write, so that an operator reading a log knows whether to
// look for the write.
enum class Outcome { kNotApplied, kMaybeApplied };

enum class Retry { kNo, kYes };

struct Rule {
  absl::StatusCode code;
  // Matched against etcd's message; empty matches any message.
  absl::string_view message_part;
  Outcome outcome;
  Retry retry;
  // The status etagd answers, and what it says after "etcd ...: ".
  absl::StatusCode answer;
  absl::string_view explanation;
  // The store is out of space: the answer carries a StorageFull detail, so
  // that HTTP says 507 as for the RocksDB engine's full disk.
  bool storage_full = false;
};

using C = absl::StatusCode;

// First match wins: specific messages before their code's catch-all.
// Messages are etcd 3.4's (etcdserver/api/v3rpc/rpctypes/error.go).
constexpr Rule kRules[] = {
    // Refused before proposing (etcdserver/v3_server.go,
    // processInternalRaftRequestOnce; v3rpc/quota.go).
    {C::kResourceExhausted, "database space exceeded", Outcome::kNotApplied,
     Retry::kNo, C::kResourceExhausted,
     "is out of space (NOSPACE alarm): writes are refused until an operator "
     "compacts, defragments and disarms the alarm; reads still work",
     /*storage_full=*/true},
    {C::kResourceExhausted, "too many requests", Outcome::kNotApplied,
     Retry::kYes, C::kUnavailable, "is overloaded"},
    {C::kInvalidArgument, "request is too large", Outcome::kNotApplied,
     Retry::kNo, C::kResourceExhausted,
     "refused a request over its --max-request-bytes (set "
     "--etcd_max_request_bytes to the cluster's value)"},
    // The request names a revision compacted away (a pinned read): asking
    // again will not help, starting over at a new revision will.
    {C::kOutOfRange, "compacted", Outcome::kNotApplied, Retry::kNo,
     C::kUnavailable, "compacted the revision a read was pinned to"},
    // With the "hasleader" metadata etagd sends, checked before the request
    // reaches raft (v3rpc/interceptor.go).
    {C::kUnavailable, "no leader", Outcome::kNotApplied, Retry::kYes,
     C::kUnavailable, "has no leader"},
    // Only the linearizable read path reports these.
    {C::kUnavailable, "leader changed", Outcome::kNotApplied, Retry::kYes,
     C::kUnavailable, "changed leader during a read"},
    {C::kUnavailable, "not capable", Outcome::kNotApplied, Retry::kYes,
     C::kUnavailable, "member is not ready"},
    {C::kUnavailable, "not supported for learner", Outcome::kNotApplied,
     Retry::kYes, C::kUnavailable, "member is a learner"},
    {C::kUnauthenticated, "invalid auth token", Outcome::kNotApplied,
     Retry::kYes, C::kUnavailable, "rejected etagd's auth token"},
    {C::kInvalidArgument, "authentication failed", Outcome::kNotApplied,
     Retry::kNo, C::kFailedPrecondition,
     "rejected etagd's user name or password"},
    // Sent without a token to a cluster with authentication on.
    {C::kInvalidArgument, "user name is empty", Outcome::kNotApplied,
     Retry::kNo, C::kFailedPrecondition,
     "requires authentication (set --etcd_user and --etcd_password_file)"},
    {C::kPermissionDenied, "", Outcome::kNotApplied, Retry::kNo,
     C::kFailedPrecondition,
     "denied etagd's user access to its key prefix"},
    {C::kFailedPrecondition, "auth", Outcome::kNotApplied, Retry::kNo,
     C::kFailedPrecondition, "refused etagd's authentication"},
    // Anything else etcd calls an invalid argument (too many operations,
    // a duplicate key in one Txn) is a mistake of etagd's.
    {C::kInvalidArgument, "", Outcome::kNotApplied, Retry::kNo, C::kInternal,
     "refused a request etagd should not have made"},
    {C::kDataLoss, "", Outcome::kNotApplied, Retry::kNo, C::kDataLoss,
     "reports a corrupt cluster"},
    // Proposed, or possibly so: etcd may still apply it (request timed out,
    // ..., possibly due to previous leader failure / connection lost,
    // server stopped, a connection that broke mid-call).
    {C::kUnavailable, "", Outcome::kMaybeApplied, Retry::kYes, C::kUnavailable,
     "is unavailable"},
    {C::kDeadlineExceeded, "", Outcome::kMaybeApplied, Retry::kYes,
     C::kUnavailable, "did not answer in time"},
    {C::kCancelled, "", Outcome::kMaybeApplied, Retry::kYes, C::kUnavailable,
     "call was cancelled"},
};

}  // namespace

EtcdError ClassifyEtcdError(absl::StatusCode code, absl::string_view message,
                            bool is_write, absl::string_view what) {
  // Unknown codes and messages: the safe assumption for a write is that it
  // may have been applied; a read is not retried.
  Rule rule{code, "", Outcome::kMaybeApplied, Retry::kNo, C::kUnavailable,
            "failed"};
  for (const Rule& candidate : kRules) {
    if (candidate.code == code &&
        absl::StrContains(message, candidate.message_part)) {
      rule = candidate;
      break;
    }
  }
  EtcdError error;
  error.maybe_applied = rule.outcome == Outcome::kMaybeApplied;
  error.transient = rule.retry == Retry::kYes;
  error.compacted = code == C::kOutOfRange &&
                    absl::StrContains(message, "compacted");
  error.token_invalid = code == C::kUnauthenticated &&
                        absl::StrContains(message, "invalid auth token");
  std::string text = absl::StrCat("etcd ", rule.explanation, " (", what, ": ",
                                  absl::StatusCodeToString(code), " ", message,
                                  ")");
  if (is_write) {
    absl::StrAppend(&text, error.maybe_applied
                               ? "; the write may have been applied"
                               : "; the write was not applied");
  }
  if (rule.storage_full) {
    etagd::v1::StorageFull detail;
    detail.set_reason(etagd::v1::StorageFull::REASON_ENGINE);
    error.status = StorageFullError(text, detail);
  } else {
    error.status = absl::Status(rule.answer, text);
  }
  return error;
}

}  // namespace etagd
