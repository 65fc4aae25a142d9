#include "service/store/consistent_cache.h"

#include <algorithm>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"

namespace etagd {
namespace {

// Per-entry bookkeeping beyond its strings, roughly.
constexpr int64_t kEntryOverhead = 256;
// The thread reads the change log this often even if no commit was
// announced (a safety net; announcements are what drive it).
constexpr absl::Duration kPollInterval = absl::Seconds(1);
// Backoff after the change log failed to answer.
constexpr absl::Duration kRetryInterval = absl::Milliseconds(50);

int64_t EntryBytes(absl::string_view name, const Record* record) {
  int64_t bytes = static_cast<int64_t>(name.size()) + kEntryOverhead;
  if (record != nullptr) {
    bytes += static_cast<int64_t>(record->content.size() + record->name.size() +
                                  record->content_type.size() +
                                  record->etag.size() + record->request_id.size());
    for (const auto& [key, value] : record->metadata.user) {
      bytes += static_cast<int64_t>(key.size() + value.size() + 64);
    }
    for (const auto& [revision, id] : record->past_request_ids) {
      bytes += static_cast<int64_t>(sizeof(revision) + id.size());
    }
  }
  return bytes;
}

Record WithoutContent(const Record& record) {
  Record copy;
  CopyWithoutContent(record, copy);
  return copy;
}

}  // namespace

absl::StatusOr<std::unique_ptr<ConsistentCache>> ConsistentCache::Create(
    std::unique_ptr<Store> inner, ConsistentCacheOptions options) {
  if (!options.latest_revision) {
    return absl::InvalidArgumentError(
        "the consistent cache needs the engine's linearizable revision query");
  }
  absl::StatusOr<ChangeWindow> window = inner->Changes();
  if (!window.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the consistent cache needs the engine's change log: ",
        window.status().message()));
  }
  // Empty, the cache is exact at any revision: it starts at the log's.
  return std::unique_ptr<ConsistentCache>(new ConsistentCache(
      std::move(inner), std::move(options), window->committed_revision));
}

ConsistentCache::ConsistentCache(std::unique_ptr<Store> inner,
                                 ConsistentCacheOptions options, int64_t applied)
    : inner_(std::move(inner)),
      options_(std::move(options)),
      latest_(std::make_unique<SharedRevisionQuery>(options_.latest_revision)),
      blocking_(std::make_unique<ThreadPool>(
          std::max(1, options_.blocking_threads))),
      applied_(applied) {
  shards_.resize(static_cast<size_t>(std::max(1, options_.shards)));
  const int64_t shard_capacity =
      options_.capacity_bytes / static_cast<int64_t>(shards_.size());
  for (auto& shard : shards_) shard = std::make_unique<Shard>(shard_capacity);
  inner_->SetCommitListener([this] { OnCommit(); });
  thread_ = std::thread([this] { Run(); });
}

ConsistentCache::~ConsistentCache() {
  // The query's readers hand work to blocking_, whose tasks may wait for
  // the applying thread: stopped in that order.
  latest_.reset();
  blocking_.reset();
  inner_->SetCommitListener(nullptr);
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  thread_.join();
}

ConsistentCacheStats ConsistentCache::stats() const {
  ConsistentCacheStats stats;
  stats.reads = reads_.load();
  stats.hits = hits_.load();
  stats.fallbacks = fallbacks_.load();
  stats.revision_queries = latest_->queries();
  stats.revision_readers = latest_->readers();
  stats.changes_applied = changes_applied_.load();
  stats.resets = resets_.load();
  stats.syncs = syncs_.load();
  return stats;
}

void ConsistentCache::SetCommitListener(std::function<void()> listener) {
  absl::MutexLock lock(&listener_mu_);
  listener_ = std::move(listener);
}

void ConsistentCache::OnCommit() {
  {
    absl::MutexLock lock(&mu_);
    notified_ = true;
  }
  absl::MutexLock lock(&listener_mu_);
  if (listener_) listener_();
}

absl::StatusOr<std::optional<Record>> ConsistentCache::ReadCurrent(
    absl::string_view name, bool with_content) {
  ++reads_;
  return ReadAt(name, with_content, latest_->Latest());
}

