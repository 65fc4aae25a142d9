// Fuzzes the HTTP-date parser (RFC 9110 §5.6.7) against a reference that
// reads the three formats by fixed positions and does its own calendar
// arithmetic, and checks that every accepted date in years 0-9999
// round-trips through FormatHttpDate.
//
// Input: an optional first line "@<unix seconds>\n" giving "now" (for the
// rfc850 two-digit year), then the field value; further "\n"-separated
// lines make ParseDateField see a repeated field.

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gateway/conditional_headers.h"
#include "gateway/http_date.h"
#include "tests/fuzz/fuzz_check.h"

namespace etagd {
namespace {

// 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z.
constexpr int64_t kMinNow = -62135596800;
constexpr int64_t kMaxNow = 253402300799;
// 2024-06-15T12:00:00Z.
constexpr int64_t kDefaultNow = 1718452800;

constexpr std::array<absl::string_view, 7> kShortDays = {
    "Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::array<absl::string_view, 7> kLongDays = {
    "Monday", "Tuesday",  "Wednesday", "Thursday",
    "Friday", "Saturday", "Sunday"};
constexpr std::array<absl::string_view, 12> kMonthNames = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// --- Calendar arithmetic (proleptic Gregorian), independent of absl. ---

int64_t FloorDiv(int64_t a, int64_t b) {
  return a / b - (a % b != 0 && (a < 0) != (b < 0));
}
int64_t FloorMod(int64_t a, int64_t b) { return a - FloorDiv(a, b) * b; }

bool IsLeap(int64_t y) {
  return FloorMod(y, 4) == 0 &&
         (FloorMod(y, 100) != 0 || FloorMod(y, 400) == 0);
}

int DaysInMonth(int64_t y, int m) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30,
                                  31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Days since 1970-01-01 (H. Hinnant's days_from_civil); `d` may exceed the
// month's length, which then counts on into the next month.
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2 ? 1 : 0;
  const int64_t era = FloorDiv(y, 400);
  const int64_t yoe = y - era * 400;
  const int64_t mp = m > 2 ? m - 3 : m + 9;
  const int64_t doy = (153 * mp + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

struct Civil {
  int64_t year;
  int month, day, hour, minute, second;
};

Civil CivilFromSeconds(int64_t t) {
  const int64_t days = FloorDiv(t, 86400);
  const int64_t secs = FloorMod(t, 86400);
  const int64_t z = days + 719468;
  const int64_t era = FloorDiv(z, 146097);
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  const int64_t y = yoe + era * 400 + (m <= 2 ? 1 : 0);
  return {y,
          m,
          d,
          static_cast<int>(secs / 3600),
          static_cast<int>(secs / 60 % 60),
          static_cast<int>(secs % 60)};
}

// Unix seconds of a date and time whose fields are each in range; a leap
// second (60) is the first second of the next minute.
std::optional<int64_t> Instant(int64_t y, int m, int d, int hh, int mm,
                               int ss) {
  if (m < 1 || m > 12 || d < 1 || d > DaysInMonth(y, m)) return std::nullopt;
  if (hh > 23 || mm > 59 || ss > 60) return std::nullopt;
  return DaysFromCivil(y, m, d) * 86400 + hh * 3600 + mm * 60 + ss;
}

// --- The reference reader of the three formats (§5.6.7). Day names are
// not checked against the date: the parser under test ignores them. ---

bool Digits(absl::string_view s, size_t pos, size_t n, int64_t* value) {
  if (pos + n > s.size()) return false;
  int64_t v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    v = v * 10 + (s[i] - '0');
  }
  *value = v;
  return true;
}

template <size_t N>
int IndexOf(const std::array<absl::string_view, N>& names,
            absl::string_view s) {
  for (size_t i = 0; i < N; ++i) {
    if (names[i] == s) return static_cast<int>(i);
  }
  return -1;
}

// "HH:MM:SS" at `pos`.
bool TimeAt(absl::string_view s, size_t pos, int64_t* hh, int64_t* mm,
            int64_t* ss) {
  return pos + 8 <= s.size() && Digits(s, pos, 2, hh) && s[pos + 2] == ':' &&
         Digits(s, pos + 3, 2, mm) && s[pos + 5] == ':' &&
         Digits(s, pos + 6, 2, ss);
}

// IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT", 29 characters.
std::optional<int64_t> ReferenceImfFixdate(absl::string_view s) {
  int64_t day, year, hh, mm, ss;
  if (s.size() != 29 || IndexOf(kShortDays, s.substr(0, 3)) < 0 ||
      s.substr(3, 2) != ", " || !Digits(s, 5, 2, &day) || s[7] != ' ' ||
      s[11] != ' ' || !Digits(s, 12, 4, &year) || s[16] != ' ' ||
      !TimeAt(s, 17, &hh, &mm, &ss) || s.substr(25) != " GMT") {
    return std::nullopt;
  }
  const int month = IndexOf(kMonthNames, s.substr(8, 3)) + 1;
  if (month == 0) return std::nullopt;
  return Instant(year, month, static_cast<int>(day), static_cast<int>(hh),
                 static_cast<int>(mm), static_cast<int>(ss));
}

// asctime-date: "Sun Nov  6 08:49:37 1994" (or "Nov 06"), 24 characters.
std::optional<int64_t> ReferenceAsctime(absl::string_view s) {
  int64_t day, year, hh, mm, ss;
  if (s.size() != 24 || IndexOf(kShortDays, s.substr(0, 3)) < 0 ||
      s[3] != ' ' || s[7] != ' ' || s[10] != ' ' ||
      !TimeAt(s, 11, &hh, &mm, &ss) || s[19] != ' ' ||
      !Digits(s, 20, 4, &year)) {
    return std::nullopt;
  }
  const int month = IndexOf(kMonthNames, s.substr(4, 3)) + 1;
  if (month == 0) return std::nullopt;
  // date3 = month SP ( 2DIGIT / ( SP DIGIT ) )
  if (!(s[8] == ' ' ? Digits(s, 9, 1, &day) : Digits(s, 8, 2, &day))) {
    return std::nullopt;
  }
  return Instant(year, month, static_cast<int>(day), static_cast<int>(hh),
                 static_cast<int>(mm), static_cast<int>(ss));
}

// rfc850-date: "Sunday, 06-Nov-94 08:49:37 GMT". The two-digit year means
// the latest year with those digits whose instant exists and is at most 50
// years after `now` (the contract in http_date.h, after §5.6.7).
std::optional<int64_t> ReferenceRfc850(absl::string_view s, int64_t now) {
  const size_t comma = s.find(',');
  if (comma == absl::string_view::npos ||
      IndexOf(kLongDays, s.substr(0, comma)) < 0) {
    return std::nullopt;
  }
  const absl::string_view rest = s.substr(comma);  // ", 06-Nov-94 08:49:37 GMT"
  int64_t day, yy, hh, mm, ss;
  if (rest.size() != 24 || rest.substr(0, 2) != ", " ||
      !Digits(rest, 2, 2, &day) || rest[4] != '-' || rest[8] != '-' ||
      !Digits(rest, 9, 2, &yy) || rest[11] != ' ' ||
      !TimeAt(rest, 12, &hh, &mm, &ss) || rest.substr(20) != " GMT") {
    return std::nullopt;
  }
  const int month = IndexOf(kMonthNames, rest.substr(5, 3)) + 1;
  if (month == 0) return std::nullopt;
  const Civil n = CivilFromSeconds(now);
  // Fields out of range for the target day (29 Feb) count on, as absl's
  // normalisation of CivilSecond does.
  const int64_t horizon = DaysFromCivil(n.year + 50, n.month, n.day) * 86400 +
                          n.hour * 3600 + n.minute * 60 + n.second;
  // The largest year with these two digits that is not past the horizon's
  // year; a valid date appears within four centuries (the leap cycle).
  int64_t year = n.year + 50 - FloorMod(n.year + 50 - yy, 100);
  for (int i = 0; i < 5; ++i, year -= 100) {
    std::optional<int64_t> t =
        Instant(year, month, static_cast<int>(day), static_cast<int>(hh),
                static_cast<int>(mm), static_cast<int>(ss));
    if (t.has_value() && *t <= horizon) return t;
  }
  return std::nullopt;
}

std::optional<int64_t> ReferenceHttpDate(absl::string_view s, int64_t now) {
  if (auto t = ReferenceImfFixdate(s)) return t;
  if (auto t = ReferenceRfc850(s, now)) return t;
  return ReferenceAsctime(s);
}

std::string Show(std::optional<absl::Time> t) {
  if (!t.has_value()) return "nothing";
  return absl::FormatTime(absl::RFC3339_full, *t, absl::UTCTimeZone());
}

}  // namespace
}  // namespace etagd

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace etagd;  // NOLINT: a fuzz entry point outside the namespace.
  absl::string_view input(reinterpret_cast<const char*>(data), size);

