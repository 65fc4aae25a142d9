#include "service/grpc_status.h"

#include <optional>
#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/cord.h"
#include "etagd/v1/etagd.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "google/rpc/status.pb.h"
#include "grpcpp/support/status.h"
#include "gtest/gtest.h"
#include "service/error_details.h"
#include "tests/testing/status_matchers.h"

namespace etagd {
namespace {

using ::google::protobuf::util::MessageDifferencer;

// ---------------------------------------------------------------------------
// The code table: every canonical code maps to its namesake both ways.

struct CodeCase {
  absl::StatusCode absl_code;
  grpc::StatusCode grpc_code;
};

std::ostream& operator<<(std::ostream& os, const CodeCase& c) {
  return os << absl::StatusCodeToString(c.absl_code);
}

class GrpcStatusCodeTest : public testing::TestWithParam<CodeCase> {};

TEST_P(GrpcStatusCodeTest, AbslCodeMapsToItsGrpcNamesake) {
  const CodeCase& c = GetParam();
  grpc::Status status = ToGrpcStatus(absl::Status(c.absl_code, "it broke"));
  EXPECT_EQ(status.error_code(), c.grpc_code);
  EXPECT_EQ(status.error_message(), "it broke");
}

TEST_P(GrpcStatusCodeTest, GrpcCodeMapsToItsAbslNamesake) {
  const CodeCase& c = GetParam();
  absl::Status status = FromGrpcStatus(grpc::Status(c.grpc_code, "it broke"));
  EXPECT_EQ(status.code(), c.absl_code);
  EXPECT_EQ(status.message(), "it broke");
}

TEST_P(GrpcStatusCodeTest, RoundTripKeepsCodeAndMessage) {
  const CodeCase& c = GetParam();
  const absl::Status original(c.absl_code, "r\xC3\xA9sum\xC3\xA9: 42 left");
  absl::Status back = FromGrpcStatus(ToGrpcStatus(original));
  EXPECT_EQ(back.code(), original.code());
  EXPECT_EQ(back.message(), original.message());
}

INSTANTIATE_TEST_SUITE_P(
    EveryNonOkCode, GrpcStatusCodeTest,
    testing::Values(
        CodeCase{absl::StatusCode::kCancelled, grpc::StatusCode::CANCELLED},
        CodeCase{absl::StatusCode::kUnknown, grpc::StatusCode::UNKNOWN},
        CodeCase{absl::StatusCode::kInvalidArgument,
                 grpc::StatusCode::INVALID_ARGUMENT},
        CodeCase{absl::StatusCode::kDeadlineExceeded,
                 grpc::StatusCode::DEADLINE_EXCEEDED},
        CodeCase{absl::StatusCode::kNotFound, grpc::StatusCode::NOT_FOUND},
        CodeCase{absl::StatusCode::kAlreadyExists,
                 grpc::StatusCode::ALREADY_EXISTS},
        CodeCase{absl::StatusCode::kPermissionDenied,
                 grpc::StatusCode::PERMISSION_DENIED},
        CodeCase{absl::StatusCode::kResourceExhausted,
                 grpc::StatusCode::RESOURCE_EXHAUSTED},
        CodeCase{absl::StatusCode::kFailedPrecondition,
                 grpc::StatusCode::FAILED_PRECONDITION},
        CodeCase{absl::StatusCode::kAborted, grpc::StatusCode::ABORTED},
        CodeCase{absl::StatusCode::kOutOfRange, grpc::StatusCode::OUT_OF_RANGE},
        CodeCase{absl::StatusCode::kUnimplemented,
                 grpc::StatusCode::UNIMPLEMENTED},
        CodeCase{absl::StatusCode::kInternal, grpc::StatusCode::INTERNAL},
        CodeCase{absl::StatusCode::kUnavailable, grpc::StatusCode::UNAVAILABLE},
        CodeCase{absl::StatusCode::kDataLoss, grpc::StatusCode::DATA_LOSS},
        CodeCase{absl::StatusCode::kUnauthenticated,
                 grpc::StatusCode::UNAUTHENTICATED}));

// Both enums are google.rpc.Code: the same number on each side, for every
// code from CANCELLED (1) to UNAUTHENTICATED (16).
TEST(GrpcStatusTest, EveryCanonicalCodeKeepsItsNumber) {
  for (int number = 1; number <= 16; ++number) {
    grpc::Status to_grpc =
        ToGrpcStatus(absl::Status(static_cast<absl::StatusCode>(number), "x"));
    EXPECT_EQ(static_cast<int>(to_grpc.error_code()), number);
    absl::Status to_absl = FromGrpcStatus(
        grpc::Status(static_cast<grpc::StatusCode>(number), "x"));
    EXPECT_EQ(static_cast<int>(to_absl.code()), number);
  }
}

TEST(GrpcStatusTest, UnknownAbslCodeBecomesUnknown) {
  grpc::Status status =
      ToGrpcStatus(absl::Status(static_cast<absl::StatusCode>(99), "odd"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNKNOWN);
  EXPECT_EQ(status.error_message(), "odd");
}

TEST(GrpcStatusTest, UnknownGrpcCodeBecomesUnknown) {
  // 20: past the last code (16) but within the range of grpc::StatusCode,
  // which has no fixed underlying type: a value outside it (99) would be
  // undefined behaviour, as UBSan reports.
  absl::Status status =
      FromGrpcStatus(grpc::Status(static_cast<grpc::StatusCode>(20), "odd"));
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kUnknown, "odd"));
}

TEST(GrpcStatusTest, OkMapsToOk) {
  grpc::Status status = ToGrpcStatus(absl::OkStatus());
  EXPECT_TRUE(status.ok());
  EXPECT_EQ(status.error_code(), grpc::StatusCode::OK);
  EXPECT_EQ(status.error_message(), "");
  EXPECT_EQ(status.error_details(), "");
}

TEST(GrpcStatusTest, GrpcOkMapsToOk) {
  EXPECT_THAT(FromGrpcStatus(grpc::Status::OK), IsOk());
}

TEST(GrpcStatusTest, StatusWithoutPayloadHasEmptyErrorDetails) {
  grpc::Status status =
      ToGrpcStatus(absl::NotFoundError("\"a\" does not exist"));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_EQ(status.error_details(), "");
}

// ---------------------------------------------------------------------------
// Payloads travel as google.rpc.Status details.

v1::PreconditionFailure SampleFailure() {
  v1::PreconditionFailure detail;
  detail.set_reason(v1::PreconditionFailure::REASON_IF_MATCH_FAILED);
  detail.set_exists(true);
  detail.set_current_etag("\"2a-00ff00ff00ff00ff\"");
  detail.set_current_revision(42);
  detail.mutable_current_update_time()->set_seconds(1700000000);
  detail.mutable_current_update_time()->set_nanos(123456000);
  return detail;
}

constexpr char kSampleMessage[] =
    "If-Match failed for \"a\": its current ETag is \"2a-00ff00ff00ff00ff\"";

TEST(GrpcStatusTest, PreconditionFailureSurvivesTheRoundTrip) {
  const v1::PreconditionFailure detail = SampleFailure();
  grpc::Status wire =
      ToGrpcStatus(PreconditionFailedError(kSampleMessage, detail));
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(wire.error_message(), kSampleMessage);

  absl::Status back = FromGrpcStatus(wire);
  EXPECT_THAT(back,
              StatusIs(absl::StatusCode::kFailedPrecondition, kSampleMessage));
  auto got = GetPreconditionFailure(back);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->reason(), v1::PreconditionFailure::REASON_IF_MATCH_FAILED);
  EXPECT_TRUE(got->exists());
  EXPECT_EQ(got->current_etag(), detail.current_etag());
  EXPECT_EQ(got->current_revision(), 42);
  EXPECT_EQ(got->current_update_time().seconds(), 1700000000);
  EXPECT_EQ(got->current_update_time().nanos(), 123456000);
  EXPECT_TRUE(MessageDifferencer::Equals(*got, detail)) << got->DebugString();
}

