#include "gateway/coded_cache.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "gateway/content_coding.h"

namespace etagd {

CodedCache::CodedCache(int64_t capacity_bytes) : coded_(capacity_bytes) {}

int64_t CodedCache::EntryBytes(absl::string_view key, const std::string& coded) {
  // The key, the coded content, its string and the cache's list and index
  // entries.
  constexpr int64_t kOverheadBytes = 128;
  return kOverheadBytes + static_cast<int64_t>(key.size()) +
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
    if (const std::shared_ptr<const std::string>* hit = coded_.Find(key)) {
      return *hit;
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
    // One too big to keep is served this once, encoded again next time.
    if (pending->result.ok()) {
      coded_.Insert(key, *pending->result, EntryBytes(key, **pending->result));
    }
    pending_.erase(key);
  }
  pending->done.Notify();
  return pending->result;
}

int64_t CodedCache::bytes() const {
  absl::MutexLock lock(&mu_);
  return coded_.bytes();
}

int64_t CodedCache::entries() const {
  absl::MutexLock lock(&mu_);
  return coded_.entries();
}

int64_t CodedCache::encodes() const {
  absl::MutexLock lock(&mu_);
  return encodes_;
}

}  // namespace etagd
