// Watch across kill -9: a real etagd (RocksDB, durable writes) is killed
// with SIGKILL again and again while writers write and watchers watch over
// gRPC; watchers reconnect to the restarted etagd and resume from their last
// revision plus one (or disconnect at random and do the same). At the end
// the store's change log is read directly: every stretch each watcher
// received is exactly the committed history of its prefix over the
// revisions it covered.
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "gtest/gtest.h"
#include "service/feed/watch_event.h"
#include "service/store/rocksdb/rocksdb_store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

constexpr absl::Duration kTimeout = absl::Seconds(60);

struct Seen {
  int64_t revision = 0;
  std::string name;
  bool deleted = false;
  bool operator==(const Seen& o) const {
    return revision == o.revision && name == o.name && deleted == o.deleted;
  }
};

std::ostream& operator<<(std::ostream& out, const Seen& s) {
  return out << s.revision << (s.deleted ? " delete " : " put ") << s.name;
}

struct Stretch {
  std::string prefix;
  int64_t from = 0;
  int64_t to = 0;
  std::vector<Seen> events;
};

// The current etagd's address ("" while it is down).
class Target {
 public:
  void Set(std::string target) {
    absl::MutexLock lock(&mu_);
    target_ = std::move(target);
  }
  std::string Get() {
    absl::MutexLock lock(&mu_);
    return target_;
  }

 private:
  absl::Mutex mu_;
  std::string target_ ABSL_GUARDED_BY(mu_);
};

const char* const kPrefixes[] = {"", "a/", "b/"};
const char* const kNames[] = {"a/1", "a/2", "b/1", "b/2", "c"};

void Writer(Target& target, const std::atomic<bool>& stop) {
  absl::BitGen bitgen;
  while (!stop.load()) {
    const std::string address = target.Get();
    if (address.empty()) {
      absl::SleepFor(absl::Milliseconds(5));
      continue;
    }
    ClientOptions options;
    options.timeout = absl::Seconds(2);
    std::unique_ptr<Client> client = Client::Connect(address, options);
    for (int i = 0; i < 50 && !stop.load(); ++i) {
      const std::string name = kNames[absl::Uniform(bitgen, 0u, 5u)];
      if (absl::Bernoulli(bitgen, 0.2)) {
        v1::DeleteResourceRequest request;
        request.set_name(name);
        // NOT_FOUND, or a failure while etagd is killed: part of the load.
        client->Delete(request).IgnoreError();
      } else {
        v1::PutResourceRequest request;
        request.set_name(name);
        request.set_content(absl::StrCat(absl::Uniform(bitgen, 0, 1000)));
        if (!client->Put(request).ok()) break;
      }
    }
  }
}

void Watcher(Target& target, const std::atomic<bool>& stop, int seed,
             std::vector<Stretch>& stretches) {
  absl::BitGen bitgen;
  int64_t resume = 0;
  std::string prefix = kPrefixes[seed % 3];
  while (!stop.load()) {
    const std::string address = target.Get();
    if (address.empty()) {
      absl::SleepFor(absl::Milliseconds(5));
      continue;
    }
    std::unique_ptr<Client> client = Client::Connect(address);
    Stretch stretch;
    stretch.prefix = prefix;
    stretch.from = resume;
    bool started = resume > 0;
    const int responses = absl::Uniform(bitgen, 1, 100);
    int seen = 0;
    v1::WatchRequest request;
    request.set_prefix(prefix);
    request.set_start_revision(resume);
    // UNAVAILABLE when etagd is killed; the stretch ends there either way.
    client
        ->Watch(request,
                [&](const v1::WatchResponse& response) {
                  if (!started) {
                    stretch.from = response.revision() + 1;
                    started = true;
                  }
                  for (const v1::WatchEvent& event : response.events()) {
                    stretch.events.push_back(Seen{event.resource().revision(),
                                                  event.resource().name(),
                                                  event.deleted()});
                  }
                  stretch.to = std::max(stretch.to, response.revision());
                  return ++seen < responses && !stop.load();
                })
        .IgnoreError();
    if (started) resume = std::max(stretch.from, stretch.to + 1);
    if (stretch.to < stretch.from) stretch.to = stretch.from - 1;
    stretches.push_back(std::move(stretch));
    if (!started) absl::SleepFor(absl::Milliseconds(10));
  }
}