void ConsistentCache::ReadCurrentAsync(absl::string_view name,
                                       bool with_content, ReadDone done) {
  ++reads_;
  latest_->LatestAsync([this, name = std::string(name), with_content,
                        done = std::move(done)](
                           absl::StatusOr<int64_t> latest) mutable {
    // On the query's thread: answered here only if nothing needs waiting.
    if (latest.ok() && IsApplied(*latest)) {
      std::optional<std::optional<Record>> hit = Lookup(name, with_content);
      if (hit.has_value()) return done(*std::move(hit));
    }
    blocking_->Schedule([this, name = std::move(name), with_content,
                         latest = std::move(latest),
                         done = std::move(done)] {
      done(ReadAt(name, with_content, latest));
    });
  });
}

absl::StatusOr<std::optional<Record>> ConsistentCache::ReadAt(
    absl::string_view name, bool with_content,
    const absl::StatusOr<int64_t>& latest) {
  // Without the latest revision nothing cached can be trusted; the engine
  // answers (or says why it cannot).
  if (!latest.ok() || !AwaitApplied(*latest)) {
    ++fallbacks_;
    return ReadThrough(name, with_content);
  }
  std::optional<std::optional<Record>> hit = Lookup(name, with_content);
  if (hit.has_value()) return *std::move(hit);
  return ReadThrough(name, with_content);
}

std::optional<std::optional<Record>> ConsistentCache::Lookup(
    absl::string_view name, bool with_content) {
  Shard& shard = ShardFor(name);
  std::shared_ptr<const Record> cached;
  {
    absl::MutexLock lock(&shard.mu);
    const std::shared_ptr<const Record>* hit = shard.records.Find(name);
    if (hit == nullptr) return std::nullopt;
    ++hits_;
    // Known to have no record.
    if (*hit == nullptr) {
      return std::optional<std::optional<Record>>(std::in_place);
    }
    cached = *hit;
  }
  // Cached records are immutable: copied outside the lock, which readers of
  // one hot name would otherwise queue on.
  return std::optional<std::optional<Record>>(
      std::in_place, with_content ? *cached : WithoutContent(*cached));
}

bool ConsistentCache::IsApplied(int64_t revision) {
  absl::MutexLock lock(&mu_);
  return applied_ >= revision;
}

bool ConsistentCache::AwaitApplied(int64_t revision) {
  absl::MutexLock lock(&mu_);
  if (applied_ >= revision) return true;
  if (revision > wanted_) {
    // The thread learns that the log is short of it (and syncs the log if
    // it stays so: the revision may be of a key the log does not cover).
    wanted_ = revision;
    notified_ = true;
  }
  if (behind_) return false;
  auto caught_up = [this, revision]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return applied_ >= revision || behind_ || stopping_;
  };
  if (!mu_.AwaitWithTimeout(absl::Condition(&caught_up),
                            options_.catch_up_timeout)) {
    behind_ = true;
  }
  return applied_ >= revision;
}

absl::StatusOr<std::optional<Record>> ConsistentCache::ReadThrough(
    absl::string_view name, bool with_content) {
  // Only reads with content fill (an entry serves both kinds).
  if (!with_content) return inner_->ReadCurrent(name, with_content);
  Shard& shard = ShardFor(name);
  uint64_t epoch;
  {
    absl::MutexLock lock(&shard.mu);
    ++shard.filling[name].count;
    epoch = shard.epoch;
  }
  absl::StatusOr<std::optional<Record>> read = inner_->ReadCurrent(name, true);
  absl::MutexLock lock(&shard.mu);
  auto fill = shard.filling.find(name);
  const int64_t newest_change = fill->second.newest_change;
  if (--fill->second.count == 0) shard.filling.erase(fill);
  if (!read.ok() || epoch != shard.epoch) return read;
  // Every change applied before the read began is in what it read (the
  // engine had committed it); one applied since that is newer than the
  // record read may be missing from it.
  const int64_t revision = read->has_value() ? (*read)->revision : 0;
  if (newest_change > revision) return read;
  if (const std::shared_ptr<const Record>* known = shard.records.Peek(name)) {
    const int64_t cached = *known != nullptr ? (*known)->revision : 0;
    if (cached >= revision) return read;
  }
  Insert(shard, name,
         read->has_value() ? std::make_shared<const Record>(**read) : nullptr);
  return read;
}

