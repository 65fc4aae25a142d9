#include "tests/linearizability/workload.h"

#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "etagd/v1/etagd.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "service/error_details.h"
#include "tests/testing/http_client.h"
#include "tests/testing/subprocess.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

// At most this many unexpected answers are described in the result.
constexpr size_t kMaxUnexpectedListed = 10;

int64_t MonotonicNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// What became of a call.
enum class Disposition {
  // The call's outcome (possibly kIndeterminate) and answer are filled in.
  kRecord,
  // The server gave up on the write without applying it.
  kAborted,
  // An answer that a correct server does not give; recorded as
  // indeterminate, so that the history stays sound, and reported.
  kUnexpected,
};

// The ports of the running etagd, which change at every restart.
class Endpoint {
 public:
  struct Ports {
    int grpc = 0;
    int http = 0;
    int generation = 0;
  };

  void Set(int grpc, int http) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (ports_.grpc == grpc && ports_.http == http) return;
    ports_.grpc = grpc;
    ports_.http = http;
    ++ports_.generation;
  }

  Ports Get() const ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return ports_;
  }

 private:
  mutable absl::Mutex mu_;
  Ports ports_ ABSL_GUARDED_BY(mu_);
};

// One client's connection to etagd. Not thread-safe.
class Connection {
 public:
  virtual ~Connection() = default;

  // Makes the call `op` describes (kind, key, condition, value) and fills
  // in its outcome and answer; `unexpected` describes a kUnexpected.
  virtual Disposition Call(HistoryOp& op, std::string& unexpected) = 0;
};

class GrpcConnection : public Connection {
 public:
  GrpcConnection(int port, absl::Duration timeout) {
    grpc::ChannelArguments args;
    // Its own TCP connection, like a separate client process.
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    // Every attempt is a call in the history; none may be repeated unseen.
    args.SetInt(GRPC_ARG_ENABLE_RETRIES, 0);
    ClientOptions options;
    options.timeout = timeout;
    client_ = std::make_unique<Client>(
        grpc::CreateCustomChannel(absl::StrCat("127.0.0.1:", port),
                                  grpc::InsecureChannelCredentials(), args),
        options);
  }

  Disposition Call(HistoryOp& op, std::string& unexpected) override {
    switch (op.kind) {
      case OpKind::kGet: {
        v1::GetResourceRequest request;
        request.set_name(op.key);
        absl::StatusOr<v1::GetResourceResponse> got = client_->Get(request);
        if (!got.ok()) return FromError(got.status(), op, unexpected);
        if (!got->has_resource()) {
          unexpected = "a Get without conditions answered not-modified";
          op.outcome = OpOutcome::kIndeterminate;
          return Disposition::kUnexpected;
        }
        op.outcome = OpOutcome::kOk;
        op.value = got->resource().content();
        op.etag = got->resource().etag();
        op.revision = got->resource().revision();
        return Disposition::kRecord;
      }
      case OpKind::kPut: {
        v1::PutResourceRequest request;
        request.set_name(op.key);
        request.set_content(op.value);
        SetCondition(op, *request.mutable_preconditions());
        absl::StatusOr<v1::PutResourceResponse> put = client_->Put(request);
        if (!put.ok()) return FromError(put.status(), op, unexpected);
        op.outcome = OpOutcome::kOk;
        op.etag = put->resource().etag();
        op.revision = put->resource().revision();
        op.created = put->created();
        return Disposition::kRecord;
      }
      case OpKind::kDelete: {
        v1::DeleteResourceRequest request;
        request.set_name(op.key);
        SetCondition(op, *request.mutable_preconditions());
        absl::StatusOr<v1::DeleteResourceResponse> deleted =
            client_->Delete(request);
        if (!deleted.ok()) return FromError(deleted.status(), op, unexpected);
        op.outcome = OpOutcome::kOk;
        op.etag = deleted->deleted_etag();
        op.revision = deleted->revision();
        return Disposition::kRecord;
      }
    }
    return Disposition::kUnexpected;
  }

 private:
  static void SetCondition(const HistoryOp& op, v1::Preconditions& out) {
    if (op.condition == OpCondition::kIfMatch) out.add_if_match(op.if_match);
    if (op.condition == OpCondition::kIfNoneMatchAny) {
      out.add_if_none_match("*");
    }
  }

