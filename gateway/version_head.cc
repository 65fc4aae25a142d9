#include "gateway/version_head.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "gateway/http_date.h"

namespace etagd {
namespace {

void AppendLine(absl::string_view name, absl::string_view value, std::string* out) {
  absl::StrAppend(out, name, ": ", value, "\r\n");
}

void AppendDateLine(absl::string_view name, absl::Time t, std::string* out) {
  char text[kHttpDateSize];
  if (FormatHttpDateTo(absl::ToUnixSeconds(t), text)) {
    AppendLine(name, absl::string_view(text, kHttpDateSize), out);
  } else {
    AppendLine(name, FormatHttpDate(t), out);
  }
}

}  // namespace

VersionHead FormatVersionHead(const VersionRepresentation& representation,
                              bool complete) {
  static const HttpMetadata* const kNone = new HttpMetadata;
  const HttpMetadata& metadata =
      representation.metadata != nullptr ? *representation.metadata : *kNone;
  VersionHead head;
  std::string& out = head.lines;
  // RFC 9110 §15.4.5: what a 304 carries of a 200's fields.
  AppendLine("ETag", representation.etag, &out);
  const absl::string_view cache_control = metadata.cache_control.empty()
                                              ? representation.default_cache_control
                                              : metadata.cache_control;
  if (!cache_control.empty()) AppendLine("Cache-Control", cache_control, &out);
  if (metadata.expires.has_value()) AppendDateLine("Expires", *metadata.expires, &out);
  if (representation.varies) AppendLine("Vary", "Accept-Encoding", &out);
  head.not_modified_size = out.size();
  if (!complete) return head;

  head.complete = true;
  AppendDateLine("Last-Modified", representation.last_modified, &out);
  AppendLine("Content-Type",
             representation.content_type.empty() ? "application/octet-stream"
                                                 : representation.content_type,
             &out);
  const std::pair<absl::string_view, const std::string*> stored[] = {
      {"Content-Disposition", &metadata.content_disposition},
      {"Content-Encoding", &metadata.content_encoding},
      {"Content-Language", &metadata.content_language},
  };
  for (const auto& [name, value] : stored) {
    if (!value->empty()) AppendLine(name, *value, &out);
  }
  // In key order (the map's), so that responses are the same byte for byte.
  for (const auto& [key, value] : metadata.user) {
    absl::StrAppend(&out, "X-Etagd-Meta-", key, ": ", value, "\r\n");
  }
  if (!representation.coding.empty()) {
    AppendLine("Content-Encoding", representation.coding, &out);
  }
  AppendLine("Accept-Ranges", "bytes", &out);
  head.unframed_size = out.size();
  absl::StrAppend(&out, "Content-Length: ", representation.content_length, "\r\n");
  return head;
}

}  // namespace etagd
