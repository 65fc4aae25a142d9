// One-line log records on stderr, in logfmt:
//   time=2026-11-25T00:00:00.000Z level=info program=etagd msg="..."
// Debian's Abseil has no absl/log; this is all etagd needs.
#ifndef ETAGD_SERVICE_LOG_H_
#define ETAGD_SERVICE_LOG_H_

#include "absl/strings/string_view.h"

namespace etagd {

enum class LogLevel { kInfo, kWarning, kError };

// Thread-safe: each record is written with one call.
void Log(LogLevel level, absl::string_view message);

// The program= field of every record (default "etagd"). Call at startup.
void SetLogProgramName(absl::string_view name);

}  // namespace etagd

#endif  // ETAGD_SERVICE_LOG_H_
