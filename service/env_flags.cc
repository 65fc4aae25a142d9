#include "service/env_flags.h"

#include <cstdlib>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace etagd {
namespace {

bool IsEtagdFlag(const absl::CommandLineFlag& flag) {
  const std::string file = flag.Filename();
  return absl::StartsWith(file, "service/") || absl::StartsWith(file, "gateway/") ||
         absl::StartsWith(file, "client/");
}

}  // namespace

std::string EnvironmentVariableFor(const std::string& flag_name) {
  return absl::StrCat("ETAGD_", absl::AsciiStrToUpper(flag_name));
}

absl::Status ApplyEnvironmentToFlags() {
  for (const auto& [name, flag] : absl::GetAllFlags()) {
    if (!IsEtagdFlag(*flag)) continue;
    const std::string variable = EnvironmentVariableFor(std::string(name));
    const char* value = std::getenv(variable.c_str());
    if (value == nullptr) continue;
    std::string error;  // Quotes the value: not repeated, it may be secret.
    if (!flag->ParseFrom(value, &error)) {
      return absl::InvalidArgumentError(absl::StrCat(
          variable, " does not hold a valid value for --", name));
    }
  }
  return absl::OkStatus();
}

}  // namespace etagd
