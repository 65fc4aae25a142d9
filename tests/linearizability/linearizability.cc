#include "tests/linearizability/linearizability.h"

#include <algorithm>
#include <cstddef>
#include <map>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace etagd {
namespace {

using Verdict = CheckResult::Verdict;

// Operations listed under an explanation, at most.
constexpr int kMaxListed = 12;

std::string QuoteValue(const std::string& value) {
  return absl::StrCat("\"", absl::CHexEscape(value), "\"");
}

std::string KindName(OpKind kind) {
  switch (kind) {
    case OpKind::kGet:
      return "Get";
    case OpKind::kPut:
      return "Put";
    case OpKind::kDelete:
      return "Delete";
  }
  return "?";
}

std::string Millis(int64_t ns, int64_t origin_ns) {
  return absl::StrFormat("%.3f", static_cast<double>(ns - origin_ns) / 1e6);
}

int64_t Origin(const std::vector<HistoryOp>& history) {
  int64_t origin = std::numeric_limits<int64_t>::max();
  for (const HistoryOp& op : history) origin = std::min(origin, op.invoke_ns);
  return history.empty() ? 0 : origin;
}

// "#12 c3 [...] ..." for explanations.
std::string Line(const std::vector<HistoryOp>& history, int index,
                 int64_t origin) {
  return absl::StrCat("  #", index, " ", FormatOp(history[index], origin),
                      "\n");
}

absl::Status Validate(const std::vector<HistoryOp>& history) {
  for (size_t i = 0; i < history.size(); ++i) {
    const HistoryOp& op = history[i];
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("operation #", i, " (", FormatOp(op), "): ", why));
    };
    if (op.complete_ns < op.invoke_ns) {
      return bad("completes before it is invoked");
    }
    if (op.condition == OpCondition::kIfMatch && op.if_match.empty()) {
      return bad("If-Match without an ETag");
    }
    switch (op.kind) {
      case OpKind::kGet:
        if (op.condition != OpCondition::kNone) {
          return bad("conditional Gets are not modelled");
        }
        if (op.outcome == OpOutcome::kPreconditionFailed) {
          return bad("a Get without a condition cannot fail one");
        }
        break;
      case OpKind::kPut:
        if (op.outcome == OpOutcome::kNotFound) {
          return bad("a Put does not answer not-found");
        }
        break;
      case OpKind::kDelete:
        break;
    }
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------
// The per-key search.

// The register, with values and ETags as small integers. An ETag of
// kUnknown on a live register means a write without an answer put it there
// and no answer has named its ETag yet; a revision of 0 is unknown likewise.
struct State {
  bool exists = false;
  int32_t value = -1;
  int32_t etag = -1;
  int64_t revision = 0;