TEST(GrpcStatusTest, StorageFullSurvivesTheRoundTrip) {
  v1::StorageFull detail;
  detail.set_reason(v1::StorageFull::REASON_QUOTA);
  detail.set_store_bytes(100);
  detail.set_quota_bytes(99);
  detail.set_free_bytes(1000);
  detail.set_reserve_bytes(10);
  grpc::Status wire = ToGrpcStatus(StorageFullError("store full", detail));
  EXPECT_EQ(wire.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);

  absl::Status back = FromGrpcStatus(wire);
  EXPECT_THAT(back,
              StatusIs(absl::StatusCode::kResourceExhausted, "store full"));
  std::optional<v1::StorageFull> got = GetStorageFull(back);
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(MessageDifferencer::Equals(*got, detail)) << got->DebugString();
}

TEST(GrpcStatusTest, ErrorDetailsAreAGoogleRpcStatusWithATypedAny) {
  const v1::PreconditionFailure detail = SampleFailure();
  grpc::Status wire =
      ToGrpcStatus(PreconditionFailedError(kSampleMessage, detail));

  google::rpc::Status rpc_status;
  ASSERT_TRUE(rpc_status.ParseFromString(wire.error_details()));
  EXPECT_EQ(rpc_status.code(),
            static_cast<int>(grpc::StatusCode::FAILED_PRECONDITION));
  EXPECT_EQ(rpc_status.message(), kSampleMessage);
  ASSERT_EQ(rpc_status.details_size(), 1);
  EXPECT_EQ(rpc_status.details(0).type_url(),
            "type.googleapis.com/etagd.v1.PreconditionFailure");
  v1::PreconditionFailure unpacked;
  ASSERT_TRUE(rpc_status.details(0).UnpackTo(&unpacked));
  EXPECT_TRUE(MessageDifferencer::Equals(unpacked, detail))
      << unpacked.DebugString();
}

