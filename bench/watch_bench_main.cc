// watch-bench: change-feed load for etagd's Watch and, driven the same way,
// etcd's Watch. Opens --watchers watch streams on one prefix (one gRPC
// stream each, spread over --connections connections), of which --stalled
// never read a single message, then writes to keys under the prefix at a
// steady --write_rate (open loop: a slow server does not slow the schedule)
// and reports
//   - write latency (p50, p99) of those writes,
//   - put-to-delivery latency (p50, p99): from the moment a write is sent
//     to the moment a reading watcher has its event, over every delivery,
//   - deliveries per second, and whether every reading watcher got every
//     write exactly once, in revision order,
//   - the server's peak resident memory (--server_pid, sampled from /proc).
// With --watchers=0 the same writes run with no watcher, for the baseline
// write p99. See --help.
#include <algorithm>
#include <array>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "etagd/v1/etagd.grpc.pb.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

ABSL_FLAG(bool, mutex_deadlock_detection, false,
          "Leave absl::Mutex's deadlock detection on, as Debian's Abseil has "
          "it (etagd turns it off): every lock then takes one global lock.");
ABSL_FLAG(std::string, target, "127.0.0.1:7070", "Server HOST:PORT.");
ABSL_FLAG(std::string, system, "etagd", "What the target runs: etagd or etcd.");
ABSL_FLAG(int, watchers, 1000, "Watch streams on the prefix.");
ABSL_FLAG(int, stalled, 0,
          "Of those, how many never read: their backlog is the server's to "
          "bound.");
ABSL_FLAG(int, connections, 16, "gRPC connections the streams share.");
ABSL_FLAG(std::string, prefix, "watch-bench/", "The watched prefix.");
ABSL_FLAG(int, keys, 100, "Keys under the prefix the writes cycle over.");
ABSL_FLAG(double, write_rate, 200, "Writes per second, sent on a fixed schedule.");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "How long writes are sent.");
ABSL_FLAG(int, value_size, 128, "Bytes of each value (at least 24).");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(60),
          "After the last write, how long reading watchers may take to get "
          "every event.");
ABSL_FLAG(int, server_pid, 0, "Process whose peak RSS to report (0: none).");
ABSL_FLAG(std::string, json_out, "", "Also write the result as JSON here.");

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

int64_t NowNanos() { return absl::GetCurrentTimeNanos(); }

// Latencies in microseconds, in buckets of 1/16 of a power of two (at most
// 6 % error), with atomic counters: constant memory however many samples.
class Histogram {
 public:
  void Add(int64_t micros) {
    counts_[Bucket(std::max<int64_t>(micros, 0))].fetch_add(
        1, std::memory_order_relaxed);
  }

  int64_t Count() const {
    int64_t n = 0;
    for (const auto& c : counts_) n += c.load(std::memory_order_relaxed);
    return n;
  }

  // The q-quantile (0..1), as the upper edge of its bucket.
  double Quantile(double q) const {
    const int64_t n = Count();
    if (n == 0) return 0;
    const int64_t rank = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(q * n)));
    int64_t seen = 0;
    for (size_t b = 0; b < counts_.size(); ++b) {
      seen += counts_[b].load(std::memory_order_relaxed);
      if (seen >= rank) return UpperEdge(b);
    }
    return UpperEdge(counts_.size() - 1);
  }

 private:
  static constexpr int kSub = 16;
  static constexpr int kOctaves = 40;

  static size_t Bucket(int64_t v) {
    if (v < kSub) return static_cast<size_t>(v);
    const int octave = 63 - __builtin_clzll(static_cast<uint64_t>(v));  // >= 4
    const int sub = static_cast<int>((v >> (octave - 4)) & (kSub - 1));
    return std::min<size_t>((octave - 3) * kSub + sub, kSub * kOctaves - 1);
  }

  static double UpperEdge(size_t b) {
    if (b < kSub) return static_cast<double>(b);
    const int octave = static_cast<int>(b / kSub) + 3;
    const int sub = static_cast<int>(b % kSub);
    return std::ldexp(1.0 + (sub + 1) / 16.0, octave) - 1;
  }

  std::array<std::atomic<int64_t>, kSub * kOctaves> counts_{};
};

