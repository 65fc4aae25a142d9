#include "gateway/api_preconditions.h"

#include <optional>
#include <string>

#include "google/protobuf/repeated_ptr_field.h"
#include "service/entity_tag.h"
#include "service/request_validation.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

void AddTags(const EntityTagCondition& condition,
             google::protobuf::RepeatedPtrField<std::string>* out) {
  if (condition.any) out->Add("*");
  for (const EntityTag& tag : condition.tags) {
    std::string text = FormatEntityTag(tag);
    out->Add(IsValidUtf8(text) ? std::move(text) : std::string("\"\""));
  }
}

}  // namespace

v1::Preconditions ToApiPreconditions(const Preconditions& conditions) {
  v1::Preconditions api;
  if (conditions.if_match.has_value()) {
    AddTags(*conditions.if_match, api.mutable_if_match());
  }
  if (conditions.if_none_match.has_value()) {
    AddTags(*conditions.if_none_match, api.mutable_if_none_match());
  }
  if (conditions.if_modified_since.has_value()) {
    api.mutable_if_modified_since()->set_seconds(
        absl::ToUnixSeconds(*conditions.if_modified_since));
  }
  if (conditions.if_unmodified_since.has_value()) {
    api.mutable_if_unmodified_since()->set_seconds(
        absl::ToUnixSeconds(*conditions.if_unmodified_since));
  }
  return api;
}

}  // namespace etagd
