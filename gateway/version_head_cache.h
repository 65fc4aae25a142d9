// Versions' pre-formatted field lines (version_head.h), kept per
// representation's entity-tag, least recently used first out, within a byte
// budget. An entity-tag names one version and one coding and is never
// reused, not across delete and re-create (entity_tag.h), and every request
// reads the current version's tag before looking here: a write or a delete
// makes the old tag's lines unreachable, so they can never be served for
// another version; they only fall out.
#ifndef ETAGD_GATEWAY_VERSION_HEAD_CACHE_H_
#define ETAGD_GATEWAY_VERSION_HEAD_CACHE_H_

#include <cstdint>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "gateway/version_head.h"
#include "service/byte_bounded_lru.h"

namespace etagd {

// Thread-safe.
class VersionHeadCache {
 public:
  // Keeps at most `capacity_bytes` (entries' lines, keys and a small
  // overhead per entry, all counted); 0 keeps nothing.
  explicit VersionHeadCache(int64_t capacity_bytes);

  VersionHeadCache(const VersionHeadCache&) = delete;
  VersionHeadCache& operator=(const VersionHeadCache&) = delete;

  // The head kept for the representation tagged `etag`, or null.
  std::shared_ptr<const VersionHead> Find(absl::string_view etag)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Keeps `head` for `etag`, replacing what was kept for it, if it fits.
  void Insert(absl::string_view etag, std::shared_ptr<const VersionHead> head)
      ABSL_LOCKS_EXCLUDED(mu_);

  // Bytes the entries take, overhead included; never above the capacity.
  int64_t bytes() const ABSL_LOCKS_EXCLUDED(mu_);
  int64_t entries() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  static int64_t EntryBytes(absl::string_view etag, const VersionHead& head);

  mutable absl::Mutex mu_;
  ByteBoundedLru<std::shared_ptr<const VersionHead>> heads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace etagd

#endif  // ETAGD_GATEWAY_VERSION_HEAD_CACHE_H_
