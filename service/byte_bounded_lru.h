// A map from string keys to values bounded by the bytes its entries take,
// the least recently used falling out first: the entry, list and byte count
// every in-memory cache of etagd shares. What an entry costs is the
// caller's estimate (its key, its value and their bookkeeping), given with
// each insert; what a value means, when it is stale, how the cache is
// locked or sharded stay with the caller.
#ifndef ETAGD_SERVICE_BYTE_BOUNDED_LRU_H_
#define ETAGD_SERVICE_BYTE_BOUNDED_LRU_H_

#include <cstdint>
#include <list>
#include <string>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"

namespace etagd {

// Not thread-safe: callers serialize every call, const ones included (a
// cache shared by threads holds it under its own mutex, or one per shard).
// Pointers it returns stay valid until the next call that is not const.
template <typename Value>
class ByteBoundedLru {
 public:
  // Keeps entries totalling at most `capacity_bytes`; 0 (or less) keeps
  // nothing.
  explicit ByteBoundedLru(int64_t capacity_bytes) : capacity_(capacity_bytes) {}

  ByteBoundedLru(const ByteBoundedLru&) = delete;
  ByteBoundedLru& operator=(const ByteBoundedLru&) = delete;

  // The value kept for `key`, which becomes the most recently used; null if
  // none is.
  Value* Find(absl::string_view key) {
    auto it = index_.find(key);
    if (it == index_.end()) return nullptr;
    lru_.splice(lru_.begin(), lru_, it->second);
    return &it->second->value;
  }

  // The value kept for `key`, leaving the order as it is; null if none is.
  const Value* Peek(absl::string_view key) const {
    auto it = index_.find(key);
    return it == index_.end() ? nullptr : &it->second->value;
  }

  bool Contains(absl::string_view key) const { return index_.contains(key); }

  // Keeps `value` for `key` as the most recently used entry, counted as
  // `bytes` (at least 0), in place of any value kept for `key`; drops the
  // least recently used others until the entries fit the capacity. An
  // entry larger than the capacity is not kept, and then nothing is kept
  // for `key` any more. Whether it was kept.
  bool Insert(absl::string_view key, Value value, int64_t bytes) {
    auto it = index_.find(key);
    if (bytes > capacity_ || capacity_ <= 0) {
      if (it != index_.end()) Erase(it);
      return false;
    }
    if (it != index_.end()) {
      Entry& entry = *it->second;
      entry.value = std::move(value);
      bytes_ += bytes - entry.bytes;
      entry.bytes = bytes;
      lru_.splice(lru_.begin(), lru_, it->second);
    } else {
      lru_.push_front(Entry{std::string(key), std::move(value), bytes});
      // The index's key is a view of the entry's own, which a list node
      // never moves.
      index_.emplace(lru_.front().key, lru_.begin());
      bytes_ += bytes;
    }
    // The new entry fits by itself, so it is never the one dropped.
    while (bytes_ > capacity_) Erase(index_.find(lru_.back().key));
    return true;
  }

  // Drops what is kept for `key`; false if nothing was.
  bool Erase(absl::string_view key) {
    auto it = index_.find(key);
    if (it == index_.end()) return false;
    Erase(it);
    return true;
  }

  void Clear() {
    index_.clear();
    lru_.clear();
    bytes_ = 0;
  }

  int64_t capacity() const { return capacity_; }
  // What the entries take, as their inserts counted them; never above the
  // capacity.
  int64_t bytes() const { return bytes_; }
  int64_t entries() const { return static_cast<int64_t>(index_.size()); }

 private:
  struct Entry {
    std::string key;
    Value value;
    int64_t bytes;
  };
  using Position = typename std::list<Entry>::iterator;
  using Index = absl::flat_hash_map<absl::string_view, Position>;

  void Erase(typename Index::iterator it) {
    const Position position = it->second;
    bytes_ -= position->bytes;
    // The index entry first: its key views the list entry's.
    index_.erase(it);
    lru_.erase(position);
  }

  const int64_t capacity_;
  // Most recently used first.
  std::list<Entry> lru_;
  Index index_;
  int64_t bytes_ = 0;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_BYTE_BOUNDED_LRU_H_
