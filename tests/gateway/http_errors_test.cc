#include "gateway/http_errors.h"

#include <ostream>
#include <set>
#include <string>

#include "absl/status/status.h"
#include "etagd/v1/etagd.pb.h"
#include "gtest/gtest.h"
#include "service/error_details.h"

namespace etagd {
namespace {

// ---------------------------------------------------------------------------
// HttpStatusFor: the one table from status codes to HTTP statuses.

struct StatusCase {
  absl::StatusCode code;
  int http_status;
};

std::ostream& operator<<(std::ostream& os, const StatusCase& c) {
  return os << absl::StatusCodeToString(c.code);
}

class HttpStatusForTest : public testing::TestWithParam<StatusCase> {};

TEST_P(HttpStatusForTest, MapsEveryCode) {
  const StatusCase& c = GetParam();
  EXPECT_EQ(HttpStatusFor(absl::Status(c.code, "some message")), c.http_status)
      << absl::StatusCodeToString(c.code);
}

// google.rpc.Code's documented HTTP mapping, except FAILED_PRECONDITION
// (412: the service uses it only for failed conditional requests, RFC 9110
// §15.5.13) and RESOURCE_EXHAUSTED (413 without a detail: content over the
// size limit, RFC 9110 §15.5.14).
const StatusCase kStatusCases[] = {
    {absl::StatusCode::kOk, 200},
    {absl::StatusCode::kCancelled, 499},
    {absl::StatusCode::kUnknown, 500},
    {absl::StatusCode::kInvalidArgument, 400},
    {absl::StatusCode::kDeadlineExceeded, 504},
    {absl::StatusCode::kNotFound, 404},
    {absl::StatusCode::kAlreadyExists, 409},
    {absl::StatusCode::kPermissionDenied, 403},
    {absl::StatusCode::kResourceExhausted, 413},
    {absl::StatusCode::kFailedPrecondition, 412},
    {absl::StatusCode::kAborted, 409},
    {absl::StatusCode::kOutOfRange, 400},
    {absl::StatusCode::kUnimplemented, 501},
    {absl::StatusCode::kInternal, 500},
    {absl::StatusCode::kUnavailable, 503},
    {absl::StatusCode::kDataLoss, 500},
    {absl::StatusCode::kUnauthenticated, 401},
};

INSTANTIATE_TEST_SUITE_P(AllCodes, HttpStatusForTest,
                         testing::ValuesIn(kStatusCases));

TEST(HttpStatusForTest, TheTableAboveCoversEveryAbslCode) {
  std::set<int> covered;
  for (const StatusCase& c : kStatusCases) {
    covered.insert(static_cast<int>(c.code));
  }
  // absl::StatusCode runs from kOk (0) to kUnauthenticated (16).
  for (int code = 0; code <= 16; ++code) {
    EXPECT_EQ(covered.count(code), 1u) << "code " << code;
  }
}

TEST(HttpStatusForTest, AnUnknownCodeIs500) {
  EXPECT_EQ(HttpStatusFor(absl::Status(static_cast<absl::StatusCode>(42), "m")),
            500);
  EXPECT_EQ(HttpStatusFor(absl::Status(static_cast<absl::StatusCode>(-1), "m")),
            500);
}

// The detail rows: a code whose meaning depends on what it carries.

absl::Status StorageFull() {
  etagd::v1::StorageFull detail;
  detail.set_reason(etagd::v1::StorageFull::REASON_DISK);
  return StorageFullError("disk full", detail);
}

TEST(HttpStatusForTest, StorageFullIs507InsufficientStorage) {
  // RFC 4918 §11.5.
  EXPECT_EQ(HttpStatusFor(StorageFull()), 507);
}

TEST(HttpStatusForTest, AnOverloadIs503ServiceUnavailable) {
  // RFC 9110 §15.6.4: "temporary overload"; RetryInfo marks it.
  EXPECT_EQ(HttpStatusFor(OverloadedError("too many writes in flight",
                                          absl::Seconds(1))),
            503);
}

TEST(HttpStatusForTest, ResourceExhaustedWithoutADetailStays413) {
  EXPECT_EQ(HttpStatusFor(absl::ResourceExhaustedError(
                "content is 5000000 bytes; the limit is 4194304")),
            413);
}

TEST(HttpStatusForTest, ResourceExhaustedWithAnotherDetailStays413) {
  absl::Status status = absl::ResourceExhaustedError("too many writes");
  status.SetPayload(kPreconditionFailureTypeUrl, absl::Cord("x"));
  EXPECT_EQ(HttpStatusFor(status), 413);
}

TEST(HttpStatusForTest, TheStorageDetailOnAnotherCodeChangesNothing) {
  absl::Status status(absl::StatusCode::kUnavailable, "m");
  status.SetPayload(kStorageFullTypeUrl, absl::Cord(""));
  EXPECT_EQ(HttpStatusFor(status), 503);
}

// ---------------------------------------------------------------------------
// ErrorJson: the one error body.

TEST(ErrorJsonTest, WritesCodeStatusAndMessage) {
  EXPECT_EQ(ErrorJson(404, "NOT_FOUND", "no resource named a/b"),
            "{\"error\": {\"code\": 404, \"status\": \"NOT_FOUND\", "
            "\"message\": \"no resource named a/b\"}}\n");
}

TEST(ErrorJsonTest, AddsCurrentEtagWhenGiven) {
  EXPECT_EQ(ErrorJson(412, "FAILED_PRECONDITION", "If-Match failed", "\"v2\""),
            "{\"error\": {\"code\": 412, \"status\": \"FAILED_PRECONDITION\", "
            "\"message\": \"If-Match failed\", "
            "\"current_etag\": \"\\\"v2\\\"\"}}\n");
}

TEST(ErrorJsonTest, OmitsCurrentEtagWhenEmpty) {
  const std::string body = ErrorJson(412, "FAILED_PRECONDITION", "m", "");
  EXPECT_EQ(body.find("current_etag"), std::string::npos) << body;
}

TEST(ErrorJsonTest, EscapesEveryStringField) {
  EXPECT_EQ(ErrorJson(400, "A\"B", "line1\nline2", "W/\"x\\y\""),
            "{\"error\": {\"code\": 400, \"status\": \"A\\\"B\", "
            "\"message\": \"line1\\nline2\", "
            "\"current_etag\": \"W/\\\"x\\\\y\\\"\"}}\n");
}

TEST(ErrorJsonTest, AllowsAnEmptyMessage) {
  EXPECT_EQ(ErrorJson(500, "INTERNAL", ""),
            "{\"error\": {\"code\": 500, \"status\": \"INTERNAL\", "
            "\"message\": \"\"}}\n");
}

// ---------------------------------------------------------------------------
// JsonString (RFC 8259 §7 strings; invalid UTF-8 replaced, RFC 3629).

struct JsonCase {
  std::string rule;
  std::string text;
  std::string expected;
};

std::ostream& operator<<(std::ostream& os, const JsonCase& c) {
  return os << c.rule;
}

class JsonStringTest : public testing::TestWithParam<JsonCase> {};

TEST_P(JsonStringTest, QuotesAndEscapesPerRfc8259Section7) {
  const JsonCase& c = GetParam();
  EXPECT_EQ(JsonString(c.text), c.expected) << c.rule;
}

// U+FFFD REPLACEMENT CHARACTER in UTF-8.
#define FFFD "\xef\xbf\xbd"

INSTANTIATE_TEST_SUITE_P(
    Rfc8259, JsonStringTest,
    testing::Values(
        JsonCase{"7 empty string", "", "\"\""},
        JsonCase{"7 plain ASCII", "abc XYZ 019", "\"abc XYZ 019\""},
        JsonCase{"7 solidus needs no escape", "a/b", "\"a/b\""},
        // §7: quotation mark and reverse solidus must be escaped.
        JsonCase{"7 quotation mark", "a\"b", "\"a\\\"b\""},
        JsonCase{"7 reverse solidus", "a\\b", "\"a\\\\b\""},
        JsonCase{"7 an entity-tag", "W/\"v1\"", "\"W/\\\"v1\\\"\""},
        // §7: control characters U+0000 to U+001F must be escaped.
        JsonCase{"7 newline, return and tab short forms", "\n\r\t",
                 "\"\\n\\r\\t\""},
        JsonCase{"7 NUL as \\u0000", std::string("a\0b", 3), "\"a\\u0000b\""},
        JsonCase{"7 U+0001", "\x01", "\"\\u0001\""},
        JsonCase{"7 backspace as \\u0008", "\b", "\"\\u0008\""},
        JsonCase{"7 form feed as \\u000c", "\f", "\"\\u000c\""},
        JsonCase{"7 U+001B escape", "\x1b", "\"\\u001b\""},
        JsonCase{"7 U+001F, the last control", "\x1f", "\"\\u001f\""},
        JsonCase{"7 space is not a control", " ", "\" \""},
        JsonCase{"7 DEL is escaped too", "\x7f", "\"\\u007f\""},

        // RFC 3629: valid UTF-8 is kept as is.
        JsonCase{"3629 two-byte sequence", "caf\xc3\xa9", "\"caf\xc3\xa9\""},
        JsonCase{"3629 three-byte sequence", "\xe2\x82\xac",
                 "\"\xe2\x82\xac\""},
        JsonCase{"3629 four-byte sequence", "\xf0\x9f\x98\x80",
                 "\"\xf0\x9f\x98\x80\""},
        JsonCase{"3629 U+10FFFF, the last code point", "\xf4\x8f\xbf\xbf",
                 "\"\xf4\x8f\xbf\xbf\""},
        JsonCase{"3629 U+FFFD itself", FFFD, "\"" FFFD "\""},
        JsonCase{"3629 U+0080, the first two-byte code point", "\xc2\x80",
                 "\"\xc2\x80\""},

        // RFC 3629 §3: bytes that are not valid UTF-8 become U+FFFD.
        JsonCase{"3629 lone continuation byte", "a\x80z", "\"a" FFFD "z\""},
        JsonCase{"3629 0xFF never appears", "\xff", "\"" FFFD "\""},
        JsonCase{"3629 0xFE never appears", "\xfe", "\"" FFFD "\""},
        JsonCase{"3629 lead byte at the end", "ab\xe2", "\"ab" FFFD "\""},
        JsonCase{"3629 lead byte before ASCII", "\xe2z", "\"" FFFD "z\""},
        JsonCase{"3629 overlong two-byte '/'", "\xc0\xaf",
                 "\"" FFFD FFFD "\""},
        JsonCase{"3629 overlong three-byte '/'", "\xe0\x80\xaf",
                 "\"" FFFD FFFD FFFD "\""},
        JsonCase{"3629 UTF-16 surrogate U+D800", "\xed\xa0\x80",
                 "\"" FFFD FFFD FFFD "\""},
        JsonCase{"3629 above U+10FFFF", "\xf4\x90\x80\x80",
                 "\"" FFFD FFFD FFFD FFFD "\""},
        JsonCase{"3629 0xF5 lead byte", "\xf5\x80\x80\x80",
                 "\"" FFFD FFFD FFFD FFFD "\""},
        JsonCase{"3629 valid text around a bad byte is kept",
                 "\xc3\xa9\xff\xc3\xa9", "\"\xc3\xa9" FFFD "\xc3\xa9\""},
        JsonCase{"3629 replacement does not swallow a quote", "\xe2\"",
                 "\"" FFFD "\\\"\""}));

#undef FFFD

}  // namespace
}  // namespace etagd