  int64_t now_seconds = kDefaultNow;
  if (!input.empty() && input.front() == '@') {
    const size_t newline = input.find('\n');
    int64_t parsed;
    if (newline != absl::string_view::npos &&
        absl::SimpleAtoi(input.substr(1, newline - 1), &parsed) &&
        parsed >= kMinNow && parsed <= kMaxNow) {
      now_seconds = parsed;
      input.remove_prefix(newline + 1);
    }
  }
  const absl::Time now = absl::FromUnixSeconds(now_seconds);
  const std::vector<absl::string_view> lines = absl::StrSplit(input, '\n');
  const absl::string_view text = lines.front();

  const std::optional<absl::Time> got = ParseHttpDate(text, now);
  const std::optional<int64_t> want = ReferenceHttpDate(text, now_seconds);
  ETAGD_FUZZ_CHECK(
      got.has_value() == want.has_value() &&
          (!got.has_value() || *got == absl::FromUnixSeconds(*want)),
      absl::StrCat("\"", absl::CHexEscape(text), "\" at now=", now_seconds,
                   ": parsed ", Show(got), ", reference ",
                   want.has_value() ? Show(absl::FromUnixSeconds(*want))
                                    : std::string("nothing")));

  // ParseDateField: one field line, surrounding whitespace ignored; a
  // repeated field is ignored (§13.1.3: more than one member).
  const std::optional<absl::Time> field = ParseDateField(lines, now);
  if (lines.size() == 1) {
    ETAGD_FUZZ_CHECK(
        field == ParseHttpDate(absl::StripAsciiWhitespace(text), now),
        "ParseDateField of one line");
  } else {
    ETAGD_FUZZ_CHECK(!field.has_value(), "a repeated date field is ignored");
  }

