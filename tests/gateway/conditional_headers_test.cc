#include "gateway/conditional_headers.h"

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/entity_tag.h"
#include "service/precondition.h"
#include "tests/testing/status_matchers.h"

namespace etagd {
namespace {

using ::testing::ElementsAreArray;
using ::testing::IsEmpty;

// The field lines of one request, as the parser receives them.
std::vector<absl::string_view> Lines(const std::vector<std::string>& lines) {
  return std::vector<absl::string_view>(lines.begin(), lines.end());
}

absl::Time Utc(int64_t year, int month, int day, int hour, int minute,
               int second) {
  return absl::FromCivil(
      absl::CivilSecond(year, month, day, hour, minute, second),
      absl::UTCTimeZone());
}

// The instant of RFC 9110 §5.6.7's examples.
const absl::Time kExample = Utc(1994, 11, 6, 8, 49, 37);
const absl::Time kNow = Utc(2024, 6, 15, 12, 0, 0);

// ---------------------------------------------------------------------------
// If-Match / If-None-Match: "*" / #entity-tag (§13.1.1, §13.1.2).

struct ListCase {
  // The RFC 9110 section the case pins down, and what it shows.
  std::string rule;
  std::vector<std::string> lines;
  std::vector<std::string> expected;
};

std::ostream& operator<<(std::ostream& os, const ListCase& c) {
  return os << c.rule;
}

class EntityTagListTest : public testing::TestWithParam<ListCase> {};

TEST_P(EntityTagListTest, AcceptsPerRfc9110Section13_1_1) {
  const ListCase& c = GetParam();
  for (absl::string_view field : {"If-Match", "If-None-Match"}) {
    absl::StatusOr<std::vector<std::string>> got =
        ParseEntityTagListField(field, Lines(c.lines));
    ASSERT_THAT(got, IsOk()) << c.rule;
    EXPECT_THAT(*got, ElementsAreArray(c.expected)) << c.rule;
  }
}

// The form precondition.h evaluates has the same members, parsed.
TEST_P(EntityTagListTest, ConditionFormHoldsTheSameMembers) {
  const ListCase& c = GetParam();
  absl::StatusOr<std::optional<EntityTagCondition>> got =
      ParseEntityTagConditionField("If-None-Match", Lines(c.lines));
  ASSERT_THAT(got, IsOk()) << c.rule;
  ASSERT_TRUE(got->has_value()) << c.rule;
  std::vector<std::string> members;
  if ((*got)->any) members.push_back("*");
  for (const EntityTag& tag : (*got)->tags) members.push_back(FormatEntityTag(tag));
  EXPECT_THAT(members, ElementsAreArray(c.expected)) << c.rule;
}

INSTANTIATE_TEST_SUITE_P(
    Rfc9110, EntityTagListTest,
    testing::Values(
        // §8.8.3: strong and weak entity-tags keep their form.
        ListCase{"8.8.3 one strong tag", {"\"a\""}, {"\"a\""}},
        ListCase{"8.8.3 one weak tag", {"W/\"a\""}, {"W/\"a\""}},
        ListCase{"8.8.3 the empty opaque-tag", {"\"\""}, {"\"\""}},
        ListCase{"8.8.3 etagc includes ! # ~ and obs-text",
                 {"\"!#~\x80\xff\""},
                 {"\"!#~\x80\xff\""}},
        ListCase{"8.8.3 a comma inside the quotes is etagc", {"\"a,b\""},
                 {"\"a,b\""}},

        // §5.6.1: #entity-tag is comma-separated with OWS around commas.
        ListCase{"5.6.1 strong and weak in one line", {"\"a\", W/\"b\""},
                 {"\"a\"", "W/\"b\""}},
        ListCase{"5.6.1 no whitespace around the comma", {"\"a\",\"b\""},
                 {"\"a\"", "\"b\""}},
        ListCase{"5.6.1 tabs are OWS", {"\t\"a\"\t,\tW/\"b\"\t"},
                 {"\"a\"", "W/\"b\""}},
        ListCase{"5.6.1 spaces before and after the list",
                 {"   \"a\" ,  \"b\"   "},
                 {"\"a\"", "\"b\""}},
        ListCase{"5.6.1 order is kept", {"\"c\", \"a\", \"b\""},
                 {"\"c\"", "\"a\"", "\"b\""}},

        // §5.6.1.2: recipients accept and ignore empty list elements.
        ListCase{"5.6.1.2 empty elements around a tag", {",,\"a\" ,"},
                 {"\"a\""}},
        ListCase{"5.6.1.2 empty elements between tags",
                 {"\"a\", , ,\"b\""},
                 {"\"a\"", "\"b\""}},
        ListCase{"5.6.1.2 leading comma", {", \"a\""}, {"\"a\""}},

        // §5.3: a list split over several field lines is one list.
        ListCase{"5.3 two field lines are combined", {"\"a\"", "W/\"b\""},
                 {"\"a\"", "W/\"b\""}},
        ListCase{"5.3 lists on several lines keep line order",
                 {"\"a\", \"b\"", "\"c\"", "W/\"d\", \"e\""},
                 {"\"a\"", "\"b\"", "\"c\"", "W/\"d\"", "\"e\""}},
        ListCase{"5.3 an empty line among others is an empty element",
                 {"\"a\"", "", " , "},
                 {"\"a\""}},

        // §13.1.1 / §13.1.2: "*" alone.
        ListCase{"13.1.1 star alone", {"*"}, {"*"}},
        ListCase{"13.1.1 star with OWS", {" \t* "}, {"*"}}));

TEST(EntityTagListTest, NoFieldLinesIsAnEmptyListNotAnError) {
  absl::StatusOr<std::vector<std::string>> got =
      ParseEntityTagListField("If-Match", {});
  ASSERT_THAT(got, IsOk());
  EXPECT_THAT(*got, IsEmpty());
}

TEST(EntityTagListTest, NoFieldLinesIsNoCondition) {
  absl::StatusOr<std::optional<EntityTagCondition>> got =
      ParseEntityTagConditionField("If-Match", {});
  ASSERT_THAT(got, IsOk());
  EXPECT_FALSE(got->has_value());
}

struct ListErrorCase {
  std::string rule;
  std::string field;
  std::vector<std::string> lines;
  // A fragment the message must contain besides the field name: the
  // offending line as CHexEscape writes it after "got: ", or what is wrong.
  std::string fragment;
};

std::ostream& operator<<(std::ostream& os, const ListErrorCase& c) {
  return os << c.rule;
}

class EntityTagListErrorTest : public testing::TestWithParam<ListErrorCase> {};

TEST_P(EntityTagListErrorTest, RejectsWithAMessageNamingTheField) {
  const ListErrorCase& c = GetParam();
  absl::StatusOr<std::vector<std::string>> got =
      ParseEntityTagListField(c.field, Lines(c.lines));
  EXPECT_THAT(got, StatusIs(absl::StatusCode::kInvalidArgument, c.field))
      << c.rule;
  EXPECT_THAT(got, StatusIs(absl::StatusCode::kInvalidArgument, c.fragment))
      << c.rule;
}

TEST_P(EntityTagListErrorTest, ConditionFormRejectsWithTheSameError) {
  const ListErrorCase& c = GetParam();
  EXPECT_EQ(ParseEntityTagConditionField(c.field, Lines(c.lines)).status(),
            ParseEntityTagListField(c.field, Lines(c.lines)).status())
      << c.rule;
}

INSTANTIATE_TEST_SUITE_P(
    Rfc9110, EntityTagListErrorTest,
    testing::Values(
        // §13.1.1: If-Match = "*" / #entity-tag: "*" is never a list member.
        ListErrorCase{"13.1.1 star combined with a tag in another line",
                      "If-Match", {"*", "\"a\""}, "\"*\" cannot be combined"},
        ListErrorCase{"13.1.2 star combined with a tag in another line",
                      "If-None-Match", {"\"a\"", "*"},
                      "\"*\" cannot be combined"},
        ListErrorCase{"13.1.1 star and a tag in one line", "If-Match",
                      {"*, \"a\""}, "\"*\" cannot be combined"},
        ListErrorCase{"13.1.1 star twice", "If-Match", {"*", "*"},
                      "\"*\" cannot be combined"},
        ListErrorCase{"13.1.1 star followed by text", "If-Match", {"*a"},
                      "got: *a"},
        ListErrorCase{"13.1.1 star twice in one element", "If-None-Match",
                      {"**"}, "got: **"},

        // §8.8.3: an opaque-tag is quoted.
        ListErrorCase{"8.8.3 unquoted token", "If-Match", {"abc"}, "got: abc"},
        ListErrorCase{"8.8.3 unquoted token names If-None-Match",
                      "If-None-Match", {"xyzzy"}, "got: xyzzy"},
        ListErrorCase{"8.8.3 unquoted token after a valid tag", "If-Match",
                      {"\"a\", b"}, "got: \\\"a\\\", b"},
        ListErrorCase{"8.8.3 unquoted token in a second line", "If-Match",
                      {"\"a\"", "v2"}, "got: v2"},
        ListErrorCase{"8.8.3 unterminated opaque-tag", "If-Match",
                      {"\"abc"}, "got: \\\"abc"},
        ListErrorCase{"8.8.3 W/ is case-sensitive", "If-None-Match",
                      {"w/\"a\""}, "got: w/\\\"a\\\""},
        ListErrorCase{"8.8.3 no space after W/", "If-None-Match",
                      {"W/ \"a\""}, "got: W/ \\\"a\\\""},
        ListErrorCase{"8.8.3 W/ alone", "If-None-Match", {"W/"}, "got: W/"},
        ListErrorCase{"8.8.3 space is not etagc", "If-Match", {"\"a b\""},
                      "got: \\\"a b\\\""},
        ListErrorCase{"8.8.3 text after the closing quote", "If-Match",
                      {"\"a\"b"}, "got: \\\"a\\\"b"},

        // §5.6.1: list members are separated by commas.
        ListErrorCase{"5.6.1 two tags without a comma", "If-Match",
                      {"\"a\" \"b\""}, "got: \\\"a\\\" \\\"b\\\""},
        ListErrorCase{"5.6.1 semicolon is not a separator", "If-Match",
                      {"\"a\"; \"b\""}, "got: \\\"a\\\"; \\\"b\\\""},

        // §13.1.1: "*" or at least one entity-tag is required; a field
        // whose value is empty carries neither.
        ListErrorCase{"13.1.1 empty field value", "If-Match", {""},
                      "comma-separated list"},
        ListErrorCase{"13.1.1 field value of only OWS", "If-None-Match",
                      {" \t "}, "comma-separated list"},
        ListErrorCase{"13.1.1 field value of only commas", "If-Match",
                      {", ,"}, "comma-separated list"},
        ListErrorCase{"13.1.1 several empty field lines", "If-None-Match",
                      {"", ""}, "comma-separated list"}));

// ---------------------------------------------------------------------------
// If-Modified-Since / If-Unmodified-Since (§13.1.3, §13.1.4).

struct DateFieldCase {
  std::string rule;
  std::vector<std::string> lines;
  std::optional<absl::Time> expected;
};

std::ostream& operator<<(std::ostream& os, const DateFieldCase& c) {
  return os << c.rule;
}

class DateFieldTest : public testing::TestWithParam<DateFieldCase> {};

TEST_P(DateFieldTest, ParsesOrIgnoresPerRfc9110Section13_1_3) {
  const DateFieldCase& c = GetParam();
  std::optional<absl::Time> got = ParseDateField(Lines(c.lines), kNow);
  ASSERT_EQ(got.has_value(), c.expected.has_value()) << c.rule;
  if (c.expected.has_value()) {
    EXPECT_EQ(*got, *c.expected) << c.rule;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rfc9110, DateFieldTest,
    testing::Values(
        // §13.1.3 / §13.1.4: the field value is one HTTP-date, any format.
        DateFieldCase{"13.1.3 IMF-fixdate", {"Sun, 06 Nov 1994 08:49:37 GMT"},
                      kExample},
        DateFieldCase{"13.1.3 rfc850-date", {"Sunday, 06-Nov-94 08:49:37 GMT"},
                      kExample},
        DateFieldCase{"13.1.3 asctime-date", {"Sun Nov  6 08:49:37 1994"},
                      kExample},
        // §5.5: OWS around a field value is not part of it.
        DateFieldCase{"5.5 surrounding OWS is stripped",
                      {" \tSun, 06 Nov 1994 08:49:37 GMT \t"}, kExample},

        // §13.1.3 / §13.1.4: "A recipient MUST ignore the ... header field
        // if the received field value is not a valid HTTP-date, or if the
        // field value has more than one member".
        DateFieldCase{"13.1.3 absent field", {}, std::nullopt},
        DateFieldCase{"13.1.3 empty value ignored", {""}, std::nullopt},
        DateFieldCase{"13.1.3 garbage ignored", {"yesterday"}, std::nullopt},
        DateFieldCase{"13.1.3 seconds since the epoch ignored", {"784111777"},
                      std::nullopt},
        DateFieldCase{"13.1.3 impossible date ignored",
                      {"Sat, 31 Feb 2024 00:00:00 GMT"}, std::nullopt},
        DateFieldCase{"13.1.3 lowercase date ignored",
                      {"sun, 06 nov 1994 08:49:37 gmt"}, std::nullopt},
        DateFieldCase{"13.1.4 repeated field line ignored",
                      {"Sun, 06 Nov 1994 08:49:37 GMT",
                       "Sun, 06 Nov 1994 08:49:37 GMT"},
                      std::nullopt},
        DateFieldCase{"13.1.4 two different dates ignored",
                      {"Sun, 06 Nov 1994 08:49:37 GMT",
                       "Thu, 01 Jan 1970 00:00:00 GMT"},
                      std::nullopt},
        DateFieldCase{"13.1.4 a valid line with an invalid one ignored",
                      {"Sun, 06 Nov 1994 08:49:37 GMT", "garbage"},
                      std::nullopt},
        DateFieldCase{"13.1.4 two members in one line ignored",
                      {"Sun, 06 Nov 1994 08:49:37 GMT, "
                       "Sun, 06 Nov 1994 08:49:37 GMT"},
                      std::nullopt}));

TEST(DateFieldTest, InterpretsTwoDigitYearsRelativeToNow) {
  const std::vector<std::string> lines = {"Saturday, 06-Nov-94 08:49:37 GMT"};
  std::optional<absl::Time> got =
      ParseDateField(Lines(lines), Utc(2060, 1, 1, 0, 0, 0));
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, Utc(2094, 11, 6, 8, 49, 37));
}

// ---------------------------------------------------------------------------
// Range (§14.1.1, §14.1.2, §14.2).

std::string OutcomeName(RangeOutcome outcome) {
  switch (outcome) {
    case RangeOutcome::kIgnore:
      return "ignore";
    case RangeOutcome::kPartial:
      return "partial";
    case RangeOutcome::kUnsatisfiable:
      return "unsatisfiable";
  }
  return "unknown";
}

struct RangeCase {
  std::string rule;
  std::vector<std::string> lines;
  uint64_t length;
  RangeOutcome outcome;
  // The resolved range; checked only for kPartial.
  uint64_t first;
  uint64_t last;
};

std::ostream& operator<<(std::ostream& os, const RangeCase& c) {
  return os << c.rule;
}

RangeCase Partial(std::string rule, std::string value, uint64_t length,
                  uint64_t first, uint64_t last) {
  return {std::move(rule), {std::move(value)}, length, RangeOutcome::kPartial,
          first, last};
}
RangeCase Unsatisfiable(std::string rule, std::string value, uint64_t length) {
  return {std::move(rule), {std::move(value)}, length,
          RangeOutcome::kUnsatisfiable, 0, 0};
}
RangeCase Ignored(std::string rule, std::vector<std::string> lines,
                  uint64_t length) {
  return {std::move(rule), std::move(lines), length, RangeOutcome::kIgnore, 0,
          0};
}

class DecideRangeTest : public testing::TestWithParam<RangeCase> {};

TEST_P(DecideRangeTest, DecidesPerRfc9110Section14) {
  const RangeCase& c = GetParam();
  RangeDecision got = DecideRange(Lines(c.lines), c.length);
  ASSERT_EQ(OutcomeName(got.outcome), OutcomeName(c.outcome)) << c.rule;
  if (c.outcome == RangeOutcome::kPartial) {
    EXPECT_EQ(got.range.first, c.first) << c.rule;
    EXPECT_EQ(got.range.last, c.last) << c.rule;
  }
}

constexpr uint64_t kMax = UINT64_MAX;

INSTANTIATE_TEST_SUITE_P(
    Rfc9110, DecideRangeTest,
    testing::Values(
        // §14.1.2: int-range = first-pos "-" [ last-pos ], inclusive
        // offsets starting at zero.
        Partial("14.1.2 first byte", "bytes=0-0", 10, 0, 0),
        Partial("14.1.2 first five bytes", "bytes=0-4", 10, 0, 4),
        Partial("14.1.2 middle bytes", "bytes=2-5", 10, 2, 5),
        Partial("14.1.2 last byte by position", "bytes=9-9", 10, 9, 9),
        Partial("14.1.2 the whole representation is still a range",
                "bytes=0-9", 10, 0, 9),
        Partial("14.1.2 leading zeros are digits", "bytes=00-0004", 10, 0, 4),
        Partial("14.1.2 length 1", "bytes=0-0", 1, 0, 0),

        // §14.1.2: "If the last-pos value is absent, or if the value is
        // greater than or equal to the current length of the representation
        // data, the byte range is interpreted as the remainder".
        Partial("14.1.2 open range", "bytes=5-", 10, 5, 9),
        Partial("14.1.2 open range from zero", "bytes=0-", 10, 0, 9),
        Partial("14.1.2 open range at the last byte", "bytes=9-", 10, 9, 9),
        Partial("14.1.2 last beyond length is clamped", "bytes=0-100", 10, 0,
                9),
        Partial("14.1.2 last equal to length is clamped", "bytes=8-10", 10, 8,
                9),

        // §14.1.2: suffix-range = "-" suffix-length: the last N bytes, or
        // the entire representation if it is shorter.
        Partial("14.1.2 last byte by suffix", "bytes=-1", 10, 9, 9),
        Partial("14.1.2 last three bytes", "bytes=-3", 10, 7, 9),
        Partial("14.1.2 suffix equal to the length", "bytes=-10", 10, 0, 9),
        Partial("14.1.2 suffix longer than the length is the whole",
                "bytes=-5", 3, 0, 2),

        // §14.1.2: satisfiable only if first-pos < length, or for a
        // suffix-range with a non-zero suffix-length; otherwise 416
        // (§15.5.17).
        Unsatisfiable("14.1.2 open range past the end", "bytes=5-", 3),
        Unsatisfiable("14.1.2 open range at the length", "bytes=10-", 10),
        Unsatisfiable("14.1.2 closed range past the end", "bytes=10-20", 10),
        Unsatisfiable("14.1.2 zero suffix-length", "bytes=-0", 10),
        Unsatisfiable("14.1.2 zero suffix-length on length 0", "bytes=-0", 0),
        Ignored("14.1.2 a non-zero suffix on length 0 is satisfiable: 200",
                {"bytes=-5"}, 0),
        Unsatisfiable("14.1.2 length 0 has no first byte", "bytes=0-", 0),
        Unsatisfiable("14.1.2 length 0 has no byte 0", "bytes=0-0", 0),

        // §14.1.1: "An int-range is invalid if the last-pos value is present
        // and less than the first-pos"; §14.2: a server may ignore a Range
        // with an invalid ranges-specifier.
        Ignored("14.1.1 last before first", {"bytes=3-1"}, 10),
        Ignored("14.1.1 last before first by one", {"bytes=1-0"}, 10),
        Ignored("14.1.1 last before first even past the end", {"bytes=20-15"},
                10),

        // §14.2: a server MAY ignore the Range field; this one serves a
        // single range only, so a list of several is ignored.
        Ignored("14.2 two ranges", {"bytes=0-1,3-4"}, 10),
        Ignored("14.2 two ranges with OWS", {"bytes=0-1, 3-4"}, 10),
        Ignored("14.2 suffix and int ranges", {"bytes=-1,0-0"}, 10),
        Ignored("14.2 ranges over two field lines", {"bytes=0-1", "bytes=3-4"},
                10),
        Ignored("14.2 no Range field", {}, 10),

        // §14.1: range-unit is case-insensitive; only "bytes" is known.
        Partial("14.1 BYTES is bytes", "BYTES=0-1", 10, 0, 1),
        Partial("14.1 Bytes is bytes", "Bytes=-2", 10, 8, 9),
        Ignored("14.1 unknown unit", {"items=0-1"}, 10),
        Ignored("14.1 singular byte is another unit", {"byte=0-1"}, 10),
        Ignored("14.1 a longer unit name", {"bytesx=0-1"}, 10),
        Ignored("14.1 no space before =", {"bytes =0-1"}, 10),
        Ignored("14.1 no =", {"bytes 0-1"}, 10),
        Ignored("14.1 unit alone", {"bytes"}, 10),

        // §5.5: OWS around the field value is not part of it.
        Partial("5.5 surrounding OWS is stripped", " \tbytes=0-1 \t", 10, 0, 1),

        // §14.1.2: first-pos, last-pos and suffix-length are 1*DIGIT.
        Ignored("14.1.2 empty range-set", {"bytes="}, 10),
        Ignored("14.1.2 dash alone", {"bytes=-"}, 10),
        Ignored("14.1.2 no dash", {"bytes=1"}, 10),
        Ignored("14.1.2 letters", {"bytes=a-b"}, 10),
        Ignored("14.1.2 plus sign on first-pos", {"bytes=+1-2"}, 10),
        Ignored("14.1.2 plus sign on last-pos", {"bytes=1-+2"}, 10),
        Ignored("14.1.2 negative suffix", {"bytes=--1"}, 10),
        Ignored("14.1.2 hexadecimal", {"bytes=0x1-2"}, 10),
        Ignored("14.1.2 space inside a range", {"bytes=1 -2"}, 10),
        Ignored("14.1.2 two dashes", {"bytes=1-2-3"}, 10),
        Ignored("14.1.2 suffix with a dash", {"bytes=-1-2"}, 10),

        // §14.1.2: "recipients need to anticipate potentially large decimal
        // numerals". Up to 19 digits always fit in 64 bits.
        Unsatisfiable("14.1.2 19-digit first-pos past the end",
                      "bytes=9999999999999999999-", 10),
        Partial("14.1.2 19-digit last-pos is clamped",
                "bytes=0-9999999999999999999", 10, 0, 9),
        Partial("14.1.2 19-digit suffix is the whole",
                "bytes=-9999999999999999999", 10, 0, 9),
        Partial("14.1.2 suffix on the largest length", "bytes=-1", kMax,
                kMax - 1, kMax - 1),
        Partial("14.1.2 open range on the largest length",
                "bytes=9999999999999999999-", kMax, 9999999999999999999u,
                kMax - 1),
        // Numerals that do not fit in 64 bits make the field ignored (§14.2
        // allows ignoring any Range), and never wrap around to a small
        // offset.
        Ignored("14.2 first-pos of 2^64", {"bytes=18446744073709551616-"}, 10),
        Ignored("14.2 last-pos of 2^64", {"bytes=0-18446744073709551616"}, 10),
        Ignored("14.2 suffix-length of 2^64 + 1",
                {"bytes=-18446744073709551617"}, 10)));

// ---------------------------------------------------------------------------
// If-Range (§13.1.5).

// The representation's last modification, 22:13:30.5 UTC, i.e. 22:13:30 as
// an HTTP-date (which has one-second resolution).
const absl::Time kModified = absl::FromUnixMillis(1700000010500);

struct IfRangeCase {
  std::string rule;
  std::string field;
  std::string current_etag;
  bool expected;
};

std::ostream& operator<<(std::ostream& os, const IfRangeCase& c) {
  return os << c.rule;
}

class IfRangeTest : public testing::TestWithParam<IfRangeCase> {};

TEST_P(IfRangeTest, HoldsPerRfc9110Section13_1_5) {
  const IfRangeCase& c = GetParam();
  EXPECT_EQ(IfRangeHolds(c.field, c.current_etag, kModified), c.expected)
      << c.rule;
}

INSTANTIATE_TEST_SUITE_P(
    Rfc9110, IfRangeTest,
    testing::Values(
        // §13.1.5: "If the entity-tag validator provided exactly matches the
        // ETag field value ... the condition is true" (strong comparison);
        // a weak tag never matches.
        IfRangeCase{"13.1.5 same strong tag holds", "\"v2\"", "\"v2\"", true},
        IfRangeCase{"13.1.5 surrounding OWS is stripped", " \t\"v2\" ",
                    "\"v2\"", true},
        IfRangeCase{"13.1.5 empty opaque-tags match", "\"\"", "\"\"", true},
        IfRangeCase{"13.1.5 another tag fails", "\"v1\"", "\"v2\"", false},
        IfRangeCase{"13.1.5 opaque-tags compare case-sensitively", "\"V2\"",
                    "\"v2\"", false},
        IfRangeCase{"13.1.5 weak field tag fails", "W/\"v2\"", "\"v2\"",
                    false},
        IfRangeCase{"13.1.5 weak field and weak current fail", "W/\"v2\"",
                    "W/\"v2\"", false},
        IfRangeCase{"13.1.5 weak current tag fails", "\"v2\"", "W/\"v2\"",
                    false},
        IfRangeCase{"13.1.5 a list is not one validator", "\"v2\", \"v3\"",
                    "\"v2\"", false},
        IfRangeCase{"13.1.5 * is not a validator", "*", "\"v2\"", false},
        IfRangeCase{"13.1.5 unterminated tag fails", "\"v2", "\"v2\"", false},
        IfRangeCase{"13.1.5 lowercase w/ is not a weak tag", "w/\"v2\"",
                    "\"v2\"", false},
        IfRangeCase{"13.1.5 unquoted current etag never matches", "\"v2\"",
                    "v2", false},

        // §13.1.5: "If the HTTP-date validator provided exactly matches the
        // Last-Modified field value ... the condition is true".
        IfRangeCase{"13.1.5 same second as IMF-fixdate holds",
                    "Tue, 14 Nov 2023 22:13:30 GMT", "\"v2\"", true},
        IfRangeCase{"13.1.5 same second as rfc850-date holds",
                    "Tuesday, 14-Nov-23 22:13:30 GMT", "\"v2\"", true},
        IfRangeCase{"13.1.5 same second as asctime-date holds",
                    "Tue Nov 14 22:13:30 2023", "\"v2\"", true},
        IfRangeCase{"13.1.5 date with surrounding OWS holds",
                    " Tue, 14 Nov 2023 22:13:30 GMT ", "\"v2\"", true},
        IfRangeCase{"13.1.5 a second before fails",
                    "Tue, 14 Nov 2023 22:13:29 GMT", "\"v2\"", false},
        IfRangeCase{"13.1.5 a second after fails (exact match, not <=)",
                    "Tue, 14 Nov 2023 22:13:31 GMT", "\"v2\"", false},
        IfRangeCase{"13.1.5 a day after fails",
                    "Wed, 15 Nov 2023 22:13:30 GMT", "\"v2\"", false},

        // Anything else: send the whole representation.
        IfRangeCase{"13.1.5 empty field fails", "", "\"v2\"", false},
        IfRangeCase{"13.1.5 garbage fails", "garbage", "\"v2\"", false},
        IfRangeCase{"13.1.5 unquoted tag text fails", "v2", "\"v2\"", false},
        IfRangeCase{"13.1.5 invalid date fails",
                    "Tue, 31 Feb 2023 22:13:30 GMT", "\"v2\"", false}));

}  // namespace
}  // namespace etagd
