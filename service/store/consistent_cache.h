// A record cache that stays exact when other replicas write to the same
// engine: the Kubernetes API server's "consistent reads from cache" design.
//
// The cache is fed by the engine's change log (Store::Changes, ReadChanges),
// which sees every replica's writes: a background thread applies each change
// (dropping the name's entry if it is older) and advances `applied`, the
// revision up to which every change has been applied. A read first learns the
// engine's latest revision linearizably (one query shared by the readers
// waiting, SharedRevisionQuery), waits until `applied` reaches it, then
// answers from the cache. So a write acknowledged anywhere before the read
// began is reflected: its change is applied before the read looks.
//
// A miss reads through to the engine and fills the entry only if no change
// of that name newer than the record read was applied meanwhile (nor the
// cache reset): a change committed before the read-through is in what it
// read, one applied after the fill drops the entry. If the change log cannot
// catch up within catch_up_timeout (its watch is down, or the engine's
// revision moved for keys outside the log, which sync_change_log remedies),
// reads read through instead, and stop waiting until it moves again; if the
// log lost changes (OUT_OF_RANGE), the cache empties. Never a stale answer;
// at worst, the engine's speed plus the shared query.
//
// Which reads it serves: ReadCurrent (and so every answer and precondition
// decided on it). Write plans (ReadForWritePlan), writes, listings, past
// versions and the change log go to the engine.
#ifndef ETAGD_SERVICE_STORE_CONSISTENT_CACHE_H_
#define ETAGD_SERVICE_STORE_CONSISTENT_CACHE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/byte_bounded_lru.h"
#include "service/store/shared_revision_query.h"
#include "service/store/store.h"
#include "service/thread_pool.h"

namespace etagd {

struct ConsistentCacheOptions {
  // Most bytes of cached names, records and content (approximately).
  int64_t capacity_bytes = int64_t{64} << 20;
  // Independent LRU shards (each with its own lock).
  int shards = 64;
  // The engine's latest committed revision, learned linearizably (etcd:
  // EtcdLinearizableRevision). Required.
  std::function<absl::StatusOr<int64_t>()> latest_revision;
  // Makes the change log catch up to the engine's latest revision now
  // (etcd: EtcdSyncChangeLog); optional. The latest revision can belong to
  // a key the log does not cover (etcd: a fence, another prefix, another
  // program), which the log would otherwise pass only at the next change.
  std::function<absl::Status()> sync_change_log;
  // How long the log may stay short of a revision a read asked for, with no
  // change arriving, before the cache's thread calls sync_change_log.
  absl::Duration sync_after = absl::Milliseconds(20);
  // The longest a read waits for the change log to reach the latest
  // revision before it reads through to the engine (short: while changes
  // stream in from other replicas, a read-through is the faster answer).
  absl::Duration catch_up_timeout = absl::Milliseconds(10);
  // Threads for the asynchronous reads (ReadCurrentAsync) that cannot be
  // answered from memory as soon as the revision query answers: those that
  // wait for the change log or read through to the engine. A cache hit
  // takes none.
  int blocking_threads = 64;
  // Changes applied per page read from the change log.
  int changes_per_page = 1024;
  // For tests: called by the applying thread before each page of changes it
  // reads (it may block, holding the cache behind). Never set it elsewhere.
  std::function<void()> before_apply_for_test;
};

// What the cache did, for tests and metrics.
struct ConsistentCacheStats {
  int64_t reads = 0;
  // Reads answered from the cache.
  int64_t hits = 0;
  // Reads that found the change log behind after catch_up_timeout (or
  // already known to be) and read through.
  int64_t fallbacks = 0;
  // Linearizable revision queries made (shared among concurrent reads).
  int64_t revision_queries = 0;
  // Reads that waited for one (revision_readers / revision_queries: how
  // many shared each).
  int64_t revision_readers = 0;
  // Calls of sync_change_log.
  int64_t syncs = 0;
  // Changes applied from the change log.
  int64_t changes_applied = 0;
  // Times the change log lost changes and the cache emptied.
  int64_t resets = 0;
};

// Thread-safe if `inner` is. Destroying it stops the applying thread.
class ConsistentCache final : public Store {
 public:
  // FAILED_PRECONDITION if `inner` keeps no change log; INVALID_ARGUMENT if
  // options.latest_revision is missing.
  static absl::StatusOr<std::unique_ptr<ConsistentCache>> Create(
      std::unique_ptr<Store> inner, ConsistentCacheOptions options);

  ConsistentCache(const ConsistentCache&) = delete;
  ConsistentCache& operator=(const ConsistentCache&) = delete;
  ~ConsistentCache() override;

  ConsistentCacheStats stats() const;

  // Served as the class comment says.
  absl::StatusOr<std::optional<Record>> ReadCurrent(absl::string_view name,
                                                    bool with_content) override;
  // The same without holding a thread while the revision query runs: `done`
  // runs on the query's thread if the cache can answer then, else on one of
  // blocking_threads.
  void ReadCurrentAsync(absl::string_view name, bool with_content,
                        ReadDone done) override;
  bool ReadsCurrentWithoutBlocking() const override { return true; }

  // A write plan may be stale by the Store contract (its Write compares
  // the revision), so the engine's own answer, without the revision query,
  // is the cheaper one.
  absl::StatusOr<std::optional<Record>> ReadForWritePlan(
      absl::string_view name) override {
    return inner_->ReadForWritePlan(name);
  }
  bool WritePlansMayBeStale() const override {
    return inner_->WritePlansMayBeStale();
  }
  // Every read waits for the revision query, a round trip: callers keep
  // reads off threads that must not block, where too few would run at once
  // to share a query.
  bool ReadsWaitOnTheNetwork() const override {
    return inner_->ReadsWaitOnTheNetwork();
  }

