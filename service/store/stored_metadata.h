// Copies HttpMetadata (record.h) to and from an engine's stored record. Each
// engine's record message has the same fields for it (cache_control,
// content_disposition, content_encoding, content_language, optional
// expires_us, map user_metadata), so both engines share this one copy.
#ifndef ETAGD_SERVICE_STORE_STORED_METADATA_H_
#define ETAGD_SERVICE_STORE_STORED_METADATA_H_

#include <string>

#include "absl/time/time.h"
#include "service/store/record.h"

namespace etagd {

template <typename StoredRecord>
void StoreHttpMetadata(const HttpMetadata& metadata, StoredRecord* out) {
  out->set_cache_control(metadata.cache_control);
  out->set_content_disposition(metadata.content_disposition);
  out->set_content_encoding(metadata.content_encoding);
  out->set_content_language(metadata.content_language);
  if (metadata.expires.has_value()) {
    out->set_expires_us(absl::ToUnixMicros(*metadata.expires));
  }
  for (const auto& [key, value] : metadata.user) {
    (*out->mutable_user_metadata())[key] = value;
  }
}

template <typename StoredRecord>
HttpMetadata LoadHttpMetadata(const StoredRecord& stored) {
  HttpMetadata metadata;
  metadata.cache_control = stored.cache_control();
  metadata.content_disposition = stored.content_disposition();
  metadata.content_encoding = stored.content_encoding();
  metadata.content_language = stored.content_language();
  if (stored.has_expires_us()) {
    metadata.expires = absl::FromUnixMicros(stored.expires_us());
  }
  for (const auto& [key, value] : stored.user_metadata()) {
    metadata.user.emplace(key, value);
  }
  return metadata;
}

// Bytes `metadata` adds to a stored record, roughly (for space accounting).
inline size_t HttpMetadataBytes(const HttpMetadata& metadata) {
  size_t bytes = metadata.cache_control.size() +
                 metadata.content_disposition.size() +
                 metadata.content_encoding.size() +
                 metadata.content_language.size() + 16;
  for (const auto& [key, value] : metadata.user) {
    bytes += key.size() + value.size() + 4;
  }
  return bytes;
}

}  // namespace etagd

#endif  // ETAGD_SERVICE_STORE_STORED_METADATA_H_