  bool operator==(const State& other) const {
    return exists == other.exists && value == other.value &&
           etag == other.etag && revision == other.revision;
  }
};

constexpr int32_t kUnknown = -1;
// Op::current: no report, or a report that the resource was absent.
constexpr int32_t kNotReported = -2;
constexpr int32_t kReportedAbsent = -1;

uint64_t Mix(uint64_t x) {
  // splitmix64's finalizer.
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

uint64_t HashState(const State& s) {
  uint64_t h = Mix(static_cast<uint64_t>(s.exists));
  h = Mix(h ^ static_cast<uint64_t>(static_cast<uint32_t>(s.value)));
  h = Mix(h ^ static_cast<uint64_t>(static_cast<uint32_t>(s.etag)));
  return Mix(h ^ static_cast<uint64_t>(s.revision));
}

// An operation of one key, its strings interned.
struct Op {
  int index = 0;  // In the history.
  OpKind kind = OpKind::kGet;
  OpCondition condition = OpCondition::kNone;
  OpOutcome outcome = OpOutcome::kOk;
  int32_t if_match = kUnknown;
  int32_t value = kUnknown;
  int32_t etag = kUnknown;
  int64_t revision = 0;
  int created = -1;  // -1 unknown, else 0 or 1.
  int32_t current = kNotReported;
  bool definite = true;
  int64_t start = 0;
  // The completion, or for an indeterminate op its effect deadline.
  int64_t end = 0;
};

class KeySearch {
 public:
  KeySearch(const std::vector<HistoryOp>& history, const std::vector<int>& ops,
            std::string key, const CheckOptions& options)
      : history_(history),
        key_(std::move(key)),
        options_(options),
        origin_(Origin(history)) {
    Compile(ops);
  }

  CheckResult Run() {
    CheckResult result;
    result.key = key_;
    if (std::optional<std::string> unexplained = ValueNeverWritten()) {
      result.verdict = Verdict::kViolation;
      result.explanation = *unexplained;
      return result;
    }
    BuildEntries();

    const size_t n = ops_.size();
    decided_.assign(n, false);
    fingerprint_ = 0;
    first_open_ = 0;
    AdvanceFirstOpen();
    State state;
    int definite_done = 0;
    std::vector<Frame> stack;
    absl::flat_hash_set<CacheEntry, CacheHash, CacheEq> cache;
    size_t cache_bytes = 0;

    best_path_.clear();
    best_state_ = state;
    best_done_ = 0;

    auto undo = [&](int op) {
      Undecide(op);
      Unlift(op);
      if (ops_[op].definite) --definite_done;
    };
    // Decides `op`, reaching `next`, unless that configuration was seen
    // before; returns whether it did.
    auto visit = [&](int op, const State& next) {
      Decide(op);
      CacheEntry entry = Encode(next);
      const size_t bytes =
          sizeof(CacheEntry) + entry.exceptions.capacity() * sizeof(int32_t);
      if (!cache.insert(std::move(entry)).second) {
        Undecide(op);
        return false;
      }
      cache_bytes += bytes;
      Lift(op);
      if (ops_[op].definite) ++definite_done;
      return true;
    };
    // Candidates are tried in two passes over the entries before the first
    // pending completion: answered operations first, then unanswered ones,
    // which are more often right to leave out.
    int pass = 1;
    int cursor = next_[head_];
    int64_t steps = 0;
    while (true) {
      if (definite_done == definite_total_) {
        result.steps = steps;
        return result;
      }
      if (++steps > options_.max_steps_per_key ||
          cache_bytes > kMaxCacheBytes) {
        result.steps = steps;
        result.verdict = Verdict::kUnknown;
        result.explanation = absl::StrCat(
            "key \"", absl::CHexEscape(key_), "\": gave up after ", steps,
            " search steps (", cache.size(), " states cached); ", best_done_,
            " of ", definite_total_, " answered operations linearized");
        return result;
      }
      // Entry 2k is op k's invocation, 2k+1 its end. The list always ends
      // with the end of a pending answered op, so kNil is never reached;
      // if it were, it would be treated as such an end.
      const int op = cursor == kNil ? -1 : cursor / 2;
      if (cursor != kNil && cursor % 2 == 0) {
        const bool want_definite = pass == 1;
        if (ops_[op].definite == want_definite) {
          if (std::optional<State> next = Step(state, ops_[op], nullptr)) {
            const State before = state;
            if (visit(op, *next)) {
              stack.push_back(Frame{op, before, pass, /*applied=*/true});
              state = *next;
              NoteProgress(stack, state, definite_done);
              pass = 1;
              cursor = next_[head_];
              continue;
            }
          }
        }
        cursor = next_[cursor];
        continue;
      }
      // The earliest pending completion: nothing invoked after it may come
      // before it.
      if (pass == 1) {
        pass = 2;
        cursor = next_[head_];
        continue;
      }
      if (op >= 0 && !ops_[op].definite && visit(op, state)) {
        // An unanswered operation past its deadline never took effect.
        stack.push_back(Frame{op, state, pass, /*applied=*/false});
        pass = 1;
        cursor = next_[head_];
        continue;
      }
      // Backtrack to the last choice with alternatives left.
      bool resumed = false;
      while (!stack.empty()) {
        const Frame frame = stack.back();
        stack.pop_back();
        state = frame.state;
        undo(frame.op);
        if (frame.applied) {
          pass = frame.pass;
          cursor = next_[2 * frame.op];
          resumed = true;
          break;
        }
      }
      if (!resumed) {
        result.steps = steps;
        result.verdict = Verdict::kViolation;
        result.explanation = Explain();
        return result;
      }
    }
  }

 private:
  static constexpr int kNil = -1;
  static constexpr size_t kMaxCacheBytes = size_t{1} << 30;

  struct Frame {
    int op;
    State state;  // Before the op.
    int pass;
    bool applied;  // False: left out (it was past its deadline).
  };

  // A configuration of the search: the operations decided (taken effect,
  // or left out) and the register. The set is stored exactly but small:
  // every op before `first_open` except those listed as -(i+1) (unanswered
  // ones still open), and those listed as i+1 from first_open on (ops that
  // overlap it, taken effect before it).
  struct CacheEntry {
    uint64_t hash = 0;
    int32_t first_open = 0;
    std::vector<int32_t> exceptions;
    State state;
  };
  struct CacheHash {
    size_t operator()(const CacheEntry& e) const { return e.hash; }
  };
  struct CacheEq {
    bool operator()(const CacheEntry& a, const CacheEntry& b) const {
      return a.hash == b.hash && a.first_open == b.first_open &&
             a.state == b.state && a.exceptions == b.exceptions;
    }
  };

  void Decide(int op) {
    decided_[op] = true;
    fingerprint_ ^= zobrist_[op];
    if (op == first_open_) AdvanceFirstOpen();
  }

  void Undecide(int op) {
    decided_[op] = false;
    fingerprint_ ^= zobrist_[op];
    if (ops_[op].definite && op < first_open_) first_open_ = op;
  }

  // Moves first_open_ to the first answered op not decided (or the end).
  void AdvanceFirstOpen() {
    const int n = static_cast<int>(ops_.size());
    while (first_open_ < n &&
           (decided_[first_open_] || !ops_[first_open_].definite)) {
      ++first_open_;
    }
  }

  CacheEntry Encode(const State& state) const {
    CacheEntry entry;
    entry.hash = fingerprint_ * 31 + HashState(state);
    entry.first_open = first_open_;
    entry.state = state;
    for (int op : unanswered_) {
      if (op >= first_open_) break;
      if (!decided_[op]) entry.exceptions.push_back(-(op + 1));
    }
    // An op taken effect before first_open_ was invoked before it ended.
    if (first_open_ < static_cast<int>(ops_.size())) {
      for (int op = first_open_ + 1; op <= last_overlapping_[first_open_];
           ++op) {
        if (decided_[op]) entry.exceptions.push_back(op + 1);
      }
    }
    return entry;
  }

  // Interning.
  int32_t ValueId(const std::string& value) {
    auto [it, inserted] =
        value_ids_.emplace(value, static_cast<int32_t>(values_.size()));
    if (inserted) values_.push_back(value);
    return it->second;
  }
  int32_t EtagId(const std::string& etag) {
    auto [it, inserted] =
        etag_ids_.emplace(etag, static_cast<int32_t>(etags_.size()));
    if (inserted) {
      etags_.push_back(etag);
      etag_value_.push_back(kUnknown);
      etag_written_.push_back(false);
    }
    return it->second;
  }

  void Compile(const std::vector<int>& indexes) {
    for (int index : indexes) {
      const HistoryOp& h = history_[index];
      // An unanswered read changes nothing and tells nothing.
      if (h.kind == OpKind::kGet && h.outcome == OpOutcome::kIndeterminate) {
        continue;
      }
      Op op;
      op.index = index;
      op.kind = h.kind;
      op.condition = h.condition;
      op.outcome = h.outcome;
      op.definite = h.outcome != OpOutcome::kIndeterminate;
      op.start = h.invoke_ns;
      op.end = op.definite ? h.complete_ns : h.effect_deadline_ns;
      // A write that could only have taken effect before it was sent did
      // not take effect.
      if (!op.definite && op.end < op.start) continue;
      if (h.condition == OpCondition::kIfMatch)
        op.if_match = EtagId(h.if_match);
      if (h.kind == OpKind::kPut ||
          (h.kind == OpKind::kGet && h.outcome == OpOutcome::kOk)) {
        op.value = ValueId(h.value);
      }
      if (h.outcome == OpOutcome::kOk) {
        if (!h.etag.empty()) op.etag = EtagId(h.etag);
        op.revision = h.revision;
        if (h.created.has_value()) op.created = *h.created ? 1 : 0;
      }
      if (h.outcome == OpOutcome::kPreconditionFailed &&
          h.current_etag.has_value()) {
        op.current =
            h.current_etag->empty() ? kReportedAbsent : EtagId(*h.current_etag);
      }
      ops_.push_back(op);
    }
    // What the answers say about each ETag.
    for (const Op& op : ops_) {
      if (op.outcome != OpOutcome::kOk || op.etag == kUnknown) continue;
      if (op.kind == OpKind::kGet || op.kind == OpKind::kPut) {
        etag_value_[op.etag] = op.value;
      }
      if (op.kind == OpKind::kPut) etag_written_[op.etag] = true;
    }
    // Sorted by invocation, so that op indexes follow time.
    std::stable_sort(ops_.begin(), ops_.end(), [](const Op& a, const Op& b) {
      return a.start < b.start;
    });
    definite_total_ = 0;
    zobrist_.resize(ops_.size());
    last_overlapping_.resize(ops_.size());
    for (size_t i = 0; i < ops_.size(); ++i) {
      if (ops_[i].definite) {
        ++definite_total_;
      } else {
        unanswered_.push_back(static_cast<int>(i));
      }
      zobrist_[i] = Mix(Mix(i + 1) ^ 0x5bd1e995ULL);
      const auto after = std::upper_bound(
          ops_.begin(), ops_.end(), ops_[i].end,
          [](int64_t time, const Op& op) { return time < op.start; });
      last_overlapping_[i] = static_cast<int>(after - ops_.begin()) - 1;
    }
  }

  // A read of a value that no write of this key wrote cannot be explained
  // by any order; saying so directly is clearer than a failed search.
  std::optional<std::string> ValueNeverWritten() const {
    std::vector<bool> written(values_.size(), false);
    for (const Op& op : ops_) {
      if (op.kind == OpKind::kPut) written[op.value] = true;
    }
    for (const Op& op : ops_) {
      if (op.kind == OpKind::kGet && op.outcome == OpOutcome::kOk &&
          !written[op.value]) {
        return absl::StrCat("key \"", absl::CHexEscape(key_),
                            "\": a Get returned content that no Put of this "
                            "key wrote:\n",
                            Line(history_, op.index, origin_));
      }
    }
    return std::nullopt;
  }

  // The doubly linked list of entries (Porcupine's): entry 2k is op k's
  // invocation, 2k+1 its completion (or deadline), in time order, an
  // invocation before a completion at the same time (they overlap). Entry
  // 2n is the head.
  void BuildEntries() {
    const int n = static_cast<int>(ops_.size());
    head_ = 2 * n;
    std::vector<int> order;
    order.reserve(2 * n);
    for (int e = 0; e < 2 * n; ++e) order.push_back(e);
    auto time = [&](int e) {
      return e % 2 == 0 ? ops_[e / 2].start : ops_[e / 2].end;
    };
    std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
      if (time(a) != time(b)) return time(a) < time(b);
      return (a % 2) < (b % 2);
    });
    next_.assign(2 * n + 1, kNil);
    prev_.assign(2 * n + 1, kNil);
    int last = head_;
    for (int e : order) {
      next_[last] = e;
      prev_[e] = last;
      last = e;
    }
  }

