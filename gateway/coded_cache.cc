#include "gateway/coded_cache.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "gateway/content_coding.h"

namespace etagd {

CodedCache::CodedCache(int64_t capacity_bytes) : capacity_(capacity_bytes) {}

int64_t CodedCache::EntryBytes(absl::string_view key, const std::string& coded) {
  // The key twice (map and list), the string and map nodes.
  constexpr int64_t kOverheadBytes = 128;
  return kOverheadBytes + 2 * static_cast<int64_t>(key.size()) +
         static_cast<int64_t>(coded.size());
}

absl::StatusOr<std::shared_ptr<const std::string>> CodedCache::Get(
    absl::string_view etag, absl::string_view coding, absl::string_view content) {
  // An entity-tag has no space in it (§8.8.3, etagc), so the key is
  // unambiguous.
  const std::string key = absl::StrCat(coding, " ", etag);
  std::shared_ptr<Pending> pending;
  bool first = false;
  {
    absl::MutexLock lock(&mu_);
    auto hit = entries_.find(key);
    if (hit != entries_.end()) {
      lru_.splice(lru_.begin(), lru_, hit->second.lru);
      return hit->second.coded;
    }
    auto [it, inserted] = pending_.try_emplace(key);
    if (inserted) {
      it->second = std::make_shared<Pending>();
      ++encodes_;
    }
    pending = it->second;
    first = inserted;
  }
  if (!first) {
    pending->done.WaitForNotification();
    return pending->result;
  }
  // Encoded without the lock: other versions' requests go on meanwhile.
  absl::StatusOr<std::string> coded = EncodeContent(coding, content);
  if (coded.ok()) {
    pending->result = std::make_shared<const std::string>(*std::move(coded));
  } else {
    pending->result = coded.status();
  }
  {
    absl::MutexLock lock(&mu_);
    if (pending->result.ok()) Insert(key, *pending->result);
    pending_.erase(key);
  }
  pending->done.Notify();
  return pending->result;
}

void CodedCache::Insert(const std::string& key,
                        std::shared_ptr<const std::string> coded) {
  const int64_t bytes = EntryBytes(key, *coded);
  // Too big to keep: served this once, encoded again next time.
  if (bytes > capacity_) return;
  while (bytes_ + bytes > capacity_ && !lru_.empty()) {
    auto victim = entries_.find(lru_.back());
    bytes_ -= victim->second.bytes;
    entries_.erase(victim);
    lru_.pop_back();
  }
  lru_.push_front(key);
  entries_.emplace(key, Entry{std::move(coded), lru_.begin(), bytes});
  bytes_ += bytes;
}

int64_t CodedCache::bytes() const {
  absl::MutexLock lock(&mu_);
  return bytes_;
}

int64_t CodedCache::entries() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(entries_.size());
}

int64_t CodedCache::encodes() const {
  absl::MutexLock lock(&mu_);
  return encodes_;
}

}  // namespace etagd
