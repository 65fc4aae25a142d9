#include "service/request_validation.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "service/status_macros.h"

namespace etagd {
namespace {

// Decodes the code point at text[i], advancing i; -1 if malformed.
int32_t NextCodePoint(absl::string_view text, size_t& i) {
  const unsigned char lead = static_cast<unsigned char>(text[i]);
  int length;
  int32_t cp;
  int32_t min;
  if (lead < 0x80) {
    ++i;
    return lead;
  } else if ((lead & 0xE0) == 0xC0) {
    length = 2, cp = lead & 0x1F, min = 0x80;
  } else if ((lead & 0xF0) == 0xE0) {
    length = 3, cp = lead & 0x0F, min = 0x800;
  } else if ((lead & 0xF8) == 0xF0) {
    length = 4, cp = lead & 0x07, min = 0x10000;
  } else {
    return -1;
  }
  if (text.size() - i < static_cast<size_t>(length)) return -1;
  for (int k = 1; k < length; ++k) {
    const unsigned char c = static_cast<unsigned char>(text[i + k]);
    if ((c & 0xC0) != 0x80) return -1;
    cp = (cp << 6) | (c & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  i += length;
  return cp;
}

absl::Status ValidateNameText(absl::string_view text, absl::string_view field) {
  if (text.size() > kMaxNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " is ", text.size(), " bytes long; the limit is ", kMaxNameBytes));
  }
  for (size_t i = 0; i < text.size();) {
    // Printable ASCII, nearly every byte of a name, needs no decoding.
    if (text[i] >= 0x20 && text[i] < 0x7F) {
      ++i;
      continue;
    }
    const size_t at = i;
    const int32_t cp = NextCodePoint(text, i);
    if (cp < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, " is not valid UTF-8 (at byte ", at, ")"));
    }
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, " contains a control character (at byte ", at, ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckEntityTagCount(size_t count, absl::string_view field) {
  if (count > static_cast<size_t>(kMaxEntityTags)) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, " lists ", count, " entity-tags; the limit is ",
        kMaxEntityTags));
  }
  return absl::OkStatus();
}

absl::Status StarStandsAlone(absl::string_view field) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": \"*\" cannot be combined with entity-tags"));
}

absl::StatusOr<EntityTagCondition> ParseTagList(
    const google::protobuf::RepeatedPtrField<std::string>& list,
    absl::string_view field) {
  ETAGD_RETURN_IF_ERROR(CheckEntityTagCount(list.size(), field));
  EntityTagCondition condition;
  for (int i = 0; i < list.size(); ++i) {
    const std::string& text = list.Get(i);
    if (text == "*") {
      if (list.size() != 1) return StarStandsAlone(field);
      condition.any = true;
      continue;
    }
    std::optional<EntityTag> tag = ParseEntityTag(text);
    if (!tag.has_value()) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, "[", i, "] is not an entity-tag (RFC 9110 §8.8.3: \"opaque\" "
          "or W/\"opaque\"): '", absl::CHexEscape(text.substr(0, 100)), "'"));
    }
    condition.tags.push_back(*std::move(tag));
  }
  return condition;
}

// The range google.protobuf.Timestamp allows: years 1 to 9999.
constexpr int64_t kMinSeconds = -62135596800;
constexpr int64_t kMaxSeconds = 253402300799;

absl::Status TimestampError(absl::string_view field) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, " is not a valid timestamp"));
}

absl::StatusOr<absl::Time> ParseTimestamp(const google::protobuf::Timestamp& t,
                                          absl::string_view field) {
  if (t.seconds() < kMinSeconds || t.seconds() > kMaxSeconds || t.nanos() < 0 ||
      t.nanos() > 999999999) {
    return TimestampError(field);
  }
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// A field-value (RFC 9110 §5.5) we can store and send back unchanged:
// visible ASCII and spaces, no leading or trailing whitespace (obs-text and
// control characters refused).
absl::Status ValidateFieldValue(absl::string_view value,
                                absl::string_view field) {
  for (char c : value) {
    if (c < 0x20 || c > 0x7E) {
      return absl::InvalidArgumentError(absl::StrCat(
          field, " may contain only visible ASCII characters and spaces"));
    }
  }
  if (!value.empty() && (value.front() == ' ' || value.back() == ' ')) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " must not begin or end with a space"));
  }
  return absl::OkStatus();
}

