// The feed's promise, checked under load: writers (whose batches commit out
// of order) and watchers at once, watchers that read slowly, disconnect and
// resume at random, and a restart of the store in the middle. For every
// watcher, each stretch it received is exactly the committed history of its
// prefix over the revisions that stretch covers: no gap, no duplicate, in
// order; and an initial state equals the history folded up to its revision.
//
// CI runs it for a few seconds; FEED_CHECKER_SECONDS=N runs it longer
// (tests/feed/run_feed_checker.sh).
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "service/feed/change_feed.h"
#include "service/feed/watch_event.h"
#include "service/store/etcd/etcd_store.h"
#include "service/store/rocksdb/rocksdb_store.h"
#include "tests/feed/watch_reader.h"
#include "tests/testing/etcd_cluster.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

absl::Duration RunTime() {
  const char* seconds = std::getenv("FEED_CHECKER_SECONDS");
  if (seconds != nullptr && std::atoi(seconds) > 0) {
    return absl::Seconds(std::atoi(seconds));
  }
  return absl::Seconds(3);
}

// One event as the checker compares it.
struct Seen {
  int64_t revision = 0;
  std::string name;
  bool deleted = false;
  std::string etag;
  bool operator==(const Seen& o) const {
    return revision == o.revision && name == o.name && deleted == o.deleted &&
           etag == o.etag;
  }
};

std::ostream& operator<<(std::ostream& out, const Seen& s) {
  return out << s.revision << (s.deleted ? " delete " : " put ") << s.name
             << " " << s.etag;
}

// What one watcher received between connecting and disconnecting.
struct Stretch {
  v1::WatchRequest request;
  // Every change in [from, to] that matches must be in `events`.
  int64_t from = 0;
  int64_t to = 0;
  std::vector<Seen> events;
  // For initial_state: the state listed, and its revision.
  bool initial = false;
  int64_t initial_revision = 0;
  std::map<std::string, Seen> initial_state;
  std::string failure;
};

using StoreOpener = std::function<absl::StatusOr<std::unique_ptr<Store>>()>;

StoreOpener RocksDbOpener(std::string path) {
  return [path] {
    RocksDbStoreOptions options;
    options.path = path;
    options.sync_writes = false;
    options.space_check_interval = absl::ZeroDuration();
    options.change_prune_interval = absl::ZeroDuration();
    options.change_retention_revisions = 0;
    options.change_retention = absl::ZeroDuration();
    options.history_depth = 2;
    return OpenRocksDbStore(options);
  };
}

// The store and feed, replaced at a restart.
class Stack {
 public:
  explicit Stack(StoreOpener open) : open_store_(std::move(open)) {}

  absl::Status Open() {
    absl::StatusOr<std::unique_ptr<Store>> store = open_store_();
    if (!store.ok()) return store.status();
    ChangeFeedOptions feed_options;
    // Small queues and pages: watchers fall behind and catch up all along.
    feed_options.queue.max_events = 6;
    feed_options.page_size = 5;
    feed_options.response.max_events = 4;
    feed_options.progress_interval = absl::Milliseconds(20);
    absl::MutexLock lock(&mu_);
    store_ = *std::move(store);
    feed_ = std::make_unique<ChangeFeed>(*store_, feed_options);
    open_ = true;
    return absl::OkStatus();
  }

  // Ends the watches (UNAVAILABLE) and closes the store; writers must be
  // stopped.
  void Close() {
    std::unique_ptr<ChangeFeed> feed;
    std::unique_ptr<Store> store;
    {
      absl::MutexLock lock(&mu_);
      open_ = false;
      feed = std::move(feed_);
      store = std::move(store_);
    }
    feed.reset();
    store.reset();
  }

  // A watch, or null while closed.
  std::unique_ptr<WatchStream> Watch(const v1::WatchRequest& request) {
    absl::MutexLock lock(&mu_);
    if (!open_) return nullptr;
    return feed_->Watch(request);
  }

  Store* store() {
    absl::MutexLock lock(&mu_);
    return store_.get();
  }

 private:
  const StoreOpener open_store_;
  absl::Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<Store> store_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<ChangeFeed> feed_ ABSL_GUARDED_BY(mu_);
};

const char* const kNames[] = {"a/1", "a/2", "a/3", "b/1", "b/2", "c", "a/1x"};

