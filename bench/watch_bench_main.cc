// watch-bench: change-feed load for etagd's Watch and, driven the same way,
// etcd's Watch, as two processes so that neither's CPU is taken from the
// other (bench/watch.sh runs them, each at its own priority):
//
//   --role=watchers  opens --watchers watch streams on one prefix (one gRPC
//       stream each, spread over --connections connections), of which
//       --stalled never read past their first response; when every stream
//       has its first response it creates --ready_file, then waits for the
//       writer's --writes_file, waits for every reading watcher to get every
//       acknowledged write, and reports put-to-delivery latency (p50, p99,
//       from the send time each value carries), deliveries per second,
//       whether every reading watcher got every write exactly once in
//       revision order (bench/watch_check.h), and the server's peak RSS
//       (--server_pid). Exits 1 if a reading watcher missed, repeated,
//       reordered or invented an event.
//   --role=writer    writes to keys under the prefix at a steady
//       --write_rate (open loop: a slow server does not slow the schedule),
//       reports write latency (p50, p99), and records the revision of every
//       acknowledged write in --writes_file (written whole, then renamed
//       into place). Exits 1 if a write failed.
//
// Both report the CPU time they used (from /proc/self/stat). See --help.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/watch_check.h"
#include "etagd/v1/etagd.grpc.pb.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

ABSL_FLAG(bool, mutex_deadlock_detection, false,
          "Leave absl::Mutex's deadlock detection on, as Debian's Abseil has "
          "it (etagd turns it off): every lock then takes one global lock.");
ABSL_FLAG(std::string, role, "",
          "writer (the writes, their latency and --writes_file) or watchers "
          "(the streams, delivery and completeness).");
ABSL_FLAG(std::string, target, "127.0.0.1:7070", "Server HOST:PORT.");
ABSL_FLAG(std::string, system, "etagd", "What the target runs: etagd or etcd.");
ABSL_FLAG(std::string, prefix, "watch-bench/", "The watched and written prefix.");
ABSL_FLAG(int, connections, 16, "gRPC connections this process's calls share.");
ABSL_FLAG(std::string, writes_file, "",
          "The revisions of the acknowledged writes: the writer creates it "
          "when done, the watchers wait for it. Required.");
ABSL_FLAG(std::string, json_out, "", "Also write the result as JSON here.");
// Writer.
ABSL_FLAG(int, keys, 100, "writer: keys under the prefix the writes cycle over.");
ABSL_FLAG(double, write_rate, 200, "writer: writes per second, sent on a fixed schedule.");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "writer: how long writes are sent.");
ABSL_FLAG(int, value_size, 128, "writer: bytes of each value (at least 24).");
ABSL_FLAG(absl::Duration, write_timeout, absl::Seconds(30),
          "writer: a write not acknowledged by then counts as failed.");
// Watchers.
ABSL_FLAG(int, watchers, 1000, "watchers: watch streams on the prefix.");
ABSL_FLAG(int, stalled, 0,
          "watchers: of those, how many never read past their first "
          "response: their backlog is the server's to bound.");
ABSL_FLAG(std::string, ready_file, "",
          "watchers: created when every stream has its first response (the "
          "writer may start).");
ABSL_FLAG(absl::Duration, open_timeout, absl::Minutes(3),
          "watchers: how long the streams may take to open.");
ABSL_FLAG(absl::Duration, writes_timeout, absl::Minutes(30),
          "watchers: how long to wait for --writes_file.");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(60),
          "watchers: after --writes_file appears, how long reading watchers "
          "may take to get every event.");
ABSL_FLAG(int, server_pid, 0, "watchers: process whose peak RSS to report (0: none).");
ABSL_FLAG(std::string, fault_for_test, "",
          "watchers, to show the check can fail: drop, repeat or reorder one "
          "reading watcher's first events before the check sees them.");

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

int64_t NowNanos() { return absl::GetCurrentTimeNanos(); }

