// etagd-bench: a closed-loop gRPC load generator for etagd, and, with the
// same client machinery, for etcd's KV API and the echo floor, so that the
// systems are measured alike. See --help.
#include <atomic>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/synchronization/mutex.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/load.h"
#include "echo.grpc.pb.h"
#include "etagd/v1/etagd.grpc.pb.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

ABSL_FLAG(std::string, target, "127.0.0.1:7070", "Server HOST:PORT.");
ABSL_FLAG(std::string, system, "etagd",
          "What the target runs: etagd, etcd (its v3 KV API) or echo.");
ABSL_FLAG(std::string, op, "get",
          "get (read a random key), cond_get (If-None-Match with the current "
          "ETag: answered not-modified; etagd only), put (unconditional), cas "
          "(compare-and-set on the worker's own keys with the ETag/"
          "mod_revision it last wrote: the success path), create (create-only "
          "writes of fresh keys), incr (contended read-modify-write: read a "
          "random one of --keys counters, write it + 1 on condition it is "
          "unchanged (If-Match / a Txn on mod_revision), start over on a "
          "conflict; one op is one successful increment; etagd and etcd).");
ABSL_FLAG(int, connections, 4, "gRPC channels (TCP connections).");
ABSL_FLAG(int, in_flight, 16, "Operations in flight per connection.");
ABSL_FLAG(int, keys, 1000, "Keys the run uses.");
ABSL_FLAG(std::string, setup, "put",
          "Before the run: put (write every key), read (read every key to "
          "learn its ETag/mod_revision: keys written by an earlier run) or "
          "none (--op=get only; the keys must exist).");
ABSL_FLAG(int, setup_in_flight, 256, "Setup calls in flight.");
ABSL_FLAG(int, value_size, 1024, "Bytes of each value written.");
ABSL_FLAG(absl::Duration, duration, absl::Seconds(10), "Measured run time.");
ABSL_FLAG(int64_t, ops, 0, "Stop after this many measured operations (0: none).");
ABSL_FLAG(absl::Duration, warmup, absl::Seconds(2), "Unmeasured warm-up.");
ABSL_FLAG(std::string, key_prefix, "bench/", "Prefix of every key.");
ABSL_FLAG(std::string, json_out, "", "Also write the result as JSON here.");
ABSL_FLAG(absl::Duration, progress_every, absl::Seconds(5),
          "Progress line interval on stderr (0 for none).");

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

// Keys, values, and what each worker last wrote: the state shared by the
// systems' adapters.
struct Workload {
  std::vector<std::string> keys;
  // Random letters and digits, kValuePool bytes more than a value: each
  // value written is a slice at a random offset, so values differ and a
  // block compressor finds nothing to shrink (disk figures are those of
  // real, incompressible content).
  std::string pool;
  size_t value_size = 0;
  int workers = 1;
  int connections = 1;
  // Per key: the version the benchmark last wrote (ETag or mod_revision).
  std::vector<std::string> etags;
  std::vector<int64_t> revisions;
  // Per worker: the next fresh key number for creates.
  std::vector<int64_t> next_fresh;
  // Per worker: which of its own keys it writes next (cas).
  std::vector<size_t> cursor;
  // incr: setup writes "0" to every key; successful increments and the
  // conflicts (failed conditions) on the way, warm-up included.
  bool counters = false;
  std::atomic<int64_t> increments{0};
  std::atomic<int64_t> conflicts{0};

  static constexpr size_t kValuePool = 1 << 20;

  absl::string_view Value() {
    thread_local absl::BitGen bitgen;
    return absl::string_view(pool).substr(
        absl::Uniform<size_t>(bitgen, 0, kValuePool + 1), value_size);
  }

  // A key chosen uniformly at random.
  size_t RandomKey() {
    thread_local absl::BitGen bitgen;
    return absl::Uniform<size_t>(bitgen, 0, keys.size());
  }

