#include "gateway/http_date.h"

#include <array>
#include <cstdint>

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

std::string FormatHttpDate(absl::Time t) {
  // %4Y: IMF-fixdate's year is exactly four digits, also before year 1000.
  return absl::FormatTime("%a, %d %b %4Y %H:%M:%S GMT",
                          absl::FromUnixSeconds(absl::ToUnixSeconds(t)),
                          absl::UTCTimeZone());
}

}  // namespace etagd