  static Disposition FromError(const absl::Status& status, HistoryOp& op,
                               std::string& unexpected) {
    switch (status.code()) {
      case absl::StatusCode::kNotFound:
        if (op.kind == OpKind::kPut) break;
        op.outcome = OpOutcome::kNotFound;
        return Disposition::kRecord;
      case absl::StatusCode::kFailedPrecondition: {
        if (op.kind == OpKind::kGet) break;
        op.outcome = OpOutcome::kPreconditionFailed;
        std::optional<v1::PreconditionFailure> detail =
            GetPreconditionFailure(status);
        if (detail.has_value()) {
          op.current_etag = detail->exists() ? detail->current_etag() : "";
        }
        return Disposition::kRecord;
      }
      case absl::StatusCode::kAborted:
        if (op.kind == OpKind::kGet) break;
        return Disposition::kAborted;
      // No answer, or none that says what happened.
      case absl::StatusCode::kDeadlineExceeded:
      case absl::StatusCode::kUnavailable:
      case absl::StatusCode::kCancelled:
      case absl::StatusCode::kUnknown:
      case absl::StatusCode::kInternal:
        op.outcome = OpOutcome::kIndeterminate;
        return Disposition::kRecord;
      default:
        break;
    }
    unexpected = status.ToString();
    op.outcome = OpOutcome::kIndeterminate;
    return Disposition::kUnexpected;
  }

  std::unique_ptr<Client> client_;
};

// The revision in an etagd ETag, "\"<revision hex>-<random hex>\"" (see the
// README); 0 if it is not in that form.
int64_t RevisionOfEtag(absl::string_view etag) {
  if (etag.size() < 2 || etag.front() != '"' || etag.back() != '"') return 0;
  etag = etag.substr(1, etag.size() - 2);
  const size_t dash = etag.find('-');
  if (dash == absl::string_view::npos) return 0;
  int64_t revision = 0;
  if (!absl::SimpleHexAtoi(etag.substr(0, dash), &revision)) return 0;
  return revision;
}

// Over one keep-alive HTTP/1.1 connection. Requests are written and read
// here rather than with HttpClient::Send, which resends a request whose
// answer it did not get: a write must be made at most once per call.
class HttpConnection : public Connection {
 public:
  HttpConnection(int port, absl::Duration timeout)
      : http_(port), timeout_(timeout) {}

  Disposition Call(HistoryOp& op, std::string& unexpected) override {
    std::string request;
    switch (op.kind) {
      case OpKind::kGet:
        request = "GET";
        break;
      case OpKind::kPut:
        request = "PUT";
        break;
      case OpKind::kDelete:
        request = "DELETE";
        break;
    }
    // Keys are plain ASCII letters and digits: no percent-encoding needed.
    absl::StrAppend(&request, " /v1/resources/", op.key,
                    " HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    if (op.condition == OpCondition::kIfMatch) {
      absl::StrAppend(&request, "If-Match: ", op.if_match, "\r\n");
    } else if (op.condition == OpCondition::kIfNoneMatchAny) {
      absl::StrAppend(&request, "If-None-Match: *\r\n");
    }
    if (op.kind == OpKind::kPut) {
      absl::StrAppend(&request, "Content-Length: ", op.value.size(), "\r\n\r\n",
                      op.value);
    } else {
      absl::StrAppend(&request, "\r\n");
    }

    // A connection the server closed (or lost in a restart) is replaced
    // before sending, not after.
    if (http_.ServerClosed(absl::ZeroDuration())) http_.Close();
    absl::StatusOr<HttpReply> reply = [&]() -> absl::StatusOr<HttpReply> {
      absl::Status sent = http_.SendRaw(request);
      if (!sent.ok()) return sent;
      return http_.Read(/*head=*/false, timeout_);
    }();
    if (!reply.ok()) {
      http_.Close();
      op.outcome = OpOutcome::kIndeterminate;
      return Disposition::kRecord;
    }
    if (!reply->keep_alive) http_.Close();

    const std::string etag = reply->Header("etag").value_or("");
    const int status = reply->status;
    switch (op.kind) {
      case OpKind::kGet:
        if (status == 200) {
          op.outcome = OpOutcome::kOk;
          op.value = reply->body;
          op.etag = etag;
          op.revision = RevisionOfEtag(etag);
          return Disposition::kRecord;
        }
        if (status == 404) {
          op.outcome = OpOutcome::kNotFound;
          return Disposition::kRecord;
        }
        break;
      case OpKind::kPut:
        if (status == 201 || status == 204) {
          op.outcome = OpOutcome::kOk;
          op.etag = etag;
          op.revision = RevisionOfEtag(etag);
          op.created = status == 201;
          return Disposition::kRecord;
        }
        break;
      case OpKind::kDelete:
        if (status == 204) {
          op.outcome = OpOutcome::kOk;
          return Disposition::kRecord;
        }
        if (status == 404) {
          op.outcome = OpOutcome::kNotFound;
          return Disposition::kRecord;
        }
        break;
    }
    if (op.kind != OpKind::kGet) {
      if (status == 412) {
        op.outcome = OpOutcome::kPreconditionFailed;
        // RFC 9110 §15.5.13 as etagd does it: the current ETag, if any.
        op.current_etag = etag;
        return Disposition::kRecord;
      }
      if (status == 409) return Disposition::kAborted;
    }
    // gRPC's CANCELLED, INTERNAL, DEADLINE_EXCEEDED, UNAVAILABLE; and the
    // gateway's own request timeout.
    if (status == 499 || status == 500 || status == 504 || status == 503 ||
        status == 408) {
      op.outcome = OpOutcome::kIndeterminate;
      return Disposition::kRecord;
    }
    unexpected = absl::StrCat("HTTP ", status, ": ", reply->body);
    op.outcome = OpOutcome::kIndeterminate;
    return Disposition::kUnexpected;
  }