// The value of a write: when it was sent (decimal nanoseconds, fixed width),
// then filler. Watchers read the send time back from the event.
std::string ValueSentAt(int64_t sent_nanos, int size) {
  std::string value = absl::StrFormat("%020d;", sent_nanos);
  value.resize(std::max<size_t>(value.size(), size), 'x');
  return value;
}

int64_t SentAt(const std::string& value) {
  int64_t nanos = 0;
  if (value.size() < 21 || !absl::SimpleAtoi(value.substr(0, 20), &nanos)) return 0;
  return nanos;
}

// What every reading watcher records.
struct Deliveries {
  Histogram latency;
  std::atomic<int64_t> events{0};
  std::atomic<int64_t> out_of_order{0};
  std::atomic<int64_t> last_delivery_nanos{0};
};

// One watcher's stream. Thread-compatible per stream: gRPC runs one
// reactor's callbacks one at a time.
class Watcher {
 public:
  virtual ~Watcher() = default;
  // Events received so far.
  int64_t received() const { return received_.load(std::memory_order_acquire); }
  // The stream ended, with this status.
  bool done() const { return done_.HasBeenNotified(); }
  const grpc::Status& status() const { return status_; }
  virtual void Cancel() = 0;
  void AwaitDone() { done_.WaitForNotification(); }

 protected:
  void Deliver(int64_t revision, const std::string& value, Deliveries& out) {
    const int64_t now = NowNanos();
    if (revision <= last_revision_) out.out_of_order.fetch_add(1, std::memory_order_relaxed);
    last_revision_ = revision;
    const int64_t sent = SentAt(value);
    if (sent > 0) out.latency.Add((now - sent) / 1000);
    out.events.fetch_add(1, std::memory_order_relaxed);
    int64_t last = out.last_delivery_nanos.load(std::memory_order_relaxed);
    while (now > last && !out.last_delivery_nanos.compare_exchange_weak(last, now)) {
    }
    received_.fetch_add(1, std::memory_order_release);
  }
  void Finish(const grpc::Status& status) {
    status_ = status;
    done_.Notify();
  }

 private:
  int64_t last_revision_ = 0;
  std::atomic<int64_t> received_{0};
  grpc::Status status_;
  absl::Notification done_;
};

class EtagdWatcher final : public Watcher,
                           public grpc::ClientReadReactor<v1::WatchResponse> {
 public:
  EtagdWatcher(v1::Resources::Stub& stub, const std::string& prefix,
               int64_t start_revision, bool stalled, Deliveries& out)
      : stalled_(stalled), out_(out) {
    request_.set_prefix(prefix);
    request_.set_start_revision(start_revision);
    request_.set_include_content(true);
    stub.async()->Watch(&context_, &request_, this);
    if (!stalled_) StartRead(&response_);
    StartCall();
  }

  void Cancel() override { context_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    for (const v1::WatchEvent& event : response_.events()) {
      Deliver(event.resource().revision(), event.resource().content(), out_);
    }
    StartRead(&response_);
  }
  void OnDone(const grpc::Status& status) override { Finish(status); }

 private:
  const bool stalled_;
  Deliveries& out_;
  grpc::ClientContext context_;
  v1::WatchRequest request_;
  v1::WatchResponse response_;
};

class EtcdWatcher final
    : public Watcher,
      public grpc::ClientBidiReactor<etcdserverpb::WatchRequest,
                                     etcdserverpb::WatchResponse> {
 public:
  EtcdWatcher(etcdserverpb::Watch::Stub& stub, const std::string& prefix,
              int64_t start_revision, bool stalled, Deliveries& out)
      : stalled_(stalled), out_(out) {
    etcdserverpb::WatchCreateRequest& create = *request_.mutable_create_request();
    create.set_key(prefix);
    std::string end = prefix;
    end.back() = static_cast<char>(end.back() + 1);
    create.set_range_end(end);
    create.set_start_revision(start_revision);
    stub.async()->Watch(&context_, this);
    StartWrite(&request_);
    if (!stalled_) StartRead(&response_);
    StartCall();
  }

  void Cancel() override { context_.TryCancel(); }

  void OnWriteDone(bool) override {}
  void OnReadDone(bool ok) override {
    if (!ok) return;
    for (const mvccpb::Event& event : response_.events()) {
      Deliver(event.kv().mod_revision(), event.kv().value(), out_);
    }
    StartRead(&response_);
  }
  void OnDone(const grpc::Status& status) override { Finish(status); }

 private:
  const bool stalled_;
  Deliveries& out_;
  grpc::ClientContext context_;
  etcdserverpb::WatchRequest request_;
  etcdserverpb::WatchResponse response_;
};

