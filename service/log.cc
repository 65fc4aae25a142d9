#include "service/log.h"

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace etagd {

void Log(LogLevel level, absl::string_view message) {
  const char* name = level == LogLevel::kInfo      ? "info"
                     : level == LogLevel::kWarning ? "warning"
                                                   : "error";
  std::string line = absl::StrCat(
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
      " etagd ", name, ": ", message, "\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace etagd