  // Takes op's two entries out of the list; Unlift puts them back, in the
  // reverse order of the Lifts.
  void Lift(int op) {
    const int call = 2 * op;
    const int end = 2 * op + 1;
    next_[prev_[call]] = next_[call];
    prev_[next_[call]] = prev_[call];
    next_[prev_[end]] = next_[end];
    if (next_[end] != kNil) prev_[next_[end]] = prev_[end];
  }

  void Unlift(int op) {
    const int call = 2 * op;
    const int end = 2 * op + 1;
    next_[prev_[end]] = end;
    if (next_[end] != kNil) prev_[next_[end]] = end;
    next_[prev_[call]] = call;
    prev_[next_[call]] = call;
  }

  // ---- The model.

  // Could the unknown ETag of `s` (put there by an unanswered write) be
  // `etag`? Not if a write with an answer got it, nor if it came with other
  // content.
  bool CouldBeUnknownEtag(const State& s, int32_t etag) const {
    if (etag_written_[etag]) return false;
    const int32_t value = etag_value_[etag];
    return value == kUnknown || value == s.value;
  }

  // True if the live register's ETag is (or, unknown so far, can be taken
  // to be) `etag`; binds an unknown one.
  bool MatchEtag(State& s, int32_t etag) const {
    if (s.etag != kUnknown) return s.etag == etag;
    if (!CouldBeUnknownEtag(s, etag)) return false;
    s.etag = etag;
    return true;
  }