TEST(WatchKill9Test, WatchersResumeAcrossKill9WithNoGapAndNoDuplicate) {
  const std::string data_dir = TestPath("data");
  const std::vector<std::string> flags = {"--watch_progress_interval=100ms",
                                          "--http_listen="};
  Target target;
  absl::StatusOr<EtagdProcess> etagd = StartEtagd(data_dir, flags, kTimeout);
  ASSERT_TRUE(etagd.ok()) << etagd.status();
  target.Set(etagd->target());

  std::atomic<bool> stop_writers{false};
  std::atomic<bool> stop_watchers{false};
  constexpr int kWatchers = 4;
  std::vector<std::vector<Stretch>> stretches(kWatchers);
  std::vector<std::thread> threads;
  for (int i = 0; i < 3; ++i) {
    threads.emplace_back([&] { Writer(target, stop_writers); });
  }
  std::vector<std::thread> watchers;
  for (int i = 0; i < kWatchers; ++i) {
    watchers.emplace_back(
        [&, i] { Watcher(target, stop_watchers, i, stretches[i]); });
  }
  absl::BitGen bitgen;
  for (int cycle = 0; cycle < 3; ++cycle) {
    absl::SleepFor(absl::Milliseconds(absl::Uniform(bitgen, 300, 1000)));
    target.Set("");
    ASSERT_THAT(etagd->process->Signal(SIGKILL), IsOk());
    etagd->process->Wait(kTimeout).IgnoreError();
    etagd = StartEtagd(data_dir, flags, kTimeout);
    ASSERT_TRUE(etagd.ok()) << etagd.status();
    target.Set(etagd->target());
  }
  absl::SleepFor(absl::Milliseconds(500));
  stop_writers.store(true);
  for (std::thread& thread : threads) thread.join();
  // Let the watchers see the last writes.
  absl::SleepFor(absl::Milliseconds(500));
  stop_watchers.store(true);
  for (std::thread& thread : watchers) thread.join();
  target.Set("");
  ASSERT_THAT(etagd->process->Signal(SIGKILL), IsOk());
  etagd->process->Wait(kTimeout).IgnoreError();

  // The committed history, straight from the store.
  RocksDbStoreOptions options;
  options.path = data_dir;
  options.space_check_interval = absl::ZeroDuration();
  options.change_prune_interval = absl::ZeroDuration();
  absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(options);
  ASSERT_THAT(store, IsOk());
  absl::StatusOr<ChangeWindow> window = (*store)->Changes();
  ASSERT_THAT(window, IsOk());
  ASSERT_EQ(window->oldest_revision, 1);
  std::vector<Record> history;
  for (int64_t from = 1; from <= window->committed_revision;) {
    absl::StatusOr<ChangePage> page =
        (*store)->ReadChanges(from, window->committed_revision, 1000, false);
    ASSERT_THAT(page, IsOk());
    for (Record& change : page->changes) history.push_back(std::move(change));
    from = page->next_revision;
  }
  ASSERT_GT(history.size(), 50u) << "too little load to check anything";

  int checked = 0;
  for (int w = 0; w < kWatchers; ++w) {
    for (const Stretch& stretch : stretches[w]) {
      if (stretch.from == 0 || stretch.to < stretch.from) continue;
      SCOPED_TRACE(absl::StrCat("watcher ", w, " prefix \"", stretch.prefix,
                                "\" from ", stretch.from, " to ", stretch.to));
      v1::WatchRequest request;
      request.set_prefix(stretch.prefix);
      std::vector<Seen> expected;
      for (const Record& change : history) {
        if (change.revision >= stretch.from && change.revision <= stretch.to &&
            WatchMatches(request, change.name)) {
          expected.push_back(Seen{change.revision, change.name, change.deleted});
        }
      }
      ASSERT_EQ(stretch.events, expected);
      checked += static_cast<int>(expected.size());
    }
  }
  EXPECT_GT(checked, 50);
  std::cout << "checked " << checked << " events over " << history.size()
            << " revisions and 3 kills\n";
}

}  // namespace
}  // namespace etagd
