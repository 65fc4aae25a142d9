#include "service/store/caching_store.h"

#include <algorithm>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/hash/hash.h"
#include "absl/synchronization/mutex.h"
#include "service/byte_bounded_lru.h"

namespace etagd {
namespace {

// Per-entry bookkeeping beyond the name and content, roughly.
constexpr int64_t kEntryOverhead = 256;

class CachingStore final : public Store {
 public:
  CachingStore(std::unique_ptr<Store> inner, CachingStoreOptions options)
      : inner_(std::move(inner)),
        shard_capacity_(options.capacity_bytes / std::max(1, options.shards)) {
    shards_.resize(static_cast<size_t>(std::max(1, options.shards)));
    for (auto& shard : shards_) shard = std::make_unique<Shard>(shard_capacity_);
  }

  absl::StatusOr<std::optional<Record>> ReadCurrent(absl::string_view name,
                                                    bool with_content) override {
    Shard& shard = ShardFor(name);
    uint64_t generation;
    std::shared_ptr<const Record> cached;
    {
      absl::MutexLock lock(&shard.mu);
      if (const std::shared_ptr<const Record>* hit = shard.records.Find(name)) {
        cached = *hit;
      }
      generation = shard.generation;
    }
    // Cached records are immutable: copy outside the lock, which readers
    // of one hot name would otherwise queue on.
    if (cached != nullptr) {
      // Copied where the caller receives it: each move of a Record (a
      // dozen strings) on the way out cost about what its copy does.
      using Result = absl::StatusOr<std::optional<Record>>;
      if (with_content) return Result(absl::in_place, std::in_place, *cached);
      Result copy(absl::in_place, std::in_place);
      CopyWithoutContent(*cached, **copy);
      return copy;
    }
    // Only reads with content fill the cache (an entry serves both kinds);
    // metadata-only reads never copy content.
    absl::StatusOr<std::optional<Record>> read =
        inner_->ReadCurrent(name, with_content);
    if (!with_content || !read.ok() || !read->has_value()) return read;
    auto record = std::make_shared<const Record>(**read);
    absl::MutexLock lock(&shard.mu);
    if (shard.generation == generation && !shard.records.Contains(name) &&
        !shard.writing.contains(name)) {
      Insert(shard, name, std::move(record));
    }
    return read;
  }

  absl::StatusOr<Record> ReadRevision(absl::string_view name,
                                      int64_t revision) override {
    return inner_->ReadRevision(name, revision);
  }

  // Write-through: the record a write makes is cached (with its content),
  // so that the next read or compare-and-set of the name skips the engine.
  // Writes to one name may overlap (the engine orders them); the record is
  // cached only by the last of them to finish, and only if it is the
  // latest revision any of them made.
  absl::StatusOr<Record> Write(const WriteRequest& request) override {
    BeginWrite(request.name);
    absl::StatusOr<Record> written = inner_->Write(request);
    EndWrite(request, written);
    return written;
  }

  std::vector<absl::StatusOr<Record>> WriteMany(
      absl::Span<const WriteRequest> requests) override {
    for (const WriteRequest& request : requests) BeginWrite(request.name);
    std::vector<absl::StatusOr<Record>> written = inner_->WriteMany(requests);
    for (size_t i = 0; i < requests.size(); ++i) EndWrite(requests[i], written[i]);
    return written;
  }

  using Store::List;
  absl::StatusOr<ListPage> List(absl::string_view prefix,
                                absl::string_view start_after, int limit,
                                bool with_content, int64_t at_revision) override {
    return inner_->List(prefix, start_after, limit, with_content, at_revision);
  }
  bool PinsListings() const override { return inner_->PinsListings(); }
  bool SupportsCheckpoint() const override { return inner_->SupportsCheckpoint(); }
  absl::Status CheckHealth() override { return inner_->CheckHealth(); }

