// The consistent record cache over real etcd, with two replicas (two etcd
// stores, each with its cache, over one key prefix).
#include "service/store/consistent_cache.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/store/etcd/etcd_store.h"
#include "tests/feed/shared_etcd.h"
#include "tests/testing/status_matchers.h"

namespace etagd {
namespace {

testing::Environment* const kSharedEtcd =
    testing::AddGlobalTestEnvironment(new SharedEtcd);

// The options of a replica whose cache serves once its watch caught up:
// the product's 10 ms catch-up timeout would, on a loaded machine, leave
// reads reading through (and a test expecting hits failing).
ConsistentCacheOptions Patient() {
  ConsistentCacheOptions options;
  options.catch_up_timeout = absl::Seconds(5);
  return options;
}

absl::StatusOr<std::unique_ptr<ConsistentCache>> OpenReplica(
    ConsistentCacheOptions options = Patient()) {
  EtcdStoreOptions store_options = SharedEtcdStoreOptions();
  store_options.call_timeout = absl::Seconds(2);
  absl::StatusOr<std::unique_ptr<Store>> store = OpenEtcdStore(store_options);
  if (!store.ok()) return store.status();
  Store& etcd = **store;
  options.latest_revision = [&etcd] { return EtcdLinearizableRevision(etcd); };
  options.sync_change_log = [&etcd] { return EtcdSyncChangeLog(etcd); };
  return ConsistentCache::Create(*std::move(store), std::move(options));
}

absl::StatusOr<Record> Put(Store& store, const std::string& name,
                           const std::string& content, int64_t expected) {
  WriteRequest request;
  request.name = name;
  request.content = content;
  request.content_type = "text/plain";
  request.expected_revision = expected;
  return store.Write(request);
}

absl::StatusOr<Record> Delete(Store& store, const std::string& name,
                              int64_t expected) {
  WriteRequest request;
  request.name = name;
  request.is_delete = true;
  request.expected_revision = expected;
  return store.Write(request);
}

// Holds a cache's applying thread back while closed.
class Gate {
 public:
  void Close() {
    absl::MutexLock lock(&mu_);
    open_ = false;
  }
  void Open() {
    absl::MutexLock lock(&mu_);
    open_ = true;
  }
  void Pass() {
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&open_));
  }

 private:
  absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = true;
};

TEST(ConsistentCacheTest, AWriteOnOneReplicaIsSeenByTheNextReadOnAnother) {
  absl::StatusOr<std::unique_ptr<ConsistentCache>> a = OpenReplica();
  ASSERT_THAT(a, IsOk());
  absl::StatusOr<std::unique_ptr<ConsistentCache>> b = OpenReplica();
  ASSERT_THAT(b, IsOk());
  int64_t current = 0;
  for (int i = 0; i < 30; ++i) {
    const std::string content = absl::StrCat("version ", i);
    absl::StatusOr<Record> put = Put(**a, "hot", content, current);
    ASSERT_THAT(put, IsOk());
    current = put->revision;
    // Twice: the first may fill the cache, the second may be served by it.
    for (int read = 0; read < 2; ++read) {
      absl::StatusOr<std::optional<Record>> seen = (*b)->ReadCurrent("hot", true);
      ASSERT_THAT(seen, IsOk());
      ASSERT_TRUE(seen->has_value());
      EXPECT_EQ((*seen)->revision, current) << "iteration " << i;
      EXPECT_EQ((*seen)->content, content);
      EXPECT_FALSE((*seen)->deleted);
    }
    if (i % 3 == 2) {
      absl::StatusOr<Record> deleted = Delete(**a, "hot", current);
      ASSERT_THAT(deleted, IsOk());
      current = deleted->revision;
      absl::StatusOr<std::optional<Record>> seen = (*b)->ReadCurrent("hot", true);
      ASSERT_THAT(seen, IsOk());
      ASSERT_TRUE(seen->has_value());
      EXPECT_TRUE((*seen)->deleted) << "iteration " << i;
      EXPECT_EQ((*seen)->revision, current);
    }
  }
  EXPECT_GT((*b)->stats().hits, 0);
}