void Write(Store& store, absl::BitGen& bitgen) {
  const std::string name = kNames[absl::Uniform(bitgen, 0u, 7u)];
  absl::StatusOr<std::optional<Record>> current = store.ReadCurrent(name, false);
  if (!current.ok()) return;
  WriteRequest request;
  request.name = name;
  request.expected_revision = current->has_value() ? (*current)->revision : 0;
  const bool live = current->has_value() && !(*current)->deleted;
  request.is_delete = live && absl::Bernoulli(bitgen, 0.2);
  const std::string content = absl::StrCat("v", absl::Uniform(bitgen, 0, 1000));
  request.content = content;
  // Lost races (ABORTED) are part of the load; nothing to check here.
  store.Write(request).IgnoreError();
}

v1::WatchRequest RandomRequest(absl::BitGen& bitgen) {
  v1::WatchRequest request;
  switch (absl::Uniform(bitgen, 0, 5)) {
    case 0:
      break;
    case 1:
      request.set_prefix("a/");
      break;
    case 2:
      request.set_prefix("b/");
      break;
    case 3:
      request.set_prefix("a/1");
      request.set_exact(true);
      break;
    default:
      request.set_prefix("a/1");
      break;
  }
  return request;
}

// One watcher's life: connect, read a while (sometimes slowly), disconnect,
// resume from where it was, until `stop`.
void Watcher(Stack& stack, const std::atomic<bool>& stop, int seed,
             std::vector<Stretch>& stretches) {
  absl::BitGen bitgen;
  int64_t resume = 0;  // 0: from now (or the initial state).
  while (!stop.load()) {
    Stretch stretch;
    stretch.request = RandomRequest(bitgen);
    if (resume > 0) {
      stretch.request.set_start_revision(resume);
    } else if (absl::Bernoulli(bitgen, 0.5)) {
      stretch.request.set_initial_state(true);
      stretch.initial = true;
    }
    std::unique_ptr<WatchStream> stream = stack.Watch(stretch.request);
    if (stream == nullptr) {
      absl::SleepFor(absl::Milliseconds(5));
      continue;
    }
    WatchReader reader(std::move(stream));
    stretch.from = resume;
    bool started = resume > 0;
    bool in_initial = stretch.initial;
    int64_t last_revision = 0;
    const int responses = absl::Uniform(bitgen, 1, 60);
    bool ended = false;
    for (int i = 0; i < responses && !stop.load(); ++i) {
      absl::StatusOr<v1::WatchResponse> response =
          reader.Next(absl::Seconds(20));
      if (!response.ok()) {
        if (!absl::IsUnavailable(response.status())) {
          stretch.failure = absl::StrCat("watcher ", seed, ": ",
                                         response.status().ToString());
        }
        ended = true;
        break;
      }
      if (in_initial) {
        if (response->initial_state_end()) {
          in_initial = false;
          stretch.initial_revision = response->revision();
          stretch.from = response->revision() + 1;
          started = true;
          last_revision = response->revision();
          continue;
        }
        for (const v1::WatchEvent& event : response->events()) {
          if (!event.initial()) stretch.failure = "a change inside the initial state";
          stretch.initial_state[event.resource().name()] =
              Seen{event.resource().revision(), event.resource().name(), false,
                   event.resource().etag()};
        }
        continue;
      }
      if (!started) {
        // From now: the first response says where "now" is.
        if (response->events_size() > 0) {
          stretch.failure = "events before the first progress response";
        }
        stretch.from = response->revision() + 1;
        started = true;
      }
      for (const v1::WatchEvent& event : response->events()) {
        const v1::Resource& r = event.resource();
        stretch.events.push_back(
            Seen{r.revision(), r.name(), event.deleted(), r.etag()});
        if (r.revision() > response->revision()) {
          stretch.failure = "an event above its response's revision";
        }
      }
      if (response->revision() < last_revision) {
        stretch.failure = "the progress revision went back";
      }
      last_revision = std::max(last_revision, response->revision());
      if (absl::Bernoulli(bitgen, 0.1)) {
        absl::SleepFor(absl::Milliseconds(absl::Uniform(bitgen, 1, 30)));
      }
    }
    (void)ended;
    stretch.to = last_revision;
    if (started && last_revision >= stretch.from) {
      resume = last_revision + 1;
    } else if (started) {
      resume = stretch.from;
    }
    // Sometimes forget the position and start over from now.
    if (absl::Bernoulli(bitgen, 0.1)) resume = 0;
    stretches.push_back(std::move(stretch));
  }
}