void ConsistentCache::Run() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto woken = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return notified_ || stopping_;
      };
      mu_.AwaitWithTimeout(absl::Condition(&woken), kPollInterval);
      if (stopping_) return;
      notified_ = false;
    }
    CatchUp();
    SyncIfIdle();
  }
}

void ConsistentCache::SyncIfIdle() {
  if (!options_.sync_change_log) return;
  {
    absl::MutexLock lock(&mu_);
    auto moved = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return applied_ >= wanted_ || notified_ || stopping_;
    };
    if (applied_ >= wanted_ ||
        mu_.AwaitWithTimeout(absl::Condition(&moved), options_.sync_after)) {
      return;
    }
  }
  // A read waits for a revision the log has not reached, and the log has
  // not moved for sync_after: the revision is of a key it does not cover
  // (or its watch is down, when the sync fails).
  ++syncs_;
  // A failed sync leaves reads to read through.
  options_.sync_change_log().IgnoreError();
  absl::MutexLock lock(&mu_);
  notified_ = true;
}

void ConsistentCache::CatchUp() {
  absl::StatusOr<ChangeWindow> window = inner_->Changes();
  int64_t from;
  {
    absl::MutexLock lock(&mu_);
    from = applied_ + 1;
  }
  while (window.ok() && from <= window->committed_revision) {
    if (options_.before_apply_for_test) options_.before_apply_for_test();
    absl::StatusOr<ChangePage> page = inner_->ReadChanges(
        from, window->committed_revision, options_.changes_per_page,
        /*with_content=*/false);
    if (absl::IsOutOfRange(page.status())) {
      // Changes after `from` are lost: forget everything, and go on from
      // where the log is now.
      absl::StatusOr<ChangeWindow> now = inner_->Changes();
      if (!now.ok()) break;
      Reset(now->committed_revision);
      return;
    }
    if (!page.ok() || page->next_revision <= from) break;
    for (const Record& change : page->changes) Apply(change);
    Advance(page->next_revision - 1);
    from = page->next_revision;
  }
  if (!window.ok() || from <= window->committed_revision) {
    // The log did not answer: try again soon.
    absl::MutexLock lock(&mu_);
    auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    mu_.AwaitWithTimeout(absl::Condition(&stop), kRetryInterval);
    notified_ = true;
  }
}

void ConsistentCache::Apply(const Record& change) {
  ++changes_applied_;
  Shard& shard = ShardFor(change.name);
  absl::MutexLock lock(&shard.mu);
  auto fill = shard.filling.find(change.name);
  if (fill != shard.filling.end()) {
    fill->second.newest_change =
        std::max(fill->second.newest_change, change.revision);
  }
  const std::shared_ptr<const Record>* known = shard.records.Peek(change.name);
  if (known == nullptr) return;
  const int64_t cached = *known != nullptr ? (*known)->revision : 0;
  // An entry filled from a read ahead of the log may be newer already.
  if (cached < change.revision) shard.records.Erase(change.name);
}

void ConsistentCache::Advance(int64_t applied) {
  absl::MutexLock lock(&mu_);
  if (applied <= applied_) return;
  applied_ = applied;
  behind_ = false;
}

void ConsistentCache::Reset(int64_t revision) {
  ++resets_;
  for (const std::unique_ptr<Shard>& shard : shards_) {
    absl::MutexLock lock(&shard->mu);
    ++shard->epoch;
    shard->records.Clear();
  }
  Advance(revision);
}

ConsistentCache::Shard& ConsistentCache::ShardFor(absl::string_view name) {
  return *shards_[absl::Hash<absl::string_view>()(name) % shards_.size()];
}

void ConsistentCache::Insert(Shard& shard, absl::string_view name,
                             std::shared_ptr<const Record> record) {
  const int64_t bytes = EntryBytes(name, record.get());
  // One larger than a shard is not kept (it would evict everything else).
  shard.records.Insert(name, std::move(record), bytes);
}

}  // namespace etagd