 private:
  HttpClient http_;
  const absl::Duration timeout_;
};

// What one client thread collects.
struct ClientLog {
  std::vector<HistoryOp> history;
  // The port each call of `history` went to.
  std::vector<int> ports;
  int64_t aborted = 0;
  std::vector<std::string> unexpected;
  int64_t unexpected_count = 0;
};

class ClientLoop {
 public:
  ClientLoop(int id, const WorkloadOptions& options, const Endpoint& endpoint,
             const std::atomic<bool>& stop, std::atomic<int>& ok_calls,
             ClientLog& log)
      : id_(id),
        options_(options),
        endpoint_(endpoint),
        stop_(stop),
        ok_calls_(ok_calls),
        log_(log),
        random_(options.seed * 7919 + static_cast<uint64_t>(id)) {}

  void Run() {
    while (!stop_.load(std::memory_order_relaxed)) {
      Reconnect();
      HistoryOp op = Choose();
      std::string unexpected;
      op.invoke_ns = MonotonicNanos();
      const Disposition disposition = connection_->Call(op, unexpected);
      op.complete_ns = MonotonicNanos();
      if (disposition == Disposition::kAborted) {
        ++log_.aborted;
        continue;
      }
      if (disposition == Disposition::kUnexpected) {
        if (log_.unexpected.size() < kMaxUnexpectedListed) {
          log_.unexpected.push_back(
              absl::StrCat(FormatOp(op), ": ", unexpected));
        }
        ++log_.unexpected_count;
      }
      Learn(op);
      if (op.outcome == OpOutcome::kOk) ok_calls_.fetch_add(1, std::memory_order_relaxed);
      log_.history.push_back(std::move(op));
      log_.ports.push_back(port_);
      if (log_.history.back().outcome == OpOutcome::kIndeterminate) {
        absl::SleepFor(options_.backoff_after_failure);
      }
    }
  }

 private:
  void Reconnect() {
    const Endpoint::Ports ports = endpoint_.Get();
    if (connection_ != nullptr && ports.generation == generation_) return;
    generation_ = ports.generation;
    port_ = options_.transport == Transport::kGrpc ? ports.grpc : ports.http;
    if (options_.transport == Transport::kGrpc) {
      connection_ =
          std::make_unique<GrpcConnection>(ports.grpc, options_.call_timeout);
    } else {
      connection_ =
          std::make_unique<HttpConnection>(ports.http, options_.call_timeout);
    }
  }

