#include "gateway/sse.h"

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"

namespace etagd {
namespace {

// `value` without CR, LF and NUL.
std::string FieldValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    if (c != '\r' && c != '\n' && c != '\0') out.push_back(c);
  }
  return out;
}

}  // namespace

std::string FormatSseEvent(absl::string_view type, absl::string_view id,
                           absl::string_view data) {
  std::string out;
  out.reserve(type.size() + id.size() + data.size() + 32);
  if (!type.empty()) absl::StrAppend(&out, "event: ", FieldValue(type), "\n");
  if (!id.empty()) absl::StrAppend(&out, "id: ", FieldValue(id), "\n");
  // Every line of data, a line ending at CRLF, CR or LF (§9.2.5).
  size_t start = 0;
  for (size_t i = 0; i <= data.size(); ++i) {
    if (i < data.size() && data[i] != '\r' && data[i] != '\n') continue;
    absl::StrAppend(&out, "data: ", data.substr(start, i - start), "\n");
    if (i + 1 < data.size() && data[i] == '\r' && data[i + 1] == '\n') ++i;
    start = i + 1;
  }
  out.push_back('\n');
  return out;
}

std::string FormatSseIdOnly(absl::string_view id) {
  return absl::StrCat("id: ", FieldValue(id), "\n\n");
}

std::string FormatSseComment(absl::string_view text) {
  return absl::StrCat(":", text.empty() ? "" : " ", FieldValue(text), "\n\n");
}

std::string FormatSseRetry(absl::Duration delay) {
  return absl::StrCat("retry: ", absl::ToInt64Milliseconds(delay), "\n\n");
}

std::optional<int64_t> ParseLastEventId(absl::string_view value) {
  if (value.empty() || value.size() > 19) return std::nullopt;
  for (char c : value) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return std::nullopt;
  }
  int64_t revision;
  if (!absl::SimpleAtoi(value, &revision) || revision <= 0) return std::nullopt;
  return revision;
}

}  // namespace etagd