// Latencies in microseconds, in buckets of 1/16 of a power of two (at most
// 6 % error), with atomic counters: constant memory however many samples.
class Histogram {
 public:
  void Add(int64_t micros) {
    counts_[Bucket(std::max<int64_t>(micros, 0))].fetch_add(1, std::memory_order_relaxed);
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

// The value of a write: when it was sent (decimal Unix nanoseconds, fixed
// width), then filler. Watchers read the send time back from the event; the
// writer runs on the same machine, so the clocks are one.
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

// CPU time (user + system) this process has used, from /proc/self/stat.
double OwnCpuSeconds() {
  std::ifstream in("/proc/self/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name, which is in parentheses and may hold
  // spaces: state is the first, utime the 12th, stime the 13th.
  const size_t paren = stat.rfind(')');
  if (paren == std::string::npos) return 0;
  std::vector<std::string> fields =
      absl::StrSplit(stat.substr(paren + 2), ' ', absl::SkipEmpty());
  int64_t utime = 0, stime = 0;
  if (fields.size() < 13 || !absl::SimpleAtoi(fields[11], &utime) ||
      !absl::SimpleAtoi(fields[12], &stime)) {
    return 0;
  }
  return static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK);
}

std::vector<std::shared_ptr<grpc::Channel>> Channels(const std::string& target, int n) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < n; ++i) {
    grpc::ChannelArguments args;
    // A distinct argument per channel: separate TCP connections.
    args.SetInt("etagd.watch_bench.channel", i);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    channels.push_back(
        grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(), args));
  }
  return channels;
}

// Writes `text` to `path` whole: to a temporary file, then renamed into
// place, so whoever waits for `path` never reads a part.
absl::Status WriteFileWhole(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".part";
  {
    std::ofstream out(temporary, std::ios::trunc);
    out << text;
    out.close();
    if (!out) return absl::InternalError(absl::StrCat("cannot write ", temporary));
  }
  if (std::rename(temporary.c_str(), path.c_str()) != 0) {
    return absl::InternalError(absl::StrCat("cannot rename ", temporary, " to ", path));
  }
  return absl::OkStatus();
}

// ---------------------------------------------------------------- writer

// Why calls failed: a count and the first message per status code.
// Thread-safe.
class Failures {
 public:
  void Add(const grpc::Status& status) {
    absl::MutexLock lock(&mu_);
    auto& [count, message] = by_code_[status.error_code()];
    if (count++ == 0) message = status.error_message();
  }
  void Print(const std::string& who) {
    absl::MutexLock lock(&mu_);
    for (const auto& [code, failure] : by_code_) {
      std::fprintf(stderr, "%s: %d calls failed with code %d (%s)\n", who.c_str(),
                   failure.first, code, failure.second.c_str());
    }
  }

 private:
  absl::Mutex mu_;
  std::map<int, std::pair<int, std::string>> by_code_ ABSL_GUARDED_BY(mu_);
};

// Puts for either system, asynchronously; `done` gets the call's status and
// the write's revision (0 on failure).
class Putter {
 public:
  Putter(const std::string& system, const std::vector<std::shared_ptr<grpc::Channel>>& channels)
      : etagd_(system == "etagd") {
    for (const auto& channel : channels) {
      if (etagd_) {
        etagd_stubs_.push_back(v1::Resources::NewStub(channel));
      } else {
        etcd_stubs_.push_back(etcdserverpb::KV::NewStub(channel));
      }
    }
  }