TEST(ConsistentCacheTest, AReadWaitsUntilTheCacheHasTheLatestWrite) {
  // B's cache is held behind A's write: B's next read must not answer the
  // version it cached before.
  Gate gate;
  ConsistentCacheOptions options;
  options.catch_up_timeout = absl::Milliseconds(100);
  options.before_apply_for_test = [&gate] { gate.Pass(); };
  absl::StatusOr<std::unique_ptr<ConsistentCache>> a = OpenReplica();
  ASSERT_THAT(a, IsOk());
  absl::StatusOr<std::unique_ptr<ConsistentCache>> b = OpenReplica(options);
  ASSERT_THAT(b, IsOk());
  absl::StatusOr<Record> first = Put(**a, "name", "first", 0);
  ASSERT_THAT(first, IsOk());
  for (int read = 0; read < 3; ++read) {
    ASSERT_THAT((*b)->ReadCurrent("name", true), IsOk());
  }
  ASSERT_GT((*b)->stats().hits, 0) << "B does not cache the first version";

  gate.Close();
  absl::StatusOr<Record> second = Put(**a, "name", "second", first->revision);
  ASSERT_THAT(second, IsOk());
  absl::StatusOr<std::optional<Record>> seen = (*b)->ReadCurrent("name", true);
  gate.Open();
  ASSERT_THAT(seen, IsOk());
  ASSERT_TRUE(seen->has_value());
  EXPECT_EQ((*seen)->revision, second->revision);
  EXPECT_EQ((*seen)->content, "second");
}

TEST(ConsistentCacheTest, ConcurrentReadsShareRevisionQueriesAndSeeEveryWrite) {
  absl::StatusOr<std::unique_ptr<ConsistentCache>> a = OpenReplica();
  ASSERT_THAT(a, IsOk());
  absl::StatusOr<std::unique_ptr<ConsistentCache>> b = OpenReplica();
  ASSERT_THAT(b, IsOk());
  absl::StatusOr<Record> created = Put(**a, "shared", "0", 0);
  ASSERT_THAT(created, IsOk());
  // The revision of the latest write A acknowledged.
  std::atomic<int64_t> acknowledged{created->revision};
  std::atomic<bool> done{false};
  std::thread writer([&] {
    int64_t current = created->revision;
    for (int i = 1; i <= 40; ++i) {
      absl::StatusOr<Record> put = Put(**a, "shared", absl::StrCat(i), current);
      ASSERT_THAT(put, IsOk());
      current = put->revision;
      acknowledged = current;
    }
    done = true;
  });
  constexpr int kReaders = 8;
  std::atomic<int64_t> reads{0};
  std::vector<std::thread> readers;
  for (int r = 0; r < kReaders; ++r) {
    readers.emplace_back([&] {
      while (!done) {
        const int64_t before = acknowledged.load();
        absl::StatusOr<std::optional<Record>> seen =
            (*b)->ReadCurrent("shared", true);
        ASSERT_THAT(seen, IsOk());
        ASSERT_TRUE(seen->has_value());
        // Linearizable: never older than a write acknowledged before.
        ASSERT_GE((*seen)->revision, before);
        ++reads;
      }
    });
  }
  writer.join();
  for (std::thread& reader : readers) reader.join();
  const ConsistentCacheStats stats = (*b)->stats();
  EXPECT_EQ(stats.reads, reads.load());
  EXPECT_LT(stats.revision_queries, stats.reads / 2)
      << stats.reads << " reads made " << stats.revision_queries << " queries";
  EXPECT_GT(stats.hits, 0);
}

