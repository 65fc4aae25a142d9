#include "gateway/http_date.h"

#include <cstdint>
#include <optional>
#include <ostream>
#include <string>

#include "absl/time/civil_time.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace etagd {
namespace {

absl::Time Utc(int64_t year, int month, int day, int hour, int minute,
               int second) {
  return absl::FromCivil(
      absl::CivilSecond(year, month, day, hour, minute, second),
      absl::UTCTimeZone());
}

// The instant of the three examples of RFC 9110 §5.6.7.
const absl::Time kExample = Utc(1994, 11, 6, 8, 49, 37);

// A fixed "now" for the rfc850 two-digit year rule.
const absl::Time kNow = Utc(2024, 6, 15, 12, 0, 0);

struct ParseCase {
  // The RFC 9110 section the case pins down, and what it shows.
  std::string rule;
  std::string text;
  std::optional<absl::Time> expected;
};

std::ostream& operator<<(std::ostream& os, const ParseCase& c) {
  return os << c.rule;
}

class ParseHttpDateTest : public testing::TestWithParam<ParseCase> {};

TEST_P(ParseHttpDateTest, ParsesPerRfc9110Section5_6_7) {
  const ParseCase& c = GetParam();
  std::optional<absl::Time> got = ParseHttpDate(c.text, kNow);
  ASSERT_EQ(got.has_value(), c.expected.has_value())
      << c.rule << ": \"" << c.text << "\"";
  if (c.expected.has_value()) {
    EXPECT_EQ(*got, *c.expected)
        << c.rule << ": got " << absl::FormatTime(*got, absl::UTCTimeZone());
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rfc9110, ParseHttpDateTest,
    testing::Values(
        // §5.6.7: the three formats of the RFC's own examples denote the
        // same instant.
        ParseCase{"5.6.7 IMF-fixdate example", "Sun, 06 Nov 1994 08:49:37 GMT",
                  kExample},
        ParseCase{"5.6.7 rfc850-date example", "Sunday, 06-Nov-94 08:49:37 GMT",
                  kExample},
        ParseCase{"5.6.7 asctime-date example", "Sun Nov  6 08:49:37 1994",
                  kExample},

        // §5.6.7 IMF-fixdate = day-name "," SP date1 SP time-of-day SP GMT.
        ParseCase{"5.6.7 IMF-fixdate epoch", "Thu, 01 Jan 1970 00:00:00 GMT",
                  absl::UnixEpoch()},
        ParseCase{"5.6.7 IMF-fixdate last second of a year",
                  "Fri, 31 Dec 1999 23:59:59 GMT",
                  Utc(1999, 12, 31, 23, 59, 59)},
        ParseCase{"5.6.7 IMF-fixdate Jan",
                  "Mon, 01 Jan 2024 00:00:00 GMT", Utc(2024, 1, 1, 0, 0, 0)},
        ParseCase{"5.6.7 IMF-fixdate Feb", "Thu, 01 Feb 2024 00:00:00 GMT",
                  Utc(2024, 2, 1, 0, 0, 0)},
        ParseCase{"5.6.7 IMF-fixdate Mar", "Fri, 01 Mar 2024 00:00:00 GMT",
                  Utc(2024, 3, 1, 0, 0, 0)},
        ParseCase{"5.6.7 IMF-fixdate Apr", "Mon, 01 Apr 2024 00:00:00 GMT",
                  Utc(2024, 4, 1, 0, 0, 0)},
        ParseCase{"5.6.7 IMF-fixdate May", "Wed, 01 May 2024 00:00:00 GMT",
                  Utc(2024, 5, 1, 0, 0, 0)},
        ParseCase{"5.6.7 IMF-fixdate Jun", "Sat, 01 Jun 2024 00:00:00 GMT",
                  Utc(2024, 6, 1, 0, 0, 0)},
        ParseCase{"5.6.7 IMF-fixdate Jul", "Mon, 01 Jul 2024 00:00:00 GMT",
                  Utc(2024, 7, 1, 0, 0, 0)},
        ParseCase{"5.6.7 IMF-fixdate Aug", "Thu, 01 Aug 2024 00:00:00 GMT",
                  Utc(2024, 8, 1, 0, 0, 0)},
        ParseCase{"5.6.7 IMF-fixdate Sep", "Sun, 01 Sep 2024 00:00:00 GMT",
                  Utc(2024, 9, 1, 0, 0, 0)},
        ParseCase{"5.6.7 IMF-fixdate Oct", "Tue, 01 Oct 2024 00:00:00 GMT",
                  Utc(2024, 10, 1, 0, 0, 0)},
        ParseCase{"5.6.7 IMF-fixdate Nov", "Fri, 01 Nov 2024 00:00:00 GMT",
                  Utc(2024, 11, 1, 0, 0, 0)},
        ParseCase{"5.6.7 IMF-fixdate Dec", "Sun, 01 Dec 2024 00:00:00 GMT",
                  Utc(2024, 12, 1, 0, 0, 0)},
        ParseCase{"5.6.7 29 Feb of a leap year exists",
                  "Thu, 29 Feb 2024 12:00:00 GMT", Utc(2024, 2, 29, 12, 0, 0)},
        ParseCase{"5.6.7 29 Feb 2000 exists (divisible by 400)",
                  "Tue, 29 Feb 2000 12:00:00 GMT", Utc(2000, 2, 29, 12, 0, 0)},

        // §5.6.7: second = 2DIGIT allows a leap second, 60. absl::Time has
        // no leap seconds; it is the instant after 23:59:59.
        ParseCase{"5.6.7 leap second 60 in IMF-fixdate",
                  "Sat, 31 Dec 2016 23:59:60 GMT", Utc(2017, 1, 1, 0, 0, 0)},
        ParseCase{"5.6.7 leap second 60 in rfc850-date",
                  "Saturday, 31-Dec-16 23:59:60 GMT", Utc(2017, 1, 1, 0, 0, 0)},
        ParseCase{"5.6.7 leap second 60 in asctime-date",
                  "Sat Dec 31 23:59:60 2016", Utc(2017, 1, 1, 0, 0, 0)},

        // §5.6.7 asctime-date: date3 = month SP ( 2DIGIT / ( SP DIGIT ) ).
        ParseCase{"5.6.7 asctime two-digit day", "Wed Nov 16 08:49:37 1994",
                  Utc(1994, 11, 16, 8, 49, 37)},
        ParseCase{"5.6.7 asctime zero-padded day is 2DIGIT",
                  "Sun Nov 06 08:49:37 1994", kExample},

        // §5.6.7: "HTTP-date is case sensitive."
        ParseCase{"5.6.7 lowercase day-name", "sun, 06 Nov 1994 08:49:37 GMT",
                  std::nullopt},
        ParseCase{"5.6.7 uppercase day-name", "SUN, 06 Nov 1994 08:49:37 GMT",
                  std::nullopt},
        ParseCase{"5.6.7 lowercase month", "Sun, 06 nov 1994 08:49:37 GMT",
                  std::nullopt},
        ParseCase{"5.6.7 lowercase gmt", "Sun, 06 Nov 1994 08:49:37 gmt",
                  std::nullopt},
        ParseCase{"5.6.7 uppercase rfc850 day-name",
                  "SUNDAY, 06-Nov-94 08:49:37 GMT", std::nullopt},
        ParseCase{"5.6.7 lowercase asctime month", "Sun nov  6 08:49:37 1994",
                  std::nullopt},

        // §5.6.7: GMT is required, and no other zone is allowed.
        ParseCase{"5.6.7 IMF-fixdate without GMT",
                  "Sun, 06 Nov 1994 08:49:37", std::nullopt},
        ParseCase{"5.6.7 rfc850-date without GMT", "Sunday, 06-Nov-94 08:49:37",
                  std::nullopt},
        ParseCase{"5.6.7 UTC instead of GMT", "Sun, 06 Nov 1994 08:49:37 UTC",
                  std::nullopt},
        ParseCase{"5.6.7 numeric zone instead of GMT",
                  "Sun, 06 Nov 1994 08:49:37 +0000", std::nullopt},
        ParseCase{"5.6.7 asctime-date takes no zone",
                  "Sun Nov  6 08:49:37 1994 GMT", std::nullopt},

        // §5.6.7: exactly one SP between the parts (the grammar has no OWS).
        ParseCase{"5.6.7 two spaces after the comma",
                  "Sun,  06 Nov 1994 08:49:37 GMT", std::nullopt},
        ParseCase{"5.6.7 two spaces before the month",
                  "Sun, 06  Nov 1994 08:49:37 GMT", std::nullopt},
        ParseCase{"5.6.7 two spaces before the time",
                  "Sun, 06 Nov 1994  08:49:37 GMT", std::nullopt},
        ParseCase{"5.6.7 two spaces before GMT",
                  "Sun, 06 Nov 1994 08:49:37  GMT", std::nullopt},
        ParseCase{"5.6.7 no space after the comma",
                  "Sun,06 Nov 1994 08:49:37 GMT", std::nullopt},
        ParseCase{"5.6.7 tab instead of space",
                  "Sun,\t06 Nov 1994 08:49:37 GMT", std::nullopt},
        ParseCase{"5.6.7 leading space", " Sun, 06 Nov 1994 08:49:37 GMT",
                  std::nullopt},
        ParseCase{"5.6.7 trailing space", "Sun, 06 Nov 1994 08:49:37 GMT ",
                  std::nullopt},
        ParseCase{"5.6.7 asctime single space before a one-digit day",
                  "Sun Nov 6 08:49:37 1994", std::nullopt},
        ParseCase{"5.6.7 asctime two spaces before a two-digit day",
                  "Sun Nov  16 08:49:37 1994", std::nullopt},

        // §5.6.7: trailing garbage makes the value invalid.
        ParseCase{"5.6.7 IMF-fixdate with trailing text",
                  "Sun, 06 Nov 1994 08:49:37 GMTx", std::nullopt},
        ParseCase{"5.6.7 IMF-fixdate with a parameter",
                  "Sun, 06 Nov 1994 08:49:37 GMT; length=12", std::nullopt},
        ParseCase{"5.6.7 two dates in one value",
                  "Sun, 06 Nov 1994 08:49:37 GMT, "
                  "Sun, 06 Nov 1994 08:49:37 GMT",
                  std::nullopt},
        ParseCase{"5.6.7 rfc850-date with trailing text",
                  "Sunday, 06-Nov-94 08:49:37 GMT!", std::nullopt},
        ParseCase{"5.6.7 asctime-date with trailing text",
                  "Sun Nov  6 08:49:37 19945", std::nullopt},

        // §5.6.7: digit counts are fixed: day = 2DIGIT, year = 4DIGIT
        // (2DIGIT in rfc850), time-of-day = 2DIGIT ":" 2DIGIT ":" 2DIGIT.
        ParseCase{"5.6.7 one-digit day in IMF-fixdate",
                  "Sun, 6 Nov 1994 08:49:37 GMT", std::nullopt},
        ParseCase{"5.6.7 two-digit year in IMF-fixdate",
                  "Sun, 06 Nov 94 08:49:37 GMT", std::nullopt},
        ParseCase{"5.6.7 five-digit year in IMF-fixdate",
                  "Sun, 06 Nov 01994 08:49:37 GMT", std::nullopt},
        ParseCase{"5.6.7 four-digit year in rfc850-date",
                  "Sunday, 06-Nov-1994 08:49:37 GMT", std::nullopt},
        ParseCase{"5.6.7 one-digit hour", "Sun, 06 Nov 1994 8:49:37 GMT",
                  std::nullopt},
        ParseCase{"5.6.7 time without seconds", "Sun, 06 Nov 1994 08:49 GMT",
                  std::nullopt},
        ParseCase{"5.6.7 non-digit in the day", "Sun, 0a Nov 1994 08:49:37 GMT",
                  std::nullopt},
        ParseCase{"5.6.7 sign in the year", "Sun, 06 Nov +994 08:49:37 GMT",
                  std::nullopt},

        // §5.6.7: each format has its own day-name form and separators.
        ParseCase{"5.6.7 long day-name in IMF-fixdate",
                  "Sunday, 06 Nov 1994 08:49:37 GMT", std::nullopt},
        ParseCase{"5.6.7 short day-name in rfc850-date",
                  "Sun, 06-Nov-94 08:49:37 GMT", std::nullopt},
        ParseCase{"5.6.7 dashes in IMF-fixdate",
                  "Sun, 06-Nov-1994 08:49:37 GMT", std::nullopt},
        ParseCase{"5.6.7 unknown day-name", "Sup, 06 Nov 1994 08:49:37 GMT",
                  std::nullopt},
        ParseCase{"5.6.7 full month name", "Sun, 06 November 1994 08:49:37 GMT",
                  std::nullopt},
        ParseCase{"5.6.7 ISO 8601 is not an HTTP-date", "1994-11-06T08:49:37Z",
                  std::nullopt},
        ParseCase{"5.6.7 a number is not an HTTP-date", "784111777",
                  std::nullopt},
        ParseCase{"5.6.7 empty value", "", std::nullopt},

        // §5.6.7: impossible dates and times are invalid, not normalised.
        ParseCase{"5.6.7 31 Feb", "Sat, 31 Feb 2024 00:00:00 GMT",
                  std::nullopt},
        ParseCase{"5.6.7 30 Feb", "Fri, 30 Feb 2024 00:00:00 GMT",
                  std::nullopt},
        ParseCase{"5.6.7 29 Feb of a common year",
                  "Wed, 29 Feb 2023 00:00:00 GMT", std::nullopt},
        ParseCase{"5.6.7 29 Feb 1900 (divisible by 100, not 400)",
                  "Thu, 29 Feb 1900 00:00:00 GMT", std::nullopt},
        ParseCase{"5.6.7 31 Apr", "Wed, 31 Apr 2024 00:00:00 GMT",
                  std::nullopt},
        ParseCase{"5.6.7 day 00", "Mon, 00 Jan 2024 00:00:00 GMT",
                  std::nullopt},
        ParseCase{"5.6.7 day 32", "Thu, 32 Jan 2024 00:00:00 GMT",
                  std::nullopt},
        ParseCase{"5.6.7 31 Feb in rfc850-date",
                  "Saturday, 31-Feb-24 00:00:00 GMT", std::nullopt},
        ParseCase{"5.6.7 31 Feb in asctime-date", "Sat Feb 31 00:00:00 2024",
                  std::nullopt},
        ParseCase{"5.6.7 hour 24", "Sun, 06 Nov 1994 24:00:00 GMT",
                  std::nullopt},
        ParseCase{"5.6.7 minute 60", "Sun, 06 Nov 1994 08:60:00 GMT",
                  std::nullopt},
        ParseCase{"5.6.7 second 61", "Sun, 06 Nov 1994 08:49:61 GMT",
                  std::nullopt},
        ParseCase{"5.6.7 hour 24 in asctime-date", "Sun Nov  6 24:00:00 1994",
                  std::nullopt}));

// §5.6.7: "Recipients of a timestamp value in rfc850-date format, which uses
// a two-digit year, MUST interpret a timestamp that appears to be more than
// 50 years in the future as representing the most recent year in the past
// that had the same last two digits."
struct TwoDigitYearCase {
  std::string rule;
  std::string text;
  absl::Time now;
  absl::Time expected;
};

std::ostream& operator<<(std::ostream& os, const TwoDigitYearCase& c) {
  return os << c.rule;
}

class TwoDigitYearTest : public testing::TestWithParam<TwoDigitYearCase> {};

TEST_P(TwoDigitYearTest, InterpretsRfc850YearsRelativeToNow) {
  const TwoDigitYearCase& c = GetParam();
  std::optional<absl::Time> got = ParseHttpDate(c.text, c.now);
  ASSERT_TRUE(got.has_value()) << c.rule;
  EXPECT_EQ(*got, c.expected)
      << c.rule << ": got " << absl::FormatTime(*got, absl::UTCTimeZone());
}

INSTANTIATE_TEST_SUITE_P(
    Rfc9110, TwoDigitYearTest,
    testing::Values(
        TwoDigitYearCase{"5.6.7 94 seen in 2024 is 1994 (2094 is 70 years "
                         "ahead)",
                         "Sunday, 06-Nov-94 08:49:37 GMT", kNow, kExample},
        TwoDigitYearCase{"5.6.7 99 seen in 2024 is 1999",
                         "Friday, 31-Dec-99 23:59:59 GMT", kNow,
                         Utc(1999, 12, 31, 23, 59, 59)},
        TwoDigitYearCase{"5.6.7 75 seen in 2024 is 1975 (51 years ahead)",
                         "Wednesday, 01-Jan-75 00:00:00 GMT", kNow,
                         Utc(1975, 1, 1, 0, 0, 0)},
        TwoDigitYearCase{"5.6.7 74 seen mid-2024: 1 Jan 2074 is under 50 "
                         "years ahead",
                         "Monday, 01-Jan-74 00:00:00 GMT", kNow,
                         Utc(2074, 1, 1, 0, 0, 0)},
        TwoDigitYearCase{"5.6.7 30 seen in 2024 is 2030 (near future)",
                         "Tuesday, 01-Jan-30 00:00:00 GMT", kNow,
                         Utc(2030, 1, 1, 0, 0, 0)},
        TwoDigitYearCase{"5.6.7 24 seen in 2024 is 2024",
                         "Saturday, 15-Jun-24 11:00:00 GMT", kNow,
                         Utc(2024, 6, 15, 11, 0, 0)},
        TwoDigitYearCase{"5.6.7 00 seen in 2024 is 2000",
                         "Saturday, 01-Jan-00 00:00:00 GMT", kNow,
                         Utc(2000, 1, 1, 0, 0, 0)},
        TwoDigitYearCase{"5.6.7 94 seen in 1990 is 1994 (4 years ahead)",
                         "Sunday, 06-Nov-94 08:49:37 GMT",
                         Utc(1990, 1, 1, 0, 0, 0), kExample},
        TwoDigitYearCase{"5.6.7 31 Dec 74 seen mid-2024 is 1974: 2074-12-31 "
                         "is more than 50 years ahead",
                         "Thursday, 31-Dec-74 00:00:00 GMT", kNow,
                         Utc(1974, 12, 31, 0, 0, 0)},
        TwoDigitYearCase{"5.6.7 05 seen in 2090 is 2105 (15 years ahead)",
                         "Monday, 01-Jan-05 00:00:00 GMT",
                         Utc(2090, 1, 1, 0, 0, 0), Utc(2105, 1, 1, 0, 0, 0)},
        TwoDigitYearCase{"5.6.7 94 seen in 2060 is 2094 (34 years ahead)",
                         "Saturday, 06-Nov-94 08:49:37 GMT",
                         Utc(2060, 1, 1, 0, 0, 0),
                         Utc(2094, 11, 6, 8, 49, 37)},
        TwoDigitYearCase{"5.6.7 29-Feb-00 seen in 2250 is 2000: 2300, 2200 "
                         "and 2100 have no 29 Feb",
                         "Tuesday, 29-Feb-00 00:00:00 GMT",
                         Utc(2250, 1, 1, 0, 0, 0), Utc(2000, 2, 29, 0, 0, 0)}));

TEST(FormatHttpDateTest, WritesTheImfFixdateOfTheRfcExample) {
  EXPECT_EQ(FormatHttpDate(kExample), "Sun, 06 Nov 1994 08:49:37 GMT");
}

TEST(FormatHttpDateTest, WritesFourDigitYearsBeforeYear1000) {
  const std::string text = FormatHttpDate(Utc(999, 1, 1, 0, 0, 0));
  EXPECT_EQ(text, "Tue, 01 Jan 0999 00:00:00 GMT");
  EXPECT_EQ(ParseHttpDate(text), Utc(999, 1, 1, 0, 0, 0));
}

TEST(FormatHttpDateTest, WritesTheEpoch) {
  EXPECT_EQ(FormatHttpDate(absl::UnixEpoch()), "Thu, 01 Jan 1970 00:00:00 GMT");
}

TEST(FormatHttpDateTest, ZeroPadsDayAndTime) {
  EXPECT_EQ(FormatHttpDate(Utc(2024, 3, 5, 1, 2, 3)),
            "Tue, 05 Mar 2024 01:02:03 GMT");
}

TEST(FormatHttpDateTest, TruncatesToTheSecond) {
  EXPECT_EQ(FormatHttpDate(kExample + absl::Milliseconds(999)),
            "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(FormatHttpDate(kExample + absl::Nanoseconds(1)),
            "Sun, 06 Nov 1994 08:49:37 GMT");
}

TEST(FormatHttpDateTest, TruncatesToTheStartOfTheContainingSecondBeforeEpoch) {
  EXPECT_EQ(FormatHttpDate(absl::UnixEpoch() - absl::Milliseconds(1)),
            "Wed, 31 Dec 1969 23:59:59 GMT");
}

TEST(FormatHttpDateTest, RoundTripsThroughParseAtSecondResolution) {
  for (absl::Time t :
       {kExample, absl::UnixEpoch(), Utc(2000, 2, 29, 23, 59, 59),
        Utc(9999, 12, 31, 23, 59, 59), absl::FromUnixMillis(1700000010500)}) {
    std::optional<absl::Time> parsed = ParseHttpDate(FormatHttpDate(t), kNow);
    ASSERT_TRUE(parsed.has_value()) << FormatHttpDate(t);
    EXPECT_EQ(*parsed, absl::FromUnixSeconds(absl::ToUnixSeconds(t)))
        << FormatHttpDate(t);
  }
}

// What FormatHttpDate wrote before it had its own formatter: cctz's.
std::string ReferenceHttpDate(absl::Time t) {
  return absl::FormatTime("%a, %d %b %4Y %H:%M:%S GMT",
                          absl::FromUnixSeconds(absl::ToUnixSeconds(t)),
                          absl::UTCTimeZone());
}

struct FormatCase {
  // What the instant pins down.
  std::string rule;
  absl::Time time;
};

std::ostream& operator<<(std::ostream& os, const FormatCase& c) {
  return os << c.rule;
}

class FormatHttpDateTableTest : public testing::TestWithParam<FormatCase> {};

TEST_P(FormatHttpDateTableTest, WritesWhatCctzWrites) {
  const absl::Time t = GetParam().time;
  EXPECT_EQ(FormatHttpDate(t), ReferenceHttpDate(t));
  char out[kHttpDateSize];
  ASSERT_TRUE(FormatHttpDateTo(absl::ToUnixSeconds(t), out));
  EXPECT_EQ(absl::string_view(out, kHttpDateSize), ReferenceHttpDate(t));
}

INSTANTIATE_TEST_SUITE_P(
    CalendarEdges, FormatHttpDateTableTest,
    testing::Values(
        FormatCase{"the epoch", absl::UnixEpoch()},
        FormatCase{"the second before the epoch",
                   absl::UnixEpoch() - absl::Seconds(1)},
        FormatCase{"the first instant IMF-fixdate can write",
                   Utc(0, 1, 1, 0, 0, 0)},
        FormatCase{"29 Feb of year 0 (a leap year)", Utc(0, 2, 29, 12, 0, 0)},
        FormatCase{"1 Mar of year 0", Utc(0, 3, 1, 0, 0, 0)},
        FormatCase{"the last instant IMF-fixdate can write",
                   Utc(9999, 12, 31, 23, 59, 59)},
        FormatCase{"29 Feb 2000: divisible by 400, leap",
                   Utc(2000, 2, 29, 23, 59, 59)},
        FormatCase{"1 Mar 1900: 1900 is not leap", Utc(1900, 3, 1, 0, 0, 0)},
        FormatCase{"28 Feb 2100: 2100 is not leap", Utc(2100, 2, 28, 23, 59, 59)},
        FormatCase{"1 Mar 2100", Utc(2100, 3, 1, 0, 0, 0)},
        FormatCase{"29 Feb 2024", Utc(2024, 2, 29, 6, 7, 8)},
        FormatCase{"31 Dec 2023, end of year", Utc(2023, 12, 31, 23, 59, 59)},
        FormatCase{"1 Jan 2024, start of year", Utc(2024, 1, 1, 0, 0, 0)},
        FormatCase{"31 Dec 1999 -> 2000", Utc(1999, 12, 31, 23, 59, 59)},
        FormatCase{"year 999", Utc(999, 1, 1, 0, 0, 0)},
        FormatCase{"the 2038 32-bit rollover", absl::FromUnixSeconds(2147483647)},
        FormatCase{"sub-second before epoch floors",
                   absl::UnixEpoch() - absl::Milliseconds(1)},
        FormatCase{"sub-second truncates", kExample + absl::Milliseconds(999)}));

TEST(FormatHttpDateTest, WritesWhatCctzWritesEveryHourOfFourCenturies) {
  // Every 3607 seconds (so minutes and seconds vary too) from 1800 to 2200:
  // each weekday, month end, leap day and century rule.
  const int64_t begin = absl::ToUnixSeconds(Utc(1800, 1, 1, 0, 0, 0));
  const int64_t end = absl::ToUnixSeconds(Utc(2200, 1, 1, 0, 0, 0));
  for (int64_t s = begin; s < end; s += 3607) {
    const absl::Time t = absl::FromUnixSeconds(s);
    ASSERT_EQ(FormatHttpDate(t), ReferenceHttpDate(t)) << s;
  }
}

TEST(FormatHttpDateTest, WritesWhatCctzWritesEachDayOfTenMillennia) {
  // One instant a day (at a time that moves through the day) from year 0
  // to 9999.
  const int64_t begin = absl::ToUnixSeconds(Utc(0, 1, 1, 0, 0, 0));
  const int64_t end = absl::ToUnixSeconds(Utc(10000, 1, 1, 0, 0, 0));
  for (int64_t s = begin; s < end; s += 86400 + 13) {
    const absl::Time t = absl::FromUnixSeconds(s);
    ASSERT_EQ(FormatHttpDate(t), ReferenceHttpDate(t)) << s;
  }
}

TEST(FormatHttpDateTest, FallsBackOutsideYears0To9999) {
  char out[kHttpDateSize];
  const absl::Time before = Utc(-1, 12, 31, 23, 59, 59);
  const absl::Time after = Utc(10000, 1, 1, 0, 0, 0);
  EXPECT_FALSE(FormatHttpDateTo(absl::ToUnixSeconds(before), out));
  EXPECT_FALSE(FormatHttpDateTo(absl::ToUnixSeconds(after), out));
  EXPECT_EQ(FormatHttpDate(before), ReferenceHttpDate(before));
  EXPECT_EQ(FormatHttpDate(after), ReferenceHttpDate(after));
}

TEST(CachedHttpDateTest, FollowsTheSecond) {
  EXPECT_EQ(CachedHttpDate(kExample), "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(CachedHttpDate(kExample + absl::Milliseconds(500)),
            "Sun, 06 Nov 1994 08:49:37 GMT");
  EXPECT_EQ(CachedHttpDate(kExample + absl::Seconds(1)),
            "Sun, 06 Nov 1994 08:49:38 GMT");
  EXPECT_EQ(CachedHttpDate(kExample), "Sun, 06 Nov 1994 08:49:37 GMT");
}

}  // namespace
}  // namespace etagd