  if (!got.has_value()) return 0;
  // HTTP-dates have whole seconds.
  ETAGD_FUZZ_CHECK(absl::FromUnixSeconds(absl::ToUnixSeconds(*got)) == *got,
                   "whole seconds: " + Show(got));
  const Civil civil = CivilFromSeconds(absl::ToUnixSeconds(*got));
  if (civil.year < 0 || civil.year > 9999) return 0;

  // Round trip through the preferred format (IMF-fixdate).
  const std::string formatted = FormatHttpDate(*got);
  ETAGD_FUZZ_CHECK(formatted.size() == 29, "IMF-fixdate length: " + formatted);
  ETAGD_FUZZ_CHECK(ParseHttpDate(formatted, now) == got,
                   absl::StrCat("round trip: \"", absl::CHexEscape(text),
                                "\" -> ", Show(got), " -> \"", formatted,
                                "\" -> ", Show(ParseHttpDate(formatted, now))));
  // 1970-01-01 was a Thursday.
  const int64_t weekday =
      FloorMod(FloorDiv(absl::ToUnixSeconds(*got), 86400) + 3, 7);
  ETAGD_FUZZ_CHECK(formatted.substr(0, 3) == kShortDays[weekday],
                   "day-name of " + formatted);
  // An IMF-fixdate with the right day-name and no leap second is already
  // in canonical form.
  if (ReferenceImfFixdate(text).has_value() &&
      text.substr(0, 3) == kShortDays[weekday] && text.substr(23, 2) != "60") {
    ETAGD_FUZZ_CHECK(formatted == text,
                     "canonical form: \"" + std::string(text) +
                         "\" formatted as \"" + formatted + "\"");
  }
  return 0;
}
