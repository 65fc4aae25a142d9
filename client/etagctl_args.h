// Argument parsing for etagctl, apart from I/O so that it can be tested.
#ifndef ETAGD_CLIENT_ETAGCTL_ARGS_H_
#define ETAGD_CLIENT_ETAGCTL_ARGS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace etagd {

// Splits a comma-separated list of entity-tags (commas inside quotes do not
// split). Items are trimmed; an item without quotes is taken as a strong
// tag and quoted. "*" alone stays "*". Empty text is an empty list.
absl::StatusOr<std::vector<std::string>> SplitEntityTags(absl::string_view text);

// Parses an RFC 3339 time ("2024-05-01T12:00:00Z") or an IMF-fixdate
// ("Wed, 01 May 2024 12:00:00 GMT").
absl::StatusOr<absl::Time> ParseTimeFlag(absl::string_view text);

// Returns argv with flag names' dashes turned into underscores
// ("--if-match=x" -> "--if_match=x"), leaving values and operands alone.
std::vector<std::string> NormalizeFlagNames(int argc, char** argv);

}  // namespace etagd

#endif  // ETAGD_CLIENT_ETAGCTL_ARGS_H_
