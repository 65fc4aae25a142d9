// The coded representations (gzip, br) the gateway sends, each computed
// once per version and coding and kept, least recently used first out,
// within a byte budget. A version's content never changes under its
// entity-tag, so an entry is never stale: it only falls out.
#ifndef ETAGD_GATEWAY_CODED_CACHE_H_
#define ETAGD_GATEWAY_CODED_CACHE_H_

#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "service/byte_bounded_lru.h"

namespace etagd {

// Thread-safe.
class CodedCache {
 public:
  // Keeps at most `capacity_bytes` of coded content (plus a small overhead
  // per entry, counted too); 0 keeps nothing.
  explicit CodedCache(int64_t capacity_bytes);

  CodedCache(const CodedCache&) = delete;
  CodedCache& operator=(const CodedCache&) = delete;

  // `content`, the version tagged `etag`, in `coding` (EncodeContent): from
  // the cache, else encoded now and kept if it fits. Concurrent calls for
  // the same version and coding encode it once: the others wait for it.
  absl::StatusOr<std::shared_ptr<const std::string>> Get(
      absl::string_view etag, absl::string_view coding, absl::string_view content);

  // Bytes the entries take, overhead included; never above the capacity.
  int64_t bytes() const ABSL_LOCKS_EXCLUDED(mu_);
  int64_t entries() const ABSL_LOCKS_EXCLUDED(mu_);
  // Encodings made so far (cache misses), for tests and metrics.
  int64_t encodes() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  // An encoding under way, which callers for the same key wait for.
  struct Pending {
    absl::Notification done;
    absl::StatusOr<std::shared_ptr<const std::string>> result;
  };

  static int64_t EntryBytes(absl::string_view key, const std::string& coded);

  mutable absl::Mutex mu_;
  ByteBoundedLru<std::shared_ptr<const std::string>> coded_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::shared_ptr<Pending>> pending_
      ABSL_GUARDED_BY(mu_);
  int64_t encodes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace etagd

#endif  // ETAGD_GATEWAY_CODED_CACHE_H_