TEST(GrpcStatusTest, AbsentPreconditionFailureFieldsSurviveAsDefaults) {
  v1::PreconditionFailure detail;
  detail.set_reason(v1::PreconditionFailure::REASON_IF_MATCH_FAILED);
  detail.set_exists(false);
  absl::Status back = FromGrpcStatus(
      ToGrpcStatus(PreconditionFailedError("it does not exist", detail)));
  auto got = GetPreconditionFailure(back);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(got->reason(), v1::PreconditionFailure::REASON_IF_MATCH_FAILED);
  EXPECT_FALSE(got->exists());
  EXPECT_EQ(got->current_etag(), "");
  EXPECT_EQ(got->current_revision(), 0);
  EXPECT_FALSE(got->has_current_update_time());
}

TEST(GrpcStatusTest, ArbitraryPayloadsSurviveTheRoundTripByteForByte) {
  absl::Status original = absl::UnavailableError("try later");
  const std::string binary("\x00\x01\xFE\xFF", 4);
  original.SetPayload("type.googleapis.com/example.RetryInfo",
                      absl::Cord(binary));
  original.SetPayload("type.googleapis.com/example.Other", absl::Cord("text"));

  absl::Status back = FromGrpcStatus(ToGrpcStatus(original));
  EXPECT_THAT(back, StatusIs(absl::StatusCode::kUnavailable, "try later"));
  auto retry = back.GetPayload("type.googleapis.com/example.RetryInfo");
  ASSERT_TRUE(retry.has_value());
  EXPECT_EQ(std::string(*retry), binary);
  auto other = back.GetPayload("type.googleapis.com/example.Other");
  ASSERT_TRUE(other.has_value());
  EXPECT_EQ(std::string(*other), "text");
  EXPECT_FALSE(GetPreconditionFailure(back).has_value());
}

TEST(GrpcStatusTest, StatusWithoutDetailsHasNoPreconditionFailure) {
  absl::Status back = FromGrpcStatus(
      grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "no details"));
  EXPECT_THAT(back,
              StatusIs(absl::StatusCode::kFailedPrecondition, "no details"));
  EXPECT_FALSE(GetPreconditionFailure(back).has_value());
}

TEST(GrpcStatusTest, UnparseableErrorDetailsAreIgnoredKeepingCodeAndMessage) {
  // Field 3 (details), length-delimited, claiming 127 bytes that are absent.
  const std::string truncated("\x1a\x7f", 2);
  google::rpc::Status probe;
  ASSERT_FALSE(probe.ParseFromString(truncated)) << "not garbage after all";

  absl::Status back = FromGrpcStatus(
      grpc::Status(grpc::StatusCode::NOT_FOUND, "gone", truncated));
  EXPECT_THAT(back, StatusIs(absl::StatusCode::kNotFound, "gone"));
  EXPECT_FALSE(GetPreconditionFailure(back).has_value());
}

}  // namespace
}  // namespace etagd