// Puts for either system, asynchronously; `done` gets the write's revision
// (0 on failure) and its latency.
class Writer {
 public:
  Writer(const std::string& system, std::vector<std::shared_ptr<grpc::Channel>> channels)
      : etagd_(system == "etagd") {
    for (auto& channel : channels) {
      if (etagd_) {
        etagd_stubs_.push_back(v1::Resources::NewStub(channel));
      } else {
        etcd_stubs_.push_back(etcdserverpb::KV::NewStub(channel));
      }
    }
  }

  void Put(size_t i, const std::string& key, std::string value,
           std::function<void(int64_t revision)> done) {
    if (etagd_) {
      struct Call {
        grpc::ClientContext context;
        v1::PutResourceRequest request;
        v1::PutResourceResponse response;
      };
      auto call = std::make_shared<Call>();
      call->request.set_name(key);
      call->request.set_content(std::move(value));
      etagd_stubs_[i % etagd_stubs_.size()]->async()->PutResource(
          &call->context, &call->request, &call->response,
          [call, done](grpc::Status s) {
            done(s.ok() ? call->response.resource().revision() : 0);
          });
      return;
    }
    struct Call {
      grpc::ClientContext context;
      etcdserverpb::PutRequest request;
      etcdserverpb::PutResponse response;
    };
    auto call = std::make_shared<Call>();
    call->request.set_key(key);
    call->request.set_value(std::move(value));
    etcd_stubs_[i % etcd_stubs_.size()]->async()->Put(
        &call->context, &call->request, &call->response,
        [call, done](grpc::Status s) { done(s.ok() ? call->response.header().revision() : 0); });
  }

  // A synchronous write outside the prefix: the store's revision now.
  int64_t CurrentRevision(const std::string& key) {
    absl::Notification written;
    int64_t revision = 0;
    Put(0, key, "sync", [&](int64_t r) {
      revision = r;
      written.Notify();
    });
    written.WaitForNotification();
    return revision;
  }

 private:
  const bool etagd_;
  std::vector<std::unique_ptr<v1::Resources::Stub>> etagd_stubs_;
  std::vector<std::unique_ptr<etcdserverpb::KV::Stub>> etcd_stubs_;
};

std::vector<std::shared_ptr<grpc::Channel>> Channels(const std::string& target,
                                                     int n) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < n; ++i) {
    grpc::ChannelArguments args;
    // A distinct argument per channel: separate TCP connections.
    args.SetInt("etagd.watch_bench.channel", i);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    channels.push_back(grpc::CreateCustomChannel(
        target, grpc::InsecureChannelCredentials(), args));
  }
  return channels;
}

// Resident memory of `pid` in KiB (0 if unknown).
int64_t RssKib(int pid) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      int64_t kib = 0;
      std::string digits;
      for (char c : line) {
        if (c >= '0' && c <= '9') digits.push_back(c);
      }
      if (absl::SimpleAtoi(digits, &kib)) return kib;
    }
  }
  return 0;
}

// Samples a process's RSS every 100 ms while it lives.
class RssSampler {
 public:
  explicit RssSampler(int pid) : pid_(pid) {
    if (pid_ > 0) thread_ = std::thread([this] { Run(); });
  }
  ~RssSampler() { Stop(); }
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }
  int64_t start_kib() const { return start_kib_.load(); }
  int64_t peak_kib() const { return peak_kib_.load(); }

 private:
  void Run() {
    start_kib_.store(RssKib(pid_));
    while (!stop_.load()) {
      peak_kib_.store(std::max(peak_kib_.load(), RssKib(pid_)));
      absl::SleepFor(absl::Milliseconds(100));
    }
  }
  const int pid_;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> start_kib_{0}, peak_kib_{0};
  std::thread thread_;
};