  static bool MatchRevision(State& s, int64_t revision) {
    if (revision == 0) return true;
    if (s.revision == 0) {
      s.revision = revision;
      return true;
    }
    return s.revision == revision;
  }

  std::string Describe(const State& s) const {
    if (!s.exists) {
      return s.revision != 0
                 ? absl::StrCat("absent (deleted at revision ", s.revision, ")")
                 : "absent";
    }
    return absl::StrCat(
        "holds ", QuoteValue(values_[s.value]), " (ETag ",
        s.etag == kUnknown ? "not yet seen" : etags_[s.etag], ", revision ",
        s.revision == 0 ? "unknown" : absl::StrCat(s.revision), ")");
  }

  // The register after `op` takes effect in `s`, or nullopt (and, if `why`
  // is given, the reason) if its answer is impossible there.
  std::optional<State> Step(State s, const Op& op, std::string* why) const {
    // Reasons are built only when asked for: the search asks millions of
    // times, explanations once.
    auto fail = [&](auto reason) -> std::optional<State> {
      if (why != nullptr) *why = reason();
      return std::nullopt;
    };
    // Names for the reasons, which only explanations ask for.
    auto etag = [&] {
      return op.etag == kUnknown ? std::string("?") : etags_[op.etag];
    };
    auto if_match = [&] {
      return op.if_match == kUnknown ? std::string() : etags_[op.if_match];
    };
    switch (op.kind) {
      case OpKind::kGet:
        if (op.outcome == OpOutcome::kNotFound) {
          if (s.exists) {
            return fail([&] {
              return absl::StrCat("it found nothing, but the register ",
                                  Describe(s));
            });
          }
          return s;
        }
        if (!s.exists || s.value != op.value) {
          return fail([&] {
            return absl::StrCat("it read ", QuoteValue(values_[op.value]),
                                ", but the register ", Describe(s));
          });
        }
        if (op.etag != kUnknown && !MatchEtag(s, op.etag)) {
          return fail([&] {
            return absl::StrCat("it read ETag ", etag(), ", but the register ",
                                Describe(s));
          });
        }
        if (!MatchRevision(s, op.revision)) {
          return fail([&] {
            return absl::StrCat("it read revision ", op.revision,
                                ", but the register ", Describe(s));
          });
        }
        return s;

      case OpKind::kPut:
      case OpKind::kDelete: {
        const bool is_put = op.kind == OpKind::kPut;
        if (op.outcome == OpOutcome::kNotFound) {
          // Only Deletes answer this (Validate), whatever their condition.
          if (s.exists) {
            return fail([&] {
              return absl::StrCat(
                  "it found nothing to delete, but the "
                  "register ",
                  Describe(s));
            });
          }
          return s;
        }
        if (op.outcome == OpOutcome::kPreconditionFailed) {
          switch (op.condition) {
            case OpCondition::kNone:
              return fail(
                  [] { return std::string("it had no precondition to fail"); });
            case OpCondition::kIfNoneMatchAny:
              if (!s.exists) {
                return fail([] {
                  return std::string(
                      "If-None-Match: * failed, but the register is "
                      "absent");
                });
              }
              break;
            case OpCondition::kIfMatch:
              if (!is_put && !s.exists) {
                return fail([] {
                  return std::string(
                      "a Delete of an absent resource answers "
                      "not-found, not a failed precondition");
                });
              }
              if (s.exists && s.etag == op.if_match) {
                return fail([&] {
                  return absl::StrCat("If-Match ", if_match(),
                                      " failed, but the register ",
                                      Describe(s));
                });
              }
              break;
          }
          if (op.current == kReportedAbsent && s.exists) {
            return fail([&] {
              return absl::StrCat(
                  "the failure said the resource does not "
                  "exist, but the register ",
                  Describe(s));
            });
          }
          if (op.current >= 0 && (!s.exists || !MatchEtag(s, op.current))) {
            return fail([&] {
              return absl::StrCat("the failure reported ETag ",
                                  etags_[op.current], ", but the register ",
                                  Describe(s));
            });
          }
          return s;
        }
        // kOk or kIndeterminate: the write takes effect here.
        const bool definite = op.outcome == OpOutcome::kOk;
        if (!is_put && !s.exists) {
          return fail([] {
            return std::string("it deleted, but the register is absent");
          });
        }
        switch (op.condition) {
          case OpCondition::kNone:
            break;
          case OpCondition::kIfNoneMatchAny:
            if (s.exists) {
              return fail([&] {
                return absl::StrCat(
                    "If-None-Match: * succeeded, but the "
                    "register ",
                    Describe(s));
              });
            }
            break;
          case OpCondition::kIfMatch:
            if (!s.exists || !MatchEtag(s, op.if_match)) {
              return fail([&] {
                return absl::StrCat("If-Match ", if_match(),
                                    " succeeded, but the register ",
                                    Describe(s));
              });
            }
            break;
        }
        if (!definite) {
          State next;
          next.exists = is_put;
          if (is_put) next.value = op.value;
          return next;
        }
        if (op.revision != 0 && s.revision != 0 && op.revision <= s.revision) {
          return fail([&] {
            return absl::StrCat("it got revision ", op.revision,
                                ", not above the register's ", s.revision,
                                ": the register ", Describe(s));
          });
        }
        if (is_put) {
          if (op.created >= 0 && (op.created == 1) == s.exists) {
            return fail([&] {
              return absl::StrCat(op.created == 1
                                      ? "it said it created the resource"
                                      : "it said it replaced a version",
                                  ", but the register ", Describe(s));
            });
          }
          State next;
          next.exists = true;
          next.value = op.value;
          next.etag = op.etag;
          next.revision = op.revision;
          return next;
        }
        if (op.etag != kUnknown && !MatchEtag(s, op.etag)) {
          return fail([&] {
            return absl::StrCat("it deleted ETag ", etag(),
                                ", but the register ", Describe(s));
          });
        }
        State next;
        next.revision = op.revision;
        return next;
      }
    }
    return fail([] { return std::string("unknown operation"); });
  }

