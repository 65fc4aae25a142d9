#include "gateway/http_date.h"

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstring>
#include <string>

#include "absl/strings/ascii.h"

namespace etagd {
namespace {

constexpr std::array<absl::string_view, 7> kDays = {"Mon", "Tue", "Wed", "Thu",
                                                    "Fri", "Sat", "Sun"};
constexpr std::array<absl::string_view, 7> kLongDays = {
    "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"};
constexpr std::array<absl::string_view, 12> kMonths = {
    "Jan", "Feb", "Mar", "Apr", "May", "Jun",
    "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// A cursor over the text; every Take* fails (returns false) without
// consuming on a mismatch, and callers stop at the first failure.
class Scanner {
 public:
  explicit Scanner(absl::string_view text) : text_(text) {}

  bool Literal(absl::string_view s) {
    if (text_.substr(0, s.size()) != s) return false;
    text_.remove_prefix(s.size());
    return true;
  }

  // Exactly `n` digits.
  bool Digits(int n, int64_t* value) {
    if (text_.size() < static_cast<size_t>(n)) return false;
    int64_t v = 0;
    for (int i = 0; i < n; ++i) {
      if (!absl::ascii_isdigit(static_cast<unsigned char>(text_[i]))) return false;
      v = v * 10 + (text_[i] - '0');
    }
    text_.remove_prefix(n);
    *value = v;
    return true;
  }

  template <size_t N>
  bool OneOf(const std::array<absl::string_view, N>& names, int* index) {
    for (size_t i = 0; i < N; ++i) {
      if (Literal(names[i])) {
        *index = static_cast<int>(i);
        return true;
      }
    }
    return false;
  }

  // time-of-day = hour ":" minute ":" second
  bool TimeOfDay(int64_t* h, int64_t* m, int64_t* s) {
    return Digits(2, h) && Literal(":") && Digits(2, m) && Literal(":") &&
           Digits(2, s) && *h <= 23 && *m <= 59 && *s <= 60;
  }

  bool AtEnd() const { return text_.empty(); }

 private:
  absl::string_view text_;
};

std::optional<absl::Time> Build(int64_t year, int month, int64_t day,
                                int64_t hour, int64_t minute, int64_t second) {
  // A leap second is folded into the next second.
  const absl::CivilSecond civil(year, month, day, hour, minute,
                                second == 60 ? 59 : second);
  if (civil.year() != year || civil.month() != month || civil.day() != day) {
    return std::nullopt;  // Normalised: the date does not exist.
  }
  absl::Time t = absl::FromCivil(civil, absl::UTCTimeZone());
  return second == 60 ? t + absl::Seconds(1) : t;
}

std::optional<absl::Time> ParseImfFixdate(absl::string_view text) {
  Scanner s(text);
  int weekday, month;
  int64_t day, year, h, m, sec;
  if (s.OneOf(kDays, &weekday) && s.Literal(", ") && s.Digits(2, &day) &&
      s.Literal(" ") && s.OneOf(kMonths, &month) && s.Literal(" ") &&
      s.Digits(4, &year) && s.Literal(" ") && s.TimeOfDay(&h, &m, &sec) &&
      s.Literal(" GMT") && s.AtEnd()) {
    return Build(year, month + 1, day, h, m, sec);
  }
  return std::nullopt;
}

std::optional<absl::Time> ParseRfc850(absl::string_view text, absl::Time now) {
  Scanner s(text);
  int weekday, month;
  int64_t day, year2, h, m, sec;
  if (!(s.OneOf(kLongDays, &weekday) && s.Literal(", ") && s.Digits(2, &day) &&
        s.Literal("-") && s.OneOf(kMonths, &month) && s.Literal("-") &&
        s.Digits(2, &year2) && s.Literal(" ") && s.TimeOfDay(&h, &m, &sec) &&
        s.Literal(" GMT") && s.AtEnd())) {
    return std::nullopt;
  }
  // §5.6.7: a timestamp that appears to be more than 50 years in the future
  // means the most recent past year with the same last two digits. So take
  // the latest year with these digits whose instant is at most 50 years
  // after `now`.
  const absl::CivilSecond now_civil = absl::ToCivilSecond(now, absl::UTCTimeZone());
  const absl::Time horizon = absl::FromCivil(
      absl::CivilSecond(now_civil.year() + 50, now_civil.month(), now_civil.day(),
                        now_civil.hour(), now_civil.minute(), now_civil.second()),
      absl::UTCTimeZone());
  // 29 Feb of a year ending in 00 exists only every fourth century, so
  // look back four centuries below the horizon (found by fuzzing: 29-Feb-00
  // seen in 2250 must be 2000, past 2300, 2200 and 2100).
  for (int64_t year = now_civil.year() - now_civil.year() % 100 + year2 + 100;
       year > now_civil.year() - 400; year -= 100) {
    std::optional<absl::Time> t = Build(year, month + 1, day, h, m, sec);
    if (!t.has_value()) continue;  // 29 Feb exists in some centuries only.
    if (*t <= horizon) return t;
  }
  return std::nullopt;
}

std::optional<absl::Time> ParseAsctime(absl::string_view text) {
  Scanner s(text);
  int weekday, month;
  int64_t day, year, h, m, sec;
  if (!(s.OneOf(kDays, &weekday) && s.Literal(" ") && s.OneOf(kMonths, &month) &&
        s.Literal(" "))) {
    return std::nullopt;
  }
  // date3 = month SP ( 2DIGIT / ( SP DIGIT ) )
  if (!(s.Literal(" ") ? s.Digits(1, &day) : s.Digits(2, &day))) {
    return std::nullopt;
  }
  if (s.Literal(" ") && s.TimeOfDay(&h, &m, &sec) && s.Literal(" ") &&
      s.Digits(4, &year) && s.AtEnd()) {
    return Build(year, month + 1, day, h, m, sec);
  }
  return std::nullopt;
}

}  // namespace

std::optional<absl::Time> ParseHttpDate(absl::string_view text, absl::Time now) {
  if (auto t = ParseImfFixdate(text)) return t;
  if (auto t = ParseRfc850(text, now)) return t;
  return ParseAsctime(text);
}

bool FormatHttpDateTo(int64_t unix_seconds, char* out) {
  // Seconds from 0000-03-01 (proleptic Gregorian) to the epoch, so that
  // every count below is non-negative from year 0 on: 719468 days.
  constexpr int64_t kShift = int64_t{719468} * 86400;
  constexpr int64_t kYear10000 = int64_t{253402300800};  // 10000-01-01.
  // 0000-01-01 is 60 days before 0000-03-01 (year 0 is a leap year).
  if (unix_seconds < -kShift - int64_t{60} * 86400 || unix_seconds >= kYear10000) {
    return false;
  }
  // 0000-01-01 and 0000-02-29 lie before the shifted origin: shift by one
  // more 400-year era (146097 days), which changes no weekday or date.
  const int64_t shifted = unix_seconds + kShift + int64_t{146097} * 86400;
  const int64_t days = shifted / 86400;
  const int secs = static_cast<int>(shifted % 86400);
  // Howard Hinnant's civil_from_days, on days since 0000-03-01 minus 400 years.
  const int64_t era = days / 146097;
  const int doe = static_cast<int>(days - era * 146097);             // [0, 146096]
  const int yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;  // [0, 399]
  const int doy = doe - (365 * yoe + yoe / 4 - yoe / 100);           // [0, 365]
  const int mp = (5 * doy + 2) / 153;                                // [0, 11], March = 0
  const int day = doy - (153 * mp + 2) / 5 + 1;                      // [1, 31]
  const int month = mp < 10 ? mp + 2 : mp - 10;                      // [0, 11], Jan = 0
  const int year = static_cast<int>(yoe + era * 400 - 400) + (month <= 1);
  // `days` counts from a Wednesday: 0000-03-01 was one, and 400 years are
  // exactly 20871 weeks.
  const int weekday = static_cast<int>((days + 2) % 7);  // Monday = 0.
  auto two = [](char* p, int v) {
    p[0] = static_cast<char>('0' + v / 10);
    p[1] = static_cast<char>('0' + v % 10);
  };
  std::memcpy(out, kDays[weekday].data(), 3);
  out[3] = ',';
  out[4] = ' ';
  two(out + 5, day);
  out[7] = ' ';
  std::memcpy(out + 8, kMonths[month].data(), 3);
  out[11] = ' ';
  two(out + 12, year / 100);
  two(out + 14, year % 100);
  out[16] = ' ';
  two(out + 17, secs / 3600);
  out[19] = ':';
  two(out + 20, secs / 60 % 60);
  out[22] = ':';
  two(out + 23, secs % 60);
  std::memcpy(out + 25, " GMT", 4);
  return true;
}

std::string FormatHttpDate(absl::Time t) {
  const int64_t seconds = absl::ToUnixSeconds(t);  // Floors.
  std::string out(kHttpDateSize, '\0');
  if (FormatHttpDateTo(seconds, out.data())) return out;
  // Years IMF-fixdate cannot write exactly four digits of; as before.
  // %4Y: IMF-fixdate's year is exactly four digits, also before year 1000.
  return absl::FormatTime("%a, %d %b %4Y %H:%M:%S GMT",
                          absl::FromUnixSeconds(seconds), absl::UTCTimeZone());
}

absl::string_view CachedHttpDate(absl::Time now) {
  struct Cache {
    int64_t second = INT64_MIN;
    char text[64];  // Room for the fallback's longer years too.
    size_t size = 0;
  };
  thread_local Cache cache;
  const int64_t second = absl::ToUnixSeconds(now);
  if (second != cache.second) {
    if (FormatHttpDateTo(second, cache.text)) {
      cache.size = kHttpDateSize;
    } else {
      const std::string text = FormatHttpDate(now);
      cache.size = std::min(text.size(), sizeof cache.text);
      std::memcpy(cache.text, text.data(), cache.size);
    }
    cache.second = second;
  }
  return absl::string_view(cache.text, cache.size);
}

}  // namespace etagd