TEST(ConsistentCacheTest, NeverAnswersFromTheCacheWhileEtcdIsDown) {
  absl::StatusOr<std::unique_ptr<ConsistentCache>> a = OpenReplica();
  ASSERT_THAT(a, IsOk());
  absl::StatusOr<std::unique_ptr<ConsistentCache>> b = OpenReplica();
  ASSERT_THAT(b, IsOk());
  absl::StatusOr<Record> first = Put(**a, "name", "first", 0);
  ASSERT_THAT(first, IsOk());
  // The cache serves once B's watch has caught up; on a loaded machine that
  // takes more than the first few reads.
  const absl::Time serving_by = absl::Now() + absl::Seconds(20);
  while ((*b)->stats().hits == 0 && absl::Now() < serving_by) {
    ASSERT_THAT((*b)->ReadCurrent("name", true), IsOk());
  }
  ASSERT_GT((*b)->stats().hits, 0);

  ASSERT_THAT(SharedEtcd::cluster().Kill(0), IsOk());
  EXPECT_THAT((*b)->ReadCurrent("name", true),
              StatusIs(absl::StatusCode::kUnavailable));
  ASSERT_THAT(SharedEtcd::cluster().Restart(0), IsOk());

  absl::StatusOr<Record> second = Put(**a, "name", "second", first->revision);
  ASSERT_THAT(second, IsOk());
  absl::StatusOr<std::optional<Record>> seen = (*b)->ReadCurrent("name", true);
  ASSERT_THAT(seen, IsOk());
  ASSERT_TRUE(seen->has_value());
  EXPECT_EQ((*seen)->revision, second->revision);
  EXPECT_EQ((*seen)->content, "second");
  // And once B's watch is open again, the cache serves again.
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  const int64_t hits = (*b)->stats().hits;
  while ((*b)->stats().hits == hits && absl::Now() < deadline) {
    absl::StatusOr<std::optional<Record>> again = (*b)->ReadCurrent("name", true);
    ASSERT_THAT(again, IsOk());
    ASSERT_EQ((*again)->revision, second->revision);
  }
  EXPECT_GT((*b)->stats().hits, hits);
}

TEST(ConsistentCacheTest, ServesReadsAfterWritesToKeysOutsideItsPrefix) {
  // etcd's revision moves for another prefix's key, which the change log
  // does not watch: the cache catches up by syncing the log, not by
  // reading through.
  ConsistentCacheOptions options;
  options.catch_up_timeout = absl::Seconds(10);
  absl::StatusOr<std::unique_ptr<ConsistentCache>> b = OpenReplica(options);
  ASSERT_THAT(b, IsOk());
  ASSERT_THAT(Put(**b, "name", "x", 0), IsOk());
  ASSERT_THAT((*b)->ReadCurrent("name", true), IsOk());
  etcdserverpb::PutRequest put;
  put.set_key("/another-program/key");
  put.set_value("v");
  etcdserverpb::PutResponse response;
  grpc::ClientContext context;
  ASSERT_TRUE(RawEtcdKv()->Put(&context, put, &response).ok());

  const ConsistentCacheStats before = (*b)->stats();
  absl::StatusOr<std::optional<Record>> seen = (*b)->ReadCurrent("name", true);
  ASSERT_THAT(seen, IsOk());
  const ConsistentCacheStats after = (*b)->stats();
  EXPECT_EQ(after.hits, before.hits + 1);
  EXPECT_EQ(after.fallbacks, before.fallbacks);
  EXPECT_EQ(after.syncs, before.syncs + 1);
}

TEST(ConsistentCacheTest, ForwardsCommitsToItsListener) {
  absl::StatusOr<std::unique_ptr<ConsistentCache>> a = OpenReplica();
  ASSERT_THAT(a, IsOk());
  absl::Mutex mu;
  int calls = 0;
  (*a)->SetCommitListener([&] {
    absl::MutexLock lock(&mu);
    ++calls;
  });
  ASSERT_THAT(Put(**a, "name", "x", 0), IsOk());
  {
    absl::MutexLock lock(&mu);
    auto called = [&calls]() { return calls > 0; };
    EXPECT_TRUE(mu.AwaitWithTimeout(absl::Condition(&called), absl::Seconds(10)));
  }
  (*a)->SetCommitListener(nullptr);
}

TEST(ConsistentCacheTest, KeepsTheEnginesReadHints) {
  // The server keeps reads off gRPC's threads only if the store says they
  // wait on the network; on gRPC's few threads, too few reads would run at
  // once to share a revision query.
  absl::StatusOr<std::unique_ptr<ConsistentCache>> a = OpenReplica();
  ASSERT_THAT(a, IsOk());
  EXPECT_TRUE((*a)->ReadsWaitOnTheNetwork());
  EXPECT_TRUE((*a)->WritePlansMayBeStale());
}

