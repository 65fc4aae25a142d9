// Entity-tags (RFC 9110 §8.8.3) and their comparison functions (§8.8.3.2).
#ifndef ETAGD_SERVICE_ENTITY_TAG_H_
#define ETAGD_SERVICE_ENTITY_TAG_H_

#include <optional>
#include <string>

#include "absl/strings/string_view.h"

namespace etagd {

// entity-tag = [ weak ] opaque-tag, where weak = "W/" (case-sensitive) and
// opaque-tag = DQUOTE *etagc DQUOTE, etagc = %x21 / %x23-7E / obs-text.
struct EntityTag {
  // The characters between the quotes.
  std::string opaque;
  bool weak = false;

  friend bool operator==(const EntityTag& a, const EntityTag& b) {
    return a.weak == b.weak && a.opaque == b.opaque;
  }
};

// Parses exactly one entity-tag (no surrounding whitespace); nullopt if
// `text` is not one.
std::optional<EntityTag> ParseEntityTag(absl::string_view text);

// The field-value form: "\"opaque\"" or "W/\"opaque\"".
std::string FormatEntityTag(const EntityTag& tag);

// §8.8.3.2: strong comparison; both must be strong and their opaque-tags
// identical.
bool StrongMatch(const EntityTag& a, const EntityTag& b);

// §8.8.3.2: weak comparison; opaque-tags identical, weakness ignored.
bool WeakMatch(const EntityTag& a, const EntityTag& b);

}  // namespace etagd

#endif  // ETAGD_SERVICE_ENTITY_TAG_H_
