#include "service/store/etcd/etcd_status.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/error_details.h"
#include "tests/testing/status_matchers.h"

namespace etagd {
namespace {

using C = absl::StatusCode;

struct Case {
  C code;
  std::string message;
  bool maybe_applied;
  bool transient;
  C answer;
};

class EtcdStatusTest : public testing::TestWithParam<Case> {};

TEST_P(EtcdStatusTest, ClassifiesAWriteFailure) {
  const Case& c = GetParam();
  EtcdError error = ClassifyEtcdError(c.code, c.message, /*is_write=*/true, "writing");
  EXPECT_EQ(error.maybe_applied, c.maybe_applied) << c.message;
  EXPECT_EQ(error.transient, c.transient) << c.message;
  EXPECT_EQ(error.status.code(), c.answer) << error.status;
  // The message quotes etcd's and says what became of the write.
  EXPECT_THAT(std::string(error.status.message()), testing::HasSubstr(c.message));
  EXPECT_THAT(std::string(error.status.message()),
              testing::HasSubstr(c.maybe_applied ? "may have been applied"
                                                 : "was not applied"));
}

INSTANTIATE_TEST_SUITE_P(
    Etcd34Errors, EtcdStatusTest,
    testing::Values(
        // Refused before raft: never applied.
        Case{C::kResourceExhausted, "etcdserver: mvcc: database space exceeded",
             false, false, C::kResourceExhausted},
        Case{C::kResourceExhausted, "etcdserver: too many requests", false, true,
             C::kUnavailable},
        Case{C::kInvalidArgument, "etcdserver: request is too large", false,
             false, C::kResourceExhausted},
        Case{C::kUnavailable, "etcdserver: no leader", false, true, C::kUnavailable},
        Case{C::kUnauthenticated, "etcdserver: invalid auth token", false, true,
             C::kUnavailable},
        Case{C::kInvalidArgument, "etcdserver: user name is empty", false, false,
             C::kFailedPrecondition},
        Case{C::kPermissionDenied, "etcdserver: permission denied", false, false,
             C::kFailedPrecondition},
        Case{C::kInvalidArgument,
             "etcdserver: authentication failed, invalid user ID or password",
             false, false, C::kFailedPrecondition},
        Case{C::kInvalidArgument, "etcdserver: too many operations in txn request",
             false, false, C::kInternal},
        Case{C::kInvalidArgument, "etcdserver: duplicate key given in txn request",
             false, false, C::kInternal},
        Case{C::kDataLoss, "etcdserver: corrupt cluster", false, false, C::kDataLoss},
        // Proposed, or possibly: etcd may still apply them.
        Case{C::kUnavailable, "etcdserver: request timed out", true, true,
             C::kUnavailable},
        Case{C::kUnavailable,
             "etcdserver: request timed out, possibly due to previous leader failure",
             true, true, C::kUnavailable},
        Case{C::kUnavailable,
             "etcdserver: request timed out, possibly due to connection lost", true,
             true, C::kUnavailable},
        Case{C::kUnavailable, "etcdserver: server stopped", true, true,
             C::kUnavailable},
        Case{C::kUnavailable, "Socket closed", true, true, C::kUnavailable},
        Case{C::kDeadlineExceeded, "Deadline Exceeded", true, true, C::kUnavailable},
        Case{C::kCancelled, "Cancelled", true, true, C::kUnavailable},
        // Unknown: assume the worst, and do not retry.
        Case{C::kUnknown, "something new", true, false, C::kUnavailable},
        Case{C::kInternal, "grpc internal", true, false, C::kUnavailable}));

TEST(EtcdStatusReadTest, CompactedRevisionIsMarkedForAFreshStart) {
  EtcdError error = ClassifyEtcdError(
      C::kOutOfRange, "etcdserver: mvcc: required revision has been compacted",
      /*is_write=*/false, "listing");
  EXPECT_TRUE(error.compacted);
  EXPECT_FALSE(error.transient) << "the same revision stays compacted";
  EXPECT_THAT(std::string(error.status.message()), testing::Not(testing::HasSubstr("write")));
}

TEST(EtcdStatusReadTest, LeaderChangedDuringAReadIsRetried) {
  EtcdError error = ClassifyEtcdError(C::kUnavailable, "etcdserver: leader changed",
                                      /*is_write=*/false, "reading");
  EXPECT_TRUE(error.transient);
  EXPECT_EQ(error.status.code(), C::kUnavailable);
}

TEST(EtcdStatusReadTest, InvalidTokenAsksForAuthentication) {
  EtcdError error = ClassifyEtcdError(C::kUnauthenticated,
                                      "etcdserver: invalid auth token",
                                      /*is_write=*/false, "reading");
  EXPECT_TRUE(error.token_invalid);
}

TEST(EtcdStatusReadTest, NospaceNamesTheAlarmAndTheWayOut) {
  EtcdError error = ClassifyEtcdError(C::kResourceExhausted,
                                      "etcdserver: mvcc: database space exceeded",
                                      /*is_write=*/true, "writing");
  EXPECT_THAT(error.status, StatusIs(C::kResourceExhausted, "NOSPACE"));
  EXPECT_THAT(error.status, StatusIs(C::kResourceExhausted, "disarm"));
}

// As the RocksDB engine's full disk: a StorageFull detail, so HTTP says 507.
TEST(EtcdStatusReadTest, NospaceCarriesAStorageFullDetail) {
  EtcdError error = ClassifyEtcdError(C::kResourceExhausted,
                                      "etcdserver: mvcc: database space exceeded",
                                      /*is_write=*/true, "writing");
  std::optional<etagd::v1::StorageFull> detail = GetStorageFull(error.status);
  ASSERT_TRUE(detail.has_value());
  EXPECT_EQ(detail->reason(), etagd::v1::StorageFull::REASON_ENGINE);
}

}  // namespace
}  // namespace etagd
