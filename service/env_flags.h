// Flags from the environment: every etagd flag --foo_bar can also be set as
// ETAGD_FOO_BAR, as container platforms prefer. The command line wins.
#ifndef ETAGD_SERVICE_ENV_FLAGS_H_
#define ETAGD_SERVICE_ENV_FLAGS_H_

#include <string>

#include "absl/status/status.h"

namespace etagd {

// The environment variable for flag `name`: "ETAGD_" + upper case.
std::string EnvironmentVariableFor(const std::string& flag_name);

// Sets each flag defined in etagd's own sources (service/, gateway/,
// client/) whose environment variable is set. Call before
// absl::ParseCommandLine so that command-line flags override. A value that
// does not parse is INVALID_ARGUMENT naming the variable (never its value,
// which may be a secret).
absl::Status ApplyEnvironmentToFlags();

// The sentence --help shows about it.
inline constexpr char kEnvironmentHelp[] =
    "Every flag can also be set through the environment: --foo_bar as "
    "ETAGD_FOO_BAR (the command line wins).";

}  // namespace etagd

#endif  // ETAGD_SERVICE_ENV_FLAGS_H_