  absl::StatusOr<ListPage> ListVersions(absl::string_view name,
                                        int64_t before_revision,
                                        int limit) override {
    return inner_->ListVersions(name, before_revision, limit);
  }

  absl::StatusOr<int64_t> Checkpoint(const std::string& directory) override {
    return inner_->Checkpoint(directory);
  }
  std::optional<StorageSpace> Space() override { return inner_->Space(); }
  absl::StatusOr<ChangeWindow> Changes() override { return inner_->Changes(); }
  absl::StatusOr<ChangePage> ReadChanges(int64_t from_revision,
                                         int64_t up_to_revision, int limit,
                                         bool with_content) override {
    return inner_->ReadChanges(from_revision, up_to_revision, limit,
                               with_content);
  }
  absl::StatusOr<std::unique_ptr<StoreView>> View() override {
    return inner_->View();
  }
  void SetCommitListener(std::function<void()> listener) override {
    inner_->SetCommitListener(std::move(listener));
  }

 private:
  // Writes of one name in progress.
  struct Pending {
    int count = 0;
    // The highest revision those that finished have made.
    int64_t latest_revision = 0;
  };

  struct Shard {
    explicit Shard(int64_t capacity_bytes) : records(capacity_bytes) {}

    absl::Mutex mu;
    absl::flat_hash_map<std::string, Pending> writing ABSL_GUARDED_BY(mu);
    // Bumped by every write to a name of this shard.
    uint64_t generation ABSL_GUARDED_BY(mu) = 0;
    ByteBoundedLru<std::shared_ptr<const Record>> records ABSL_GUARDED_BY(mu);
  };

  Shard& ShardFor(absl::string_view name) {
    return *shards_[absl::Hash<absl::string_view>()(name) % shards_.size()];
  }

  void BeginWrite(absl::string_view name) {
    Shard& shard = ShardFor(name);
    absl::MutexLock lock(&shard.mu);
    ++shard.writing[name].count;
    shard.records.Erase(name);
    ++shard.generation;
  }

  void EndWrite(const WriteRequest& request, const absl::StatusOr<Record>& written) {
    Shard& shard = ShardFor(request.name);
    absl::MutexLock lock(&shard.mu);
    auto pending = shard.writing.find(request.name);
    if (written.ok()) {
      pending->second.latest_revision =
          std::max(pending->second.latest_revision, written->revision);
    }
    const bool last = --pending->second.count == 0;
    const bool latest =
        written.ok() && written->revision == pending->second.latest_revision;
    if (last) shard.writing.erase(pending);
    // Whatever the outcome, an entry filled meanwhile may be stale now.
    shard.records.Erase(request.name);
    ++shard.generation;
    if (last && latest && Fits(request.name, request.content)) {
      auto record = std::make_shared<Record>(*written);
      if (!record->deleted) record->content = std::string(request.content);
      Insert(shard, request.name, std::move(record));
    }
  }

  static int64_t EntryBytes(absl::string_view name, absl::string_view content) {
    return static_cast<int64_t>(name.size() + content.size()) + kEntryOverhead;
  }

  // Checked before a record is copied for the cache: one larger than a
  // shard is not kept.
  bool Fits(absl::string_view name, absl::string_view content) const {
    return EntryBytes(name, content) <= shard_capacity_;
  }

  void Insert(Shard& shard, absl::string_view name,
              std::shared_ptr<const Record> record)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu) {
    const int64_t bytes = EntryBytes(name, record->content);
    shard.records.Insert(name, std::move(record), bytes);
  }

  const std::unique_ptr<Store> inner_;
  const int64_t shard_capacity_;
  std::vector<std::unique_ptr<Shard>> shards_;
};

}  // namespace

std::unique_ptr<Store> NewCachingStore(std::unique_ptr<Store> inner,
                                       CachingStoreOptions options) {
  return std::make_unique<CachingStore>(std::move(inner), options);
}

}  // namespace etagd