// tchar (RFC 9110 §5.6.2).
bool IsTokenChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) ||
         absl::string_view("!#$%&'*+-.^_`|~").find(c) != absl::string_view::npos;
}

// Content-Encoding = #content-coding (§8.4.1), each a token.
absl::Status ValidateContentEncoding(absl::string_view value) {
  for (absl::string_view coding : absl::StrSplit(value, ',')) {
    coding = absl::StripAsciiWhitespace(coding);
    if (coding.empty() || !std::all_of(coding.begin(), coding.end(), IsTokenChar)) {
      return absl::InvalidArgumentError(
          "content_encoding must be a comma-separated list of coding names");
    }
    if (absl::EqualsIgnoreCase(coding, "identity")) {
      return absl::InvalidArgumentError(
          "content_encoding must not name \"identity\", which is no coding "
          "(RFC 9110 section 8.4.1); leave it empty");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateUserMetadataKey(absl::string_view key) {
  if (key.empty() || key.size() > kMaxUserMetadataKeyBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "user_metadata keys must be 1 to ", kMaxUserMetadataKeyBytes,
        " bytes long"));
  }
  for (char c : key) {
    if (!(absl::ascii_islower(static_cast<unsigned char>(c)) ||
          absl::ascii_isdigit(static_cast<unsigned char>(c)) || c == '-' ||
          c == '_')) {
      return absl::InvalidArgumentError(absl::StrCat(
          "user_metadata key '", absl::CHexEscape(key),
          "' may contain only lowercase letters, digits, '-' and '_'"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<HttpMetadata> ParseHttpMetadata(
    const etagd::v1::HttpMetadata& proto) {
  HttpMetadata metadata;
  size_t bytes = 0;
  const std::pair<const std::string*, std::string*> fields[] = {
      {&proto.cache_control(), &metadata.cache_control},
      {&proto.content_disposition(), &metadata.content_disposition},
      {&proto.content_encoding(), &metadata.content_encoding},
      {&proto.content_language(), &metadata.content_language},
  };
  const absl::string_view names[] = {"cache_control", "content_disposition",
                                     "content_encoding", "content_language"};
  for (size_t i = 0; i < 4; ++i) {
    ETAGD_RETURN_IF_ERROR(ValidateFieldValue(*fields[i].first, names[i]));
    *fields[i].second = *fields[i].first;
    bytes += fields[i].first->size();
  }
  if (!metadata.content_encoding.empty()) {
    ETAGD_RETURN_IF_ERROR(ValidateContentEncoding(metadata.content_encoding));
  }
  if (proto.has_expires()) {
    ETAGD_ASSIGN_OR_RETURN(absl::Time expires,
                           ParseTimestamp(proto.expires(), "expires"));
    // Sent as an HTTP-date, which has whole seconds.
    metadata.expires = absl::FromUnixSeconds(absl::ToUnixSeconds(expires));
  }
  if (proto.user_metadata_size() > kMaxUserMetadataEntries) {
    return absl::InvalidArgumentError(absl::StrCat(
        "user_metadata has ", proto.user_metadata_size(),
        " entries; the limit is ", kMaxUserMetadataEntries));
  }
  for (const auto& [key, value] : proto.user_metadata()) {
    ETAGD_RETURN_IF_ERROR(ValidateUserMetadataKey(key));
    ETAGD_RETURN_IF_ERROR(ValidateFieldValue(
        value, absl::StrCat("user_metadata value of '", key, "'")));
    bytes += key.size() + value.size();
    metadata.user.emplace(key, value);
  }
  if (bytes > kMaxHttpMetadataBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "http_metadata takes ", bytes, " bytes; the limit is ",
        kMaxHttpMetadataBytes));
  }
  return metadata;
}

bool IsValidUtf8(absl::string_view text) {
  for (size_t i = 0; i < text.size();) {
    // Runs of ASCII (names, paths, entity-tags mostly are), 8 bytes a step.
    uint64_t word;
    while (text.size() - i >= sizeof word) {
      std::memcpy(&word, text.data() + i, sizeof word);
      if ((word & 0x8080808080808080u) != 0) break;
      i += sizeof word;
    }
    if (i == text.size()) break;
    if (NextCodePoint(text, i) < 0) return false;
  }
  return true;
}

absl::Status ValidateName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("name is empty");
  return ValidateNameText(name, "name");
}

absl::Status ValidateNewName(absl::string_view name) {
  ETAGD_RETURN_IF_ERROR(ValidateName(name));
  for (absl::string_view segment : absl::StrSplit(name, '/')) {
    if (segment.empty()) {
      return absl::InvalidArgumentError(
          "name has an empty segment (a leading, trailing or doubled '/'); "
          "URL normalization would make its URL name another resource");
    }
    if (segment == "." || segment == "..") {
      return absl::InvalidArgumentError(absl::StrCat(
          "name has a '", segment,
          "' segment; URL normalization would make its URL name another "
          "resource"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidatePrefix(absl::string_view prefix) {
  return ValidateNameText(prefix, "prefix");
}

absl::Status ValidateContentType(absl::string_view content_type) {
  if (content_type.size() > kMaxContentTypeBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "content_type is ", content_type.size(), " bytes long; the limit is ",
        kMaxContentTypeBytes));
  }
  for (char c : content_type) {
    if (c < 0x20 || c > 0x7E) {
      return absl::InvalidArgumentError(
          "content_type may contain only visible ASCII characters and spaces");
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateRequestId(absl::string_view request_id) {
  if (request_id.size() > kMaxRequestIdBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request_id is ", request_id.size(), " bytes long; the limit is ",
        kMaxRequestIdBytes));
  }
  for (char c : request_id) {
    if (c < 0x21 || c > 0x7E) {
      return absl::InvalidArgumentError(
          "request_id may contain only visible ASCII characters");
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Preconditions> ParsePreconditions(
    const etagd::v1::Preconditions& proto) {
  Preconditions conditions;
  if (proto.if_match_size() > 0) {
    ETAGD_ASSIGN_OR_RETURN(conditions.if_match,
                           ParseTagList(proto.if_match(), "if_match"));
  }
  if (proto.if_none_match_size() > 0) {
    ETAGD_ASSIGN_OR_RETURN(conditions.if_none_match,
                           ParseTagList(proto.if_none_match(), "if_none_match"));
  }
  if (proto.has_if_modified_since()) {
    ETAGD_ASSIGN_OR_RETURN(
        conditions.if_modified_since,
        ParseTimestamp(proto.if_modified_since(), "if_modified_since"));
  }
  if (proto.has_if_unmodified_since()) {
    ETAGD_ASSIGN_OR_RETURN(
        conditions.if_unmodified_since,
        ParseTimestamp(proto.if_unmodified_since(), "if_unmodified_since"));
  }
  return conditions;
}

absl::Status ValidatePreconditions(const Preconditions& conditions) {
  const std::pair<const std::optional<EntityTagCondition>*, absl::string_view>
      lists[] = {{&conditions.if_match, "if_match"},
                 {&conditions.if_none_match, "if_none_match"}};
  for (const auto& [list, field] : lists) {
    if (!list->has_value()) continue;
    ETAGD_RETURN_IF_ERROR(CheckEntityTagCount(
        (*list)->tags.size() + ((*list)->any ? 1 : 0), field));
    if ((*list)->any && !(*list)->tags.empty()) return StarStandsAlone(field);
  }
  const std::pair<const std::optional<absl::Time>*, absl::string_view> dates[] = {
      {&conditions.if_modified_since, "if_modified_since"},
      {&conditions.if_unmodified_since, "if_unmodified_since"}};
  for (const auto& [date, field] : dates) {
    if (!date->has_value()) continue;
    const absl::Time t = **date;
    if (t < absl::FromUnixSeconds(kMinSeconds) ||
        t >= absl::FromUnixSeconds(kMaxSeconds + 1)) {
      return TimestampError(field);
    }
  }
  return absl::OkStatus();
}

}  // namespace etagd
