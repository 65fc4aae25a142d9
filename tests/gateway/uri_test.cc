#include "gateway/uri.h"

#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace etagd {
namespace {

using ::testing::ElementsAreArray;
using ::testing::IsEmpty;

// ---------------------------------------------------------------------------
// PercentDecode (RFC 3986 §2.1).

struct DecodeCase {
  std::string rule;
  std::string text;
  std::string expected;
};

std::ostream& operator<<(std::ostream& os, const DecodeCase& c) {
  return os << c.rule;
}

class PercentDecodeTest : public testing::TestWithParam<DecodeCase> {};

TEST_P(PercentDecodeTest, DecodesPerRfc3986Section2_1) {
  const DecodeCase& c = GetParam();
  absl::StatusOr<std::string> got = PercentDecode(c.text);
  ASSERT_THAT(got, IsOk()) << c.rule;
  EXPECT_EQ(*got, c.expected) << c.rule;
}

INSTANTIATE_TEST_SUITE_P(
    Rfc3986, PercentDecodeTest,
    testing::Values(
        DecodeCase{"empty", "", ""},
        DecodeCase{"no escapes", "a/b-c.d_e~f", "a/b-c.d_e~f"},
        // §2.1: pct-encoded = "%" HEXDIG HEXDIG, either case.
        DecodeCase{"2.1 space", "a%20b", "a b"},
        DecodeCase{"2.1 uppercase hex", "%2F", "/"},
        DecodeCase{"2.1 lowercase hex", "%2f", "/"},
        DecodeCase{"2.1 mixed-case hex", "%4a%4A", "JJ"},
        DecodeCase{"2.1 consecutive escapes", "%41%42%43", "ABC"},
        DecodeCase{"2.1 escape at the start and end", "%41x%42", "AxB"},
        DecodeCase{"2.1 NUL byte", "a%00b", std::string("a\0b", 3)},
        DecodeCase{"2.1 high byte", "%FF", "\xff"},
        DecodeCase{"2.1 UTF-8 bytes", "caf%C3%A9", "caf\xc3\xa9"},
        DecodeCase{"2.1 an encoded percent", "%25", "%"},
        // §2.4: decode exactly once.
        DecodeCase{"2.4 decodes once", "%2541", "%41"},
        // A path is not a form: "+" stays "+".
        DecodeCase{"plus stays plus", "a+b", "a+b"},
        DecodeCase{"encoded plus", "%2B", "+"}));

struct DecodeErrorCase {
  std::string rule;
  std::string text;
  // The offset the message names.
  std::string offset;
};

std::ostream& operator<<(std::ostream& os, const DecodeErrorCase& c) {
  return os << c.rule;
}

class PercentDecodeErrorTest : public testing::TestWithParam<DecodeErrorCase> {
};

TEST_P(PercentDecodeErrorTest, RejectsAPercentWithoutTwoHexDigits) {
  const DecodeErrorCase& c = GetParam();
  EXPECT_THAT(PercentDecode(c.text),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "at offset " + c.offset + ":"))
      << c.rule;
}

INSTANTIATE_TEST_SUITE_P(
    Rfc3986, PercentDecodeErrorTest,
    testing::Values(DecodeErrorCase{"2.1 percent alone", "%", "0"},
                    DecodeErrorCase{"2.1 percent at the end", "abc%", "3"},
                    DecodeErrorCase{"2.1 one hex digit at the end", "ab%4",
                                    "2"},
                    DecodeErrorCase{"2.1 non-hex first digit", "%G0", "0"},
                    DecodeErrorCase{"2.1 non-hex second digit", "a%0G", "1"},
                    DecodeErrorCase{"2.1 double percent", "%%41", "0"},
                    DecodeErrorCase{"2.1 space inside an escape", "% 41", "0"},
                    DecodeErrorCase{"2.1 sign inside an escape", "%-1", "0"},
                    DecodeErrorCase{"2.1 bad escape after a good one",
                                    "%41%4", "3"}));

// ---------------------------------------------------------------------------
// PercentEncodePath.

struct EncodeCase {
  std::string rule;
  std::string text;
  std::string expected;
};

std::ostream& operator<<(std::ostream& os, const EncodeCase& c) {
  return os << c.rule;
}

class PercentEncodePathTest : public testing::TestWithParam<EncodeCase> {};

TEST_P(PercentEncodePathTest, EncodesAllButUnreservedAndSlash) {
  const EncodeCase& c = GetParam();
  EXPECT_EQ(PercentEncodePath(c.text), c.expected) << c.rule;
}

