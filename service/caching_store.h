// A read cache in front of any Store: the current record of recently read
// names, kept in memory, so that hot reads skip the engine.
//
// Correctness: a cached record is never older than the last write that was
// acknowledged. A write updates the engine first, then drops the name's
// entry and bumps its shard's generation; a read that missed takes the
// generation before reading the engine and fills the cache only if no write
// to the shard happened meanwhile. So a read that raced with a write can
// return either version (they were concurrent) but never leaves the older
// one cached.
#ifndef ETAGD_SERVICE_CACHING_STORE_H_
#define ETAGD_SERVICE_CACHING_STORE_H_

#include <cstdint>
#include <memory>

#include "service/store.h"

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

#endif  // ETAGD_SERVICE_CACHING_STORE_H_
