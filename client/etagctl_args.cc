#include "client/etagctl_args.h"

#include "absl/status/status.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "service/entity_tag.h"

namespace etagd {

absl::StatusOr<std::vector<std::string>> SplitEntityTags(absl::string_view text) {
  std::vector<std::string> tags;
  if (absl::StripAsciiWhitespace(text).empty()) return tags;
  if (absl::StripAsciiWhitespace(text) == "*") return std::vector<std::string>{"*"};
  std::vector<absl::string_view> items;
  bool quoted = false;
  size_t start = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i == text.size() || (text[i] == ',' && !quoted)) {
      items.push_back(absl::StripAsciiWhitespace(text.substr(start, i - start)));
      start = i + 1;
    } else if (text[i] == '"') {
      quoted = !quoted;
    }
  }
  for (absl::string_view item : items) {
    if (item.empty()) continue;
    if (item == "*") {
      return absl::InvalidArgumentError(
          "\"*\" cannot be combined with entity-tags");
    }
    std::string tag = absl::StartsWith(item, "\"") || absl::StartsWith(item, "W/")
                          ? std::string(item)
                          : absl::StrCat("\"", item, "\"");
    if (!ParseEntityTag(tag).has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("not an entity-tag: ", item));
    }
    tags.push_back(std::move(tag));
  }
  return tags;
}

absl::StatusOr<absl::Time> ParseTimeFlag(absl::string_view text) {
  absl::Time t;
  std::string error;
  if (absl::ParseTime(absl::RFC3339_full, text, &t, &error)) return t;
  if (absl::ParseTime("%a, %d %b %Y %H:%M:%S GMT", text, absl::UTCTimeZone(),
                      &t, &error)) {
    return t;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "not a time (RFC 3339 or IMF-fixdate expected): ", text));
}

std::vector<std::string> NormalizeFlagNames(int argc, char** argv) {
  std::vector<std::string> out;
  bool flags_done = false;
  for (int i = 0; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") flags_done = true;
    if (i > 0 && !flags_done && absl::StartsWith(arg, "--")) {
      const size_t end = std::min(arg.find('='), arg.size());
      for (size_t k = 2; k < end; ++k) {
        if (arg[k] == '-') arg[k] = '_';
      }
    }
    out.push_back(std::move(arg));
  }
  return out;
}

}  // namespace etagd
