#include "gateway/version_head_cache.h"

#include <utility>

namespace etagd {

VersionHeadCache::VersionHeadCache(int64_t capacity_bytes) : heads_(capacity_bytes) {}

int64_t VersionHeadCache::EntryBytes(absl::string_view etag, const VersionHead& head) {
  // The key, the lines, the head itself and the cache's list and index
  // entries.
  constexpr int64_t kOverheadBytes = 160;
  return kOverheadBytes + static_cast<int64_t>(etag.size()) +
         static_cast<int64_t>(head.lines.capacity());
}

std::shared_ptr<const VersionHead> VersionHeadCache::Find(absl::string_view etag) {
  absl::MutexLock lock(&mu_);
  const std::shared_ptr<const VersionHead>* head = heads_.Find(etag);
  return head != nullptr ? *head : nullptr;
}

void VersionHeadCache::Insert(absl::string_view etag,
                              std::shared_ptr<const VersionHead> head) {
  const int64_t bytes = EntryBytes(etag, *head);
  absl::MutexLock lock(&mu_);
  // One too big to keep is formatted again next time.
  heads_.Insert(etag, std::move(head), bytes);
}

int64_t VersionHeadCache::bytes() const {
  absl::MutexLock lock(&mu_);
  return heads_.bytes();
}

int64_t VersionHeadCache::entries() const {
  absl::MutexLock lock(&mu_);
  return heads_.entries();
}

}  // namespace etagd
