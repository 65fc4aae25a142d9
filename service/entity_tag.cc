#include "service/entity_tag.h"

namespace etagd {
namespace {

// etagc = %x21 / %x23-7E / obs-text (%x80-FF).
bool IsEtagChar(unsigned char c) {
  return c == 0x21 || (c >= 0x23 && c <= 0x7E) || c >= 0x80;
}

}  // namespace

std::optional<EntityTag> ParseEntityTag(absl::string_view text) {
  EntityTag tag;
  if (text.size() >= 2 && text[0] == 'W' && text[1] == '/') {
    tag.weak = true;
    text.remove_prefix(2);
  }
  if (text.size() < 2 || text.front() != '"' || text.back() != '"') {
    return std::nullopt;
  }
  absl::string_view opaque = text.substr(1, text.size() - 2);
  for (char c : opaque) {
    if (!IsEtagChar(static_cast<unsigned char>(c))) return std::nullopt;
  }
  tag.opaque = std::string(opaque);
  return tag;
}

std::string FormatEntityTag(const EntityTag& tag) {
  std::string out = tag.weak ? "W/\"" : "\"";
  out.append(tag.opaque);
  out.push_back('"');
  return out;
}

bool StrongMatch(const EntityTag& a, const EntityTag& b) {
  return !a.weak && !b.weak && a.opaque == b.opaque;
}

bool WeakMatch(const EntityTag& a, const EntityTag& b) {
  return a.opaque == b.opaque;
}

EntityTag CodedEntityTag(const EntityTag& version_tag, absl::string_view coding) {
  EntityTag coded = version_tag;
  coded.opaque.push_back('-');
  coded.opaque.append(coding.data(), coding.size());
  return coded;
}

}  // namespace etagd