  void Put(size_t i, const std::string& key, std::string value, absl::Duration timeout,
           std::function<void(const grpc::Status& status, int64_t revision)> done) {
    const auto deadline = std::chrono::system_clock::now() + absl::ToChronoNanoseconds(timeout);
    if (etagd_) {
      struct Call {
        grpc::ClientContext context;
        v1::PutResourceRequest request;
        v1::PutResourceResponse response;
      };
      auto call = std::make_shared<Call>();
      call->context.set_deadline(deadline);
      call->request.set_name(key);
      call->request.set_content(std::move(value));
      etagd_stubs_[i % etagd_stubs_.size()]->async()->PutResource(
          &call->context, &call->request, &call->response, [call, done](grpc::Status s) {
            done(s, s.ok() ? call->response.resource().revision() : 0);
          });
      return;
    }
    struct Call {
      grpc::ClientContext context;
      etcdserverpb::PutRequest request;
      etcdserverpb::PutResponse response;
    };
    auto call = std::make_shared<Call>();
    call->context.set_deadline(deadline);
    call->request.set_key(key);
    call->request.set_value(std::move(value));
    etcd_stubs_[i % etcd_stubs_.size()]->async()->Put(
        &call->context, &call->request, &call->response,
        [call, done](grpc::Status s) { done(s, s.ok() ? call->response.header().revision() : 0); });
  }