INSTANTIATE_TEST_SUITE_P(
    Rfc3986, PercentEncodePathTest,
    testing::Values(
        EncodeCase{"empty", "", ""},
        // §2.3: unreserved = ALPHA / DIGIT / "-" / "." / "_" / "~".
        EncodeCase{"2.3 letters and digits",
                   "abcxyzABCXYZ0123456789", "abcxyzABCXYZ0123456789"},
        EncodeCase{"2.3 unreserved marks", "-._~", "-._~"},
        EncodeCase{"slash separates segments", "/a/b/", "/a/b/"},
        // §2.1: uppercase hexadecimal digits.
        EncodeCase{"2.1 space", "a b", "a%20b"},
        EncodeCase{"2.1 percent", "100%", "100%25"},
        EncodeCase{"2.2 gen-delims", ":?#[]@", "%3A%3F%23%5B%5D%40"},
        EncodeCase{"2.2 sub-delims", "!$&'()*+,;=",
                   "%21%24%26%27%28%29%2A%2B%2C%3B%3D"},
        EncodeCase{"other ASCII", "\"<>\\^`{|}", "%22%3C%3E%5C%5E%60%7B%7C%7D"},
        EncodeCase{"controls", std::string("\0\t\n\x7f", 4), "%00%09%0A%7F"},
        EncodeCase{"UTF-8 bytes one by one", "caf\xc3\xa9", "caf%C3%A9"},
        EncodeCase{"high byte", "\xff", "%FF"}));

TEST(PercentEncodePathTest, RoundTripsEveryByteThroughPercentDecode) {
  std::string all;
  for (int c = 0; c < 256; ++c) all.push_back(static_cast<char>(c));
  absl::StatusOr<std::string> decoded = PercentDecode(PercentEncodePath(all));
  ASSERT_THAT(decoded, IsOk());
  EXPECT_EQ(*decoded, all);
}

// ---------------------------------------------------------------------------
// ParseQuery (application/x-www-form-urlencoded style).

using Pairs = std::vector<std::pair<std::string, std::string>>;

struct QueryCase {
  std::string rule;
  std::string query;
  Pairs expected;
};

std::ostream& operator<<(std::ostream& os, const QueryCase& c) {
  return os << c.rule;
}

class ParseQueryTest : public testing::TestWithParam<QueryCase> {};

TEST_P(ParseQueryTest, SplitsAndDecodesPairs) {
  const QueryCase& c = GetParam();
  absl::StatusOr<Pairs> got = ParseQuery(c.query);
  ASSERT_THAT(got, IsOk()) << c.rule;
  EXPECT_THAT(*got, ElementsAreArray(c.expected)) << c.rule;
}

INSTANTIATE_TEST_SUITE_P(
    Query, ParseQueryTest,
    testing::Values(
        QueryCase{"the header's example", "a=1&b=x%20y",
                  {{"a", "1"}, {"b", "x y"}}},
        QueryCase{"empty query", "", {}},
        QueryCase{"one pair", "prefix=users/", {{"prefix", "users/"}}},
        QueryCase{"plus is a space", "q=a+b", {{"q", "a b"}}},
        QueryCase{"plus in the key is a space", "a+b=c", {{"a b", "c"}}},
        QueryCase{"encoded plus is a plus", "q=a%2Bb", {{"q", "a+b"}}},
        QueryCase{"encoded ampersand and equals stay in the value",
                  "q=a%26b%3Dc", {{"q", "a&b=c"}}},
        QueryCase{"key without =", "flag", {{"flag", ""}}},
        QueryCase{"key with empty value", "a=", {{"a", ""}}},
        QueryCase{"empty key", "=v", {{"", "v"}}},
        QueryCase{"only =", "=", {{"", ""}}},
        QueryCase{"value split at the first = only", "a=b=c", {{"a", "b=c"}}},
        QueryCase{"empty parts are skipped", "&&a=1&&b=2&",
                  {{"a", "1"}, {"b", "2"}}},
        QueryCase{"only ampersands", "&&", {}},
        QueryCase{"repeated keys are kept in order", "a=1&a=2&b=3&a=4",
                  {{"a", "1"}, {"a", "2"}, {"b", "3"}, {"a", "4"}}},
        QueryCase{"UTF-8 in keys and values", "%C3%A9=caf%C3%A9",
                  {{"\xc3\xa9", "caf\xc3\xa9"}}}));

struct QueryErrorCase {
  std::string rule;
  std::string query;
};

std::ostream& operator<<(std::ostream& os, const QueryErrorCase& c) {
  return os << c.rule;
}

class ParseQueryErrorTest : public testing::TestWithParam<QueryErrorCase> {};

TEST_P(ParseQueryErrorTest, RejectsBadPercentEncoding) {
  const QueryErrorCase& c = GetParam();
  EXPECT_THAT(ParseQuery(c.query),
              StatusIs(absl::StatusCode::kInvalidArgument, "percent-encoding"))
      << c.rule;
}

INSTANTIATE_TEST_SUITE_P(
    Query, ParseQueryErrorTest,
    testing::Values(QueryErrorCase{"bad escape in a value", "a=%zz"},
                    QueryErrorCase{"truncated escape in a value", "a=%4"},
                    QueryErrorCase{"bad escape in a key", "%zz=1"},
                    QueryErrorCase{"bad escape in a later pair", "a=1&b=%"},
                    QueryErrorCase{"bad escape in a key without =", "%"}));

}  // namespace
}  // namespace etagd
