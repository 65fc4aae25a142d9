#include "client/etagctl_args.h"

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace etagd {
namespace {

using ::testing::ElementsAreArray;

// --- SplitEntityTags -------------------------------------------------------

struct SplitCase {
  std::string text;
  std::vector<std::string> tags;
};

void PrintTo(const SplitCase& c, std::ostream* os) {
  *os << "'" << c.text << "'";
}

class SplitEntityTagsTest : public testing::TestWithParam<SplitCase> {};

TEST_P(SplitEntityTagsTest, Splits) {
  absl::StatusOr<std::vector<std::string>> tags =
      SplitEntityTags(GetParam().text);
  ASSERT_THAT(tags, IsOk());
  EXPECT_THAT(*tags, ElementsAreArray(GetParam().tags));
}

INSTANTIATE_TEST_SUITE_P(
    Valid, SplitEntityTagsTest,
    testing::Values(
        // Quoted tags stay as they are.
        SplitCase{R"("abc")", {R"("abc")"}},
        SplitCase{R"("a","b")", {R"("a")", R"("b")"}},
        SplitCase{R"("")", {R"("")"}},
        // A bare tag is taken as strong and quoted.
        SplitCase{"abc", {R"("abc")"}},
        SplitCase{R"(a,"b",c)", {R"("a")", R"("b")", R"("c")"}},
        // Weak tags keep their W/.
        SplitCase{R"(W/"abc")", {R"(W/"abc")"}},
        SplitCase{R"(W/"a", "b")", {R"(W/"a")", R"("b")"}},
        // A comma inside quotes does not split.
        SplitCase{R"("a,b")", {R"("a,b")"}},
        SplitCase{R"("a,b",W/"c,d")", {R"("a,b")", R"(W/"c,d")"}},
        // Whitespace around items is trimmed; empty items are skipped.
        SplitCase{"  \"a\" ,\tb  ", {R"("a")", R"("b")"}},
        SplitCase{R"("a",,"b",)", {R"("a")", R"("b")"}},
        // "*" alone.
        SplitCase{"*", {"*"}}, SplitCase{"  * ", {"*"}},
        // Nothing.
        SplitCase{"", {}}, SplitCase{"   ", {}}));

class SplitEntityTagsInvalidTest : public testing::TestWithParam<std::string> {
};

TEST_P(SplitEntityTagsInvalidTest, IsInvalidArgument) {
  EXPECT_THAT(
      SplitEntityTags(GetParam()),
      StatusIs(absl::StatusCode::kInvalidArgument, "not an entity-tag"));
}

INSTANTIATE_TEST_SUITE_P(
    Invalid, SplitEntityTagsInvalidTest,
    testing::Values(R"("abc)",           // unterminated
                    R"("a,b)",           // unterminated, comma inside
                    R"("a"b)",           // text after the closing quote
                    R"(a"b)",            // a quote inside a bare tag
                    "a b",               // space is not an etagc
                    R"(W/abc)",          // weak without quotes
                    R"(w/"abc")",        // W/ is case-sensitive
                    R"("ok", "x y")"));  // one bad item spoils the list

// --- ParseTimeFlag ---------------------------------------------------------

const absl::Time kMay1Noon = absl::FromCivil(
    absl::CivilSecond(2024, 5, 1, 12, 0, 0), absl::UTCTimeZone());

struct TimeCase {
  std::string text;
  absl::Time time;
};

void PrintTo(const TimeCase& c, std::ostream* os) {
  *os << "'" << c.text << "'";
}

class ParseTimeFlagTest : public testing::TestWithParam<TimeCase> {};

TEST_P(ParseTimeFlagTest, Parses) {
  absl::StatusOr<absl::Time> time = ParseTimeFlag(GetParam().text);
  ASSERT_THAT(time, IsOk());
  EXPECT_EQ(*time, GetParam().time);
}