  // The next call: a random key and kind. Written contents are unique in
  // the run ("c<client>-<sequence>"), so a read names the write it saw.
  HistoryOp Choose() {
    HistoryOp op;
    op.client = id_;
    const int key =
        std::uniform_int_distribution<int>(0, options_.keys - 1)(random_);
    op.key = absl::StrCat("k", key);
    auto known = known_etags_.find(key);
    const bool have_etag = known != known_etags_.end();
    int choice = std::uniform_int_distribution<int>(0, 99)(random_);
    op.kind = OpKind::kGet;
    if ((choice -= options_.get_percent) < 0) {
      // A Get.
    } else if ((choice -= options_.if_match_put_percent) < 0) {
      if (have_etag) {
        op.kind = OpKind::kPut;
        op.condition = OpCondition::kIfMatch;
        op.if_match = known->second;
      }
    } else if ((choice -= options_.create_percent) < 0) {
      op.kind = OpKind::kPut;
      op.condition = OpCondition::kIfNoneMatchAny;
    } else if ((choice -= options_.put_percent) < 0) {
      op.kind = OpKind::kPut;
    } else if (have_etag) {
      op.kind = OpKind::kDelete;
      op.condition = OpCondition::kIfMatch;
      op.if_match = known->second;
    }
    if (op.kind == OpKind::kPut) {
      op.value = absl::StrCat("c", id_, "-", ++sequence_);
    }
    return op;
  }

  // Remembers the ETag the answer names, for If-Match calls.
  void Learn(const HistoryOp& op) {
    int key = 0;
    if (!absl::SimpleAtoi(absl::string_view(op.key).substr(1), &key)) return;
    switch (op.outcome) {
      case OpOutcome::kOk:
        if (op.kind == OpKind::kDelete) {
          known_etags_.erase(key);
        } else {
          known_etags_[key] = op.etag;
        }
        break;
      case OpOutcome::kNotFound:
        known_etags_.erase(key);
        break;
      case OpOutcome::kPreconditionFailed:
        if (op.current_etag.has_value()) {
          if (op.current_etag->empty()) {
            known_etags_.erase(key);
          } else {
            known_etags_[key] = *op.current_etag;
          }
        }
        break;
      case OpOutcome::kIndeterminate:
        break;
    }
  }

  const int id_;
  const WorkloadOptions& options_;
  const Endpoint& endpoint_;
  const std::atomic<bool>& stop_;
  std::atomic<int>& ok_calls_;
  ClientLog& log_;
  std::mt19937_64 random_;
  std::unique_ptr<Connection> connection_;
  int generation_ = -1;
  int port_ = 0;
  std::map<int, std::string> known_etags_;
  int64_t sequence_ = 0;
};

// When an etagd process could have received calls, and on which port: from
// just before it was started until it was seen dead.
struct Lifetime {
  int64_t start_ns = 0;
  int64_t end_ns = kNoDeadline;
  int port = 0;
};

// The HTTP port in etagd's startup line ("... and HTTP on HOST:PORT; ...").
absl::StatusOr<int> HttpPort(const std::string& startup_line) {
  const std::string kMarker = "HTTP on ";
  const size_t at = startup_line.find(kMarker);
  if (at == std::string::npos) {
    return absl::InternalError(
        absl::StrCat("no HTTP address in the startup line: ", startup_line));
  }
  const size_t end = startup_line.find_first_of(" ;", at + kMarker.size());
  const std::string address =
      startup_line.substr(at + kMarker.size(), end - at - kMarker.size());
  int port = 0;
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(address.substr(colon + 1), &port)) {
    return absl::InternalError(
        absl::StrCat("no HTTP port in the startup line: ", startup_line));
  }
  return port;
}

// Runs etagd and its faults; Endpoint tells the clients where it is.
class EtagdUnderTest {
 public:
  EtagdUnderTest(const WorkloadOptions& options, Endpoint& endpoint)
      : options_(options), endpoint_(endpoint) {}

  absl::Status Start();

  // kill -9, wait until it is gone, start again on the same directory (on
  // new ports: see Start).
  absl::Status KillAndRestart() {
    if (absl::Status sent = etagd_.process->Signal(SIGKILL); !sent.ok()) {
      return DiedOnItsOwn(sent);
    }
    absl::StatusOr<int> exit = etagd_.process->Wait(absl::Seconds(30));
    lifetimes_.back().end_ns = MonotonicNanos();
    if (exit.ok() || !absl::StrContains(exit.status().message(), "signal 9 ")) {
      return DiedOnItsOwn(exit.status());
    }
    return Start();
  }

  absl::Status Pause(absl::Duration how_long) {
    if (absl::Status sent = etagd_.process->Signal(SIGSTOP); !sent.ok()) {
      return DiedOnItsOwn(sent);
    }
    absl::SleepFor(how_long);
    return etagd_.process->Signal(SIGCONT);
  }

  // Checks that etagd still runs, and stops it.
  absl::Status Stop() {
    // A running etagd does not exit within the wait, and is then killed.
    absl::StatusOr<int> exit = etagd_.process->Wait(absl::Milliseconds(100));
    if (!absl::IsDeadlineExceeded(exit.status())) {
      return DiedOnItsOwn(exit.status());
    }
    return absl::OkStatus();
  }