  // ---- Explaining a failure.

  void NoteProgress(const std::vector<Frame>& stack, const State& state,
                    int definite_done) {
    if (definite_done <= best_done_) return;
    best_done_ = definite_done;
    best_state_ = state;
    best_path_.clear();
    for (const Frame& frame : stack) {
      best_path_.emplace_back(frame.op, frame.applied);
    }
  }

  std::string Explain() const {
    std::vector<bool> done(ops_.size(), false);
    int writer = -1;
    for (const auto& [op, applied] : best_path_) {
      done[op] = true;
      if (applied && ops_[op].kind != OpKind::kGet) writer = op;
    }
    // The answered operation that had to take effect next and could not.
    int blocked = -1;
    for (size_t i = 0; i < ops_.size(); ++i) {
      if (done[i] || !ops_[i].definite) continue;
      if (blocked < 0 || ops_[i].end < ops_[blocked].end) {
        blocked = static_cast<int>(i);
      }
    }
    std::string out = absl::StrCat(
        "key \"", absl::CHexEscape(key_), "\" is not linearizable: at most ",
        best_done_, " of its ", definite_total_,
        " answered operations can be put in an order that explains them.\n");
    absl::StrAppend(&out, "After them the register ", Describe(best_state_));
    if (writer >= 0) {
      absl::StrAppend(&out, ", written by\n",
                      Line(history_, ops_[writer].index, origin_));
    } else {
      absl::StrAppend(&out, ".\n");
    }
    if (blocked < 0) return out;
    std::string why;
    if (Step(best_state_, ops_[blocked], &why).has_value()) {
      why =
          "it could take effect here, but then the operations overlapping it "
          "cannot";
    }
    absl::StrAppend(&out, "and this operation cannot take effect next: ", why,
                    "\n", Line(history_, ops_[blocked].index, origin_));
    // The ops that could still go first: answered ones, then unanswered.
    std::string overlapping;
    int listed = 0;
    for (const bool definite : {true, false}) {
      for (size_t i = 0; i < ops_.size() && listed < kMaxListed; ++i) {
        if (done[i] || static_cast<int>(i) == blocked) continue;
        if (ops_[i].start > ops_[blocked].end) break;
        if (ops_[i].definite != definite) continue;
        absl::StrAppend(&overlapping, Line(history_, ops_[i].index, origin_));
        ++listed;
      }
    }
    if (!overlapping.empty()) {
      absl::StrAppend(&out, "Operations still pending then:\n", overlapping);
    }
    int shown = 0;
    std::string recent;
    for (auto it = best_path_.rbegin(); it != best_path_.rend() && shown < 4;
         ++it, ++shown) {
      recent =
          absl::StrCat(Line(history_, ops_[it->first].index, origin_), recent);
    }
    if (!recent.empty()) {
      absl::StrAppend(&out, "The last operations in that order:\n", recent);
    }
    return out;
  }

