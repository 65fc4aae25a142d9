// A cache in front of any Store: the current record of recently read or
// written names, kept in memory, so that hot reads, and the read that starts
// each compare-and-set, skip the engine.
//
// Correctness: a cached record is never older than the last write that was
// acknowledged. A write drops the name's entry and marks the name as being
// written; once the engine has it, the write caches the record it made
// unless another write of the name is still in progress or made a later
// revision. Every write bumps its shard's generation when it starts and
// ends; a read that missed takes the generation before reading the engine
// and fills the cache only if it is unchanged and no write of the name is in
// progress. So a read that raced with a write can return either version
// (they were concurrent) but never leaves the older one cached.
#ifndef ETAGD_SERVICE_STORE_CACHING_STORE_H_
#define ETAGD_SERVICE_STORE_CACHING_STORE_H_

#include <cstdint>
#include <memory>

#include "service/store/store.h"

namespace etagd {

struct CachingStoreOptions {
  // Most bytes of cached names and content (approximately).
  int64_t capacity_bytes = int64_t{64} << 20;
  // Independent LRU shards (each with its own lock).
  int shards = 64;
};

// Thread-safe if `inner` is.
std::unique_ptr<Store> NewCachingStore(std::unique_ptr<Store> inner,
                                       CachingStoreOptions options);

}  // namespace etagd

#endif  // ETAGD_SERVICE_STORE_CACHING_STORE_H_