  const std::vector<Lifetime>& lifetimes() const { return lifetimes_; }

 private:
  absl::Status DiedOnItsOwn(const absl::Status& status) {
    return absl::InternalError(
        absl::StrCat("etagd stopped on its own: ", status.ToString(), "\n",
                     etagd_.process->stderr_text()));
  }

  const WorkloadOptions& options_;
  Endpoint& endpoint_;
  EtagdProcess etagd_;
  std::vector<Lifetime> lifetimes_;
};

// Every start takes new ports (port 0), and clients follow the Endpoint.
// Restarting on the old ports would race with clients reconnecting to them:
// a client's connect to a port nobody listens on can be given that very
// port as its own (a TCP self-connect) and block the restart's listener or
// confuse the client for seconds.
absl::Status EtagdUnderTest::Start() {
  std::vector<std::string> args = options_.etagd_args;
  if (options_.transport == Transport::kHttp) {
    args.push_back("--http_listen=127.0.0.1:0");
  }
  const int64_t start = MonotonicNanos();
  absl::StatusOr<EtagdProcess> etagd = StartEtagd(options_.data_dir, args);
  if (!etagd.ok()) return etagd.status();
  int http_port = 0;
  if (options_.transport == Transport::kHttp) {
    absl::StatusOr<int> port = HttpPort(etagd->startup_line);
    if (!port.ok()) return port.status();
    http_port = *port;
  }
  lifetimes_.push_back(Lifetime{
      start, kNoDeadline,
      options_.transport == Transport::kGrpc ? etagd->port : http_port});
  etagd_ = *std::move(etagd);
  endpoint_.Set(etagd_.port, http_port);
  return absl::OkStatus();
}

absl::Duration Jitter(std::mt19937_64& random, absl::Duration d) {
  return d * std::uniform_real_distribution<double>(0.75, 1.25)(random);
}

}  // namespace

std::string TransportName(Transport transport) {
  return transport == Transport::kGrpc ? "gRPC" : "HTTP";
}

std::string FaultName(Fault fault) {
  switch (fault) {
    case Fault::kNone:
      return "no fault";
    case Fault::kKill:
      return "kill -9 and restart";
    case Fault::kPause:
      return "SIGSTOP/SIGCONT";
    case Fault::kCustom:
      return "custom fault";
  }
  return "?";
}

std::string FaultName(const WorkloadOptions& options) {
  return options.fault == Fault::kCustom && !options.custom_fault_name.empty()
             ? options.custom_fault_name
             : FaultName(options.fault);
}

std::string WorkloadResult::Summary() const {
  std::string out = absl::StrCat(
      history.size(), " calls recorded: ", ok, " ok, ", not_found,
      " not found, ", precondition_failed, " failed preconditions, ",
      indeterminate, " without an answer (", indeterminate_puts_seen,
      " of them Puts read later); left out: ", refused_while_down,
      " made while etagd was down, ", aborted, " aborted");
  if (restarts > 0) absl::StrAppend(&out, "; ", restarts, " restarts");
  if (pauses > 0) absl::StrAppend(&out, "; ", pauses, " pauses");
  if (custom_faults > 0) absl::StrAppend(&out, "; ", custom_faults, " faults");
  if (unexpected_count > 0) {
    absl::StrAppend(&out, "; ", unexpected_count, " unexpected answers");
  }
  return out;
}

