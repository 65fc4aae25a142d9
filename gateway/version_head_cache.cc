#include "gateway/version_head_cache.h"

#include <utility>

namespace etagd {

VersionHeadCache::VersionHeadCache(int64_t capacity_bytes)
    : capacity_(capacity_bytes) {}

int64_t VersionHeadCache::EntryBytes(absl::string_view etag, const VersionHead& head) {
  // The key twice (map and list), the head, the map and list nodes.
  constexpr int64_t kOverheadBytes = 160;
  return kOverheadBytes + 2 * static_cast<int64_t>(etag.size()) +
         static_cast<int64_t>(head.lines.capacity());
}

std::shared_ptr<const VersionHead> VersionHeadCache::Find(absl::string_view etag) {
  absl::MutexLock lock(&mu_);
  auto hit = entries_.find(etag);
  if (hit == entries_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, hit->second.lru);
  return hit->second.head;
}

void VersionHeadCache::Insert(absl::string_view etag,
                              std::shared_ptr<const VersionHead> head) {
  const int64_t bytes = EntryBytes(etag, *head);
  absl::MutexLock lock(&mu_);
  if (auto old = entries_.find(etag); old != entries_.end()) Erase(old);
  // Too big to keep: formatted again next time.
  if (bytes > capacity_) return;
  while (bytes_ + bytes > capacity_ && !lru_.empty()) {
    Erase(entries_.find(lru_.back()));
  }
  lru_.emplace_front(etag);
  entries_.emplace(etag, Entry{std::move(head), lru_.begin(), bytes});
  bytes_ += bytes;
}

void VersionHeadCache::Erase(absl::flat_hash_map<std::string, Entry>::iterator it) {
  bytes_ -= it->second.bytes;
  lru_.erase(it->second.lru);
  entries_.erase(it);
}

int64_t VersionHeadCache::bytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

int64_t VersionHeadCache::entries() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(entries_.size());
}

}  // namespace etagd