INSTANTIATE_TEST_SUITE_P(
    Valid, ParseTimeFlagTest,
    testing::Values(
        // RFC 3339.
        TimeCase{"2024-05-01T12:00:00Z", kMay1Noon},
        TimeCase{"2024-05-01T14:00:00+02:00", kMay1Noon},
        TimeCase{"2024-05-01T07:30:00-04:30", kMay1Noon},
        TimeCase{"2024-05-01T12:00:00.25Z",
                 kMay1Noon + absl::Milliseconds(250)},
        // IMF-fixdate (RFC 9110 §5.6.7).
        TimeCase{"Wed, 01 May 2024 12:00:00 GMT", kMay1Noon},
        TimeCase{"Thu, 01 Jan 1970 00:00:00 GMT", absl::UnixEpoch()}));

class ParseTimeFlagInvalidTest : public testing::TestWithParam<std::string> {};

TEST_P(ParseTimeFlagInvalidTest, IsInvalidArgument) {
  EXPECT_THAT(ParseTimeFlag(GetParam()),
              StatusIs(absl::StatusCode::kInvalidArgument, "not a time"));
}

INSTANTIATE_TEST_SUITE_P(
    Invalid, ParseTimeFlagInvalidTest,
    testing::Values("", "yesterday", "2024-05-01",        // date without time
                    "2024-05-01 12:00:00",                // no zone
                    "2024-13-01T12:00:00Z",               // no month 13
                    "01 May 2024 12:00:00 GMT",           // no weekday
                    "Wed, 01 May 2024 12:00:00",          // no GMT
                    "Wednesday, 01-May-24 12:00:00 GMT",  // RFC 850
                    "1714564800"));

// --- NormalizeFlagNames ----------------------------------------------------

struct NormalizeCase {
  std::vector<std::string> argv;
  std::vector<std::string> normalized;
};

void PrintTo(const NormalizeCase& c, std::ostream* os) {
  for (const std::string& arg : c.argv) *os << "'" << arg << "' ";
}

class NormalizeFlagNamesTest : public testing::TestWithParam<NormalizeCase> {};

TEST_P(NormalizeFlagNamesTest, Normalizes) {
  std::vector<std::string> storage = GetParam().argv;
  std::vector<char*> argv;
  for (std::string& arg : storage) argv.push_back(arg.data());
  argv.push_back(nullptr);
  EXPECT_THAT(NormalizeFlagNames(static_cast<int>(storage.size()), argv.data()),
              ElementsAreArray(GetParam().normalized));
}

INSTANTIATE_TEST_SUITE_P(
    Cases, NormalizeFlagNamesTest,
    testing::Values(
        // Dashes in flag names become underscores.
        NormalizeCase{{"etagctl", "--if-match=x", "get", "a"},
                      {"etagctl", "--if_match=x", "get", "a"}},
        NormalizeCase{{"etagctl", "--if-unmodified-since", "t", "get", "a"},
                      {"etagctl", "--if_unmodified_since", "t", "get", "a"}},
        // Underscores and dash-free names are left alone.
        NormalizeCase{{"etagctl", "--if_none_match=*", "--target=h:1", "list"},
                      {"etagctl", "--if_none_match=*", "--target=h:1", "list"}},
        // Values keep their dashes, after "=" or as the next argument.
        NormalizeCase{{"etagctl", "--request-id=a-b-c", "put", "n"},
                      {"etagctl", "--request_id=a-b-c", "put", "n"}},
        NormalizeCase{{"etagctl", "--content-type", "text/x-c", "put", "n"},
                      {"etagctl", "--content_type", "text/x-c", "put", "n"}},
        NormalizeCase{{"etagctl", "--value=--not-a-flag", "put", "n"},
                      {"etagctl", "--value=--not-a-flag", "put", "n"}},
        // Operands are left alone.
        NormalizeCase{{"etagctl", "get", "my-resource-name"},
                      {"etagctl", "get", "my-resource-name"}},
        NormalizeCase{{"etagctl", "put", "-dashed-name"},
                      {"etagctl", "put", "-dashed-name"}},
        // Nothing after "--" is a flag.
        NormalizeCase{{"etagctl", "--page-size=2", "--", "--if-match", "x-y"},
                      {"etagctl", "--page_size=2", "--", "--if-match", "x-y"}},
        // The program name is not a flag.
        NormalizeCase{{"--odd-program-name", "list"},
                      {"--odd-program-name", "list"}},
        NormalizeCase{{"etagctl"}, {"etagctl"}}));

}  // namespace
}  // namespace etagd
