#include "service/request_validation.h"

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "etagd/v1/etagd.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace etagd {
namespace {

using ::testing::ElementsAre;
using ::testing::IsEmpty;

// ---------------------------------------------------------------------------
// IsValidUtf8: well-formed UTF-8 per RFC 3629 §4 (Unicode Table 3-7).
// Hex escapes are split ("\xE2\x82" "a") where a hex digit follows one.

struct Utf8Case {
  std::string description;
  std::string text;
  bool valid;
};

std::ostream& operator<<(std::ostream& os, const Utf8Case& c) {
  return os << c.description;
}

class IsValidUtf8Test : public testing::TestWithParam<Utf8Case> {};

TEST_P(IsValidUtf8Test, AcceptsExactlyWellFormedUtf8) {
  const Utf8Case& c = GetParam();
  EXPECT_EQ(IsValidUtf8(c.text), c.valid) << c.description;
}

INSTANTIATE_TEST_SUITE_P(
    Rfc3629, IsValidUtf8Test,
    testing::Values(
        // Valid: ASCII, and each sequence length at its boundaries.
        Utf8Case{"empty", "", true}, Utf8Case{"ASCII", "hello/world", true},
        Utf8Case{"embedded NUL is well-formed", std::string("a\0b", 3), true},
        Utf8Case{"2 bytes: U+0080, the smallest", "\xC2\x80", true},
        Utf8Case{"2 bytes: U+00E9", "caf\xC3\xA9", true},
        Utf8Case{"2 bytes: U+07FF, the largest", "\xDF\xBF", true},
        Utf8Case{"3 bytes: U+0800, the smallest", "\xE0\xA0\x80", true},
        Utf8Case{"3 bytes: U+20AC euro sign", "\xE2\x82\xAC", true},
        Utf8Case{"3 bytes: U+D7FF, just below the surrogates", "\xED\x9F\xBF",
                 true},
        Utf8Case{"3 bytes: U+E000, just above the surrogates", "\xEE\x80\x80",
                 true},
        Utf8Case{"3 bytes: U+FFFF", "\xEF\xBF\xBF", true},
        Utf8Case{"4 bytes: U+10000, the smallest", "\xF0\x90\x80\x80", true},
        Utf8Case{"4 bytes: U+1F600", "\xF0\x9F\x98\x80", true},
        Utf8Case{"4 bytes: U+10FFFF, the largest code point",
                 "\xF4\x8F\xBF\xBF", true},
        Utf8Case{"mixed lengths",
                 "a\xC3\xA9\xE2\x82\xAC\xF0\x9F\x98\x80"
                 "z",
                 true},

        // Overlong forms: a code point in more bytes than it needs.
        Utf8Case{"overlong NUL in 2 bytes", "\xC0\x80", false},
        Utf8Case{"overlong '/' in 2 bytes", "\xC0\xAF", false},
        Utf8Case{"overlong U+007F in 2 bytes", "\xC1\xBF", false},
        Utf8Case{"overlong NUL in 3 bytes", "\xE0\x80\x80", false},
        Utf8Case{"overlong U+07FF in 3 bytes", "\xE0\x9F\xBF", false},
        Utf8Case{"overlong NUL in 4 bytes", "\xF0\x80\x80\x80", false},
        Utf8Case{"overlong U+FFFF in 4 bytes", "\xF0\x8F\xBF\xBF", false},

        // Surrogates (U+D800-U+DFFF) are not scalar values.
        Utf8Case{"high surrogate U+D800", "\xED\xA0\x80", false},
        Utf8Case{"low surrogate U+DFFF", "\xED\xBF\xBF", false},
        Utf8Case{"surrogate pair encoded separately (CESU-8)",
                 "\xED\xA0\xBD\xED\xB8\x80", false},

        // Above U+10FFFF.
        Utf8Case{"U+110000", "\xF4\x90\x80\x80", false},
        Utf8Case{"lead byte F5", "\xF5\x80\x80\x80", false},
        Utf8Case{"lead byte F7", "\xF7\xBF\xBF\xBF", false},

        // Bytes that never start a sequence.
        Utf8Case{"5-byte lead F8", "\xF8\x88\x80\x80\x80", false},
        Utf8Case{"6-byte lead FC", "\xFC\x84\x80\x80\x80\x80", false},
        Utf8Case{"byte FE", "\xFE", false}, Utf8Case{"byte FF", "\xFF", false},
        Utf8Case{"lone continuation byte 80", "\x80", false},
        Utf8Case{"lone continuation byte BF after ASCII", "a\xBF", false},

        // Truncated sequences, at the end and before other characters.
        Utf8Case{"2-byte sequence missing 1", "\xC3", false},
        Utf8Case{"3-byte sequence missing 1", "\xE2\x82", false},
        Utf8Case{"3-byte sequence missing 2", "\xE2", false},
        Utf8Case{"4-byte sequence missing 1", "\xF0\x9F\x98", false},
        Utf8Case{"truncated after valid text", "ok\xF0\x9F", false},
        Utf8Case{"truncated before ASCII",
                 "\xE2\x82"
                 "a",
                 false},
        Utf8Case{"truncated before another sequence", "\xC3\xC3\xA9", false}));

// IsValidUtf8 skips ASCII 8 bytes at a time: bytes on either side of each
// 8-byte step, and sequences across a step's end.
INSTANTIATE_TEST_SUITE_P(
    WordSteps, IsValidUtf8Test,
    testing::Values(
        Utf8Case{"8 ASCII bytes", "abcdefgh", true},
        Utf8Case{"17 ASCII bytes", "abcdefghijklmnopq", true},
        Utf8Case{"bad byte 8th", "abcdefg\xFF", false},
        Utf8Case{"bad byte 9th", "abcdefgh\xFF", false},
        Utf8Case{"bad byte 16th", "abcdefghijklmno\xFF", false},
        Utf8Case{"bad byte 17th after 16 ASCII", "abcdefghijklmnop\xFF", false},
        Utf8Case{"2 bytes across a step", "abcdefg\xC3\xA9hijklmnop", true},
        Utf8Case{"4 bytes across a step", "abcdef\xF0\x9F\x98\x80ghijklmnop",
                 true},
        Utf8Case{"ASCII again after a sequence", "\xC3\xA9" "abcdefghijklmnop", true},
        Utf8Case{"bad after a sequence and 8 ASCII",
                 "\xC3\xA9" "abcdefgh\xC0\x80", false},
        Utf8Case{"truncated at the very end after 8 ASCII", "abcdefgh\xE2\x82",
                 false},
        Utf8Case{"a surrogate after 16 ASCII", "abcdefghijklmnop\xED\xA0\x80",
                 false}));

// ---------------------------------------------------------------------------
// ValidateName and ValidatePrefix: 1 (0 for a prefix) to kMaxNameBytes bytes
// of UTF-8 without C0 controls, DEL or C1 controls.

struct TextCase {
  std::string description;
  std::string text;
  absl::StatusCode code;
  // A part of the error message; names the field.
  std::string message;
};

std::ostream& operator<<(std::ostream& os, const TextCase& c) {
  return os << c.description;
}

void ExpectResult(const absl::Status& status, const TextCase& c) {
  if (c.code == absl::StatusCode::kOk) {
    EXPECT_THAT(status, IsOk()) << c.description;
  } else {
    EXPECT_THAT(status, StatusIs(c.code, c.message)) << c.description;
  }
}

constexpr absl::StatusCode kOk = absl::StatusCode::kOk;
constexpr absl::StatusCode kInvalid = absl::StatusCode::kInvalidArgument;

// 512 two-byte characters: 1024 bytes.
std::string TwoByteChars(int count) {
  std::string out;
  for (int i = 0; i < count; ++i) out += "\xC3\xA9";
  return out;
}

class ValidateNameTest : public testing::TestWithParam<TextCase> {};

TEST_P(ValidateNameTest, RefusesWithAMessageNamingTheField) {
  ExpectResult(ValidateName(GetParam().text), GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    Names, ValidateNameTest,
    testing::Values(
        TextCase{"one character", "a", kOk, ""},
        TextCase{"slashes are allowed", "dir/sub/file.txt", kOk, ""},
        TextCase{"a lone slash", "/", kOk, ""},
        TextCase{"space and tilde", "a b~", kOk, ""},
        TextCase{"multi-byte UTF-8", "caf\xC3\xA9/\xF0\x9F\x98\x80", kOk, ""},
        TextCase{"U+00A0, just past the C1 controls", "a\xC2\xA0", kOk, ""},
        TextCase{"exactly the limit", std::string(kMaxNameBytes, 'x'), kOk, ""},
        TextCase{"exactly the limit in 2-byte characters", TwoByteChars(512),
                 kOk, ""},

        TextCase{"empty", "", kInvalid, "name is empty"},
        TextCase{"one byte over the limit", std::string(kMaxNameBytes + 1, 'x'),
                 kInvalid, "name is 1025 bytes long"},
        TextCase{"over the limit in 2-byte characters", TwoByteChars(512) + "x",
                 kInvalid, "name is 1025 bytes long"},

        // C0 controls, DEL, and C1 controls (U+0080-U+009F, 0xC2 0x80-0x9F).
        TextCase{"NUL", std::string("a\0b", 3), kInvalid,
                 "name contains a control character"},
        TextCase{"U+0001", "a\x01", kInvalid,
                 "name contains a control character"},
        TextCase{"tab", "a\tb", kInvalid, "name contains a control character"},
        TextCase{"newline", "a\nb", kInvalid,
                 "name contains a control character"},
        TextCase{"U+001F", "\x1F", kInvalid,
                 "name contains a control character"},
        TextCase{"DEL U+007F", "a\x7F", kInvalid,
                 "name contains a control character"},
        TextCase{"C1 U+0080", "a\xC2\x80", kInvalid,
                 "name contains a control character"},
        TextCase{"C1 U+0085 (NEL)", "\xC2\x85", kInvalid,
                 "name contains a control character"},
        TextCase{"C1 U+009F",
                 "a\xC2\x9F"
                 "b",
                 kInvalid, "name contains a control character"},

        TextCase{"invalid UTF-8 byte", "a\xFF", kInvalid,
                 "name is not valid UTF-8"},
        TextCase{"overlong '/'",
                 "a\xC0\xAF"
                 "b",
                 kInvalid, "name is not valid UTF-8"},
        TextCase{"overlong NUL", "\xC0\x80", kInvalid,
                 "name is not valid UTF-8"},
        TextCase{"surrogate", "\xED\xA0\x80", kInvalid,
                 "name is not valid UTF-8"},
        TextCase{"truncated sequence", "name\xE2\x82", kInvalid,
                 "name is not valid UTF-8"}));

// ValidateNewName: names a Put may store are those whose URL survives
// RFC 3986 §5.2.4 remove_dot_segments and "//" merging unchanged.
class ValidateNewNameTest : public testing::TestWithParam<TextCase> {};

TEST_P(ValidateNewNameTest, RefusesNamesWhoseUrlNormalizationChanges) {
  ExpectResult(ValidateNewName(GetParam().text), GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    Names, ValidateNewNameTest,
    testing::Values(
        TextCase{"one segment", "a", kOk, ""},
        TextCase{"several segments", "dir/sub/file.txt", kOk, ""},
        TextCase{"dots inside a segment", "a/..b/c../.d/e.", kOk, ""},
        TextCase{"three dots", "a/.../b", kOk, ""},
        TextCase{"percent signs stay literal", "a/%2E%2E/b", kOk, ""},
        TextCase{"the general name rules still apply", "a\tb", kInvalid,
                 "name contains a control character"},
        TextCase{"empty", "", kInvalid, "name is empty"},

        TextCase{"a lone slash", "/", kInvalid, "empty segment"},
        TextCase{"a leading slash", "/a", kInvalid, "empty segment"},
        TextCase{"a trailing slash", "a/", kInvalid, "empty segment"},
        TextCase{"a doubled slash", "a//b", kInvalid, "empty segment"},
        TextCase{"'.' alone", ".", kInvalid, "a '.' segment"},
        TextCase{"'..' alone", "..", kInvalid, "a '..' segment"},
        TextCase{"a leading '.'", "./a", kInvalid, "a '.' segment"},
        TextCase{"a '..' in the middle", "a/../b/doc", kInvalid,
                 "a '..' segment"},
        TextCase{"a trailing '..'", "a/b/..", kInvalid, "a '..' segment"},
        TextCase{"a trailing '.'", "a/.", kInvalid, "a '.' segment"}));

class ValidatePrefixTest : public testing::TestWithParam<TextCase> {};

TEST_P(ValidatePrefixTest, RefusesWithAMessageNamingTheField) {
  ExpectResult(ValidatePrefix(GetParam().text), GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    Prefixes, ValidatePrefixTest,
    testing::Values(
        TextCase{"empty lists everything", "", kOk, ""},
        TextCase{"a folder", "dir/", kOk, ""},
        TextCase{"multi-byte UTF-8", "\xC3\xA9t\xC3\xA9/", kOk, ""},
        TextCase{"exactly the limit", std::string(kMaxNameBytes, 'p'), kOk, ""},
        TextCase{"one byte over the limit", std::string(kMaxNameBytes + 1, 'p'),
                 kInvalid, "prefix is 1025 bytes long"},
        TextCase{"NUL", std::string(1, '\0'), kInvalid,
                 "prefix contains a control character"},
        TextCase{"DEL", "a\x7F", kInvalid,
                 "prefix contains a control character"},
        TextCase{"C1 U+0090", "\xC2\x90", kInvalid,
                 "prefix contains a control character"},
        TextCase{"invalid UTF-8", "dir\xFF", kInvalid,
                 "prefix is not valid UTF-8"}));

// ---------------------------------------------------------------------------
// ValidateContentType: at most kMaxContentTypeBytes of visible ASCII and
// spaces.

class ValidateContentTypeTest : public testing::TestWithParam<TextCase> {};

TEST_P(ValidateContentTypeTest, RefusesWithAMessageNamingTheField) {
  ExpectResult(ValidateContentType(GetParam().text), GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    ContentTypes, ValidateContentTypeTest,
    testing::Values(
        TextCase{"empty is allowed", "", kOk, ""},
        TextCase{"a media type", "application/json", kOk, ""},
        TextCase{"parameters with spaces", "text/plain; charset=utf-8", kOk,
                 ""},
        TextCase{"every visible character and space",
                 " !\"#$%&'()*+,-./09:;<=>?@AZ[\\]^_`az{|}~", kOk, ""},
        TextCase{"exactly the limit", std::string(kMaxContentTypeBytes, 't'),
                 kOk, ""},
        TextCase{"one byte over the limit",
                 std::string(kMaxContentTypeBytes + 1, 't'), kInvalid,
                 "content_type is 257 bytes long"},
        TextCase{"tab", "text/plain;\tq=1", kInvalid,
                 "content_type may contain"},
        TextCase{"CR LF (header injection)", "text/plain\r\nX-Evil: 1",
                 kInvalid, "content_type may contain"},
        TextCase{"NUL", std::string("text\0", 5), kInvalid,
                 "content_type may contain"},
        TextCase{"DEL", "text/\x7F", kInvalid, "content_type may contain"},
        TextCase{"non-ASCII UTF-8", "text/caf\xC3\xA9", kInvalid,
                 "content_type may contain"}));

// ---------------------------------------------------------------------------
// ValidateRequestId: empty, or at most kMaxRequestIdBytes of visible ASCII.

class ValidateRequestIdTest : public testing::TestWithParam<TextCase> {};

TEST_P(ValidateRequestIdTest, RefusesWithAMessageNamingTheField) {
  ExpectResult(ValidateRequestId(GetParam().text), GetParam());
}

INSTANTIATE_TEST_SUITE_P(
    RequestIds, ValidateRequestIdTest,
    testing::Values(
        TextCase{"empty means none", "", kOk, ""},
        TextCase{"a UUID", "0f8e7d6c-5b4a-4321-9876-fedcba987654", kOk, ""},
        TextCase{"visible punctuation", "!\"#~{}", kOk, ""},
        TextCase{"exactly the limit", std::string(kMaxRequestIdBytes, 'r'), kOk,
                 ""},
        TextCase{"one byte over the limit",
                 std::string(kMaxRequestIdBytes + 1, 'r'), kInvalid,
                 "request_id is 129 bytes long"},
        TextCase{"space", "a b", kInvalid, "request_id may contain"},
        TextCase{"tab", "a\tb", kInvalid, "request_id may contain"},
        TextCase{"DEL", "id\x7F", kInvalid, "request_id may contain"},
        TextCase{"non-ASCII UTF-8", "id-\xC3\xA9", kInvalid,
                 "request_id may contain"}));

// ---------------------------------------------------------------------------
// ParsePreconditions: entity-tags per RFC 9110 §8.8.3, "*" alone, at most
// kMaxEntityTags, valid timestamps.

v1::Preconditions IfMatch(std::vector<std::string> tags) {
  v1::Preconditions p;
  for (std::string& tag : tags) p.add_if_match(std::move(tag));
  return p;
}
v1::Preconditions IfNoneMatch(std::vector<std::string> tags) {
  v1::Preconditions p;
  for (std::string& tag : tags) p.add_if_none_match(std::move(tag));
  return p;
}
v1::Preconditions IfModifiedSince(int64_t seconds, int32_t nanos) {
  v1::Preconditions p;
  p.mutable_if_modified_since()->set_seconds(seconds);
  p.mutable_if_modified_since()->set_nanos(nanos);
  return p;
}
v1::Preconditions IfUnmodifiedSince(int64_t seconds, int32_t nanos) {
  v1::Preconditions p;
  p.mutable_if_unmodified_since()->set_seconds(seconds);
  p.mutable_if_unmodified_since()->set_nanos(nanos);
  return p;
}
std::vector<std::string> ManyTags(int count) {
  std::vector<std::string> tags;
  for (int i = 0; i < count; ++i)
    tags.push_back("\"t" + std::to_string(i) + "\"");
  return tags;
}

// google.protobuf.Timestamp's range: 0001-01-01T00:00:00Z to
// 9999-12-31T23:59:59.999999999Z.
constexpr int64_t kMinTimestampSeconds = -62135596800;
constexpr int64_t kMaxTimestampSeconds = 253402300799;

struct PreconditionsCase {
  std::string description;
  v1::Preconditions proto;
  absl::StatusCode code;
  std::string message;
};

std::ostream& operator<<(std::ostream& os, const PreconditionsCase& c) {
  return os << c.description;
}

class ParsePreconditionsTableTest
    : public testing::TestWithParam<PreconditionsCase> {};

TEST_P(ParsePreconditionsTableTest, AcceptsOrRefusesNamingTheField) {
  const PreconditionsCase& c = GetParam();
  absl::StatusOr<Preconditions> parsed = ParsePreconditions(c.proto);
  if (c.code == absl::StatusCode::kOk) {
    EXPECT_THAT(parsed, IsOk()) << c.description;
  } else {
    EXPECT_THAT(parsed, StatusIs(c.code, c.message)) << c.description;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rfc9110, ParsePreconditionsTableTest,
    testing::Values(
        PreconditionsCase{"no preconditions", v1::Preconditions(), kOk, ""},

        // §8.8.3: entity-tag = [ W/ ] DQUOTE *etagc DQUOTE.
        PreconditionsCase{"strong tag", IfMatch({"\"abc\""}), kOk, ""},
        PreconditionsCase{"weak tag", IfMatch({"W/\"abc\""}), kOk, ""},
        PreconditionsCase{"empty opaque-tag", IfNoneMatch({"\"\""}), kOk, ""},
        PreconditionsCase{"obs-text in the opaque-tag", IfMatch({"\"\xE9\""}),
                          kOk, ""},
        PreconditionsCase{"a list", IfNoneMatch({"\"a\"", "W/\"b\"", "\"c\""}),
                          kOk, ""},
        PreconditionsCase{"exactly kMaxEntityTags", IfMatch(ManyTags(64)), kOk,
                          ""},
        PreconditionsCase{"unquoted", IfMatch({"abc"}), kInvalid,
                          "if_match[0] is not an entity-tag"},
        PreconditionsCase{"empty string", IfNoneMatch({""}), kInvalid,
                          "if_none_match[0] is not an entity-tag"},
        PreconditionsCase{"lowercase w/", IfMatch({"w/\"abc\""}), kInvalid,
                          "if_match[0] is not an entity-tag"},
        PreconditionsCase{"surrounding space", IfMatch({" \"abc\""}), kInvalid,
                          "if_match[0] is not an entity-tag"},
        PreconditionsCase{"space inside", IfNoneMatch({"\"a b\""}), kInvalid,
                          "if_none_match[0] is not an entity-tag"},
        PreconditionsCase{"a header list in one element",
                          IfMatch({"\"a\", \"b\""}), kInvalid,
                          "if_match[0] is not an entity-tag"},
        PreconditionsCase{"the bad element is named by index",
                          IfNoneMatch({"\"ok\"", "W/\"ok\"", "bad"}), kInvalid,
                          "if_none_match[2] is not an entity-tag"},
        PreconditionsCase{"missing closing quote", IfMatch({"\"abc"}), kInvalid,
                          "if_match[0] is not an entity-tag"},

        // §13.1.1, §13.1.2: "*" or a list, not both.
        PreconditionsCase{"if_match * alone", IfMatch({"*"}), kOk, ""},
        PreconditionsCase{"if_none_match * alone", IfNoneMatch({"*"}), kOk, ""},
        PreconditionsCase{"if_match * then a tag", IfMatch({"*", "\"a\""}),
                          kInvalid, "if_match: \"*\" cannot be combined"},
        PreconditionsCase{"if_match a tag then *", IfMatch({"\"a\"", "*"}),
                          kInvalid, "if_match: \"*\" cannot be combined"},
        PreconditionsCase{"if_none_match * twice", IfNoneMatch({"*", "*"}),
                          kInvalid, "if_none_match: \"*\" cannot be combined"},

        PreconditionsCase{"if_match over kMaxEntityTags", IfMatch(ManyTags(65)),
                          kInvalid, "if_match lists 65 entity-tags"},
        PreconditionsCase{"if_none_match over kMaxEntityTags",
                          IfNoneMatch(ManyTags(65)), kInvalid,
                          "if_none_match lists 65 entity-tags"},

        // Timestamps within google.protobuf.Timestamp's documented range.
        PreconditionsCase{"zero timestamp", IfModifiedSince(0, 0), kOk, ""},
        PreconditionsCase{"largest nanos",
                          IfModifiedSince(1700000000, 999999999), kOk, ""},
        PreconditionsCase{"earliest timestamp",
                          IfUnmodifiedSince(kMinTimestampSeconds, 0), kOk, ""},
        PreconditionsCase{"latest timestamp",
                          IfUnmodifiedSince(kMaxTimestampSeconds, 999999999),
                          kOk, ""},
        PreconditionsCase{"negative nanos", IfModifiedSince(1700000000, -1),
                          kInvalid,
                          "if_modified_since is not a valid timestamp"},
        PreconditionsCase{"nanos of a whole second",
                          IfModifiedSince(1700000000, 1000000000), kInvalid,
                          "if_modified_since is not a valid timestamp"},
        PreconditionsCase{"if_unmodified_since negative nanos",
                          IfUnmodifiedSince(1700000000, -5), kInvalid,
                          "if_unmodified_since is not a valid timestamp"},
        PreconditionsCase{
            "before year 1", IfUnmodifiedSince(kMinTimestampSeconds - 1, 0),
            kInvalid, "if_unmodified_since is not a valid timestamp"},
        PreconditionsCase{
            "after year 9999", IfModifiedSince(kMaxTimestampSeconds + 1, 0),
            kInvalid, "if_modified_since is not a valid timestamp"}));

TEST(ParsePreconditionsTest, AbsentFieldsStayAbsent) {
  absl::StatusOr<Preconditions> parsed =
      ParsePreconditions(v1::Preconditions());
  ASSERT_THAT(parsed, IsOk());
  EXPECT_FALSE(parsed->if_match.has_value());
  EXPECT_FALSE(parsed->if_none_match.has_value());
  EXPECT_FALSE(parsed->if_modified_since.has_value());
  EXPECT_FALSE(parsed->if_unmodified_since.has_value());
}

TEST(ParsePreconditionsTest, SettingOneFieldLeavesTheOthersAbsent) {
  absl::StatusOr<Preconditions> parsed =
      ParsePreconditions(IfUnmodifiedSince(1700000000, 0));
  ASSERT_THAT(parsed, IsOk());
  EXPECT_FALSE(parsed->if_match.has_value());
  EXPECT_FALSE(parsed->if_none_match.has_value());
  EXPECT_FALSE(parsed->if_modified_since.has_value());
  EXPECT_TRUE(parsed->if_unmodified_since.has_value());
}

TEST(ParsePreconditionsTest, ParsesStrongAndWeakTagsInOrder) {
  absl::StatusOr<Preconditions> parsed =
      ParsePreconditions(IfNoneMatch({"\"a\"", "W/\"b\""}));
  ASSERT_THAT(parsed, IsOk());
  ASSERT_TRUE(parsed->if_none_match.has_value());
  EXPECT_FALSE(parsed->if_none_match->any);
  EXPECT_THAT(parsed->if_none_match->tags,
              ElementsAre(EntityTag{"a", false}, EntityTag{"b", true}));
  EXPECT_FALSE(parsed->if_match.has_value());
}

TEST(ParsePreconditionsTest, StarAloneMeansAnyWithNoTags) {
  absl::StatusOr<Preconditions> parsed = ParsePreconditions(IfMatch({"*"}));
  ASSERT_THAT(parsed, IsOk());
  ASSERT_TRUE(parsed->if_match.has_value());
  EXPECT_TRUE(parsed->if_match->any);
  EXPECT_THAT(parsed->if_match->tags, IsEmpty());
}

TEST(ParsePreconditionsTest, TimestampsKeepSecondsAndNanos) {
  v1::Preconditions proto = IfModifiedSince(1700000000, 250);
  proto.mutable_if_unmodified_since()->set_seconds(-1);
  proto.mutable_if_unmodified_since()->set_nanos(999999999);
  absl::StatusOr<Preconditions> parsed = ParsePreconditions(proto);
  ASSERT_THAT(parsed, IsOk());
  ASSERT_TRUE(parsed->if_modified_since.has_value());
  EXPECT_EQ(*parsed->if_modified_since,
            absl::FromUnixSeconds(1700000000) + absl::Nanoseconds(250));
  ASSERT_TRUE(parsed->if_unmodified_since.has_value());
  EXPECT_EQ(*parsed->if_unmodified_since,
            absl::UnixEpoch() - absl::Nanoseconds(1));
}

TEST(ParsePreconditionsTest, AnExplicitZeroTimestampIsPresent) {
  absl::StatusOr<Preconditions> parsed =
      ParsePreconditions(IfModifiedSince(0, 0));
  ASSERT_THAT(parsed, IsOk());
  ASSERT_TRUE(parsed->if_modified_since.has_value());
  EXPECT_EQ(*parsed->if_modified_since, absl::UnixEpoch());
}

// ---------------------------------------------------------------------------
// ParseHttpMetadata: what a Put may store with its version.

struct MetadataCase {
  std::string description;
  std::function<void(etagd::v1::HttpMetadata&)> set;
  bool valid;
};

std::ostream& operator<<(std::ostream& os, const MetadataCase& c) {
  return os << c.description;
}

class ParseHttpMetadataTest : public testing::TestWithParam<MetadataCase> {};

TEST_P(ParseHttpMetadataTest, AcceptsExactlyValidMetadata) {
  const MetadataCase& c = GetParam();
  etagd::v1::HttpMetadata proto;
  c.set(proto);
  absl::StatusOr<HttpMetadata> parsed = ParseHttpMetadata(proto);
  EXPECT_EQ(parsed.ok(), c.valid) << c.description << ": " << parsed.status();
  if (!c.valid) {
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
  }
}

using M = etagd::v1::HttpMetadata;

INSTANTIATE_TEST_SUITE_P(
    Fields, ParseHttpMetadataTest,
    testing::Values(
        MetadataCase{"empty", [](M&) {}, true},
        MetadataCase{"cache-control list",
                     [](M& m) { m.set_cache_control("public, max-age=60"); },
                     true},
        MetadataCase{"control character",
                     [](M& m) { m.set_cache_control("a\nb"); }, false},
        MetadataCase{"obs-text", [](M& m) { m.set_content_disposition("\xE9"); },
                     false},
        MetadataCase{"leading space",
                     [](M& m) { m.set_content_language(" en"); }, false},
        MetadataCase{"content-encoding gzip",
                     [](M& m) { m.set_content_encoding("gzip"); }, true},
        MetadataCase{"content-encoding list",
                     [](M& m) { m.set_content_encoding("deflate, gzip"); }, true},
        MetadataCase{"content-encoding identity is no coding",
                     [](M& m) { m.set_content_encoding("identity"); }, false},
        MetadataCase{"content-encoding not a token",
                     [](M& m) { m.set_content_encoding("gz ip"); }, false},
        MetadataCase{"content-encoding empty member",
                     [](M& m) { m.set_content_encoding("gzip,,br"); }, false},
        MetadataCase{"expires",
                     [](M& m) { m.mutable_expires()->set_seconds(1767225600); },
                     true},
        MetadataCase{"expires out of range",
                     [](M& m) { m.mutable_expires()->set_nanos(-1); }, false},
        MetadataCase{"user key lowercase",
                     [](M& m) { (*m.mutable_user_metadata())["a-b_c9"] = "v"; },
                     true},
        MetadataCase{"user key uppercase",
                     [](M& m) { (*m.mutable_user_metadata())["Owner"] = "v"; },
                     false},
        MetadataCase{"user key empty",
                     [](M& m) { (*m.mutable_user_metadata())[""] = "v"; }, false},
        MetadataCase{"user key too long",
                     [](M& m) {
                       (*m.mutable_user_metadata())[std::string(129, 'a')] = "v";
                     },
                     false},
        MetadataCase{"user value with newline",
                     [](M& m) { (*m.mutable_user_metadata())["k"] = "a\r\nb"; },
                     false},
        MetadataCase{"64 user entries",
                     [](M& m) {
                       for (int i = 0; i < 64; ++i) {
                         (*m.mutable_user_metadata())[absl::StrCat("k", i)] = "v";
                       }
                     },
                     true},
        MetadataCase{"65 user entries",
                     [](M& m) {
                       for (int i = 0; i < 65; ++i) {
                         (*m.mutable_user_metadata())[absl::StrCat("k", i)] = "v";
                       }
                     },
                     false},
        MetadataCase{"8192 bytes",
                     [](M& m) {
                       m.set_cache_control(std::string(8191, 'a'));
                       (*m.mutable_user_metadata())["k"] = "";
                     },
                     true},
        MetadataCase{"8193 bytes",
                     [](M& m) {
                       m.set_cache_control(std::string(8192, 'a'));
                       (*m.mutable_user_metadata())["k"] = "";
                     },
                     false}));

TEST(HttpMetadataExpiresTest, TruncatesExpiresToWholeSeconds) {
  etagd::v1::HttpMetadata proto;
  proto.mutable_expires()->set_seconds(100);
  proto.mutable_expires()->set_nanos(900000000);
  absl::StatusOr<HttpMetadata> parsed = ParseHttpMetadata(proto);
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->expires, absl::FromUnixSeconds(100));
}

}  // namespace
}  // namespace etagd
