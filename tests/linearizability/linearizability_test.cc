#include "tests/linearizability/linearizability.h"

#include <algorithm>
#include <cstdint>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <ostream>
#include <queue>
#include <random>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace etagd {
namespace {

using ::testing::HasSubstr;
using Verdict = CheckResult::Verdict;

// ---------------------------------------------------------------------------
// Operations on key "k" (OnKey for others), times in arbitrary units.

HistoryOp Call(int client, int64_t invoke, int64_t complete, OpKind kind) {
  HistoryOp op;
  op.client = client;
  op.key = "k";
  op.kind = kind;
  op.invoke_ns = invoke;
  op.complete_ns = complete;
  return op;
}

HistoryOp GetOk(int client, int64_t invoke, int64_t complete, std::string value,
                std::string etag) {
  HistoryOp op = Call(client, invoke, complete, OpKind::kGet);
  op.value = std::move(value);
  op.etag = std::move(etag);
  return op;
}

HistoryOp GetAbsent(int client, int64_t invoke, int64_t complete) {
  HistoryOp op = Call(client, invoke, complete, OpKind::kGet);
  op.outcome = OpOutcome::kNotFound;
  return op;
}

// An unconditional Put that succeeded.
HistoryOp PutOk(int client, int64_t invoke, int64_t complete, std::string value,
                std::string etag) {
  HistoryOp op = Call(client, invoke, complete, OpKind::kPut);
  op.value = std::move(value);
  op.etag = std::move(etag);
  return op;
}

HistoryOp PutIfMatchOk(int client, int64_t invoke, int64_t complete,
                       std::string if_match, std::string value,
                       std::string etag) {
  HistoryOp op =
      PutOk(client, invoke, complete, std::move(value), std::move(etag));
  op.condition = OpCondition::kIfMatch;
  op.if_match = std::move(if_match);
  return op;
}

HistoryOp PutIfMatchFailed(int client, int64_t invoke, int64_t complete,
                           std::string if_match, std::string value) {
  HistoryOp op = PutIfMatchOk(client, invoke, complete, std::move(if_match),
                              std::move(value), "");
  op.outcome = OpOutcome::kPreconditionFailed;
  return op;
}

// If-None-Match: * (create only).
HistoryOp CreateOk(int client, int64_t invoke, int64_t complete,
                   std::string value, std::string etag) {
  HistoryOp op =
      PutOk(client, invoke, complete, std::move(value), std::move(etag));
  op.condition = OpCondition::kIfNoneMatchAny;
  return op;
}

HistoryOp CreateFailed(int client, int64_t invoke, int64_t complete,
                       std::string value) {
  HistoryOp op = CreateOk(client, invoke, complete, std::move(value), "");
  op.outcome = OpOutcome::kPreconditionFailed;
  return op;
}

HistoryOp DeleteOk(int client, int64_t invoke, int64_t complete,
                   std::string if_match) {
  HistoryOp op = Call(client, invoke, complete, OpKind::kDelete);
  op.condition = OpCondition::kIfMatch;
  op.if_match = std::move(if_match);
  return op;
}

HistoryOp DeleteNotFound(int client, int64_t invoke, int64_t complete,
                         std::string if_match) {
  HistoryOp op = DeleteOk(client, invoke, complete, std::move(if_match));
  op.outcome = OpOutcome::kNotFound;
  return op;
}

HistoryOp DeleteFailed(int client, int64_t invoke, int64_t complete,
                       std::string if_match) {
  HistoryOp op = DeleteOk(client, invoke, complete, std::move(if_match));
  op.outcome = OpOutcome::kPreconditionFailed;
  return op;
}

// `op` without its answer, able to take effect until `deadline`.
HistoryOp Unanswered(HistoryOp op, int64_t deadline = kNoDeadline) {
  op.outcome = OpOutcome::kIndeterminate;
  op.etag.clear();
  op.revision = 0;
  op.effect_deadline_ns = deadline;
  return op;
}

HistoryOp OnKey(std::string key, HistoryOp op) {
  op.key = std::move(key);
  return op;
}

HistoryOp WithRevision(int64_t revision, HistoryOp op) {
  op.revision = revision;
  return op;
}

HistoryOp WithCurrent(std::string current_etag, HistoryOp op) {
  op.current_etag = std::move(current_etag);
  return op;
}

HistoryOp WithCreated(bool created, HistoryOp op) {
  op.created = created;
  return op;
}

// ---------------------------------------------------------------------------
// Hand-written histories.

struct HistoryCase {
  std::string name;
  std::vector<HistoryOp> history;
  // Empty if the history is linearizable; otherwise words the explanation
  // must contain.
  std::string violation;
};

std::ostream& operator<<(std::ostream& os, const HistoryCase& c) {
  return os << c.name;
}

class CheckHistoryTest : public testing::TestWithParam<HistoryCase> {};

TEST_P(CheckHistoryTest, FindsViolationsExactlyWhenThereAreSome) {
  const HistoryCase& c = GetParam();
  absl::StatusOr<CheckResult> result = CheckHistory(c.history);
  ASSERT_THAT(result, IsOk());
  if (c.violation.empty()) {
    EXPECT_EQ(result->verdict, Verdict::kOk) << result->explanation;
  } else {
    EXPECT_EQ(result->verdict, Verdict::kViolation) << "history:\n"
                                                    << FormatHistory(c.history);
    EXPECT_THAT(result->explanation, HasSubstr(c.violation));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Valid, CheckHistoryTest,
    testing::Values(
        HistoryCase{"Empty", {}, ""},
        HistoryCase{
            "SequentialReadsAndWrites",
            {GetAbsent(1, 0, 1), CreateOk(1, 2, 3, "a", "\"1\""),
             GetOk(2, 4, 5, "a", "\"1\""),
             PutIfMatchOk(2, 6, 7, "\"1\"", "b", "\"2\""),
             PutIfMatchFailed(1, 8, 9, "\"1\"", "c"),
             CreateFailed(1, 10, 11, "d"), PutOk(3, 12, 13, "e", "\"3\""),
             GetOk(1, 14, 15, "e", "\"3\""), DeleteOk(1, 16, 17, "\"3\""),
             GetAbsent(2, 18, 19), DeleteNotFound(2, 20, 21, "\"3\""),
             CreateOk(3, 22, 23, "f", "\"4\""), GetOk(3, 24, 25, "f", "\"4\"")},
            ""},
        HistoryCase{
            "ConcurrentWritesThenFirstWins",
            {PutOk(1, 0, 10, "a", "\"1\""), PutOk(2, 1, 9, "b", "\"2\""),
             GetOk(3, 20, 21, "a", "\"1\"")},
            ""},
        HistoryCase{
            "ConcurrentWritesThenSecondWins",
            {PutOk(1, 0, 10, "a", "\"1\""), PutOk(2, 1, 9, "b", "\"2\""),
             GetOk(3, 20, 21, "b", "\"2\"")},
            ""},
        HistoryCase{
            "ReadDuringWriteSeesOldOrNew",
            {PutOk(1, 0, 1, "a", "\"1\""), PutOk(1, 10, 20, "b", "\"2\""),
             GetOk(2, 11, 12, "b", "\"2\""), GetOk(3, 13, 14, "b", "\"2\""),
             GetOk(4, 11, 19, "a", "\"1\"")},
            ""},
        HistoryCase{"ConcurrentIfMatchOneWinsOneFails",
                    {PutOk(1, 0, 1, "a", "\"1\""),
                     PutIfMatchOk(1, 2, 10, "\"1\"", "b", "\"2\""),
                     PutIfMatchFailed(2, 3, 9, "\"1\"", "c"),
                     GetOk(3, 11, 12, "b", "\"2\"")},
                    ""},
        HistoryCase{"ConcurrentCreatesOneWins",
                    {CreateOk(1, 0, 10, "a", "\"1\""),
                     CreateFailed(2, 1, 9, "b"), CreateFailed(3, 2, 8, "c")},
                    ""},
        HistoryCase{
            "UnansweredWriteObservedLater",
            {PutOk(1, 0, 1, "a", "\"1\""), Unanswered(PutOk(1, 2, 3, "b", "")),
             GetOk(2, 10, 11, "b", "\"2\""),
             PutIfMatchOk(2, 12, 13, "\"2\"", "c", "\"3\""),
             GetOk(1, 14, 15, "c", "\"3\"")},
            ""},
        HistoryCase{
            "UnansweredWriteTakesEffectLongAfterItsClientGaveUp",
            {PutOk(1, 0, 1, "a", "\"1\""), Unanswered(PutOk(1, 2, 3, "b", "")),
             GetOk(2, 10, 11, "a", "\"1\""), GetOk(2, 20, 21, "b", "\"2\"")},
            ""},
        HistoryCase{"UnansweredWriteObservedBeforeItsDeadline",
                    {PutOk(1, 0, 1, "a", "\"1\""),
                     Unanswered(PutOk(1, 2, 3, "b", ""), /*deadline=*/5),
                     GetOk(2, 10, 11, "b", "\"2\"")},
                    ""},
        HistoryCase{
            "UnansweredWriteNeverObserved",
            {PutOk(1, 0, 1, "a", "\"1\""), Unanswered(PutOk(1, 2, 3, "b", "")),
             Unanswered(DeleteOk(2, 2, 3, "\"1\"")),
             GetOk(2, 10, 11, "a", "\"1\""),
             PutIfMatchOk(2, 12, 13, "\"1\"", "c", "\"3\"")},
            ""},
        HistoryCase{
            "UnansweredWriteExplainsAFailedIfMatch",
            {PutOk(1, 0, 1, "a", "\"1\""), Unanswered(PutOk(1, 2, 3, "b", "")),
             PutIfMatchFailed(2, 10, 11, "\"1\"", "c")},
            ""},
        HistoryCase{"UnansweredDeleteObserved",
                    {PutOk(1, 0, 1, "a", "\"1\""),
                     Unanswered(DeleteOk(1, 2, 3, "\"1\"")),
                     GetAbsent(2, 10, 11), CreateOk(2, 12, 13, "b", "\"2\"")},
                    ""},
        HistoryCase{"ChainOfUnansweredWritesReadThroughTheirEtags",
                    {PutOk(1, 0, 1, "a", "\"1\""),
                     Unanswered(PutIfMatchOk(1, 2, 3, "\"1\"", "b", "")),
                     GetOk(2, 4, 5, "b", "\"2\""),
                     Unanswered(PutIfMatchOk(2, 6, 7, "\"2\"", "c", "")),
                     GetOk(3, 8, 9, "c", "\"3\"")},
                    ""},
        HistoryCase{
            "KeysAreIndependent",
            {PutOk(1, 0, 10, "a", "\"1\""),
             OnKey("j", PutOk(2, 0, 10, "b", "\"2\"")),
             OnKey("j", GetOk(3, 11, 12, "b", "\"2\"")),
             GetOk(3, 13, 14, "a", "\"1\""), OnKey("i", GetAbsent(3, 15, 16))},
            ""},
        HistoryCase{
            "RevisionsAndCreatedFlagsThatFit",
            {WithCreated(true, WithRevision(3, PutOk(1, 0, 1, "a", "\"3\""))),
             WithRevision(3, GetOk(2, 2, 3, "a", "\"3\"")),
             WithCreated(false, WithRevision(7, PutOk(1, 4, 5, "b", "\"7\""))),
             WithRevision(8, DeleteOk(2, 6, 7, "\"7\"")),
             WithCreated(true,
                         WithRevision(9, CreateOk(1, 8, 9, "c", "\"9\"")))},
            ""},
        HistoryCase{
            "FailureReportsTheCurrentEtag",
            {PutOk(1, 0, 1, "a", "\"1\""),
             WithCurrent("\"1\"", PutIfMatchFailed(2, 2, 3, "\"0\"", "b")),
             WithCurrent("", PutIfMatchFailed(2, 10, 11, "\"0\"", "b")),
             DeleteOk(1, 4, 5, "\"1\"")},
            ""}),
    [](const testing::TestParamInfo<HistoryCase>& info) {
      return info.param.name;
    });

INSTANTIATE_TEST_SUITE_P(Invalid, CheckHistoryTest,
                         testing::Values(
                             HistoryCase{
                                 "StaleReadAfterCompletedWrite",
                                 {PutOk(1, 0, 1, "a", "\"1\""),
                                  PutOk(1, 2, 3, "b", "\"2\""),
                                  GetOk(2, 4, 5, "a", "\"1\"")},
                                 "it read \"a\", but the register holds \"b\""},
                             HistoryCase{
                                 "LostUpdateTwoIfMatchWithTheSameEtag",
                                 {PutOk(1, 0, 1, "a", "\"1\""),
                                  PutIfMatchOk(1, 2, 10, "\"1\"", "b", "\"2\""),
                                  PutIfMatchOk(2, 3, 9, "\"1\"", "c", "\"3\"")},
                                 "If-Match \"1\" succeeded, but the register "
                                 "holds"},
                             HistoryCase{
                                 "ReadOfAValueNeverWritten",
                                 {PutOk(1, 0, 1, "a", "\"1\""),
                                  GetOk(2, 2, 3, "zz", "\"9\"")},
                                 "content that no Put of this key wrote"},
                             HistoryCase{
                                 "ReadOfTheOldValueAfterDelete",
                                 {PutOk(1, 0, 1, "a", "\"1\""),
                                  DeleteOk(1, 2, 3, "\"1\""),
                                  GetOk(2, 4, 5, "a", "\"1\"")},
                                 "it read \"a\", but the register absent"},
                             HistoryCase{"CreateTwiceWithoutDelete",
                                         {CreateOk(1, 0, 1, "a", "\"1\""),
                                          CreateOk(2, 2, 3, "b", "\"2\"")},
                                         "If-None-Match: * succeeded, but the "
                                         "register holds \"a\""},
                             HistoryCase{"ConcurrentCreatesBothWin",
                                         {CreateOk(1, 0, 10, "a", "\"1\""),
                                          CreateOk(2, 1, 9, "b", "\"2\"")},
                                         "If-None-Match: * succeeded"},
                             HistoryCase{"EtagReusedByTwoWrites",
                                         {PutOk(1, 0, 1, "a", "\"1\""),
                                          PutOk(2, 2, 3, "b", "\"1\"")},
                                         "ETag \"1\" answered two writes"},
                             HistoryCase{
                                 "EtagReusedAcrossKeys",
                                 {PutOk(1, 0, 1, "a", "\"1\""),
                                  OnKey("j", GetOk(2, 2, 3, "a", "\"1\""))},
                                 "ETag \"1\" named two keys"},
                             HistoryCase{
                                 "EtagReadWithOtherContent",
                                 {PutOk(1, 0, 1, "a", "\"1\""),
                                  PutOk(1, 2, 3, "b", "\"2\""),
                                  GetOk(2, 4, 5, "b", "\"1\"")},
                                 "ETag \"1\" named two different contents"},
                             HistoryCase{
                                 "EtagOfAnUnansweredWriteIsAnotherWritesEtag",
                                 {PutOk(1, 0, 1, "a", "\"1\""),
                                  Unanswered(PutOk(1, 2, 3, "b", "")),
                                  PutOk(2, 4, 5, "a", "\"2\""),
                                  GetOk(2, 6, 7, "b", "\"2\"")},
                                 "named two different contents"},
                             HistoryCase{
                                 "UnansweredWriteObservedAfterItsDeadline",
                                 {PutOk(1, 0, 1, "a", "\"1\""),
                                  Unanswered(PutOk(1, 2, 3, "b", ""),
                                             /*deadline=*/5),
                                  GetOk(2, 6, 7, "a", "\"1\""),
                                  GetOk(2, 10, 11, "b", "\"2\"")},
                                 "it read \"b\", but the register holds \"a\""},
                             HistoryCase{"UnansweredWriteObservedThenUndone",
                                         {PutOk(1, 0, 1, "a", "\"1\""),
                                          Unanswered(PutOk(1, 2, 3, "b", "")),
                                          GetOk(2, 10, 11, "b", "\"2\""),
                                          GetOk(2, 12, 13, "a", "\"1\"")},
                                         "it read \"a\""},
                             HistoryCase{"UnconditionalPutFailsAPrecondition",
                                         {[] {
                                           HistoryOp op =
                                               PutOk(1, 0, 1, "a", "");
                                           op.outcome =
                                               OpOutcome::kPreconditionFailed;
                                           return op;
                                         }()},
                                         "no precondition to fail"},
                             HistoryCase{
                                 "IfMatchFailsThoughTheEtagIsCurrent",
                                 {PutOk(1, 0, 1, "a", "\"1\""),
                                  PutIfMatchFailed(2, 2, 3, "\"1\"", "b")},
                                 "If-Match \"1\" failed, but the register "
                                 "holds \"a\""},
                             HistoryCase{"DeleteOfAbsentFailsAPreconditionInste"
                                         "adOfNotFound",
                                         {DeleteFailed(1, 0, 1, "\"1\"")},
                                         "answers not-found"},
                             HistoryCase{"GetAbsentAfterCreate",
                                         {CreateOk(1, 0, 1, "a", "\"1\""),
                                          GetAbsent(2, 2, 3)},
                                         "it found nothing"},
                             HistoryCase{
                                 "RevisionGoesBackwardsAcrossKeys",
                                 {WithRevision(5, PutOk(1, 0, 1, "a", "\"5\"")),
                                  OnKey("j", WithRevision(3, PutOk(2, 2, 3, "b",
                                                                   "\"3\"")))},
                                 "revisions went backwards"},
                             HistoryCase{
                                 "RevisionAfterARead",
                                 {WithRevision(5,
                                               PutOk(1, 0, 10, "a", "\"5\"")),
                                  WithRevision(5, GetOk(2, 1, 2, "a", "\"5\"")),
                                  OnKey("j", WithRevision(4, PutOk(3, 3, 4, "b",
                                                                   "\"4\"")))},
                                 "revisions went backwards"},
                             HistoryCase{
                                 "RevisionAnswersTwoWrites",
                                 {WithRevision(5,
                                               PutOk(1, 0, 10, "a", "\"x\"")),
                                  OnKey("j",
                                        WithRevision(5, PutOk(2, 0, 10, "b",
                                                              "\"y\"")))},
                                 "revision 5 answered two writes"},
                             HistoryCase{
                                 "ConcurrentWritesCommitOutOfRevisionOrder",
                                 {WithRevision(5,
                                               PutOk(1, 0, 10, "a", "\"5\"")),
                                  WithRevision(6,
                                               PutOk(2, 0, 10, "b", "\"6\"")),
                                  GetOk(3, 11, 12, "a", "\"5\"")},
                                 "is not linearizable"},
                             HistoryCase{"CreatedFlagOnAReplace",
                                         {PutOk(1, 0, 1, "a", "\"1\""),
                                          WithCreated(true, PutOk(2, 2, 3, "b",
                                                                  "\"2\""))},
                                         "it said it created the resource"},
                             HistoryCase{
                                 "FailureReportsAStaleEtag",
                                 {PutOk(1, 0, 1, "a", "\"1\""),
                                  PutOk(1, 2, 3, "b", "\"2\""),
                                  WithCurrent("\"1\"",
                                              PutIfMatchFailed(2, 4, 5, "\"0\"",
                                                               "c"))},
                                 "the failure reported ETag \"1\""}),
                         [](const testing::TestParamInfo<HistoryCase>& info) {
                           return info.param.name;
                         });

TEST(CheckHistoryTest, ReportsTheFirstBadKeyInByteOrder) {
  std::vector<HistoryOp> history;
  for (const std::string key : {"z", "b", "m"}) {
    history.push_back(OnKey(key, PutOk(1, 0, 1, "a", "\"1" + key + "\"")));
    history.push_back(OnKey(key, GetAbsent(2, 2, 3)));
  }
  absl::StatusOr<CheckResult> result = CheckHistory(history);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->verdict, Verdict::kViolation);
  EXPECT_EQ(result->key, "b");
  EXPECT_THAT(result->explanation, HasSubstr("key \"b\""));
}

TEST(CheckHistoryTest, ExplanationNamesTheOperationsInvolved) {
  std::vector<HistoryOp> history = {
      PutOk(1, 0, 1, "a", "\"1\""),
      PutIfMatchOk(1, 2, 10, "\"1\"", "b", "\"2\""),
      PutIfMatchOk(2, 3, 9, "\"1\"", "c", "\"3\""),
  };
  absl::StatusOr<CheckResult> result = CheckHistory(history);
  ASSERT_THAT(result, IsOk());
  EXPECT_THAT(result->explanation, HasSubstr("#1 c1"));
  EXPECT_THAT(result->explanation, HasSubstr("#2 c2"));
  EXPECT_THAT(result->explanation, HasSubstr("\"c\" -> ok etag \"3\""));
}

TEST(CheckHistoryTest, MalformedHistoryIsInvalidArgument) {
  EXPECT_THAT(CheckHistory({PutOk(1, 5, 4, "a", "\"1\"")}),
              StatusIs(absl::StatusCode::kInvalidArgument, "completes before"));
  HistoryOp put_not_found = PutOk(1, 0, 1, "a", "\"1\"");
  put_not_found.outcome = OpOutcome::kNotFound;
  EXPECT_THAT(CheckHistory({put_not_found}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  HistoryOp no_etag = PutIfMatchOk(1, 0, 1, "", "a", "\"1\"");
  EXPECT_THAT(CheckHistory({no_etag}),
              StatusIs(absl::StatusCode::kInvalidArgument, "If-Match"));
}

TEST(CheckHistoryTest, GivesUpWithUnknownWhenOutOfSteps) {
  std::vector<HistoryOp> history;
  for (int i = 0; i < 20; ++i) {
    history.push_back(
        PutOk(i, 0, 100, absl::StrCat("v", i), absl::StrCat("\"", i, "\"")));
  }
  history.push_back(GetOk(0, 200, 201, "nowhere", "\"x\""));
  history.push_back(PutOk(0, 150, 160, "nowhere", "\"y\""));
  CheckOptions options;
  options.max_steps_per_key = 100;
  absl::StatusOr<CheckResult> result = CheckHistory(history, options);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->verdict, Verdict::kUnknown);
  EXPECT_THAT(result->explanation, HasSubstr("gave up"));
}

// ---------------------------------------------------------------------------
// Long generated histories: a simulated atomic register with concurrent
// clients, some of whose writes lose their answers.

// Clients run one operation at a time; each takes effect at a random moment
// between its invocation and completion (or, unanswered, maybe later, maybe
// never). `keys` keys, `ops` operations in all.
std::vector<HistoryOp> Simulate(int clients, int keys, int ops,
                                double unanswered, uint64_t seed) {
  std::mt19937_64 random(seed);
  auto uniform = [&](int64_t lo, int64_t hi) {
    return std::uniform_int_distribution<int64_t>(lo, hi)(random);
  };
  struct Version {
    std::string value;
    std::string etag;
    int64_t revision;
  };
  std::vector<std::optional<Version>> registers(keys);
  int64_t revision = 0;
  std::vector<HistoryOp> history;
  // Per client: the ETag it last saw per key.
  std::vector<std::map<int, std::string>> known(clients);

  // Events: (time, order, kind, op index); kind 0 invoke, 1 take effect,
  // 2 complete.
  using Event = std::tuple<int64_t, int64_t, int, int>;
  std::priority_queue<Event, std::vector<Event>, std::greater<Event>> events;
  int64_t order = 0;
  std::vector<int> key_of;
  std::vector<bool> lost;
  auto start_op = [&](int client, int64_t now) {
    if (static_cast<int>(history.size()) >= ops) return;
    const int key = static_cast<int>(uniform(0, keys - 1));
    HistoryOp op;
    op.client = client;
    op.key = absl::StrCat("k", key);
    op.invoke_ns = now + uniform(0, 5);
    const int64_t duration = uniform(1, 40);
    op.complete_ns = op.invoke_ns + duration;
    const int64_t choice = uniform(0, 99);
    auto seen = known[client].find(key);
    if (choice < 35) {
      op.kind = OpKind::kGet;
    } else if (choice < 60 && seen != known[client].end()) {
      op.kind = OpKind::kPut;
      op.condition = OpCondition::kIfMatch;
      op.if_match = seen->second;
    } else if (choice < 75) {
      op.kind = OpKind::kPut;
      op.condition = OpCondition::kIfNoneMatchAny;
    } else if (choice < 88 || seen == known[client].end()) {
      op.kind = OpKind::kPut;
    } else {
      op.kind = OpKind::kDelete;
      op.condition = OpCondition::kIfMatch;
      op.if_match = seen->second;
    }
    if (op.kind == OpKind::kPut) {
      op.value = absl::StrCat("c", client, "-", history.size());
    }
    const bool lose =
        op.kind != OpKind::kGet &&
        std::uniform_real_distribution<double>(0, 1)(random) < unanswered;
    int64_t effect = uniform(op.invoke_ns, op.complete_ns);
    bool takes_effect = true;
    if (lose) {
      op.outcome = OpOutcome::kIndeterminate;
      effect = uniform(op.invoke_ns, op.complete_ns + 200);
      takes_effect = uniform(0, 1) == 1;
    }
    const int index = static_cast<int>(history.size());
    history.push_back(op);
    key_of.push_back(key);
    lost.push_back(lose);
    if (takes_effect) events.emplace(effect, order++, 1, index);
    events.emplace(op.complete_ns, order++, 2, index);
  };
  for (int c = 0; c < clients; ++c) start_op(c, 0);
  while (!events.empty()) {
    const auto [time, unused, kind, index] = events.top();
    events.pop();
    HistoryOp& op = history[index];
    const int key = key_of[index];
    std::optional<Version>& reg = registers[key];
    if (kind == 1) {
      HistoryOp result = op;
      switch (op.kind) {
        case OpKind::kGet:
          if (reg.has_value()) {
            result.value = reg->value;
            result.etag = reg->etag;
            result.revision = reg->revision;
          } else {
            result.outcome = OpOutcome::kNotFound;
          }
          break;
        case OpKind::kPut: {
          const bool proceed =
              op.condition == OpCondition::kNone ||
              (op.condition == OpCondition::kIfNoneMatchAny && !reg) ||
              (op.condition == OpCondition::kIfMatch && reg &&
               reg->etag == op.if_match);
          if (proceed) {
            ++revision;
            result.created = !reg.has_value();
            reg =
                Version{op.value, absl::StrCat("\"", revision, "\""), revision};
            result.etag = reg->etag;
            result.revision = revision;
          } else {
            result.outcome = OpOutcome::kPreconditionFailed;
            result.current_etag = reg ? reg->etag : "";
          }
          break;
        }
        case OpKind::kDelete:
          if (!reg) {
            result.outcome = OpOutcome::kNotFound;
          } else if (reg->etag != op.if_match) {
            result.outcome = OpOutcome::kPreconditionFailed;
            result.current_etag = reg->etag;
          } else {
            ++revision;
            result.etag = reg->etag;
            result.revision = revision;
            reg.reset();
          }
          break;
      }
      if (!lost[index]) op = result;
    } else if (kind == 2) {
      if (!lost[index] && op.outcome == OpOutcome::kOk) {
        if (op.kind == OpKind::kDelete) {
          known[op.client].erase(key);
        } else {
          known[op.client][key] = op.etag;
        }
      } else if (op.outcome == OpOutcome::kPreconditionFailed &&
                 op.current_etag.has_value() && !op.current_etag->empty()) {
        known[op.client][key] = *op.current_etag;
      }
      start_op(op.client, time);
    }
  }
  return history;
}

TEST(CheckHistoryTest, LongConcurrentHistoryIsLinearizableAndQuick) {
  const std::vector<HistoryOp> history =
      Simulate(/*clients=*/8, /*keys=*/10, /*ops=*/30000,
               /*unanswered=*/0.01, /*seed=*/1);
  const absl::Time start = absl::Now();
  absl::StatusOr<CheckResult> result = CheckHistory(history);
  const absl::Duration took = absl::Now() - start;
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->verdict, Verdict::kOk) << result->explanation;
  EXPECT_LT(took, absl::Seconds(10));
  std::cout << "checked " << history.size() << " operations in "
            << absl::FormatDuration(took) << " (" << result->steps
            << " steps)\n";
}

TEST(CheckHistoryTest, StaleReadLateInALongHistoryIsFound) {
  std::vector<HistoryOp> history =
      Simulate(/*clients=*/8, /*keys=*/10, /*ops=*/30000,
               /*unanswered=*/0.01, /*seed=*/2);
  // The last answered read of k3 returns k3's first answered version
  // instead, long overwritten.
  const HistoryOp* first = nullptr;
  for (const HistoryOp& op : history) {
    if (op.key == "k3" && op.kind == OpKind::kPut &&
        op.outcome == OpOutcome::kOk) {
      first = &op;
      break;
    }
  }
  ASSERT_NE(first, nullptr);
  const HistoryOp stale = *first;
  for (auto it = history.rbegin(); it != history.rend(); ++it) {
    if (it->key == "k3" && it->kind == OpKind::kGet &&
        it->outcome == OpOutcome::kOk) {
      it->value = stale.value;
      it->etag = stale.etag;
      it->revision = stale.revision;
      break;
    }
  }
  const absl::Time start = absl::Now();
  absl::StatusOr<CheckResult> result = CheckLinearizable(history);
  const absl::Duration took = absl::Now() - start;
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->verdict, Verdict::kViolation);
  EXPECT_EQ(result->key, "k3");
  EXPECT_LT(took, absl::Seconds(10));
  std::cout << result->explanation << "found in " << absl::FormatDuration(took)
            << " (" << result->steps << " steps)\n";
}

}  // namespace
}  // namespace etagd