  // The worker's next own key: keys w, w + workers, w + 2*workers, ...
  size_t OwnKey(int worker) {
    const size_t owned = (keys.size() - worker + workers - 1) / workers;
    const size_t k = worker + workers * (cursor[worker]++ % std::max<size_t>(1, owned));
    return k;
  }
};

std::vector<std::shared_ptr<grpc::Channel>> Channels(const std::string& target,
                                                     int n) {
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < n; ++i) {
    grpc::ChannelArguments args;
    // A distinct argument per channel: separate TCP connections.
    args.SetInt("etagd.bench.channel", i);
    args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
    args.SetMaxReceiveMessageSize(64 << 20);
    channels.push_back(grpc::CreateCustomChannel(
        target, grpc::InsecureChannelCredentials(), args));
  }
  return channels;
}

std::string CodeName(const grpc::Status& status) {
  static const char* kNames[] = {
      "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED",
      "NOT_FOUND", "ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED",
      "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
      "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};
  const int code = static_cast<int>(status.error_code());
  return code >= 0 && code <= 16 ? kNames[code] : "UNKNOWN";
}

// Runs start(k, done) for every k in [0, n), at most `width` unfinished at
// a time; returns the first error any `done` reported (and then stops
// starting new ones). Prints progress on long runs.
absl::Status ForEachKey(
    size_t n, int width,
    std::function<void(size_t k, std::function<void(absl::Status)> done)> start) {
  // Each of `width` chains starts the next key when its previous one is
  // done; the calls in flight keep the state alive.
  struct Chains : std::enable_shared_from_this<Chains> {
    std::function<void(size_t, std::function<void(absl::Status)>)> start;
    size_t n = 0;
    absl::Mutex mu;
    size_t next ABSL_GUARDED_BY(mu) = 0;
    int running ABSL_GUARDED_BY(mu) = 0;
    absl::Status error ABSL_GUARDED_BY(mu);

    void Continue(absl::Status status) {
      size_t k;
      {
        absl::MutexLock lock(&mu);
        if (!status.ok() && error.ok()) error = status;
        if (!error.ok() || next >= n) {
          --running;
          return;
        }
        k = next++;
        if (k > 0 && k % 100000 == 0) {
          std::cerr << "etagd-bench: setup " << k << " of " << n << "\n";
        }
      }
      start(k, [self = shared_from_this()](absl::Status s) {
        self->Continue(std::move(s));
      });
    }
  };
  auto chains = std::make_shared<Chains>();
  chains->start = std::move(start);
  chains->n = n;
  {
    absl::MutexLock lock(&chains->mu);
    chains->running = width;
  }
  for (int i = 0; i < width; ++i) chains->Continue(absl::OkStatus());
  absl::MutexLock lock(&chains->mu);
  chains->mu.Await(absl::Condition(
      +[](Chains* c) ABSL_EXCLUSIVE_LOCKS_REQUIRED(c->mu) { return c->running == 0; },
      chains.get()));
  return chains->error;
}

absl::Status SetupError(const char* what, const grpc::Status& status) {
  return absl::UnavailableError(absl::StrCat("setup ", what, ": ", status.error_message()));
}

template <typename Request, typename Response>
struct Call {
  grpc::ClientContext context;
  Request request;
  Response response;
};

// Runs `invoke` on a heap call and hands the finished call to `finish`.
template <typename Request, typename Response, typename Invoke, typename Finish>
void Async(Request request, Invoke invoke, Finish finish) {
  auto* call = new Call<Request, Response>();
  call->request = std::move(request);
  call->context.set_deadline(std::chrono::system_clock::now() +
                             std::chrono::seconds(30));
  invoke(call, [call, finish](grpc::Status status) {
    // The call (its ClientContext) is gone before `finish` runs: whoever
    // `finish` tells that the work is done may tear the channels down.
    Response response = std::move(call->response);
    delete call;
    finish(status, response);
  });
}

// A counter's value and the version it was read at (an ETag, or an etcd
// mod_revision in decimal).
struct CounterRead {
  Outcome outcome;  // "OK" or an error name.
  int64_t value = 0;
  std::string version;
};
using ReadCounter =
    std::function<void(size_t key, std::function<void(CounterRead)> done)>;
// Writes `value` if the counter is still at `version`: "OK", "CONFLICT" or
// an error name.
using WriteCounter = std::function<void(size_t key, const std::string& version,
                                        int64_t value,
                                        std::function<void(Outcome)> done)>;

// One successful increment of counter `key`, the way a client without
// server-side arithmetic does it: read, write + 1 on condition, and on a
// conflict read again. Calls `done` once: "OK", or the first error.
void Increment(Workload& workload, size_t key, ReadCounter read,
               WriteCounter write, std::function<void(Outcome)> done) {
  read(key, [&workload, key, read, write, done](CounterRead current) {
    if (current.outcome != "OK") return done(current.outcome);
    write(key, current.version, current.value + 1,
          [&workload, key, read, write, done](Outcome written) {
            if (written == "CONFLICT") {
              workload.conflicts.fetch_add(1, std::memory_order_relaxed);
              return Increment(workload, key, read, write, done);
            }
            if (written == "OK") {
              workload.increments.fetch_add(1, std::memory_order_relaxed);
            }
            done(written);
          });
  });
}

// After an incr run: the counters must add up to the increments made. An
// update lost by the store would show here.
absl::Status CheckCounters(Workload& workload, const ReadCounter& read,
                           int width) {
  std::atomic<int64_t> sum{0};
  absl::Status read_all = ForEachKey(
      workload.keys.size(), width, [&read, &sum](size_t k, auto done) {
        read(k, [&sum, done](CounterRead current) {
          if (current.outcome != "OK") {
            return done(absl::UnavailableError("reading a counter: " + current.outcome));
          }
          sum.fetch_add(current.value);
          done(absl::OkStatus());
        });
      });
  if (!read_all.ok()) return read_all;
  const int64_t made = workload.increments.load();
  std::printf("  counters add up to %lld, increments made %lld (%s); "
              "%lld conflicts retried\n",
              static_cast<long long>(sum.load()), static_cast<long long>(made),
              sum.load() == made ? "no update lost" : "UPDATES LOST",
              static_cast<long long>(workload.conflicts.load()));
  if (sum.load() != made) {
    return absl::DataLossError(absl::StrCat(made - sum.load(), " updates lost"));
  }
  return absl::OkStatus();
}

class EtagdTarget {
 public:
  EtagdTarget(std::vector<std::shared_ptr<grpc::Channel>> channels,
              Workload& workload)
      : workload_(workload) {
    for (auto& channel : channels) stubs_.push_back(v1::Resources::NewStub(channel));
  }

  absl::Status Setup(const std::string& how, int width) {
    if (how == "none") return absl::OkStatus();
    return ForEachKey(workload_.keys.size(), width, [this, how](size_t k, auto done) {
      v1::Resources::Stub& stub = *stubs_[k % stubs_.size()];
      if (how == "read") {
        v1::GetResourceRequest get;
        get.set_name(workload_.keys[k]);
        get.set_metadata_only(true);
        Async<v1::GetResourceRequest, v1::GetResourceResponse>(
            std::move(get),
            [&stub](auto* c, auto cb) {
              stub.async()->GetResource(&c->context, &c->request, &c->response, cb);
            },
            [this, k, done](const grpc::Status& s, const v1::GetResourceResponse& r) {
              if (!s.ok()) return done(SetupError("read", s));
              workload_.etags[k] = r.resource().etag();
              done(absl::OkStatus());
            });
        return;
      }
      v1::PutResourceRequest put;
      put.set_name(workload_.keys[k]);
      put.set_content(workload_.counters ? "0" : std::string(workload_.Value()));
      Async<v1::PutResourceRequest, v1::PutResourceResponse>(
          std::move(put),
          [&stub](auto* c, auto cb) {
            stub.async()->PutResource(&c->context, &c->request, &c->response, cb);
          },
          [this, k, done](const grpc::Status& s, const v1::PutResourceResponse& r) {
            if (!s.ok()) return done(SetupError("put", s));
            workload_.etags[k] = r.resource().etag();
            done(absl::OkStatus());
          });
    });
  }

  void Start(const std::string& op, int worker, std::function<void(Outcome)> done) {
    v1::Resources::Stub& stub = *stubs_[worker % stubs_.size()];
    if (op == "incr") {
      return Increment(workload_, workload_.RandomKey(), Reader(), Writer(),
                       std::move(done));
    }
    if (op == "get" || op == "cond_get") {
      const size_t k = workload_.RandomKey();
      v1::GetResourceRequest get;
      get.set_name(workload_.keys[k]);
      const bool conditional = op == "cond_get";
      if (conditional) get.mutable_preconditions()->add_if_none_match(workload_.etags[k]);
      Async<v1::GetResourceRequest, v1::GetResourceResponse>(
          std::move(get),
          [&stub](auto* c, auto cb) {
            stub.async()->GetResource(&c->context, &c->request, &c->response, cb);
          },
          [done, conditional](const grpc::Status& s, const v1::GetResourceResponse& r) {
            if (!s.ok()) return done(CodeName(s));
            if (conditional != r.has_not_modified()) return done("UNEXPECTED_RESPONSE");
            done("OK");
          });
      return;
    }
    v1::PutResourceRequest put;
    put.set_content(std::string(workload_.Value()));
    size_t key = 0;
    if (op == "put") {
      key = workload_.RandomKey();
      put.set_name(workload_.keys[key]);
    } else if (op == "cas") {
      key = workload_.OwnKey(worker);
      put.set_name(workload_.keys[key]);
      put.mutable_preconditions()->add_if_match(workload_.etags[key]);
    } else {  // create
      put.set_name(absl::StrCat(workload_.keys[0], "/fresh/", worker, "/",
                                workload_.next_fresh[worker]++));
      put.mutable_preconditions()->add_if_none_match("*");
    }
    const bool remember = op == "cas";
    Async<v1::PutResourceRequest, v1::PutResourceResponse>(
        std::move(put),
        [&stub](auto* c, auto cb) {
          stub.async()->PutResource(&c->context, &c->request, &c->response, cb);
        },
        [this, done, key, remember](const grpc::Status& s,
                                    const v1::PutResourceResponse& r) {
          if (!s.ok()) return done(CodeName(s));
          if (remember) workload_.etags[key] = r.resource().etag();
          done("OK");
        });
  }

  // A counter, read with GetResource.
  ReadCounter Reader() {
    return [this](size_t key, std::function<void(CounterRead)> done) {
      v1::GetResourceRequest get;
      get.set_name(workload_.keys[key]);
      Async<v1::GetResourceRequest, v1::GetResourceResponse>(
          std::move(get),
          [this, key](auto* c, auto cb) {
            StubFor(key).async()->GetResource(&c->context, &c->request,
                                              &c->response, cb);
          },
          [done](const grpc::Status& s, const v1::GetResourceResponse& r) {
            CounterRead read;
            read.outcome = s.ok() ? "OK" : CodeName(s);
            if (s.ok() && !absl::SimpleAtoi(r.resource().content(), &read.value)) {
              read.outcome = "UNEXPECTED_RESPONSE";
            }
            read.version = r.resource().etag();
            done(std::move(read));
          });
    };
  }

  // A counter, written with If-Match: a 412 is a conflict.
  WriteCounter Writer() {
    return [this](size_t key, const std::string& etag, int64_t value,
                  std::function<void(Outcome)> done) {
      v1::PutResourceRequest put;
      put.set_name(workload_.keys[key]);
      put.set_content(std::to_string(value));
      put.mutable_preconditions()->add_if_match(etag);
      Async<v1::PutResourceRequest, v1::PutResourceResponse>(
          std::move(put),
          [this, key](auto* c, auto cb) {
            StubFor(key).async()->PutResource(&c->context, &c->request,
                                              &c->response, cb);
          },
          [done](const grpc::Status& s, const v1::PutResourceResponse&) {
            if (s.error_code() == grpc::StatusCode::FAILED_PRECONDITION) {
              return done("CONFLICT");
            }
            done(s.ok() ? "OK" : CodeName(s));
          });
    };
  }

 private:
  v1::Resources::Stub& StubFor(size_t key) { return *stubs_[key % stubs_.size()]; }

  Workload& workload_;
  std::vector<std::unique_ptr<v1::Resources::Stub>> stubs_;
};

class EtcdTarget {
 public:
  EtcdTarget(std::vector<std::shared_ptr<grpc::Channel>> channels,
             Workload& workload)
      : workload_(workload) {
    for (auto& channel : channels) stubs_.push_back(etcdserverpb::KV::NewStub(channel));
  }

  absl::Status Setup(const std::string& how, int width) {
    if (how == "none") return absl::OkStatus();
    return ForEachKey(workload_.keys.size(), width, [this, how](size_t k, auto done) {
      etcdserverpb::KV::Stub& stub = *stubs_[k % stubs_.size()];
      if (how == "read") {
        etcdserverpb::RangeRequest range;
        range.set_key(workload_.keys[k]);
        Async<etcdserverpb::RangeRequest, etcdserverpb::RangeResponse>(
            std::move(range),
            [&stub](auto* c, auto cb) {
              stub.async()->Range(&c->context, &c->request, &c->response, cb);
            },
            [this, k, done](const grpc::Status& s, const etcdserverpb::RangeResponse& r) {
              if (!s.ok()) return done(SetupError("read", s));
              if (r.kvs_size() != 1) {
                return done(absl::NotFoundError(
                    absl::StrCat("setup read: ", workload_.keys[k], " is absent")));
              }
              workload_.revisions[k] = r.kvs(0).mod_revision();
              done(absl::OkStatus());
            });
        return;
      }
      etcdserverpb::PutRequest put;
      put.set_key(workload_.keys[k]);
      put.set_value(workload_.counters ? "0" : std::string(workload_.Value()));
      Async<etcdserverpb::PutRequest, etcdserverpb::PutResponse>(
          std::move(put),
          [&stub](auto* c, auto cb) {
            stub.async()->Put(&c->context, &c->request, &c->response, cb);
          },
          [this, k, done](const grpc::Status& s, const etcdserverpb::PutResponse& r) {
            if (!s.ok()) return done(SetupError("put", s));
            workload_.revisions[k] = r.header().revision();
            done(absl::OkStatus());
          });
    });
  }

  void Start(const std::string& op, int worker, std::function<void(Outcome)> done) {
    etcdserverpb::KV::Stub& stub = *stubs_[worker % stubs_.size()];
    if (op == "incr") {
      return Increment(workload_, workload_.RandomKey(), Reader(), Writer(),
                       std::move(done));
    }
    if (op == "get") {
      etcdserverpb::RangeRequest range;
      range.set_key(workload_.keys[workload_.RandomKey()]);
      Async<etcdserverpb::RangeRequest, etcdserverpb::RangeResponse>(
          std::move(range),
          [&stub](auto* c, auto cb) {
            stub.async()->Range(&c->context, &c->request, &c->response, cb);
          },
          [done](const grpc::Status& s, const etcdserverpb::RangeResponse& r) {
            if (!s.ok()) return done(CodeName(s));
            done(r.kvs_size() == 1 ? "OK" : "UNEXPECTED_RESPONSE");
          });
      return;
    }
    if (op == "put") {
      etcdserverpb::PutRequest put;
      put.set_key(workload_.keys[workload_.RandomKey()]);
      put.set_value(std::string(workload_.Value()));
      Async<etcdserverpb::PutRequest, etcdserverpb::PutResponse>(
          std::move(put),
          [&stub](auto* c, auto cb) {
            stub.async()->Put(&c->context, &c->request, &c->response, cb);
          },
          [done](const grpc::Status& s, const etcdserverpb::PutResponse&) {
            done(s.ok() ? "OK" : CodeName(s));
          });
      return;
    }
    // cas: Txn(mod_revision == last written) then put; create: Txn
    // (create_revision == 0, i.e. absent) then put.
    etcdserverpb::TxnRequest txn;
    etcdserverpb::Compare* compare = txn.add_compare();
    compare->set_result(etcdserverpb::Compare::EQUAL);
    size_t key = 0;
    std::string name;
    if (op == "cas") {
      key = workload_.OwnKey(worker);
      name = workload_.keys[key];
      compare->set_target(etcdserverpb::Compare::MOD);
      compare->set_mod_revision(workload_.revisions[key]);
    } else {
      name = absl::StrCat(workload_.keys[0], "/fresh/", worker, "/",
                          workload_.next_fresh[worker]++);
      compare->set_target(etcdserverpb::Compare::CREATE);
      compare->set_create_revision(0);
    }
    compare->set_key(name);
    etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
    put->set_key(name);
    put->set_value(std::string(workload_.Value()));
    const bool remember = op == "cas";
    Async<etcdserverpb::TxnRequest, etcdserverpb::TxnResponse>(
        std::move(txn),
        [&stub](auto* c, auto cb) {
          stub.async()->Txn(&c->context, &c->request, &c->response, cb);
        },
        [this, done, key, remember](const grpc::Status& s,
                                    const etcdserverpb::TxnResponse& r) {
          if (!s.ok()) return done(CodeName(s));
          if (!r.succeeded()) return done("FAILED_PRECONDITION");
          if (remember) workload_.revisions[key] = r.header().revision();
          done("OK");
        });
  }

  // A counter, read with a (linearizable) Range.
  ReadCounter Reader() {
    return [this](size_t key, std::function<void(CounterRead)> done) {
      etcdserverpb::RangeRequest range;
      range.set_key(workload_.keys[key]);
      Async<etcdserverpb::RangeRequest, etcdserverpb::RangeResponse>(
          std::move(range),
          [this, key](auto* c, auto cb) {
            StubFor(key).async()->Range(&c->context, &c->request, &c->response, cb);
          },
          [done](const grpc::Status& s, const etcdserverpb::RangeResponse& r) {
            CounterRead read;
            read.outcome = s.ok() ? "OK" : CodeName(s);
            if (s.ok() && (r.kvs_size() != 1 ||
                           !absl::SimpleAtoi(r.kvs(0).value(), &read.value))) {
              read.outcome = "UNEXPECTED_RESPONSE";
            }
            if (r.kvs_size() == 1) read.version = std::to_string(r.kvs(0).mod_revision());
            done(std::move(read));
          });
    };
  }

  // A counter, written by a Txn on its mod_revision: not succeeded is a
  // conflict.
  WriteCounter Writer() {
    return [this](size_t key, const std::string& revision, int64_t value,
                  std::function<void(Outcome)> done) {
      etcdserverpb::TxnRequest txn;
      etcdserverpb::Compare* compare = txn.add_compare();
      compare->set_result(etcdserverpb::Compare::EQUAL);
      compare->set_target(etcdserverpb::Compare::MOD);
      compare->set_key(workload_.keys[key]);
      int64_t mod_revision = 0;
      if (!absl::SimpleAtoi(revision, &mod_revision)) return done("UNEXPECTED_RESPONSE");
      compare->set_mod_revision(mod_revision);
      etcdserverpb::PutRequest* put = txn.add_success()->mutable_request_put();
      put->set_key(workload_.keys[key]);
      put->set_value(std::to_string(value));
      Async<etcdserverpb::TxnRequest, etcdserverpb::TxnResponse>(
          std::move(txn),
          [this, key](auto* c, auto cb) {
            StubFor(key).async()->Txn(&c->context, &c->request, &c->response, cb);
          },
          [done](const grpc::Status& s, const etcdserverpb::TxnResponse& r) {
            if (!s.ok()) return done(CodeName(s));
            done(r.succeeded() ? "OK" : "CONFLICT");
          });
    };
  }

 private:
  etcdserverpb::KV::Stub& StubFor(size_t key) { return *stubs_[key % stubs_.size()]; }

  Workload& workload_;
  std::vector<std::unique_ptr<etcdserverpb::KV::Stub>> stubs_;
};

class EchoTarget {
 public:
  EchoTarget(std::vector<std::shared_ptr<grpc::Channel>> channels,
             Workload& workload)
      : workload_(workload) {
    for (auto& channel : channels) stubs_.push_back(bench::Echo::NewStub(channel));
  }

  absl::Status Setup(const std::string&, int) { return absl::OkStatus(); }

  void Start(const std::string& op, int worker, std::function<void(Outcome)> done) {
    bench::EchoMessage message;
    // A read carries a small request and the value back; a write the reverse.
    if (op == "get" || op == "cond_get") {
      message.set_payload(workload_.keys[worker % workload_.keys.size()]);
      message.set_reply_bytes(static_cast<int32_t>(workload_.value_size));
    } else {
      message.set_payload(std::string(workload_.Value()));
    }
    bench::Echo::Stub& stub = *stubs_[worker % stubs_.size()];
    Async<bench::EchoMessage, bench::EchoMessage>(
        std::move(message),
        [&stub](auto* c, auto cb) {
          stub.async()->Echo(&c->context, &c->request, &c->response, cb);
        },
        [done](const grpc::Status& s, const bench::EchoMessage&) {
          done(s.ok() ? "OK" : CodeName(s));
        });
  }

 private:
  Workload& workload_;
  std::vector<std::unique_ptr<bench::Echo::Stub>> stubs_;
};

int Usage(absl::string_view message) {
  std::cerr << "etagd-bench: " << message << "\n";
  return 2;
}

// Targets without counters (the echo floor) have no incr.
template <typename Target>
auto CheckCountersOf(Target& target, Workload& workload, int width, int)
    -> decltype(target.Reader(), absl::Status()) {
  return CheckCounters(workload, target.Reader(), width);
}
template <typename Target>
absl::Status CheckCountersOf(Target&, Workload&, int, long) {
  return absl::OkStatus();
}

template <typename Target>
int RunWith(Target& target, Workload& workload, const std::string& op,
            const LoadOptions& options,
            const std::map<std::string, std::string>& labels) {
  if (absl::Status setup = target.Setup(absl::GetFlag(FLAGS_setup),
                                        absl::GetFlag(FLAGS_setup_in_flight));
      !setup.ok()) {
    std::cerr << "etagd-bench: " << setup.message() << "\n";
    return 1;
  }
  LoadResult result = RunLoad(options, [&target, &op](int worker, auto done) {
    target.Start(op, worker, std::move(done));
  });
  std::printf(
      "%s %s: %.0f ops/s over %.1fs (%lld ops); latency us p50 %.0f p90 %.0f "
      "p99 %.0f p99.9 %.0f max %.0f\n",
      labels.at("system").c_str(), op.c_str(), result.ops_per_second,
      absl::ToDoubleSeconds(result.elapsed), static_cast<long long>(result.ops),
      result.p50_us, result.p90_us, result.p99_us, result.p999_us, result.max_us);
  for (const auto& [name, count] : result.errors) {
    std::printf("  errors %s: %lld\n", name.c_str(), static_cast<long long>(count));
  }
  if (op == "incr") {
    if (absl::Status counted = CheckCountersOf(
            target, workload, absl::GetFlag(FLAGS_setup_in_flight), 0);
        !counted.ok()) {
      std::cerr << "etagd-bench: " << counted.message() << "\n";
      return 1;
    }
  }
  const std::string json = ToJson(result, labels);
  if (!absl::GetFlag(FLAGS_json_out).empty()) {
    std::ofstream out(absl::GetFlag(FLAGS_json_out));
    out << json << "\n";
    if (!out) return Usage("cannot write --json_out");
  }
  return result.ops > 0 ? 0 : 1;
}

int Run() {
  const std::string system = absl::GetFlag(FLAGS_system);
  const std::string op = absl::GetFlag(FLAGS_op);
  if (system != "etagd" && system != "etcd" && system != "echo") {
    return Usage("--system must be etagd, etcd or echo");
  }
  if (op != "get" && op != "cond_get" && op != "put" && op != "cas" &&
      op != "create" && op != "incr") {
    return Usage("--op must be get, cond_get, put, cas, create or incr");
  }
  if (op == "incr" && system == "echo") {
    return Usage("--op=incr needs counters: --system=etagd or etcd");
  }
  if (op == "incr" && absl::GetFlag(FLAGS_setup) != "put") {
    return Usage("--op=incr starts every counter at 0: --setup=put");
  }
  const std::string setup = absl::GetFlag(FLAGS_setup);
  if (setup != "put" && setup != "read" && setup != "none") {
    return Usage("--setup must be put, read or none");
  }
  if (setup == "none" && op != "get") {
    return Usage("--setup=none suits --op=get only: the others need ETags");
  }
  if (absl::GetFlag(FLAGS_setup_in_flight) < 1) {
    return Usage("--setup_in_flight must be positive");
  }
  if (op == "cond_get" && system == "etcd") {
    return Usage("etcd has no conditional read; use --op=get");
  }
  const int connections = absl::GetFlag(FLAGS_connections);
  const int in_flight = absl::GetFlag(FLAGS_in_flight);
  const int keys = absl::GetFlag(FLAGS_keys);
  if (connections < 1 || in_flight < 1 || keys < 1 || absl::GetFlag(FLAGS_value_size) < 0) {
    return Usage("--connections, --in_flight and --keys must be positive");
  }
  Workload workload;
  workload.workers = connections * in_flight;
  if (op == "cas" && keys < workload.workers) {
    return Usage("cas needs --keys >= connections * in_flight (each worker owns keys)");
  }
  workload.connections = connections;
  workload.counters = op == "incr";
  {
    static constexpr char kAlphabet[] =
        "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
    absl::BitGen bitgen;
    workload.value_size = static_cast<size_t>(absl::GetFlag(FLAGS_value_size));
    workload.pool.resize(Workload::kValuePool + workload.value_size);
    for (char& c : workload.pool) {
      c = kAlphabet[absl::Uniform<size_t>(bitgen, 0, sizeof(kAlphabet) - 1)];
    }
  }
  for (int k = 0; k < keys; ++k) {
    workload.keys.push_back(absl::StrCat(absl::GetFlag(FLAGS_key_prefix), k));
  }
  workload.etags.resize(keys);
  workload.revisions.resize(keys);
  workload.next_fresh.assign(workload.workers, 0);
  workload.cursor.assign(workload.workers, 0);

  LoadOptions options;
  options.workers = workload.workers;
  options.duration = absl::GetFlag(FLAGS_duration);
  options.max_ops = absl::GetFlag(FLAGS_ops);
  options.warmup = absl::GetFlag(FLAGS_warmup);
  options.progress_every = absl::GetFlag(FLAGS_progress_every);
  const std::map<std::string, std::string> labels = {
      {"system", system},
      {"op", op},
      {"connections", std::to_string(connections)},
      {"in_flight", std::to_string(in_flight)},
      {"keys", std::to_string(keys)},
      {"value_size", std::to_string(absl::GetFlag(FLAGS_value_size))}};
  auto channels = Channels(absl::GetFlag(FLAGS_target), connections);
  if (system == "etagd") {
    EtagdTarget target(channels, workload);
    return RunWith(target, workload, op, options, labels);
  }
  if (system == "etcd") {
    EtcdTarget target(channels, workload);
    return RunWith(target, workload, op, options, labels);
  }
  EchoTarget target(channels, workload);
  return RunWith(target, workload, op, options, labels);
}

}  // namespace
}  // namespace etagd

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Closed-loop gRPC load for etagd, etcd and the echo floor; prints "
      "ops/s, latency percentiles and errors by status, optionally as JSON.\n"
      "Usage: etagd-bench --system=etagd --target=HOST:PORT --op=get [flags]");
  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's
  // deadlock detection on: a lock-order graph update on every nested lock,
  // in gRPC's code too. Our lock order is fixed and documented; turn it off.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::ParseCommandLine(argc, argv);
  return etagd::Run();
}
