#include "service/log.h"

#include <cstdio>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace etagd {
namespace {

std::string& ProgramName() {
  static std::string* name = new std::string("etagd");
  return *name;
}

const std::string& program_name() { return ProgramName(); }

}  // namespace

void SetLogProgramName(absl::string_view name) { ProgramName() = std::string(name); }

void Log(LogLevel level, absl::string_view message) {
  const char* name = level == LogLevel::kInfo      ? "info"
                     : level == LogLevel::kWarning ? "warning"
                                                   : "error";
  // logfmt: one record a line, machine-parseable and still readable.
  std::string quoted;
  for (char c : message) {
    if (c == '"' || c == '\\') {
      quoted.push_back('\\');
      quoted.push_back(c);
    } else if (c == '\n') {
      quoted.append("\\n");
    } else {
      quoted.push_back(c);
    }
  }
  std::string line = absl::StrCat(
      "time=",
      absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", absl::Now(), absl::UTCTimeZone()),
      " level=", name, " program=", program_name(), " msg=\"", quoted, "\"\n");
  std::fwrite(line.data(), 1, line.size(), stderr);
  std::fflush(stderr);
}

}  // namespace etagd