  // A synchronous write: its revision, 0 if it failed.
  int64_t PutAndWait(const std::string& key, absl::Duration timeout) {
    absl::Notification written;
    int64_t revision = 0;
    Put(0, key, "sync", timeout, [&](const grpc::Status&, int64_t r) {
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

int RunWriter(const std::string& system, const std::string& prefix) {
  const double rate = absl::GetFlag(FLAGS_write_rate);
  const int keys = absl::GetFlag(FLAGS_keys);
  const int value_size = absl::GetFlag(FLAGS_value_size);
  const absl::Duration timeout = absl::GetFlag(FLAGS_write_timeout);
  if (rate <= 0 || keys <= 0 || value_size < 24) {
    std::cerr << "watch-bench: the writer needs --write_rate > 0, --keys > 0, "
                 "--value_size >= 24\n";
    return 2;
  }
  Putter putter(system, Channels(absl::GetFlag(FLAGS_target),
                                 std::max(1, absl::GetFlag(FLAGS_connections))));
  const int64_t total =
      static_cast<int64_t>(rate * absl::ToDoubleSeconds(absl::GetFlag(FLAGS_duration)));
  // Slot i gets write i's revision (0: failed); each callback writes its own.
  std::vector<int64_t> revisions(total, 0);
  Histogram latency;
  Failures failures;
  std::atomic<int64_t> in_flight{0};
  const absl::Duration interval = absl::Seconds(1.0 / rate);
  const absl::Time begin = absl::Now();
  for (int64_t i = 0; i < total; ++i) {
    absl::SleepFor(begin + interval * i - absl::Now());
    const int64_t sent = NowNanos();
    in_flight.fetch_add(1, std::memory_order_relaxed);
    putter.Put(i, absl::StrCat(prefix, i % keys), ValueSentAt(sent, value_size), timeout,
               [&, i, sent](const grpc::Status& status, int64_t revision) {
                 if (revision > 0) {
                   latency.Add((NowNanos() - sent) / 1000);
                 } else {
                   failures.Add(status);
                 }
                 revisions[i] = revision;
                 in_flight.fetch_sub(1, std::memory_order_acq_rel);
               });
  }
  while (in_flight.load(std::memory_order_acquire) > 0) absl::SleepFor(absl::Milliseconds(5));
  const absl::Duration write_time = absl::Now() - begin;

  WriteLog log;
  log.begin_nanos = absl::ToUnixNanos(begin);
  for (int64_t revision : revisions) {
    if (revision > 0) {
      log.revisions.push_back(revision);
    } else {
      ++log.failed;
    }
  }
  if (absl::Status s = WriteFileWhole(absl::GetFlag(FLAGS_writes_file), FormatWriteLog(log));
      !s.ok()) {
    std::cerr << "watch-bench: " << s.message() << "\n";
    return 1;
  }
  failures.Print(system + " writer");
  const double cpu = OwnCpuSeconds();
  std::printf(
      "%s writer: %lld writes in %.1f s (%lld failed): write p50 %.0f us p99 %.0f us; "
      "writer CPU %.2f s\n",
      system.c_str(), static_cast<long long>(total), absl::ToDoubleSeconds(write_time),
      static_cast<long long>(log.failed), latency.Quantile(0.5), latency.Quantile(0.99), cpu);
  if (const std::string path = absl::GetFlag(FLAGS_json_out); !path.empty()) {
    std::ofstream(path) << absl::StrFormat(
        "{\"system\":\"%s\",\"writes\":%d,\"writes_failed\":%d,\"write_seconds\":%.3f,"
        "\"write_p50_us\":%.0f,\"write_p99_us\":%.0f,\"writer_cpu_seconds\":%.2f}\n",
        system, total, log.failed, absl::ToDoubleSeconds(write_time), latency.Quantile(0.5),
        latency.Quantile(0.99), cpu);
  }
  return log.failed == 0 ? 0 : 1;
}

// -------------------------------------------------------------- watchers

// What every reading watcher adds to.
struct Deliveries {
  Histogram latency;
  std::atomic<int64_t> events{0};
  std::atomic<int64_t> last_delivery_nanos{0};
};

// A deliberate fault between a stream and its record (--fault_for_test).
enum class Fault { kNone, kDrop, kRepeat, kReorder };

// One watcher's stream. Its callbacks run one at a time (gRPC runs one
// reactor's callbacks serially); record() may be read once the stream is
// done. arrived(), opened() and done() are safe from any thread.
class Watcher {
 public:
  Watcher(int64_t start_revision, bool stalled, Fault fault, Deliveries& out)
      : stalled_(stalled), fault_(fault), out_(out), record_(start_revision) {}
  virtual ~Watcher() = default;

  // Events that came on the stream (before any fault).
  int64_t arrived() const { return arrived_.load(std::memory_order_acquire); }
  // The first response came.
  bool opened() const { return opened_.HasBeenNotified(); }
  bool done() const { return done_.HasBeenNotified(); }
  bool stalled() const { return stalled_; }
  const grpc::Status& status() const { return status_; }
  const DeliveryRecord& record() const { return record_; }
  virtual void Cancel() = 0;
  void AwaitDone() { done_.WaitForNotification(); }

 protected:
  // Called for each response: whether to read the next one.
  bool Responded() {
    if (!opened_.HasBeenNotified()) opened_.Notify();
    return !stalled_;
  }

  void Deliver(int64_t revision, const std::string& value) {
    const int64_t now = NowNanos();
    const int64_t sent = SentAt(value);
    if (sent > 0) out_.latency.Add((now - sent) / 1000);
    out_.events.fetch_add(1, std::memory_order_relaxed);
    int64_t last = out_.last_delivery_nanos.load(std::memory_order_relaxed);
    while (now > last && !out_.last_delivery_nanos.compare_exchange_weak(last, now)) {
    }
    Record(revision);
    arrived_.fetch_add(1, std::memory_order_release);
  }

  void Finish(const grpc::Status& status) {
    status_ = status;
    done_.Notify();
  }

 private:
  void Record(int64_t revision) {
    const bool first = arrived_.load(std::memory_order_relaxed) == 0;
    switch (fault_) {
      case Fault::kNone:
        break;
      case Fault::kDrop:
        if (first) return;
        break;
      case Fault::kRepeat:
        if (first) record_.Add(revision);
        break;
      case Fault::kReorder:
        if (first) {
          held_ = revision;
          return;
        }
        if (held_ > 0) {
          record_.Add(revision);
          revision = held_;
          held_ = 0;
        }
        break;
    }
    record_.Add(revision);
  }

  const bool stalled_;
  const Fault fault_;
  Deliveries& out_;
  DeliveryRecord record_;
  int64_t held_ = 0;  // kReorder: the first event, recorded after the second
  std::atomic<int64_t> arrived_{0};
  grpc::Status status_;
  absl::Notification opened_;
  absl::Notification done_;
};

class EtagdWatcher final : public Watcher, public grpc::ClientReadReactor<v1::WatchResponse> {
 public:
  EtagdWatcher(v1::Resources::Stub& stub, const std::string& prefix, int64_t start_revision,
               bool stalled, Fault fault, Deliveries& out)
      : Watcher(start_revision, stalled, fault, out) {
    request_.set_prefix(prefix);
    request_.set_start_revision(start_revision);
    request_.set_include_content(true);
    stub.async()->Watch(&context_, &request_, this);
    StartRead(&response_);
    StartCall();
  }

  void Cancel() override { context_.TryCancel(); }

  void OnReadDone(bool ok) override {
    if (!ok) return;
    for (const v1::WatchEvent& event : response_.events()) {
      Deliver(event.resource().revision(), event.resource().content());
    }
    if (Responded()) StartRead(&response_);
  }
  void OnDone(const grpc::Status& status) override { Finish(status); }

 private:
  grpc::ClientContext context_;
  v1::WatchRequest request_;
  v1::WatchResponse response_;
};

class EtcdWatcher final : public Watcher,
                          public grpc::ClientBidiReactor<etcdserverpb::WatchRequest,
                                                         etcdserverpb::WatchResponse> {
 public:
  EtcdWatcher(etcdserverpb::Watch::Stub& stub, const std::string& prefix, int64_t start_revision,
              bool stalled, Fault fault, Deliveries& out)
      : Watcher(start_revision, stalled, fault, out) {
    etcdserverpb::WatchCreateRequest& create = *request_.mutable_create_request();
    create.set_key(prefix);
    std::string end = prefix;
    end.back() = static_cast<char>(end.back() + 1);
    create.set_range_end(end);
    create.set_start_revision(start_revision);
    stub.async()->Watch(&context_, this);
    StartWrite(&request_);
    StartRead(&response_);
    StartCall();
  }

  void Cancel() override { context_.TryCancel(); }

  void OnWriteDone(bool) override {}
  void OnReadDone(bool ok) override {
    if (!ok) return;
    for (const mvccpb::Event& event : response_.events()) {
      Deliver(event.kv().mod_revision(), event.kv().value());
    }
    if (Responded()) StartRead(&response_);
  }
  void OnDone(const grpc::Status& status) override { Finish(status); }

 private:
  grpc::ClientContext context_;
  etcdserverpb::WatchRequest request_;
  etcdserverpb::WatchResponse response_;
};

// A field of /proc/PID/status in KiB (0 if unknown).
int64_t StatusKib(int pid, const std::string& field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) != 0) continue;
    std::string digits;
    for (char c : line) {
      if (c >= '0' && c <= '9') digits.push_back(c);
    }
    int64_t kib = 0;
    return absl::SimpleAtoi(digits, &kib) ? kib : 0;
  }
  return 0;
}

// A process's peak resident memory from now on: the kernel's high-water
// mark (VmHWM), reset here through /proc/PID/clear_refs (Linux 4.0; needs
// the right to write there, e.g. the same user), so it holds whatever peak
// a sampler would miss; and a 100 ms sampler as well, for when it cannot be
// reset.
class PeakRss {
 public:
  explicit PeakRss(int pid) : pid_(pid) {
    if (pid_ <= 0) return;
    start_kib_ = StatusKib(pid_, "VmRSS");
    std::ofstream clear(absl::StrCat("/proc/", pid_, "/clear_refs"));
    clear << "5";
    clear.close();
    high_water_reset_ = static_cast<bool>(clear);
    if (!high_water_reset_) {
      std::cerr << "watch-bench: cannot reset the server's VmHWM; its peak RSS is sampled\n";
    }
    thread_ = std::thread([this] { Sample(); });
  }
  ~PeakRss() { Stop(); }