absl::StatusOr<WorkloadResult> RunWorkload(const WorkloadOptions& options) {
  if (options.clients < 1 || options.keys < 1 || options.replicas < 1) {
    return absl::InvalidArgumentError(
        "need at least one client, one key and one replica");
  }
  std::vector<std::unique_ptr<Endpoint>> endpoints;
  std::vector<std::unique_ptr<EtagdUnderTest>> replicas;
  for (int i = 0; i < options.replicas; ++i) {
    endpoints.push_back(std::make_unique<Endpoint>());
    replicas.push_back(std::make_unique<EtagdUnderTest>(options, *endpoints.back()));
    if (absl::Status started = replicas.back()->Start(); !started.ok()) {
      return started;
    }
  }
  EtagdUnderTest& etagd = *replicas[0];

  WorkloadResult result;
  std::atomic<bool> stop(false);
  std::atomic<int> ok_calls(0);
  std::vector<ClientLog> logs(options.clients);
  std::vector<std::thread> threads;
  for (int id = 0; id < options.clients; ++id) {
    threads.emplace_back(
        [&, id] {
          ClientLoop(id, options, *endpoints[id % options.replicas], stop,
                     ok_calls, logs[id])
              .Run();
        });
  }

  std::mt19937_64 random(options.seed);
  const absl::Time start = absl::Now();
  absl::Time end = start + options.duration;
  absl::Status fault_status;
  if (options.fault != Fault::kNone) {
    absl::Time next = start + options.first_fault_after;
    while (next < end && fault_status.ok()) {
      absl::SleepFor(next - absl::Now());
      if (options.fault == Fault::kKill) {
        fault_status = etagd.KillAndRestart();
        ++result.restarts;
      } else if (options.fault == Fault::kCustom) {
        fault_status = options.custom_fault
                           ? options.custom_fault(random)
                           : absl::InvalidArgumentError("no custom_fault given");
        ++result.custom_faults;
      } else {
        const double share =
            std::uniform_real_distribution<double>(0, 1)(random);
        fault_status =
            etagd.Pause(options.min_pause +
                        (options.max_pause - options.min_pause) * share);
        ++result.pauses;
      }
      end = std::max(end, absl::Now() + options.settle);
      next = absl::Now() + Jitter(random, options.fault_interval);
    }
  }
  if (fault_status.ok()) {
    absl::SleepFor(end - absl::Now());
    const absl::Time latest = absl::Now() + options.max_extension;
    while (ok_calls.load() < options.min_ok_calls && absl::Now() < latest) {
      absl::SleepFor(absl::Milliseconds(20));
    }
  }
  stop.store(true);
  for (std::thread& thread : threads) thread.join();
  if (!fault_status.ok()) return fault_status;
  std::vector<Lifetime> lifetimes;
  for (const std::unique_ptr<EtagdUnderTest>& replica : replicas) {
    if (absl::Status stopped = replica->Stop(); !stopped.ok()) return stopped;
    lifetimes.insert(lifetimes.end(), replica->lifetimes().begin(),
                     replica->lifetimes().end());
  }

  // A call without an answer may have taken effect only in an etagd that
  // could have received it, one listening on the call's port while the call
  // was made: by the end of the last such one. None: it had no effect.
  // (Every start has ports of its own, so a port names one lifetime.)
  for (ClientLog& log : logs) {
    result.aborted += log.aborted;
    result.unexpected_count += log.unexpected_count;
    for (std::string& line : log.unexpected) {
      if (result.unexpected.size() < kMaxUnexpectedListed) {
        result.unexpected.push_back(std::move(line));
      }
    }
    for (size_t i = 0; i < log.history.size(); ++i) {
      HistoryOp& op = log.history[i];
      if (op.outcome == OpOutcome::kIndeterminate) {
        std::optional<int64_t> deadline;
        for (const Lifetime& life : lifetimes) {
          if (life.port == log.ports[i] && life.start_ns <= op.complete_ns &&
              life.end_ns >= op.invoke_ns) {
            deadline = std::max(deadline.value_or(life.end_ns), life.end_ns);
          }
        }
        if (!deadline.has_value()) {
          ++result.refused_while_down;
          continue;
        }
        const int64_t grace = absl::ToInt64Nanoseconds(options.effect_grace);
        op.effect_deadline_ns =
            *deadline > kNoDeadline - grace ? kNoDeadline : *deadline + grace;
      }
      switch (op.outcome) {
        case OpOutcome::kOk:
          ++result.ok;
          break;
        case OpOutcome::kNotFound:
          ++result.not_found;
          break;
        case OpOutcome::kPreconditionFailed:
          ++result.precondition_failed;
          break;
        case OpOutcome::kIndeterminate:
          ++result.indeterminate;
          break;
      }
      result.history.push_back(std::move(op));
    }
  }
  absl::flat_hash_set<std::string> read;
  for (const HistoryOp& op : result.history) {
    if (op.kind == OpKind::kGet && op.outcome == OpOutcome::kOk) {
      read.insert(op.value);
    }
  }
  for (const HistoryOp& op : result.history) {
    if (op.kind == OpKind::kPut && op.outcome == OpOutcome::kIndeterminate &&
        read.contains(op.value)) {
      ++result.indeterminate_puts_seen;
    }
  }
  return result;
}

}  // namespace etagd