  const std::vector<HistoryOp>& history_;
  const std::string key_;
  const CheckOptions options_;
  const int64_t origin_;

  std::vector<Op> ops_;
  int definite_total_ = 0;
  std::vector<uint64_t> zobrist_;
  // Unanswered ops, in order.
  std::vector<int> unanswered_;
  // Per op: the last op invoked before (or when) it ends.
  std::vector<int> last_overlapping_;

  // The search's configuration.
  std::vector<bool> decided_;
  uint64_t fingerprint_ = 0;
  int first_open_ = 0;

  absl::flat_hash_map<std::string, int32_t> value_ids_;
  std::vector<std::string> values_;
  absl::flat_hash_map<std::string, int32_t> etag_ids_;
  std::vector<std::string> etags_;
  // Per ETag: the content answers paired it with (or kUnknown), and whether
  // an answered Put got it.
  std::vector<int32_t> etag_value_;
  std::vector<bool> etag_written_;

  std::vector<int> next_;
  std::vector<int> prev_;
  int head_ = 0;

  int best_done_ = 0;
  State best_state_;
  std::vector<std::pair<int, bool>> best_path_;
};

}  // namespace

std::string FormatOp(const HistoryOp& op, int64_t origin_ns) {
  std::string out =
      absl::StrCat("c", op.client, " [", Millis(op.invoke_ns, origin_ns), ", ");
  if (op.outcome == OpOutcome::kIndeterminate) {
    absl::StrAppend(&out, "gave up ", Millis(op.complete_ns, origin_ns));
    if (op.effect_deadline_ns != kNoDeadline) {
      absl::StrAppend(&out, ", in effect by ",
                      Millis(op.effect_deadline_ns, origin_ns));
    }
  } else {
    absl::StrAppend(&out, Millis(op.complete_ns, origin_ns));
  }
  absl::StrAppend(&out, "] ", KindName(op.kind), " ", QuoteValue(op.key));
  switch (op.condition) {
    case OpCondition::kNone:
      break;
    case OpCondition::kIfMatch:
      absl::StrAppend(&out, " If-Match ", op.if_match);
      break;
    case OpCondition::kIfNoneMatchAny:
      absl::StrAppend(&out, " If-None-Match *");
      break;
  }
  if (op.kind == OpKind::kPut) absl::StrAppend(&out, " ", QuoteValue(op.value));
  absl::StrAppend(&out, " -> ");
  switch (op.outcome) {
    case OpOutcome::kOk:
      absl::StrAppend(&out, "ok");
      if (op.kind == OpKind::kGet) {
        absl::StrAppend(&out, " ", QuoteValue(op.value));
      }
      if (!op.etag.empty()) absl::StrAppend(&out, " etag ", op.etag);
      if (op.revision != 0) absl::StrAppend(&out, " rev ", op.revision);
      if (op.created.has_value()) {
        absl::StrAppend(&out, *op.created ? " created" : " replaced");
      }
      break;
    case OpOutcome::kNotFound:
      absl::StrAppend(&out, "not found");
      break;
    case OpOutcome::kPreconditionFailed:
      absl::StrAppend(&out, "precondition failed");
      if (op.current_etag.has_value()) {
        absl::StrAppend(
            &out, op.current_etag->empty()
                      ? " (absent)"
                      : absl::StrCat(" (current ", *op.current_etag, ")"));
      }
      break;
    case OpOutcome::kIndeterminate:
      absl::StrAppend(&out, "no answer");
      break;
  }
  return out;
}