  void Stop() {
    stop_.store(true);
    if (!thread_.joinable()) return;
    thread_.join();
    if (high_water_reset_) {
      peak_kib_.store(std::max(peak_kib_.load(), StatusKib(pid_, "VmHWM")));
    }
  }
  int64_t start_kib() const { return start_kib_; }
  int64_t peak_kib() const { return peak_kib_.load(); }

 private:
  void Sample() {
    while (!stop_.load()) {
      peak_kib_.store(std::max(peak_kib_.load(), StatusKib(pid_, "VmRSS")));
      absl::SleepFor(absl::Milliseconds(100));
    }
  }

  const int pid_;
  int64_t start_kib_ = 0;
  bool high_water_reset_ = false;
  std::atomic<bool> stop_{false};
  std::atomic<int64_t> peak_kib_{0};
  std::thread thread_;
};

absl::StatusOr<WriteLog> AwaitWriteLog(const std::string& path, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (access(path.c_str(), R_OK) != 0) {
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(absl::StrCat("no ", path, " after ", absl::FormatDuration(timeout)));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return ParseWriteLog(text.str());
}

absl::StatusOr<Fault> ParseFault(const std::string& name) {
  if (name.empty()) return Fault::kNone;
  if (name == "drop") return Fault::kDrop;
  if (name == "repeat") return Fault::kRepeat;
  if (name == "reorder") return Fault::kReorder;
  return absl::InvalidArgumentError("--fault_for_test must be drop, repeat or reorder");
}

int RunWatchers(const std::string& system, const std::string& prefix) {
  const int watchers = absl::GetFlag(FLAGS_watchers);
  const int stalled = absl::GetFlag(FLAGS_stalled);
  const absl::StatusOr<Fault> fault = ParseFault(absl::GetFlag(FLAGS_fault_for_test));
  if (watchers <= 0 || stalled < 0 || stalled >= watchers || !fault.ok()) {
    std::cerr << "watch-bench: the watchers need 0 <= --stalled < --watchers and a known "
                 "--fault_for_test\n";
    return 2;
  }
  auto channels =
      Channels(absl::GetFlag(FLAGS_target), std::max(1, absl::GetFlag(FLAGS_connections)));
  PeakRss rss(absl::GetFlag(FLAGS_server_pid));

  // Watch from the revision after a write made now (outside the prefix), so
  // that no write of the run is missed however long the streams take.
  const int64_t start = Putter(system, channels).PutAndWait("watch-bench-sync", absl::Seconds(30)) + 1;
  if (start <= 1) {
    std::cerr << "watch-bench: the first write to " << absl::GetFlag(FLAGS_target)
              << " failed; is " << system << " running there?\n";
    return 1;
  }
  Deliveries deliveries;
  std::vector<std::unique_ptr<v1::Resources::Stub>> etagd_stubs;
  std::vector<std::unique_ptr<etcdserverpb::Watch::Stub>> etcd_stubs;
  for (auto& channel : channels) {
    etagd_stubs.push_back(v1::Resources::NewStub(channel));
    etcd_stubs.push_back(etcdserverpb::Watch::NewStub(channel));
  }
  const absl::Time open_begin = absl::Now();
  std::vector<std::unique_ptr<Watcher>> streams;
  for (int i = 0; i < watchers; ++i) {
    const bool is_stalled = i < stalled;
    // The fault goes to the last watcher, a reading one.
    const Fault watcher_fault = i == watchers - 1 ? *fault : Fault::kNone;
    const size_t c = i % channels.size();
    if (system == "etagd") {
      streams.push_back(std::make_unique<EtagdWatcher>(*etagd_stubs[c], prefix, start, is_stalled,
                                                       watcher_fault, deliveries));
    } else {
      streams.push_back(std::make_unique<EtcdWatcher>(*etcd_stubs[c], prefix, start, is_stalled,
                                                      watcher_fault, deliveries));
    }
  }
  // Every stream's reactor is done before `streams` goes, on every return.
  struct StopStreams {
    std::vector<std::unique_ptr<Watcher>>& streams;
    ~StopStreams() {
      for (auto& stream : streams) stream->Cancel();
      for (auto& stream : streams) stream->AwaitDone();
    }
  } stop_streams{streams};
  const absl::Time open_deadline = absl::Now() + absl::GetFlag(FLAGS_open_timeout);
  int unopened = watchers;
  while (unopened > 0 && absl::Now() < open_deadline) {
    unopened = 0;
    for (const auto& stream : streams) unopened += stream->opened() ? 0 : 1;
    if (unopened > 0) absl::SleepFor(absl::Milliseconds(20));
  }
  const double open_seconds = absl::ToDoubleSeconds(absl::Now() - open_begin);
  if (unopened > 0) {
    std::cerr << "watch-bench: " << unopened << " of " << watchers << " streams had no first "
              << "response within --open_timeout\n";
    return 1;
  }
  const double cpu_opening = OwnCpuSeconds();
  if (const std::string ready = absl::GetFlag(FLAGS_ready_file); !ready.empty()) {
    if (absl::Status s = WriteFileWhole(ready, absl::StrCat(start, "\n")); !s.ok()) {
      std::cerr << "watch-bench: " << s.message() << "\n";
      return 1;
    }
  }

  absl::StatusOr<WriteLog> writes =
      AwaitWriteLog(absl::GetFlag(FLAGS_writes_file), absl::GetFlag(FLAGS_writes_timeout));
  if (!writes.ok()) {
    std::cerr << "watch-bench: " << writes.status().message() << "\n";
    return 1;
  }
  const int64_t expected = static_cast<int64_t>(writes->revisions.size());
  // Done when every reading watcher has an event for every write, failed
  // ones included; or, since a failed write may not have been applied, when
  // each has at least the acknowledged writes' count and no event arrived
  // for a second (an applied failed write's event could otherwise stand in
  // for an acknowledged one still on its way).
  const absl::Time drain_deadline = absl::Now() + absl::GetFlag(FLAGS_drain_timeout);
  int64_t arrived_before = -1;
  absl::Time changed = absl::Now();
  while (absl::Now() < drain_deadline) {
    bool all = true;
    bool acknowledged = true;
    int64_t arrived = 0;
    for (const auto& stream : streams) {
      if (stream->stalled() || stream->done()) continue;
      arrived += stream->arrived();
      if (stream->arrived() < expected + writes->failed) all = false;
      if (stream->arrived() < expected) acknowledged = false;
    }
    if (arrived != arrived_before) {
      arrived_before = arrived;
      changed = absl::Now();
    }
    if (all || (acknowledged && absl::Now() - changed >= absl::Seconds(1))) break;
    absl::SleepFor(absl::Milliseconds(20));
  }
  const int64_t last_delivery = deliveries.last_delivery_nanos.load();
  const double delivery_seconds =
      last_delivery > writes->begin_nanos ? (last_delivery - writes->begin_nanos) / 1e9 : 0;
  rss.Stop();
  // Which streams ended before being cancelled (a count and the first
  // message per code, for reading and stalled watchers apart).
  std::map<std::pair<bool, int>, std::pair<int, std::string>> endings;
  int reading_ended_early = 0;
  for (const auto& stream : streams) {
    if (!stream->done()) continue;
    reading_ended_early += stream->stalled() ? 0 : 1;
    auto& [count, message] = endings[{stream->stalled(), stream->status().error_code()}];
    if (count++ == 0) message = stream->status().error_message();
  }
  for (const auto& [key, ending] : endings) {
    std::fprintf(stderr, "%s: %d %s streams ended early with code %d (%s)\n", system.c_str(),
                 ending.first, key.first ? "stalled" : "reading", key.second,
                 ending.second.c_str());
  }
  for (auto& stream : streams) stream->Cancel();
  for (auto& stream : streams) stream->AwaitDone();

  int complete = 0;
  int64_t missed = 0, out_of_order = 0, unexpected = 0;
  for (const auto& stream : streams) {
    if (stream->stalled()) continue;
    const DeliveryVerdict verdict = CheckDeliveries(stream->record(), *writes);
    complete += verdict.complete() ? 1 : 0;
    missed += verdict.missed;
    out_of_order += verdict.out_of_order;
    unexpected += verdict.unexpected;
  }
  const int reading = watchers - stalled;
  const double deliveries_per_second =
      delivery_seconds > 0 ? deliveries.events.load() / delivery_seconds : 0;
  const double cpu = OwnCpuSeconds();
  std::printf(
      "%s watchers: %d (%d stalled), opened in %.1f s; %lld acknowledged writes (%lld failed); "
      "delivery p50 %.0f us p99 %.0f us; %.0f deliveries/s; %d/%d reading watchers complete "
      "(%lld missed, %lld out of order, %lld unexpected, %d ended early); server RSS %lld -> "
      "peak %lld KiB; watchers CPU %.2f s (%.2f s opening)\n",
      system.c_str(), watchers, stalled, open_seconds, static_cast<long long>(expected),
      static_cast<long long>(writes->failed), deliveries.latency.Quantile(0.5),
      deliveries.latency.Quantile(0.99), deliveries_per_second, complete, reading,
      static_cast<long long>(missed), static_cast<long long>(out_of_order),
      static_cast<long long>(unexpected), reading_ended_early,
      static_cast<long long>(rss.start_kib()), static_cast<long long>(rss.peak_kib()), cpu,
      cpu_opening);
  if (const std::string path = absl::GetFlag(FLAGS_json_out); !path.empty()) {
    std::ofstream(path) << absl::StrFormat(
        "{\"system\":\"%s\",\"watchers\":%d,\"stalled\":%d,\"acknowledged\":%d,"
        "\"open_seconds\":%.1f,\"delivery_p50_us\":%.0f,\"delivery_p99_us\":%.0f,"
        "\"deliveries_per_second\":%.0f,\"complete\":%d,\"reading\":%d,\"missed\":%d,"
        "\"out_of_order\":%d,\"unexpected\":%d,\"ended_early\":%d,\"rss_start_kib\":%d,"
        "\"rss_peak_kib\":%d,\"watchers_cpu_seconds\":%.2f,"
        "\"watchers_cpu_opening_seconds\":%.2f}\n",
        system, watchers, stalled, expected, open_seconds, deliveries.latency.Quantile(0.5),
        deliveries.latency.Quantile(0.99), deliveries_per_second, complete, reading, missed,
        out_of_order, unexpected, reading_ended_early, rss.start_kib(), rss.peak_kib(), cpu,
        cpu_opening);
  }
  return complete == reading ? 0 : 1;
}

int Run() {
  const std::string role = absl::GetFlag(FLAGS_role);
  const std::string system = absl::GetFlag(FLAGS_system);
  const std::string prefix = absl::GetFlag(FLAGS_prefix);
  if (system != "etagd" && system != "etcd") {
    std::cerr << "watch-bench: --system must be etagd or etcd\n";
    return 2;
  }
  if (prefix.empty() || absl::GetFlag(FLAGS_writes_file).empty()) {
    std::cerr << "watch-bench: --prefix and --writes_file are required\n";
    return 2;
  }
  if (role == "writer") return RunWriter(system, prefix);
  if (role == "watchers") return RunWatchers(system, prefix);
  std::cerr << "watch-bench: --role must be writer or watchers\n";
  return 2;
}

}  // namespace
}  // namespace etagd

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Change-feed load, as two processes: watchers on one prefix (some never "
      "reading) and a writer at a steady rate, against etagd's Watch or etcd's.\n"
      "  watch-bench --role=watchers --system=etagd --target=127.0.0.1:7070 "
      "--watchers=10000 --stalled=100 --server_pid=PID --ready_file=R --writes_file=W &\n"
      "  (wait for R)  watch-bench --role=writer --system=etagd "
      "--target=127.0.0.1:7070 --writes_file=W\n"
      "The watchers exit 1 if a reading watcher missed, repeated, reordered or "
      "invented an event; the writer exits 1 if a write failed. bench/watch.sh "
      "runs both, at the priorities it documents.");
  absl::ParseCommandLine(argc, argv);
  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's
  // deadlock detection on: every lock and unlock takes one global spin lock
  // to update a lock graph (etagd turns it off).
  if (!absl::GetFlag(FLAGS_mutex_deadlock_detection)) {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  }
  return etagd::Run();
}
