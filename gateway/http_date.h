// HTTP-date (RFC 9110 §5.6.7): parsing of all three formats and formatting
// of the preferred one.
#ifndef ETAGD_GATEWAY_HTTP_DATE_H_
#define ETAGD_GATEWAY_HTTP_DATE_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace etagd {

// Parses IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT"), rfc850-date
// ("Sunday, 06-Nov-94 08:49:37 GMT") or asctime-date
// ("Sun Nov  6 08:49:37 1994"). A two-digit rfc850 year means the latest
// such year whose timestamp is at most 50 years after `now`. nullopt for
// anything else, including impossible dates such as 31 Feb.
std::optional<absl::Time> ParseHttpDate(absl::string_view text,
                                        absl::Time now = absl::Now());

// The length of every IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT").
inline constexpr size_t kHttpDateSize = 29;

// IMF-fixdate of `t`, truncated to the second.
std::string FormatHttpDate(absl::Time t);

// Writes the IMF-fixdate of `unix_seconds` to out[0, kHttpDateSize) and
// returns true, for the years 0000 to 9999 (all IMF-fixdate can write);
// false, writing nothing, for others. Civil-date arithmetic only: no time
// zone lookup, no allocation.
bool FormatHttpDateTo(int64_t unix_seconds, char* out);

// The IMF-fixdate of `now`, formatted once per second per thread: for the
// Date field of every response (RFC 9110 §6.6.1). Valid until the calling
// thread's next call.
absl::string_view CachedHttpDate(absl::Time now);

}  // namespace etagd

#endif  // ETAGD_GATEWAY_HTTP_DATE_H_