std::string FormatHistory(const std::vector<HistoryOp>& history) {
  std::vector<int> order(history.size());
  for (size_t i = 0; i < history.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) {
    return history[a].invoke_ns < history[b].invoke_ns;
  });
  const int64_t origin = Origin(history);
  std::string out;
  for (int i : order) absl::StrAppend(&out, Line(history, i, origin));
  return out;
}

CheckResult CheckEtagsUnique(const std::vector<HistoryOp>& history) {
  CheckResult result;
  const int64_t origin = Origin(history);
  auto violation = [&](absl::string_view what, int a, int b) {
    result.verdict = Verdict::kViolation;
    result.explanation = absl::StrCat(what, ":\n", Line(history, a, origin),
                                      Line(history, b, origin));
    return result;
  };
  absl::flat_hash_map<std::string, int> writer;
  // ETag -> the first answer that named it with content, and the first one
  // that named it at all.
  absl::flat_hash_map<std::string, int> with_content;
  absl::flat_hash_map<std::string, int> named;
  for (size_t i = 0; i < history.size(); ++i) {
    const HistoryOp& op = history[i];
    const int index = static_cast<int>(i);
    std::string etag;
    bool has_content = false;
    if (op.outcome == OpOutcome::kOk && !op.etag.empty()) {
      etag = op.etag;
      has_content = op.kind != OpKind::kDelete;
    } else if (op.outcome == OpOutcome::kPreconditionFailed &&
               op.current_etag.has_value() && !op.current_etag->empty()) {
      etag = *op.current_etag;
    } else {
      continue;
    }
    if (op.kind == OpKind::kPut && op.outcome == OpOutcome::kOk) {
      auto [it, inserted] = writer.emplace(etag, index);
      if (!inserted) {
        return violation(absl::StrCat("ETag ", etag, " answered two writes"),
                         it->second, index);
      }
    }
    auto [first, inserted] = named.emplace(etag, index);
    if (!inserted && history[first->second].key != op.key) {
      return violation(absl::StrCat("ETag ", etag, " named two keys"),
                       first->second, index);
    }
    if (has_content) {
      auto [same, added] = with_content.emplace(etag, index);
      if (!added && history[same->second].value != op.value) {
        return violation(
            absl::StrCat("ETag ", etag, " named two different contents"),
            same->second, index);
      }
    }
  }
  return result;
}

