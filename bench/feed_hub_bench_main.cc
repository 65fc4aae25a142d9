// feed-hub-bench: the change feed under load, in one process (the
// RocksDB engine and the ChangeFeed hub, no gRPC): steady writers, many
// watchers of which some never read. Reports the writers' latency, the
// commit-to-delivery latency and delivery rate of the reading watchers,
// whether each got every event, and the process's memory. See --help.
#include <pthread.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/thread_cost.h"
#include "service/feed/change_feed.h"
#include "service/store/rocksdb/rocksdb_store.h"

ABSL_FLAG(bool, mutex_deadlock_detection, false,
          "Leave absl::Mutex's deadlock detection on, as Debian's Abseil has "
          "it (etagd turns it off): every lock then takes one global lock.");
ABSL_FLAG(int, watchers, 10000, "Watchers, all of one prefix.");
ABSL_FLAG(double, stalled_fraction, 0.01,
          "Fraction of the watchers that never read after their first "
          "response.");
ABSL_FLAG(int, writers, 2, "Writer threads.");
ABSL_FLAG(int, write_rate, 500, "Writes per second, all writers together.");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "Measured run time.");
ABSL_FLAG(std::string, data_dir, "/tmp/etagd-watch-bench",
          "Directory of the store (emptied first).");
ABSL_FLAG(bool, sync_writes, false, "Sync the write-ahead log per write.");
ABSL_FLAG(int, queue_events, 128, "Each watcher's queue (events).");

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

int64_t RssKib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::stoll(line.substr(6));
  }
  return -1;
}

// One write's wall time and what the writer's thread spent on it.
struct WriteSample {
  double wall_ms = 0;
  ThreadCost cost;
};

// The writer's own share of its writes (all of them, and the slowest 1 %):
// CPU, waiting for a CPU, the rest (blocked, or stolen by the host), and
// context switches, per write. CPU and voluntary switches (blocking on a
// lock) hardly depend on the machine's load; waiting for a CPU does.
void PrintWriterCost(std::vector<WriteSample> samples) {
  if (samples.empty()) return;
  std::sort(samples.begin(), samples.end(),
            [](const WriteSample& a, const WriteSample& b) {
              return a.wall_ms < b.wall_ms;
            });
  // What the sample after each write counts of its own reading.
  const double sampling_us =
      static_cast<double>(ThreadCost::SamplingCpuNs()) / 1e3;
  auto print = [sampling_us](const char* what, const WriteSample* begin,
                             const WriteSample* end) {
    const double n = static_cast<double>(end - begin);
    double wall = 0, cpu = 0, queued = 0, voluntary = 0, involuntary = 0;
    for (const WriteSample* s = begin; s != end; ++s) {
      wall += s->wall_ms * 1e3;
      cpu += std::max(0.0, static_cast<double>(s->cost.cpu_ns) / 1e3 -
                               sampling_us);
      queued += static_cast<double>(s->cost.run_delay_ns) / 1e3;
      voluntary += static_cast<double>(s->cost.voluntary_switches);
      involuntary += static_cast<double>(s->cost.involuntary_switches);
    }
    std::printf(
        "writer, %s (%.0f), mean per write: wall %.1f us = cpu %.1f + "
        "waiting for a cpu %.1f + other %.1f; switches: %.3f voluntary, "
        "%.3f involuntary\n",
        what, n, wall / n, cpu / n, queued / n,
        std::max(0.0, wall - cpu - queued) / n, voluntary / n,
        involuntary / n);
  };
  const WriteSample* begin = samples.data();
  const WriteSample* end = begin + samples.size();
  print("all writes", begin, end);
  const size_t slow = std::max<size_t>(1, samples.size() / 100);
  print("slowest 1 %", end - slow, end);
}

double Percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(p * v.size()))];
}

// When each revision's write returned, by revision.
class CommitTimes {
 public:
  void Set(int64_t revision, absl::Time t) {
    absl::MutexLock lock(&mu_);
    if (static_cast<size_t>(revision) >= times_.size()) {
      times_.resize(static_cast<size_t>(revision) * 2 + 1, absl::InfinitePast());
    }
    times_[static_cast<size_t>(revision)] = t;
  }
  absl::Time Get(int64_t revision) {
    absl::MutexLock lock(&mu_);
    if (static_cast<size_t>(revision) >= times_.size()) return absl::InfinitePast();
    return times_[static_cast<size_t>(revision)];
  }