  // The rest is the engine's.
  absl::StatusOr<Record> ReadRevision(absl::string_view name,
                                      int64_t revision) override {
    return inner_->ReadRevision(name, revision);
  }
  absl::StatusOr<Record> Write(const WriteRequest& request) override {
    return inner_->Write(request);
  }
  std::vector<absl::StatusOr<Record>> WriteMany(
      absl::Span<const WriteRequest> requests) override {
    return inner_->WriteMany(requests);
  }
  using Store::List;
  absl::StatusOr<ListPage> List(absl::string_view prefix,
                                absl::string_view start_after, int limit,
                                bool with_content, int64_t at_revision) override {
    return inner_->List(prefix, start_after, limit, with_content, at_revision);
  }
  bool PinsListings() const override { return inner_->PinsListings(); }
  absl::StatusOr<ListPage> ListVersions(absl::string_view name,
                                        int64_t before_revision,
                                        int limit) override {
    return inner_->ListVersions(name, before_revision, limit);
  }
  absl::StatusOr<int64_t> Checkpoint(const std::string& directory) override {
    return inner_->Checkpoint(directory);
  }
  bool SupportsCheckpoint() const override { return inner_->SupportsCheckpoint(); }
  std::optional<StorageSpace> Space() override { return inner_->Space(); }
  absl::Status CheckHealth() override { return inner_->CheckHealth(); }
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
  // The engine allows one listener, and the cache holds it: this one is
  // called after the cache's own, on the same thread.
  void SetCommitListener(std::function<void()> listener) override
      ABSL_LOCKS_EXCLUDED(listener_mu_);

 private:
  // Read-throughs of one name in progress.
  struct Fill {
    int count = 0;
    // The newest change of the name applied since the first began.
    int64_t newest_change = 0;
  };
  struct Shard {
    explicit Shard(int64_t capacity_bytes) : records(capacity_bytes) {}

    absl::Mutex mu;
    // Current records by name; null: the name has no record.
    ByteBoundedLru<std::shared_ptr<const Record>> records ABSL_GUARDED_BY(mu);
    absl::flat_hash_map<std::string, Fill> filling ABSL_GUARDED_BY(mu);
    // Bumped when the cache empties: fills begun before do not insert.
    uint64_t epoch ABSL_GUARDED_BY(mu) = 0;
  };

  ConsistentCache(std::unique_ptr<Store> inner, ConsistentCacheOptions options,
                  int64_t applied);

  // ReadCurrent once the latest revision is known.
  absl::StatusOr<std::optional<Record>> ReadAt(
      absl::string_view name, bool with_content,
      const absl::StatusOr<int64_t>& latest);
  // The cached answer for `name`, if it is cached (a hit).
  std::optional<std::optional<Record>> Lookup(absl::string_view name,
                                              bool with_content);
  bool IsApplied(int64_t revision) ABSL_LOCKS_EXCLUDED(mu_);
  // Waits until every change up to `revision` is applied, at most
  // catch_up_timeout (not at all while the log is known to be behind).
  bool AwaitApplied(int64_t revision) ABSL_LOCKS_EXCLUDED(mu_);
  // Reads `name` from the engine, filling its entry if that is safe.
  absl::StatusOr<std::optional<Record>> ReadThrough(absl::string_view name,
                                                    bool with_content);
  void OnCommit() ABSL_LOCKS_EXCLUDED(mu_, listener_mu_);
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  // Applies the change log up to its committed revision.
  void CatchUp() ABSL_LOCKS_EXCLUDED(mu_);
  // Syncs the change log if a read waits for a revision it does not reach.
  void SyncIfIdle() ABSL_LOCKS_EXCLUDED(mu_);
  void Apply(const Record& change);
  void Advance(int64_t applied) ABSL_LOCKS_EXCLUDED(mu_);
  // Empties the cache: the change log lost changes up to `revision`.
  void Reset(int64_t revision);

  Shard& ShardFor(absl::string_view name);
  void Insert(Shard& shard, absl::string_view name,
              std::shared_ptr<const Record> record)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(shard.mu);

  const std::unique_ptr<Store> inner_;
  const ConsistentCacheOptions options_;
  std::vector<std::unique_ptr<Shard>> shards_;
  // Both stopped first when the cache is destroyed (their tasks use the rest).
  std::unique_ptr<SharedRevisionQuery> latest_;
  std::unique_ptr<ThreadPool> blocking_;

  absl::Mutex mu_;
  // Every change up to here has been applied (only the thread writes it).
  int64_t applied_ ABSL_GUARDED_BY(mu_);
  // A read waited catch_up_timeout in vain and applied_ has not moved since.
  bool behind_ ABSL_GUARDED_BY(mu_) = false;
  // The engine announced a commit the thread has not yet read.
  bool notified_ ABSL_GUARDED_BY(mu_) = true;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // The highest revision a read waited for.
  int64_t wanted_ ABSL_GUARDED_BY(mu_) = 0;

  absl::Mutex listener_mu_;
  std::function<void()> listener_ ABSL_GUARDED_BY(listener_mu_);

  std::atomic<int64_t> reads_{0};
  std::atomic<int64_t> hits_{0};
  std::atomic<int64_t> fallbacks_{0};
  std::atomic<int64_t> changes_applied_{0};
  std::atomic<int64_t> resets_{0};
  std::atomic<int64_t> syncs_{0};

  std::thread thread_;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_STORE_CONSISTENT_CACHE_H_