int Run() {
  const std::string system = absl::GetFlag(FLAGS_system);
  if (system != "etagd" && system != "etcd") {
    std::cerr << "watch-bench: --system must be etagd or etcd\n";
    return 2;
  }
  const int watchers = absl::GetFlag(FLAGS_watchers);
  const int stalled = absl::GetFlag(FLAGS_stalled);
  const std::string prefix = absl::GetFlag(FLAGS_prefix);
  const double rate = absl::GetFlag(FLAGS_write_rate);
  const int keys = absl::GetFlag(FLAGS_keys);
  if (watchers < 0 || stalled < 0 || stalled > watchers || prefix.empty() ||
      rate <= 0 || keys <= 0 || absl::GetFlag(FLAGS_value_size) < 24) {
    std::cerr << "watch-bench: need 0 <= --stalled <= --watchers, a prefix, "
                 "--write_rate > 0, --keys > 0, --value_size >= 24\n";
    return 2;
  }
  auto channels = Channels(absl::GetFlag(FLAGS_target),
                           std::max(1, absl::GetFlag(FLAGS_connections)));
  Writer writer(system, channels);
  RssSampler rss(absl::GetFlag(FLAGS_server_pid));

  // Watch from the revision after a write made now, so that no write of the
  // run is missed however long the streams take to open.
  const int64_t start = writer.CurrentRevision("watch-bench-sync") + 1;
  if (start <= 1) {
    std::cerr << "watch-bench: the first write to " << absl::GetFlag(FLAGS_target)
              << " failed; is " << system << " running there?\n";
    return 1;
  }
  Deliveries deliveries;
  std::vector<std::unique_ptr<etagd::v1::Resources::Stub>> etagd_stubs;
  std::vector<std::unique_ptr<etcdserverpb::Watch::Stub>> etcd_stubs;
  for (auto& channel : channels) {
    etagd_stubs.push_back(v1::Resources::NewStub(channel));
    etcd_stubs.push_back(etcdserverpb::Watch::NewStub(channel));
  }
  std::vector<std::unique_ptr<Watcher>> streams;
  for (int i = 0; i < watchers; ++i) {
    const bool is_stalled = i < stalled;
    const size_t c = i % channels.size();
    if (system == "etagd") {
      streams.push_back(std::make_unique<EtagdWatcher>(*etagd_stubs[c], prefix, start,
                                                       is_stalled, deliveries));
    } else {
      streams.push_back(std::make_unique<EtcdWatcher>(*etcd_stubs[c], prefix, start,
                                                      is_stalled, deliveries));
    }
  }
  absl::SleepFor(absl::Seconds(watchers > 0 ? 2 : 0));

  Histogram write_latency;
  std::atomic<int64_t> writes_ok{0}, writes_failed{0}, in_flight{0};
  const absl::Duration interval = absl::Seconds(1.0 / rate);
  const int64_t total = static_cast<int64_t>(
      rate * absl::ToDoubleSeconds(absl::GetFlag(FLAGS_duration)));
  const absl::Time begin = absl::Now();
  for (int64_t i = 0; i < total; ++i) {
    const absl::Time due = begin + interval * i;
    absl::SleepFor(due - absl::Now());
    const int64_t sent = NowNanos();
    in_flight.fetch_add(1);
    writer.Put(i, absl::StrCat(prefix, i % keys),
               ValueSentAt(sent, absl::GetFlag(FLAGS_value_size)),
               [&, sent](int64_t revision) {
                 if (revision > 0) {
                   write_latency.Add((NowNanos() - sent) / 1000);
                   writes_ok.fetch_add(1);
                 } else {
                   writes_failed.fetch_add(1);
                 }
                 in_flight.fetch_sub(1);
               });
  }
  while (in_flight.load() > 0) absl::SleepFor(absl::Milliseconds(5));
  const absl::Duration write_time = absl::Now() - begin;

  // Every reading watcher must get every write once.
  const int64_t expected = writes_ok.load();
  const absl::Time drain_deadline = absl::Now() + absl::GetFlag(FLAGS_drain_timeout);
  int complete = 0;
  while (true) {
    complete = 0;
    for (int i = stalled; i < watchers; ++i) {
      if (streams[i]->received() >= expected) ++complete;
    }
    if (complete == watchers - stalled || absl::Now() > drain_deadline) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  const int64_t last_delivery = deliveries.last_delivery_nanos.load();
  const double delivery_seconds =
      last_delivery > 0 ? (last_delivery - absl::ToUnixNanos(begin)) / 1e9 : 0;
  int64_t excess = 0, ended_early = 0;
  // Why streams ended early: a count and the first message per code.
  std::map<int, std::pair<int, std::string>> endings;
  for (int i = stalled; i < watchers; ++i) {
    excess += std::max<int64_t>(0, streams[i]->received() - expected);
    if (streams[i]->done()) {
      ++ended_early;
      auto& [count, message] = endings[streams[i]->status().error_code()];
      if (count++ == 0) message = streams[i]->status().error_message();
    }
  }
  for (const auto& [code, ending] : endings) {
    std::fprintf(stderr, "%s: %d streams ended early with code %d (%s)\n",
                 system.c_str(), ending.first, code, ending.second.c_str());
  }
  rss.Stop();
  for (auto& stream : streams) stream->Cancel();
  for (auto& stream : streams) stream->AwaitDone();

  const double deliveries_per_second =
      delivery_seconds > 0 ? deliveries.events.load() / delivery_seconds : 0;
  std::printf(
      "%s: %d watchers (%d stalled), %lld writes in %.1f s (%lld failed): "
      "write p50 %.0f us p99 %.0f us; delivery p50 %.0f us p99 %.0f us; "
      "%.0f deliveries/s; %d/%d reading watchers complete (%lld out of order, "
      "%lld excess, %lld ended early); server RSS %lld -> peak %lld KiB\n",
      system.c_str(), watchers, stalled, static_cast<long long>(expected),
      absl::ToDoubleSeconds(write_time), static_cast<long long>(writes_failed.load()),
      write_latency.Quantile(0.5), write_latency.Quantile(0.99),
      deliveries.latency.Quantile(0.5), deliveries.latency.Quantile(0.99),
      deliveries_per_second, complete, watchers - stalled,
      static_cast<long long>(deliveries.out_of_order.load()),
      static_cast<long long>(excess), static_cast<long long>(ended_early),
      static_cast<long long>(rss.start_kib()), static_cast<long long>(rss.peak_kib()));
  if (const std::string path = absl::GetFlag(FLAGS_json_out); !path.empty()) {
    std::ofstream out(path);
    out << absl::StrFormat(
        "{\"system\":\"%s\",\"watchers\":%d,\"stalled\":%d,\"writes\":%d,"
        "\"writes_failed\":%d,\"write_p50_us\":%.0f,\"write_p99_us\":%.0f,"
        "\"delivery_p50_us\":%.0f,\"delivery_p99_us\":%.0f,"
        "\"deliveries_per_second\":%.0f,\"complete\":%d,\"reading\":%d,"
        "\"out_of_order\":%d,\"excess\":%d,\"ended_early\":%d,"
        "\"rss_start_kib\":%d,\"rss_peak_kib\":%d}\n",
        system, watchers, stalled, expected, writes_failed.load(),
        write_latency.Quantile(0.5), write_latency.Quantile(0.99),
        deliveries.latency.Quantile(0.5), deliveries.latency.Quantile(0.99),
        deliveries_per_second, complete, watchers - stalled,
        deliveries.out_of_order.load(), excess, ended_early, rss.start_kib(),
        rss.peak_kib());
  }
  const bool ok = complete == watchers - stalled && deliveries.out_of_order.load() == 0 &&
                  excess == 0 && writes_failed.load() == 0;
  return ok ? 0 : 1;
}

}  // namespace
}  // namespace etagd

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Change-feed load: watchers on one prefix (some never reading) under a "
      "steady write rate, against etagd's Watch or etcd's.\n"
      "  watch-bench --system=etagd --target=127.0.0.1:7070 --watchers=10000 "
      "--stalled=100 --server_pid=PID\n"
      "Exits 1 if a reading watcher missed, repeated or reordered an event, "
      "or a write failed.");
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