TEST(ConsistentCacheTest, PlansWritesWithoutARevisionQuery) {
  absl::StatusOr<std::unique_ptr<ConsistentCache>> a = OpenReplica();
  ASSERT_THAT(a, IsOk());
  absl::StatusOr<Record> written = Put(**a, "plan", "x", 0);
  ASSERT_THAT(written, IsOk());
  const int64_t queries = (*a)->stats().revision_queries;
  absl::StatusOr<std::optional<Record>> plan = (*a)->ReadForWritePlan("plan");
  ASSERT_THAT(plan, IsOk());
  ASSERT_TRUE(plan->has_value());
  EXPECT_EQ((*plan)->revision, written->revision);
  EXPECT_EQ((*a)->stats().revision_queries, queries);
}

// Calls ReadCurrentAsync and waits for its answer.
absl::StatusOr<std::optional<Record>> ReadAsync(Store& store,
                                                const std::string& name) {
  absl::Notification answered;
  absl::StatusOr<std::optional<Record>> answer;
  store.ReadCurrentAsync(name, true,
                         [&](absl::StatusOr<std::optional<Record>> read) {
                           answer = std::move(read);
                           answered.Notify();
                         });
  answered.WaitForNotification();
  return answer;
}

TEST(ConsistentCacheTest, AnAsynchronousReadSeesAWriteAcknowledgedOnAnotherReplica) {
  absl::StatusOr<std::unique_ptr<ConsistentCache>> a = OpenReplica();
  ASSERT_THAT(a, IsOk());
  absl::StatusOr<std::unique_ptr<ConsistentCache>> b = OpenReplica();
  ASSERT_THAT(b, IsOk());
  ASSERT_TRUE((*b)->ReadsCurrentWithoutBlocking());
  int64_t current = 0;
  for (int i = 0; i < 20; ++i) {
    const std::string content = absl::StrCat("version ", i);
    absl::StatusOr<Record> put = Put(**a, "async", content, current);
    ASSERT_THAT(put, IsOk());
    current = put->revision;
    // Twice: the first may fill the cache, the second may be served by it.
    for (int read = 0; read < 2; ++read) {
      absl::StatusOr<std::optional<Record>> seen = ReadAsync(**b, "async");
      ASSERT_THAT(seen, IsOk());
      ASSERT_TRUE(seen->has_value());
      EXPECT_EQ((*seen)->revision, current) << "iteration " << i;
      EXPECT_EQ((*seen)->content, content);
    }
  }
  EXPECT_GT((*b)->stats().hits, 0);
}

TEST(ConsistentCacheTest, HundredsOfConcurrentAsynchronousReadsShareAFewQueries) {
  absl::StatusOr<std::unique_ptr<ConsistentCache>> a = OpenReplica();
  ASSERT_THAT(a, IsOk());
  absl::StatusOr<Record> put = Put(**a, "many", "x", 0);
  ASSERT_THAT(put, IsOk());
  ASSERT_THAT(ReadAsync(**a, "many"), IsOk());  // Cached from here.
  const ConsistentCacheStats before = (*a)->stats();
  constexpr int kReads = 500;
  absl::Mutex mu;
  int answered = 0;
  int correct = 0;
  for (int i = 0; i < kReads; ++i) {
    (*a)->ReadCurrentAsync(
        "many", true, [&](absl::StatusOr<std::optional<Record>> seen) {
          absl::MutexLock lock(&mu);
          ++answered;
          if (seen.ok() && seen->has_value() &&
              (*seen)->revision == put->revision) {
            ++correct;
          }
        });
  }
  {
    absl::MutexLock lock(&mu);
    auto all = [&]() { return answered == kReads; };
    ASSERT_TRUE(mu.AwaitWithTimeout(absl::Condition(&all), absl::Seconds(20)));
    EXPECT_EQ(correct, kReads);
  }
  const ConsistentCacheStats after = (*a)->stats();
  // One query in flight as the first read arrives, one for all the others
  // (a few more only if queries finish faster than reads are issued).
  EXPECT_LE(after.revision_queries - before.revision_queries, 10);
  EXPECT_EQ(after.revision_readers - before.revision_readers, kReads);
  EXPECT_EQ(after.hits - before.hits, kReads);
}

}  // namespace
}  // namespace etagd
