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

// The content codings a version may be sent in besides its stored form (the
// gateway compresses). §8.8.3: each such representation differs from the
// stored one, so it has an entity-tag of its own, strong too, derived from
// the version's.
inline constexpr absl::string_view kRepresentationCodings[] = {"gzip", "br"};

// The entity-tag of `version_tag`'s version sent in `coding`: its
// opaque-tag, "-", and the coding ("\"2a-5f0c..\"" in gzip is
// "\"2a-5f0c..-gzip\""), as strong as `version_tag`. A version's own tag is
// "<revision hex>-<16 hex digits>", and no coding name is hex, so a coded
// tag never equals any version's tag, and each names one version and one
// coding. Like version tags, coded tags are never reused.
EntityTag CodedEntityTag(const EntityTag& version_tag, absl::string_view coding);

}  // namespace etagd

#endif  // ETAGD_SERVICE_ENTITY_TAG_H_
