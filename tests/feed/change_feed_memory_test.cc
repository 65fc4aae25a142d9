// The change feed's shared window and its memory bound: many watchers,
// some never reading, over a real RocksDB store.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gtest/gtest.h"
#include "service/feed/change_feed.h"
#include "service/store/rocksdb/rocksdb_store.h"
#include "tests/feed/watch_reader.h"
#include "tests/testing/forwarding_store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

// Counts reads of the change log.
class CountingStore : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  absl::StatusOr<ChangePage> ReadChanges(int64_t from_revision,
                                         int64_t up_to_revision, int limit,
                                         bool with_content) override {
    reads_.fetch_add(1);
    return ForwardingStore::ReadChanges(from_revision, up_to_revision, limit,
                                        with_content);
  }
  int reads() const { return reads_.load(); }

 private:
  std::atomic<int> reads_{0};
};

class ChangeFeedMemoryTest : public testing::Test {
 protected:
  void Open() {
    RocksDbStoreOptions options;
    options.path = TestPath("db");
    options.sync_writes = false;
    options.space_check_interval = absl::ZeroDuration();
    options.change_prune_interval = absl::ZeroDuration();
    absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(options);
    ASSERT_THAT(store, IsOk());
    store_ = std::make_unique<CountingStore>(*std::move(store));
    feed_ = std::make_unique<ChangeFeed>(*store_, options_);
  }
  void TearDown() override {
    feed_.reset();
    store_.reset();
  }

  int64_t Write(const std::string& name, const std::string& content) {
    absl::StatusOr<std::optional<Record>> current =
        store_->ReadCurrent(name, false);
    EXPECT_THAT(current, IsOk());
    WriteRequest request;
    request.name = name;
    request.expected_revision =
        current.ok() && current->has_value() ? (*current)->revision : 0;
    request.content = content;
    absl::StatusOr<Record> written = store_->Write(request);
    EXPECT_THAT(written, IsOk());
    return written.ok() ? written->revision : 0;
  }

  WatchReader Watch(bool content = false) {
    v1::WatchRequest request;
    request.set_prefix("k/");
    request.set_include_content(content);
    WatchReader reader(feed_->Watch(request));
    EXPECT_THAT(reader.Next(), IsOk());  // The first progress response.
    return reader;
  }

  // Reads until an event at `last` has come; the revisions received.
  static std::vector<int64_t> ReadUpTo(WatchReader& reader, int64_t last) {
    std::vector<int64_t> revisions;
    while (revisions.empty() || revisions.back() < last) {
      absl::StatusOr<v1::WatchResponse> response =
          reader.NextEvents(absl::Seconds(30));
      EXPECT_THAT(response, IsOk());
      if (!response.ok()) break;
      for (const v1::WatchEvent& event : response->events()) {
        revisions.push_back(event.resource().revision());
      }
    }
    return revisions;
  }

  ChangeFeedOptions options_;
  std::unique_ptr<CountingStore> store_;
  std::unique_ptr<ChangeFeed> feed_;
};

TEST_F(ChangeFeedMemoryTest, WatchersBehindByLessThanTheWindowReadNothingFromTheLog) {
  options_.queue.max_events = 2;
  Open();
  std::vector<WatchReader> readers;
  for (int i = 0; i < 20; ++i) readers.push_back(Watch());
  std::vector<int64_t> written;
  for (int i = 0; i < 100; ++i) written.push_back(Write(absl::StrCat("k/", i % 9), "x"));
  // The first reader takes everything, so the dispatcher has read it all.
  EXPECT_EQ(ReadUpTo(readers[0], written.back()), written);
  const int reads = store_->reads();
  for (size_t i = 1; i < readers.size(); ++i) {
    EXPECT_EQ(ReadUpTo(readers[i], written.back()), written) << "watcher " << i;
  }
  EXPECT_EQ(store_->reads(), reads);
}

TEST_F(ChangeFeedMemoryTest, AWatcherPastTheWindowIsCaughtUpFromTheLogInOrder) {
  options_.cache_bytes = 4 << 10;  // A few dozen events.
  options_.page_size = 7;
  Open();
  WatchReader late = Watch();
  WatchReader early = Watch();
  std::vector<int64_t> written;
  for (int i = 0; i < 300; ++i) written.push_back(Write(absl::StrCat("k/", i % 5), "x"));
  EXPECT_EQ(ReadUpTo(early, written.back()), written);
  const int reads = store_->reads();
  EXPECT_EQ(ReadUpTo(late, written.back()), written);
  EXPECT_GT(store_->reads(), reads);
}

// Watchers behind the window at the same place share each page read from
// the log: 20 watchers taking 8 events at a time through 300 changes would
// need 750 reads on their own.
TEST_F(ChangeFeedMemoryTest, LaggardsAtTheSamePlaceShareTheirReadsOfTheLog) {
  options_.cache_bytes = 0;
  options_.page_size = 100;
  options_.queue.max_events = 8;
  Open();
  std::vector<WatchReader> readers;
  for (int i = 0; i < 20; ++i) readers.push_back(Watch());
  std::vector<int64_t> written;
  for (int i = 0; i < 300; ++i) written.push_back(Write(absl::StrCat("k/", i % 11), "x"));
  const int reads = store_->reads();
  std::vector<std::thread> threads;
  std::vector<std::vector<int64_t>> received(readers.size());
  for (size_t i = 0; i < readers.size(); ++i) {
    threads.emplace_back([&, i] { received[i] = ReadUpTo(readers[i], written.back()); });
  }
  for (std::thread& thread : threads) thread.join();
  for (size_t i = 0; i < readers.size(); ++i) {
    EXPECT_EQ(received[i], written) << "reader " << i;
  }
  EXPECT_LE(store_->reads() - reads, 12);
}

