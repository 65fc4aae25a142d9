#include "service/caching_store.h"

#include <list>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/synchronization/mutex.h"

namespace etagd {
namespace {

// Per-entry bookkeeping beyond the name and content, roughly.
constexpr int64_t kEntryOverhead = 256;

class CachingStore final : public Store {
 public:
  CachingStore(std::unique_ptr<Store> inner, CachingStoreOptions options)
      : inner_(std::move(inner)),
        shard_capacity_(options.capacity_bytes / std::max(1, options.shards)),
        shards_(static_cast<size_t>(std::max(1, options.shards))) {}

  absl::StatusOr<std::optional<Record>> ReadCurrent(absl::string_view name,
                                                    bool with_content) override {
    Shard& shard = ShardFor(name);
    uint64_t generation;
    {
      absl::MutexLock lock(&shard.mu);
      auto it = shard.entries.find(name);
      if (it != shard.entries.end()) {
        shard.lru.splice(shard.lru.begin(), shard.lru, it->second.position);
        return std::optional<Record>(Copy(*it->second.record, with_content));
      }
      generation = shard.generation;
    }
    // Only reads with content fill the cache (an entry serves both kinds);
    // metadata-only reads, which writes make, never copy content.
    absl::StatusOr<std::optional<Record>> read =
        inner_->ReadCurrent(name, with_content);
    if (!with_content || !read.ok() || !read->has_value()) return read;
    auto record = std::make_shared<const Record>(**read);
    absl::MutexLock lock(&shard.mu);
    if (shard.generation == generation && !shard.entries.contains(name)) {
      Insert(shard, std::string(name), std::move(record));
    }
    return read;
  }

  absl::StatusOr<Record> ReadRevision(absl::string_view name,
                                      int64_t revision) override {
    return inner_->ReadRevision(name, revision);
  }

  absl::StatusOr<Record> Write(const WriteRequest& request) override {
    absl::StatusOr<Record> written = inner_->Write(request);
    // Whatever the outcome, the cached record may be stale now.
    Shard& shard = ShardFor(request.name);
    absl::MutexLock lock(&shard.mu);
    auto it = shard.entries.find(request.name);
    if (it != shard.entries.end()) Erase(shard, it);
    ++shard.generation;
    return written;
  }

  absl::StatusOr<ListPage> List(absl::string_view prefix,
                                absl::string_view start_after, int limit,
                                bool with_content) override {
    return inner_->List(prefix, start_after, limit, with_content);
  }

  absl::StatusOr<ListPage> ListVersions(absl::string_view name,
                                        int64_t before_revision,
                                        int limit) override {
    return inner_->ListVersions(name, before_revision, limit);
  }

  absl::StatusOr<int64_t> Checkpoint(const std::string& directory) override {
    return inner_->Checkpoint(directory);
  }

 private:
  struct Entry {
    std::shared_ptr<const Record> record;
    std::list<std::string>::iterator position;
    int64_t bytes = 0;
  };

  struct Shard {
    absl::Mutex mu;
    // Bumped by every write to a name of this shard.
    uint64_t generation ABSL_GUARDED_BY(mu) = 0;
    // Most recently used first.
    std::list<std::string> lru ABSL_GUARDED_BY(mu);
    absl::flat_hash_map<std::string, Entry> entries ABSL_GUARDED_BY(mu);
    int64_t bytes ABSL_GUARDED_BY(mu) = 0;
  };

  static Record Copy(const Record& record, bool with_content) {
    if (with_content) return record;
    Record copy;
    copy.name = record.name;
    copy.content_length = record.content_length;
    copy.content_type = record.content_type;
    copy.revision = record.revision;
    copy.create_revision = record.create_revision;
    copy.version = record.version;
    copy.create_time = record.create_time;
    copy.update_time = record.update_time;
    copy.etag = record.etag;
    copy.deleted = record.deleted;
    copy.request_id = record.request_id;
    copy.created = record.created;
    copy.past_request_ids = record.past_request_ids;
    return copy;
  }

  Shard& ShardFor(absl::string_view name) {
    return shards_[absl::Hash<absl::string_view>()(name) % shards_.size()];
  }

  void Insert(Shard& shard, std::string name, std::shared_ptr<const Record> record)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu) {
    const int64_t bytes = static_cast<int64_t>(name.size() + record->content.size()) +
                          kEntryOverhead;
    if (bytes > shard_capacity_) return;  // Would evict everything else.
    while (shard.bytes + bytes > shard_capacity_ && !shard.lru.empty()) {
      Erase(shard, shard.entries.find(shard.lru.back()));
    }
    shard.lru.push_front(name);
    shard.bytes += bytes;
    shard.entries.emplace(std::move(name),
                          Entry{std::move(record), shard.lru.begin(), bytes});
  }

  void Erase(Shard& shard, absl::flat_hash_map<std::string, Entry>::iterator it)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu) {
    shard.bytes -= it->second.bytes;
    shard.lru.erase(it->second.position);
    shard.entries.erase(it);
  }

  const std::unique_ptr<Store> inner_;
  const int64_t shard_capacity_;
  std::vector<Shard> shards_;
};

}  // namespace

std::unique_ptr<Store> NewCachingStore(std::unique_ptr<Store> inner,
                                       CachingStoreOptions options) {
  return std::make_unique<CachingStore>(std::move(inner), options);
}

}  // namespace etagd