 private:
  absl::Mutex mu_;
  std::vector<absl::Time> times_ ABSL_GUARDED_BY(mu_);
};

// A watcher that reads every response as it comes (its callback asks for
// the next one), recording delivery latency; or one that stops reading.
class Reader {
 public:
  Reader(std::unique_ptr<WatchStream> stream, bool stalls, CommitTimes& times)
      : stream_(std::move(stream)), stalls_(stalls), times_(times) {}

  void Start() { Ask(); }

  int64_t events() const { return events_.load(); }
  std::vector<double> TakeLatencies() {
    absl::MutexLock lock(&mu_);
    return std::move(latencies_ms_);
  }
  bool failed() const { return failed_.load(); }

 private:
  void Ask() {
    stream_->Next([this](absl::StatusOr<v1::WatchResponse> response) {
      if (!response.ok()) {
        if (!absl::IsUnavailable(response.status())) failed_.store(true);
        return;
      }
      const absl::Time now = absl::Now();
      {
        absl::MutexLock lock(&mu_);
        for (const v1::WatchEvent& event : response->events()) {
          const absl::Time committed = times_.Get(event.resource().revision());
          if (committed != absl::InfinitePast() && (events_.load() % 16) == 0) {
            latencies_ms_.push_back(
                absl::ToDoubleMilliseconds(std::max(absl::ZeroDuration(),
                                                    now - committed)));
          }
          events_.fetch_add(1);
        }
      }
      // A stalled watcher never asks again after its first response.
      if (stalls_) return;
      Ask();
    });
  }

  std::unique_ptr<WatchStream> stream_;
  const bool stalls_;
  CommitTimes& times_;
  std::atomic<int64_t> events_{0};
  std::atomic<bool> failed_{false};
  absl::Mutex mu_;
  std::vector<double> latencies_ms_ ABSL_GUARDED_BY(mu_);
};