CheckResult CheckRevisionsIncrease(const std::vector<HistoryOp>& history) {
  CheckResult result;
  const int64_t origin = Origin(history);
  auto violation = [&](const std::string& what, int a, int b) {
    result.verdict = Verdict::kViolation;
    result.explanation = absl::StrCat(what, ":\n", Line(history, a, origin),
                                      Line(history, b, origin));
    return result;
  };
  std::vector<int> seen;    // Answers that name a revision.
  std::vector<int> writes;  // Writes that got one.
  for (size_t i = 0; i < history.size(); ++i) {
    const HistoryOp& op = history[i];
    if (op.outcome != OpOutcome::kOk || op.revision == 0) continue;
    seen.push_back(static_cast<int>(i));
    if (op.kind != OpKind::kGet) writes.push_back(static_cast<int>(i));
  }
  absl::flat_hash_map<int64_t, int> by_revision;
  for (int w : writes) {
    auto [it, inserted] = by_revision.emplace(history[w].revision, w);
    if (!inserted) {
      return violation(absl::StrCat("revision ", history[w].revision,
                                    " answered two writes"),
                       it->second, w);
    }
  }
  std::sort(seen.begin(), seen.end(), [&](int a, int b) {
    return history[a].complete_ns < history[b].complete_ns;
  });
  std::sort(writes.begin(), writes.end(), [&](int a, int b) {
    return history[a].invoke_ns < history[b].invoke_ns;
  });
  size_t next_seen = 0;
  int highest = -1;  // The answer with the highest revision so far.
  for (int w : writes) {
    while (next_seen < seen.size() &&
           history[seen[next_seen]].complete_ns < history[w].invoke_ns) {
      const int s = seen[next_seen++];
      if (highest < 0 || history[s].revision > history[highest].revision) {
        highest = s;
      }
    }
    if (highest >= 0 && history[w].revision <= history[highest].revision) {
      return violation(
          absl::StrCat("revisions went backwards: a write invoked after an "
                       "answer naming revision ",
                       history[highest].revision, " got revision ",
                       history[w].revision),
          highest, w);
    }
  }
  return result;
}

absl::StatusOr<CheckResult> CheckLinearizable(
    const std::vector<HistoryOp>& history, const CheckOptions& options) {
  if (absl::Status valid = Validate(history); !valid.ok()) return valid;
  std::map<std::string, std::vector<int>> by_key;
  for (size_t i = 0; i < history.size(); ++i) {
    by_key[history[i].key].push_back(static_cast<int>(i));
  }
  CheckResult total;
  for (const auto& [key, ops] : by_key) {
    KeySearch search(history, ops, key, options);
    CheckResult result = search.Run();
    total.steps += result.steps;
    if (!result.ok()) {
      result.steps = total.steps;
      return result;
    }
  }
  return total;
}

absl::StatusOr<CheckResult> CheckHistory(const std::vector<HistoryOp>& history,
                                         const CheckOptions& options) {
  if (absl::Status valid = Validate(history); !valid.ok()) return valid;
  CheckResult etags = CheckEtagsUnique(history);
  if (!etags.ok()) return etags;
  CheckResult revisions = CheckRevisionsIncrease(history);
  if (!revisions.ok()) return revisions;
  return CheckLinearizable(history, options);
}

}  // namespace etagd
