// One-line log records on stderr: "<RFC 3339 UTC time> etagd <level>: <msg>".
// Debian's Abseil has no absl/log; this is all etagd needs.
#ifndef ETAGD_SERVICE_LOG_H_
#define ETAGD_SERVICE_LOG_H_

#include "absl/strings/string_view.h"

namespace etagd {

enum class LogLevel { kInfo, kWarning, kError };

// Thread-safe: each record is written with one call.
void Log(LogLevel level, absl::string_view message);

}  // namespace etagd

#endif  // ETAGD_SERVICE_LOG_H_