int Run() {
  const std::string dir = absl::GetFlag(FLAGS_data_dir);
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
  RocksDbStoreOptions options;
  options.path = dir;
  options.sync_writes = absl::GetFlag(FLAGS_sync_writes);
  absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(options);
  if (!store.ok()) {
    std::cerr << "cannot open the store: " << store.status() << "\n";
    return 1;
  }
  ChangeFeedOptions feed_options;
  // The server's bound: buffer_bytes split between this many watchers.
  feed_options.max_watchers = std::max(1, absl::GetFlag(FLAGS_watchers));
  feed_options.queue.max_events = absl::GetFlag(FLAGS_queue_events);
  ChangeFeed feed(**store, feed_options);
  const int64_t rss_before = RssKib();

  CommitTimes times;
  const int count = absl::GetFlag(FLAGS_watchers);
  const int stalled =
      static_cast<int>(count * absl::GetFlag(FLAGS_stalled_fraction));
  std::vector<std::unique_ptr<Reader>> readers;
  v1::WatchRequest request;
  request.set_prefix("bench/");
  for (int i = 0; i < count; ++i) {
    readers.push_back(
        std::make_unique<Reader>(feed.Watch(request), i < stalled, times));
  }
  for (auto& reader : readers) reader->Start();

  const int writers = std::max(1, absl::GetFlag(FLAGS_writers));
  const absl::Duration interval =
      absl::Seconds(1) * writers / std::max(1, absl::GetFlag(FLAGS_write_rate));
  const absl::Time end = absl::Now() + absl::GetFlag(FLAGS_duration);
  std::vector<std::vector<WriteSample>> write_samples(writers);
  std::atomic<int64_t> written{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < writers; ++w) {
    threads.emplace_back([&, w] {
      (void)pthread_setname_np(pthread_self(), "bench-writer");
      absl::Time next = absl::Now();
      int64_t i = 0;
      while (absl::Now() < end) {
        next += interval;
        absl::SleepFor(next - absl::Now());
        const std::string name = absl::StrCat("bench/", w, "-", i++ % 100);
        absl::StatusOr<std::optional<Record>> current =
            (*store)->ReadCurrent(name, false);
        WriteRequest write;
        write.name = name;
        write.expected_revision =
            current.ok() && current->has_value() ? (*current)->revision : 0;
        write.content = "0123456789abcdef0123456789abcdef";
        const ThreadCost before = ThreadCost::Now();
        const absl::Time start = absl::Now();
        absl::StatusOr<Record> done = (*store)->Write(write);
        const absl::Time stop = absl::Now();
        const ThreadCost after = ThreadCost::Now();
        if (!done.ok()) continue;
        times.Set(done->revision, stop);
        write_samples[w].push_back(WriteSample{
            absl::ToDoubleMilliseconds(stop - start), after - before});
        written.fetch_add(1);
      }
    });
  }
  std::atomic<bool> sampling{true};
  ChangeFeedUsage most;
  std::thread sampler([&] {
    (void)pthread_setname_np(pthread_self(), "bench-sampler");
    while (sampling.load()) {
      const ChangeFeedUsage usage = feed.Usage();
      most.held_bytes = std::max(most.held_bytes, usage.held_bytes);
      most.cache_bytes = std::max(most.cache_bytes, usage.cache_bytes);
      most.watcher_bytes = usage.watcher_bytes;
      absl::SleepFor(absl::Milliseconds(20));
    }
  });
  for (std::thread& thread : threads) thread.join();
  const absl::Time written_at = absl::Now();
  // Let the reading watchers drain.
  const int64_t total = written.load();
  while (absl::Now() - written_at < absl::Seconds(30)) {
    bool all = true;
    for (int i = stalled; i < count && all; ++i) {
      all = readers[i]->events() >= total;
    }
    if (all) break;
    absl::SleepFor(absl::Milliseconds(10));
  }
  const absl::Duration drained = absl::Now() - written_at;
  const int64_t rss_after = RssKib();
  sampling.store(false);
  sampler.join();

  std::vector<WriteSample> samples;
  for (auto& v : write_samples) samples.insert(samples.end(), v.begin(), v.end());
  std::vector<double> writes;
  for (const WriteSample& sample : samples) writes.push_back(sample.wall_ms);
  std::vector<double> delivery;
  int complete = 0;
  int failed = 0;
  int64_t delivered = 0;
  for (int i = 0; i < count; ++i) {
    if (readers[i]->failed()) ++failed;
    if (i < stalled) continue;
    delivered += readers[i]->events();
    if (readers[i]->events() == total) ++complete;
    std::vector<double> l = readers[i]->TakeLatencies();
    delivery.insert(delivery.end(), l.begin(), l.end());
  }
  const double seconds =
      absl::ToDoubleSeconds(absl::GetFlag(FLAGS_duration) + drained);
  std::printf(
      "watchers %d (%d never read); writes %lld: p50 %.3f ms, p99 %.3f ms\n"
      "reading watchers with every event: %d of %d (failed streams: %d)\n"
      "commit-to-delivery: p50 %.3f ms, p99 %.3f ms; %.0f events/s delivered\n"
      "RSS: %lld KiB before the watchers and writes, %lld KiB after\n",
      count, stalled, static_cast<long long>(total), Percentile(writes, 0.5),
      Percentile(writes, 0.99), complete, count - stalled, failed,
      Percentile(delivery, 0.5), Percentile(delivery, 0.99),
      static_cast<double>(delivered) / seconds,
      static_cast<long long>(rss_before), static_cast<long long>(rss_after));
  PrintWriterCost(std::move(samples));
  std::printf(
      "feed's own count at its peak: %lld KiB held by watchers (share %lld "
      "B each), %lld KiB in the shared window\n",
      static_cast<long long>(most.held_bytes >> 10),
      static_cast<long long>(most.watcher_bytes),
      static_cast<long long>(most.cache_bytes >> 10));
  // The feed first: once it has shut down no callback runs any more, and
  // the streams can go.
  feed.Shutdown();
  readers.clear();
  return complete == count - stalled && failed == 0 ? 0 : 1;
}

}  // namespace
}  // namespace etagd

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "The change feed under load, in one process: --writers write "
      "--write_rate writes/s for --duration into a RocksDB store in "
      "--data_dir while --watchers watch (a --stalled_fraction of them never "
      "read). Prints write latency, commit-to-delivery latency, events/s, "
      "whether every reading watcher got every event, and RSS. Exit 1 if "
      "one did not.");
  absl::ParseCommandLine(argc, argv);
  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's
  // deadlock detection on: every lock and unlock takes one global spin lock
  // to update a lock graph, so the writers here would queue behind the
  // feed's (or gRPC's) locking, as in no server (etagd turns it off).
  if (!absl::GetFlag(FLAGS_mutex_deadlock_detection)) {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  }
  return etagd::Run();
}
