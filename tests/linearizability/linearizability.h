// A linearizability checker for histories of etagd calls.
//
// The model is one versioned register per key: absent, or a version
// (content, ETag, revision). Every successful write produces a version with
// an ETag no other write ever had; revisions only grow. A history is
// linearizable if, for every key, there is one total order of its operations
// that respects real time (an operation that completed before another began
// comes first) and in which every operation's result is what the register
// would have answered.
//
// The search is Wing & Gong's, with Lowe's memoization (as in Porcupine and
// Knossos): a depth-first search over which pending operation takes effect
// next, among those invoked before the earliest completion still pending,
// never visiting the same (set of operations done, register state) twice.
// Keys are independent (P-compositionality), so each is searched alone.
//
// Operations without an answer (a deadline passed, the connection broke)
// are indeterminate: each may have taken effect at any moment after its
// invocation (up to an optional deadline), or never.
#ifndef ETAGD_TESTS_LINEARIZABILITY_LINEARIZABILITY_H_
#define ETAGD_TESTS_LINEARIZABILITY_LINEARIZABILITY_H_

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace etagd {

enum class OpKind { kGet, kPut, kDelete };

// The precondition a write carried.
enum class OpCondition {
  kNone,
  // If-Match: `HistoryOp::if_match`.
  kIfMatch,
  // If-None-Match: * (create only).
  kIfNoneMatchAny,
};

// What the client learnt.
enum class OpOutcome {
  // Get: found (value, etag, revision). Put: written. Delete: deleted.
  kOk,
  // Get or Delete: the resource did not exist (a Delete answers this
  // whatever its precondition, RFC 9110 §13.2.1).
  kNotFound,
  // Put or Delete: the precondition was false; nothing was written.
  kPreconditionFailed,
  // No answer: the call may or may not have taken effect, at any moment
  // after `invoke_ns` and not after `effect_deadline_ns`.
  kIndeterminate,
};

inline constexpr int64_t kNoDeadline = std::numeric_limits<int64_t>::max();

// One call as its client saw it. Times are from one monotonic clock, in
// nanoseconds (any unit works as long as it is the same throughout).
struct HistoryOp {
  int client = 0;
  std::string key;
  OpKind kind = OpKind::kGet;
  OpCondition condition = OpCondition::kNone;
  // The ETag of an If-Match condition.
  std::string if_match;
  // Put: the content written. Get with kOk: the content read.
  std::string value;

  int64_t invoke_ns = 0;
  // When the answer arrived (or the client gave up, for kIndeterminate).
  int64_t complete_ns = 0;
  // kIndeterminate only: the latest moment it could still take effect, e.g.
  // when the server it was sent to was known to be dead.
  int64_t effect_deadline_ns = kNoDeadline;

  OpOutcome outcome = OpOutcome::kOk;
  // kOk: the ETag read (Get), written (Put) or deleted (Delete); empty if
  // the answer did not say (e.g. an HTTP DELETE).
  std::string etag;
  // kOk: the revision read or written; 0 if unknown.
  int64_t revision = 0;
  // Put with kOk: whether the answer said it created the resource.
  std::optional<bool> created;
  // kPreconditionFailed: the current ETag the server reported, "" if it
  // reported that the resource does not exist, nullopt if it said nothing.
  std::optional<std::string> current_etag;
};

struct CheckOptions {
  // Search steps per key before giving up with kUnknown.
  int64_t max_steps_per_key = 20'000'000;
};

struct CheckResult {
  enum class Verdict {
    kOk,
    // The history violates the model; `key` and `explanation` say where.
    kViolation,
    // The search ran out of steps on `key`.
    kUnknown,
  };
  Verdict verdict = Verdict::kOk;
  // The first key (in byte order) that failed, or empty for a check across
  // keys (ETag or revision reuse, revisions going backwards).
  std::string key;
  // A few lines: what could not be explained, and the operations involved.
  std::string explanation;
  // Search steps over all keys checked.
  int64_t steps = 0;

  bool ok() const { return verdict == Verdict::kOk; }
};

// Runs every check below, in order, and returns the first failure.
// INVALID_ARGUMENT if the history is malformed (a result that the operation
// cannot have, a completion before its invocation).
absl::StatusOr<CheckResult> CheckHistory(const std::vector<HistoryOp>& history,
                                         const CheckOptions& options = {});

// ETags identify writes: no ETag answers two Puts, and every answer that
// names an ETag (Get, Put, Delete, a failed precondition) pairs it with the
// same key, and (Get, Put) with the same content.
CheckResult CheckEtagsUnique(const std::vector<HistoryOp>& history);

// Revisions come from one counter for all keys: no two writes get the same
// one, and a write invoked after another call completed gets a revision above
// every revision that call saw.
CheckResult CheckRevisionsIncrease(const std::vector<HistoryOp>& history);

// The per-key linearizability search. Every key starts absent.
absl::StatusOr<CheckResult> CheckLinearizable(
    const std::vector<HistoryOp>& history, const CheckOptions& options = {});

// One line for `op`: "c3 [12.345, 12.360] Put k0 If-Match "1-ab.." "c3-7"
// -> ok etag "2-cd.." rev 2", times in milliseconds after `origin_ns`.
std::string FormatOp(const HistoryOp& op, int64_t origin_ns = 0);

// The whole history, one FormatOp line per operation in invocation order,
// for saving next to a failed test.
std::string FormatHistory(const std::vector<HistoryOp>& history);

}  // namespace etagd

#endif  // ETAGD_TESTS_LINEARIZABILITY_LINEARIZABILITY_H_