// Stalled watchers hold at most one response each; the readers get every
// change; what the feed holds never exceeds its cache and buffer.
TEST_F(ChangeFeedMemoryTest, ManyWatchersSomeStalledStayWithinTheBound) {
  constexpr int kWatchers = 64;
  constexpr int kStalled = 8;
  constexpr int kWrites = 400;
  options_.max_watchers = kWatchers;
  options_.buffer_bytes = kWatchers * 4 * 1024;  // 1 KiB per watcher.
  options_.cache_bytes = 32 << 10;
  Open();
  EXPECT_EQ(feed_->Usage().watcher_bytes, 1024);
  std::vector<WatchReader> stalled;
  for (int i = 0; i < kStalled; ++i) {
    stalled.push_back(Watch(/*content=*/true));
    // One response taken, never sent on: held as long as the watcher lives.
    ASSERT_THAT(stalled.back().Next(absl::ZeroDuration()).status(),
                StatusIs(absl::StatusCode::kDeadlineExceeded));
  }
  std::vector<WatchReader> readers;
  for (int i = kStalled; i < kWatchers; ++i) readers.push_back(Watch(i % 2 == 0));
  const std::string content(64, 'c');
  std::vector<int64_t> written;
  std::atomic<bool> done{false};
  absl::Mutex mu;
  ChangeFeedUsage most;
  std::thread sampler([&] {
    while (!done.load()) {
      ChangeFeedUsage usage = feed_->Usage();
      absl::MutexLock lock(&mu);
      most.held_bytes = std::max(most.held_bytes, usage.held_bytes);
      most.cache_bytes = std::max(most.cache_bytes, usage.cache_bytes);
      absl::SleepFor(absl::Milliseconds(1));
    }
  });
  for (int i = 0; i < kWrites; ++i) written.push_back(Write(absl::StrCat("k/", i % 31), content));
  std::vector<std::thread> threads;
  std::vector<std::vector<int64_t>> received(readers.size());
  for (size_t i = 0; i < readers.size(); ++i) {
    threads.emplace_back([&, i] { received[i] = ReadUpTo(readers[i], written.back()); });
  }
  for (std::thread& thread : threads) thread.join();
  done = true;
  sampler.join();
  for (size_t i = 0; i < readers.size(); ++i) {
    EXPECT_EQ(received[i], written) << "reader " << i;
  }
  absl::MutexLock lock(&mu);
  EXPECT_GT(most.held_bytes, 0);
  EXPECT_LE(most.held_bytes, options_.buffer_bytes);
  EXPECT_LE(most.cache_bytes, options_.cache_bytes);
}

// Events larger than a watcher's share go out one at a time per watcher,
// drawing on half the buffer; every reader still gets every one.
TEST_F(ChangeFeedMemoryTest, EventsLargerThanTheShareStillReachEveryReader) {
  constexpr int kWatchers = 16;
  options_.max_watchers = kWatchers;
  options_.buffer_bytes = kWatchers * 4 * 1024;  // Shares of 1 KiB, a pool of 32 KiB.
  Open();
  std::vector<WatchReader> readers;
  for (int i = 0; i < kWatchers; ++i) readers.push_back(Watch(/*content=*/true));
  const std::string content(8 << 10, 'c');
  std::vector<int64_t> written;
  for (int i = 0; i < 40; ++i) written.push_back(Write(absl::StrCat("k/", i % 3), content));
  std::vector<std::thread> threads;
  std::vector<std::vector<int64_t>> received(readers.size());
  std::atomic<int64_t> most{0};
  for (size_t i = 0; i < readers.size(); ++i) {
    threads.emplace_back([&, i] {
      received[i] = ReadUpTo(readers[i], written.back());
      int64_t held = feed_->Usage().held_bytes;
      int64_t seen = most.load();
      while (held > seen && !most.compare_exchange_weak(seen, held)) {
      }
      // Done with the last event: it no longer holds the pool.
      readers[i].Close();
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (size_t i = 0; i < readers.size(); ++i) {
    EXPECT_EQ(received[i], written) << "reader " << i;
  }
  // The pool (half the buffer) and one event beyond it, as MemoryBudget admits.
  EXPECT_LE(most.load(), options_.buffer_bytes / 2 + (9 << 10));
}

// A watcher that keeps a large event unsent while others wait for the pool
// is ended, and the others go on.
TEST_F(ChangeFeedMemoryTest, AStalledHolderOfALargeEventIsEndedWhenOthersWait) {
  options_.max_watchers = 4;
  options_.buffer_bytes = 4 * 4 * 1024;  // A pool of 8 KiB: one event.
  options_.slow_watcher_timeout = absl::Milliseconds(200);
  options_.progress_interval = absl::Milliseconds(100);
  Open();
  WatchReader stalled = Watch(/*content=*/true);
  WatchReader reader = Watch(/*content=*/true);
  const std::string content(6 << 10, 'c');
  const int64_t first = Write("k/a", content);
  const int64_t second = Write("k/b", content);
  // The stalled watcher takes the first event and never asks again.
  absl::StatusOr<v1::WatchResponse> taken = stalled.NextEvents();
  ASSERT_THAT(taken, IsOk());
  ASSERT_EQ(taken->events(0).resource().revision(), first);
  EXPECT_EQ(ReadUpTo(reader, second), (std::vector<int64_t>{first, second}));
  absl::Status ended;
  while (ended.ok()) ended = stalled.Next().status();
  EXPECT_THAT(ended, StatusIs(absl::StatusCode::kResourceExhausted));
}

}  // namespace
}  // namespace etagd