// Runs writers (through `writer`, or the stack's own store if null) and
// watchers of `stack`, restarts the stack's store midway, and checks what
// every watcher got against the change log.
void CheckFeed(Stack& stack, Store* writer) {
  ASSERT_THAT(stack.Open(), IsOk());
  const absl::Duration run = RunTime();
  std::atomic<bool> stop_watchers{false};
  constexpr int kWatchers = 6;
  std::vector<std::vector<Stretch>> stretches(kWatchers);
  std::vector<std::thread> watchers;
  for (int i = 0; i < kWatchers; ++i) {
    watchers.emplace_back(
        [&, i] { Watcher(stack, stop_watchers, i, stretches[i]); });
  }
  // Two phases of writers with a restart of the store between them.
  for (int phase = 0; phase < 2; ++phase) {
    std::atomic<bool> stop_writers{false};
    std::vector<std::thread> writers;
    Store* store = writer != nullptr ? writer : stack.store();
    for (int i = 0; i < 4; ++i) {
      writers.emplace_back([&stop_writers, store] {
        absl::BitGen bitgen;
        while (!stop_writers.load()) Write(*store, bitgen);
      });
    }
    absl::SleepFor(run / 2);
    stop_writers.store(true);
    for (std::thread& writer : writers) writer.join();
    if (phase == 0) {
      stack.Close();
      ASSERT_THAT(stack.Open(), IsOk());
    }
  }
  // Let the watchers reach the end.
  absl::SleepFor(absl::Milliseconds(300));
  stop_watchers.store(true);
  for (std::thread& watcher : watchers) watcher.join();

  // The committed history: the whole change log (nothing is pruned).
  Store& store = *stack.store();
  absl::StatusOr<ChangeWindow> window = store.Changes();
  ASSERT_THAT(window, IsOk());
  ASSERT_EQ(window->oldest_revision, 1);
  std::vector<Record> history;
  for (int64_t from = 1; from <= window->committed_revision;) {
    absl::StatusOr<ChangePage> page =
        store.ReadChanges(from, window->committed_revision, 1000, false);
    ASSERT_THAT(page, IsOk());
    for (Record& change : page->changes) history.push_back(std::move(change));
    from = page->next_revision;
  }
  ASSERT_GT(history.size(), 100u) << "too little load to check anything";

  int checked_events = 0;
  int checked_stretches = 0;
  for (int w = 0; w < kWatchers; ++w) {
    for (const Stretch& stretch : stretches[w]) {
      SCOPED_TRACE(absl::StrCat("watcher ", w, " prefix \"",
                                stretch.request.prefix(), "\"",
                                stretch.request.exact() ? " exact" : "",
                                " from ", stretch.from, " to ", stretch.to));
      EXPECT_EQ(stretch.failure, "");
      if (stretch.initial && stretch.initial_revision > 0) {
        std::map<std::string, Seen> state;
        for (const Record& change : history) {
          if (change.revision > stretch.initial_revision) break;
          if (!WatchMatches(stretch.request, change.name)) continue;
          if (change.deleted) {
            state.erase(change.name);
          } else {
            state[change.name] =
                Seen{change.revision, change.name, false, change.etag};
          }
        }
        EXPECT_EQ(stretch.initial_state, state) << "initial state";
      }
      if (stretch.from == 0 || stretch.to < stretch.from) continue;
      std::vector<Seen> expected;
      for (const Record& change : history) {
        if (change.revision < stretch.from || change.revision > stretch.to) {
          continue;
        }
        if (!WatchMatches(stretch.request, change.name)) continue;
        expected.push_back(
            Seen{change.revision, change.name, change.deleted,
                 change.deleted ? std::string() : change.etag});
      }
      ASSERT_EQ(stretch.events, expected);
      checked_events += static_cast<int>(expected.size());
      ++checked_stretches;
    }
  }
  EXPECT_GT(checked_stretches, 10);
  EXPECT_GT(checked_events, 100);
  std::cout << "checked " << checked_stretches << " stretches, "
            << checked_events << " events, over " << history.size()
            << " revisions\n";
}

TEST(FeedCheckerTest, EveryWatcherGetsExactlyTheCommittedHistoryOfItsPrefix) {
  Stack stack(RocksDbOpener(TestPath("db")));
  CheckFeed(stack, nullptr);
}

// With etcd: writes through one replica, watchers on another, which is
// restarted midway (its watch then starts over from etcd's history).
TEST(FeedCheckerTest, EveryWatcherOfAnEtcdReplicaGetsTheHistoryAnotherWrote) {
  absl::StatusOr<std::unique_ptr<EtcdCluster>> etcd =
      EtcdCluster::Start(TestPath("etcd"));
  ASSERT_THAT(etcd, IsOk());
  EtcdStoreOptions options;
  options.endpoints = (*etcd)->ClientEndpoints();
  options.prefix = "/feed-checker/";
  options.history_depth = 2;
  absl::StatusOr<std::unique_ptr<Store>> writer = OpenEtcdStore(options);
  ASSERT_THAT(writer, IsOk());
  Stack stack([options] { return OpenEtcdStore(options); });
  CheckFeed(stack, writer->get());
}

}  // namespace
}  // namespace etagd
