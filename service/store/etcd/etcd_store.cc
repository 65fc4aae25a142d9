// The only file that talks to etcd; etcd's errors become absl::Status through
// etcd_status.h's table.
//
// Key layout, every key under options.prefix (P):
//   P "format"                        -> kFormat
//   P "r/" name                       -> current record (EtcdRecord, no content)
//   P "h/" name '\0' big-endian(rev)  -> past record at revision rev
//   P "c/" name '\0' big-endian(seq)  -> content of the put numbered seq
//   P "f/" hex(nonce)                 -> fence of a write left ambiguous
//   P "q"                             -> the change log's progress marker
//                                        (etcd_change_log.h), just before
//                                        the record keys
// Names never contain '\0' (they are validated before they get here), so a
// name's history and content keys sort together, by revision and sequence.
//
// A write is one Txn:
//   If   mod_revision(P r/name) == expected     (0: no record; etcd compares
//                                                a missing key as zeros)
//   and  create_revision(P f/nonce) == 0        (no fence for this write)
//   Then put P r/name (the new record), put P c/name/seq (a put's content),
//        put P h/name/rev (the replaced record, explicitly revisioned),
//        delete-range the history and content that fall out of history_depth
//   Else range P r/name (to say what the revision is now).
// So a write costs one Txn of at most five operations (and one read if its
// compare fails) whatever the history depth, content is sent once (never copied into history), and what history
// keeps are explicit keys that etcd's compaction never removes. Every put of
// one Txn gets the same revision, the write's: the new record is stored with
// revision 0 and read back with its key's mod_revision, and its entity-tag
// is derived from that revision and a random nonce stored in the record.
//
// Ambiguous outcomes (a timeout, a lost leader, a connection that broke
// after the request went out): the write is never sent again. A second Txn
// puts the write's fence key, so that the first can no longer apply, and
// reads in the same Txn the records after the expected one: the write was
// applied iff the record that followed `expected` carries its nonce (and
// the outcome stays unknown if that record fell out of history already).
//
// Reads are linearizable (etcd's default Range; concurrent reads of current
// records share one Txn, read_batcher.h); a content read, and every
// read of a listing's pages (across calls too: the page token carries the
// revision), are pinned to the revision of the listing's first read.
#include "service/store/etcd/etcd_store.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <fstream>
#include <optional>
#include <sstream>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/synchronization/blocking_counter.h"
#include "absl/synchronization/mutex.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "service/byte_bounded_lru.h"
#include "service/log.h"
#include "service/status_macros.h"
#include "service/store/etcd/etcd_change_log.h"
#include "service/store/etcd/etcd_record.pb.h"
#include "service/store/etcd/etcd_status.h"
#include "service/store/etcd/read_batcher.h"
#include "service/store/stored_metadata.h"

namespace etagd {
namespace {

namespace pb = ::etcdserverpb;
using storage::etcd::EtcdRecord;

constexpr char kFormat[] = "etagd-etcd-1";
// etcd's --max-txn-ops default: the most operations of one Txn branch.
constexpr int kMaxTxnOps = 128;
// Content one read of a listing fetches at most.
constexpr int64_t kMaxContentBytesPerRead = int64_t{16} << 20;
// Fence keys outlive any write they fence: etcd answers or drops a
// proposal within its request timeout (7 s by default).
constexpr int64_t kFenceTtlSeconds = 600;
// How long a health probe waits for each member: a leader confirms a
// read index within a heartbeat (100 ms by default).
constexpr absl::Duration kHealthProbeTimeout = absl::Seconds(1);
// Reads of current records sent together at most (two ranges each, within
// etcd's --max-txn-ops default), and such batches out at once per store.
constexpr size_t kReadsPerBatch = kMaxTxnOps / 2;
constexpr int kReadBatchesInFlight = 2;
// Tombstones a listing reads past per request, at least.
constexpr int kListBatch = 64;
// The request limits of service/request_validation.h (names, content types,
// request ids), which bound what a write adds to its content.
constexpr int64_t kMaxNameBytes = 1024;
constexpr int64_t kMaxContentTypeBytes = 256;
constexpr int64_t kMaxRequestIdBytes = 128;
// etcd wraps a request in an InternalRaftRequest (a header with an id, the
// user name and the auth revision) before it checks --max-request-bytes.
constexpr int64_t kRaftWrapperBytes = 64;

std::string BigEndian(uint64_t v) {
  std::string out(8, '\0');
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(v & 0xff);
    v >>= 8;
  }
  return out;
}

// The smallest key greater than every key starting with `prefix` (etcd's
// range_end for a prefix); "\0" (to the end of the keyspace) if none.
std::string PrefixEnd(std::string prefix) {
  while (!prefix.empty()) {
    unsigned char last = static_cast<unsigned char>(prefix.back());
    if (last < 0xff) {
      prefix.back() = static_cast<char>(last + 1);
      return prefix;
    }
    prefix.pop_back();
  }
  return std::string(1, '\0');
}

class Keys {
 public:
  explicit Keys(std::string prefix) : prefix_(std::move(prefix)) {}

  std::string Format() const { return prefix_ + "format"; }
  std::string Current(absl::string_view name) const {
    return absl::StrCat(prefix_, "r/", name);
  }
  // The name a current key holds.
  absl::string_view NameOf(absl::string_view current_key) const {
    return current_key.substr(prefix_.size() + 2);
  }
  std::string History(absl::string_view name, int64_t revision) const {
    return absl::StrCat(HistoryBegin(name), BigEndian(revision));
  }
  std::string HistoryBegin(absl::string_view name) const {
    return absl::StrCat(prefix_, "h/", name, absl::string_view("\0", 1));
  }
  std::string HistoryEnd(absl::string_view name) const {
    return absl::StrCat(prefix_, "h/", name, "\x01");
  }
  std::string Content(absl::string_view name, int64_t sequence) const {
    return absl::StrCat(ContentBegin(name), BigEndian(sequence));
  }
  std::string ContentBegin(absl::string_view name) const {
    return absl::StrCat(prefix_, "c/", name, absl::string_view("\0", 1));
  }
  std::string Fence(uint64_t nonce) const {
    return absl::StrFormat("%sf/%016x", prefix_, nonce);
  }
  // The change log watches [ChangeMarker(), RecordsEnd()): nothing sorts
  // between the two but record keys.
  std::string ChangeMarker() const { return prefix_ + "q"; }
  std::string RecordsEnd() const { return PrefixEnd(prefix_ + "r/"); }

 private:
  const std::string prefix_;
};

std::string FormatEtag(int64_t revision, uint64_t nonce) {
  return absl::StrFormat("\"%x-%016x\"", revision, nonce);
}

absl::StatusOr<EtcdRecord> ParseRecord(const std::string& value,
                                       absl::string_view key) {
  EtcdRecord record;
  if (!record.ParseFromString(value)) {
    return absl::DataLossError(absl::StrCat(
        "unparseable record in etcd key of ", key.size(), " bytes"));
  }
  return record;
}

// A record read from its key, with what a current key leaves implicit
// (its revision: the key's mod_revision) made explicit.
absl::StatusOr<EtcdRecord> ReadKeyValue(const mvccpb::KeyValue& kv) {
  ETAGD_ASSIGN_OR_RETURN(EtcdRecord record, ParseRecord(kv.value(), kv.key()));
  if (record.revision() == 0) record.set_revision(kv.mod_revision());
  if (record.created() && record.create_revision() == 0) {
    record.set_create_revision(record.revision());
  }
  return record;
}

Record ToRecord(absl::string_view name, const EtcdRecord& stored) {
  Record record;
  record.name = std::string(name);
  record.content_length = stored.content_length();
  record.content_type = stored.content_type();
  record.metadata = LoadHttpMetadata(stored);
  record.revision = stored.revision();
  record.create_revision = stored.create_revision();
  record.version = stored.version();
  record.create_time = absl::FromUnixMicros(stored.create_time_us());
  record.update_time = absl::FromUnixMicros(stored.update_time_us());
  record.etag = stored.deleted() ? stored.deleted_etag()
                                 : FormatEtag(stored.revision(), stored.nonce());
  record.deleted = stored.deleted();
  record.request_id = stored.request_id();
  record.created = stored.created();
  for (int i = 0; i < stored.history_revisions_size() &&
                  i < stored.history_request_ids_size();
       ++i) {
    if (!stored.history_request_ids(i).empty()) {
      record.past_request_ids.emplace_back(stored.history_revisions(i),
                                           stored.history_request_ids(i));
    }
  }
  return record;
}

pb::RangeRequest* AddRange(pb::TxnRequest& txn, std::string key) {
  pb::RangeRequest* range = txn.add_success()->mutable_request_range();
  range->set_key(std::move(key));
  return range;
}

absl::StatusOr<std::string> ReadFile(const std::string& path,
                                     absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  if (!in) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot read the etcd ", what, " file ", path));
  }
  return text.str();
}

// The channels to etcd's members, credentials and auth token, and the
// retry rules: reads are retried with backoff on the next endpoint; a write
// is sent at most once unless etcd refused it before proposing it.
// Thread-safe.
class Connection {
 public:
  struct Endpoint {
    std::string target;
    std::shared_ptr<grpc::Channel> channel;
    std::unique_ptr<pb::KV::Stub> kv;
    std::unique_ptr<pb::Lease::Stub> lease;
    std::unique_ptr<pb::Auth::Stub> auth;
  };
  // One attempt of a call on `endpoint`, its context prepared.
  using Call = std::function<grpc::Status(Endpoint& endpoint,
                                          grpc::ClientContext& context)>;

  static absl::StatusOr<std::unique_ptr<Connection>> Open(
      const EtcdStoreOptions& options) {
    if (options.endpoints.empty()) {
      return absl::InvalidArgumentError("no etcd endpoints given");
    }
    bool tls = !options.ca_file.empty() || !options.cert_file.empty() ||
               !options.key_file.empty();
    std::vector<std::string> targets;
    for (const std::string& endpoint : options.endpoints) {
      absl::string_view target = endpoint;
      if (absl::ConsumePrefix(&target, "https://")) {
        tls = true;
      } else {
        absl::ConsumePrefix(&target, "http://");
      }
      while (absl::ConsumeSuffix(&target, "/")) {
      }
      if (target.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("empty etcd endpoint in '",
                         absl::StrJoin(options.endpoints, ","), "'"));
      }
      targets.emplace_back(target);
    }
    if (options.cert_file.empty() != options.key_file.empty()) {
      return absl::InvalidArgumentError(
          "an etcd client certificate needs both its certificate and its "
          "key file");
    }
    std::shared_ptr<grpc::ChannelCredentials> credentials =
        grpc::InsecureChannelCredentials();
    if (tls) {
      grpc::SslCredentialsOptions ssl;
      if (!options.ca_file.empty()) {
        ETAGD_ASSIGN_OR_RETURN(ssl.pem_root_certs,
                               ReadFile(options.ca_file, "CA"));
      }
      if (!options.cert_file.empty()) {
        ETAGD_ASSIGN_OR_RETURN(ssl.pem_cert_chain,
                               ReadFile(options.cert_file, "certificate"));
        ETAGD_ASSIGN_OR_RETURN(ssl.pem_private_key,
                               ReadFile(options.key_file, "key"));
      }
      credentials = grpc::SslCredentials(ssl);
    }
    std::unique_ptr<Connection> connection(new Connection(options));
    for (const std::string& target : targets) {
      grpc::ChannelArguments args;
      // Large listings; etcd itself sends up to 2 GiB.
      args.SetMaxReceiveMessageSize(-1);
      args.SetMaxSendMessageSize(-1);
      // Find a dead connection (a paused or vanished member) between calls.
      // etcd's --grpc-keepalive-min-time is 5 s by default.
      args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, 10000);
      args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 5000);
      // A restarted member is used again within a second.
      args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
      args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
      // Each store its own connections, like a replica of its own.
      args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
      Endpoint endpoint;
      endpoint.target = target;
      endpoint.channel = grpc::CreateCustomChannel(target, credentials, args);
      endpoint.kv = pb::KV::NewStub(endpoint.channel);
      endpoint.lease = pb::Lease::NewStub(endpoint.channel);
      endpoint.auth = pb::Auth::NewStub(endpoint.channel);
      connection->endpoints_.push_back(std::move(endpoint));
    }
    ETAGD_RETURN_IF_ERROR(connection->Connect());
    if (!options.username.empty()) {
      ETAGD_RETURN_IF_ERROR(connection->Authenticate());
    }
    return connection;
  }

  std::string Targets() const {
    std::vector<std::string> targets;
    for (const Endpoint& endpoint : endpoints_) targets.push_back(endpoint.target);
    return absl::StrJoin(targets, ",");
  }

  // Runs a read (or an idempotent write), retrying what may succeed on
  // another attempt, up to options.read_attempts.
  absl::Status Read(absl::string_view what, const Call& call) {
    EtcdError last;
    for (int attempt = 0; attempt < std::max(1, options_.read_attempts);
         ++attempt) {
      if (attempt > 0) Backoff(attempt);
      const size_t index = current_.load();
      Endpoint& endpoint = endpoints_[index % endpoints_.size()];
      grpc::ClientContext context;
      Prepare(context);
      grpc::Status status = call(endpoint, context);
      if (status.ok()) return absl::OkStatus();
      last = ClassifyEtcdError(static_cast<absl::StatusCode>(status.error_code()),
                               status.error_message(), /*is_write=*/false, what);
      if (last.token_invalid) {
        ETAGD_RETURN_IF_ERROR(Authenticate());
      } else if (!last.transient) {
        break;
      }
      MoveOn(index);
    }
    return last.status;
  }

  // Asks each endpoint in turn (the current one first), once, for a
  // linearizable read with at most `per_endpoint` to answer: OK at the first
  // that serves it; UNAVAILABLE naming what each said otherwise.
  absl::Status Probe(const pb::RangeRequest& request, absl::Duration per_endpoint) {
    std::vector<std::string> failures;
    const size_t first = current_.load();
    for (size_t i = 0; i < endpoints_.size(); ++i) {
      Endpoint& endpoint = endpoints_[(first + i) % endpoints_.size()];
      grpc::ClientContext context;
      Prepare(context);
      context.set_deadline(absl::ToChronoTime(absl::Now() + per_endpoint));
      pb::RangeResponse response;
      grpc::Status status = endpoint.kv->Range(&context, request, &response);
      if (status.ok()) return absl::OkStatus();
      EtcdError error = ClassifyEtcdError(
          static_cast<absl::StatusCode>(status.error_code()),
          status.error_message(), /*is_write=*/false, "checking health");
      if (error.token_invalid) {
        // The next probe has a new token; this one's failure stands.
        Authenticate().IgnoreError();
      }
      failures.push_back(absl::StrCat(endpoint.target, ": ", error.status.message()));
    }
    return absl::UnavailableError(absl::StrCat(
        "no etcd member serves a linearizable read (",
        absl::StrJoin(failures, "; "), ")"));
  }

  struct WriteOutcome {
    absl::Status status;
    // The write failed in a way that leaves open whether etcd applied it.
    bool maybe_applied = false;
  };

  // Sends a write at most once to a member it is connected to. It is sent
  // again only if etcd refused it before proposing it (no leader, an
  // expired token, overload); and sent elsewhere if there is no connection.
  WriteOutcome Write(absl::string_view what, const Call& call) {
    const absl::Time deadline = absl::Now() + options_.call_timeout;
    WriteOutcome outcome;
    outcome.status = absl::UnavailableError(absl::StrCat(
        "cannot reach etcd at ", Targets(), " (", what,
        "); the write was not applied"));
    size_t unreachable = 0;
    for (int attempt = 0; absl::Now() < deadline; ++attempt) {
      const size_t index = current_.load();
      Endpoint& endpoint = endpoints_[index % endpoints_.size()];
      // Each endpoint not yet tried gets its share of the time left.
      const absl::Duration share = std::max(
          absl::Milliseconds(100),
          (deadline - absl::Now()) /
              static_cast<int64_t>(endpoints_.size() - unreachable));
      if (!WaitConnected(endpoint, absl::Now() + std::min(options_.dial_timeout, share))) {
        MoveOn(index);
        if (++unreachable >= endpoints_.size()) break;
        continue;
      }
      unreachable = 0;
      grpc::ClientContext context;
      Prepare(context);
      if (options_.write_deadline_for_test > absl::ZeroDuration()) {
        context.set_deadline(
            absl::ToChronoTime(absl::Now() + options_.write_deadline_for_test));
      }
      grpc::Status status = call(endpoint, context);
      if (status.ok()) return WriteOutcome{absl::OkStatus(), false};
      EtcdError error = ClassifyEtcdError(
          static_cast<absl::StatusCode>(status.error_code()),
          status.error_message(), /*is_write=*/true, what);
      outcome = WriteOutcome{error.status, error.maybe_applied};
      if (error.maybe_applied || !error.transient) return outcome;
      if (error.token_invalid) {
        absl::Status authenticated = Authenticate();
        if (!authenticated.ok()) return WriteOutcome{authenticated, false};
      }
      MoveOn(index);
      Backoff(attempt + 1);
    }
    return outcome;
  }

  // The channel of the endpoint calls go to now, with `context` prepared
  // for a stream on it (credentials, and no deadline).
  std::shared_ptr<grpc::Channel> StreamChannel(grpc::ClientContext& context)
      ABSL_LOCKS_EXCLUDED(mu_) {
    context.AddMetadata("hasleader", "true");
    {
      absl::MutexLock lock(&mu_);
      if (!token_.empty()) context.AddMetadata("token", token_);
    }
    return endpoints_[current_.load() % endpoints_.size()].channel;
  }
  // A stream failed: the next goes to the next endpoint.
  void StreamFailed() { MoveOn(current_.load()); }

  // Sends each of `txns` once, all at the same time, to the current
  // endpoint, and waits for every answer (in `responses`). A write etcd
  // refused before proposing it comes back with `resend` set, and so does
  // every one if the endpoint is not connected now (nothing is sent then):
  // Write() sends those again.
  struct SentTxn {
    WriteOutcome outcome;
    bool resend = false;
  };
  std::vector<SentTxn> SendAll(absl::string_view what,
                               absl::Span<const pb::TxnRequest* const> txns,
                               absl::Span<pb::TxnResponse> responses) {
    std::vector<SentTxn> sent(txns.size());
    const size_t index = current_.load();
    Endpoint& endpoint = endpoints_[index % endpoints_.size()];
    if (endpoint.channel->GetState(/*try_to_connect=*/true) != GRPC_CHANNEL_READY) {
      for (SentTxn& txn : sent) txn.resend = true;
      return sent;
    }
    std::unique_ptr<grpc::ClientContext[]> contexts(
        new grpc::ClientContext[txns.size()]);
    std::vector<grpc::Status> statuses(txns.size());
    absl::BlockingCounter pending(static_cast<int>(txns.size()));
    for (size_t i = 0; i < txns.size(); ++i) {
      Prepare(contexts[i]);
      if (options_.write_deadline_for_test > absl::ZeroDuration()) {
        contexts[i].set_deadline(
            absl::ToChronoTime(absl::Now() + options_.write_deadline_for_test));
      }
      endpoint.kv->async()->Txn(&contexts[i], txns[i], &responses[i],
                                [&statuses, &pending, i](grpc::Status status) {
                                  statuses[i] = std::move(status);
                                  pending.DecrementCount();
                                });
    }
    pending.Wait();
    bool refused = false;
    bool token_invalid = false;
    for (size_t i = 0; i < txns.size(); ++i) {
      if (statuses[i].ok()) continue;
      EtcdError error = ClassifyEtcdError(
          static_cast<absl::StatusCode>(statuses[i].error_code()),
          statuses[i].error_message(), /*is_write=*/true, what);
      sent[i].outcome = WriteOutcome{error.status, error.maybe_applied};
      if (error.maybe_applied || !error.transient) continue;
      sent[i].resend = true;
      refused = true;
      token_invalid = token_invalid || error.token_invalid;
    }
    if (token_invalid) {
      absl::Status authenticated = Authenticate();
      if (!authenticated.ok()) {
        for (SentTxn& txn : sent) {
          if (txn.resend) txn = SentTxn{WriteOutcome{authenticated, false}, false};
        }
      }
    }
    if (refused) MoveOn(index);
    return sent;
  }

 private:
  explicit Connection(const EtcdStoreOptions& options) : options_(options) {}

  void Prepare(grpc::ClientContext& context) ABSL_LOCKS_EXCLUDED(mu_) {
    context.set_deadline(absl::ToChronoTime(absl::Now() + options_.call_timeout));
    // A member without a leader refuses the call at once instead of
    // proposing it or waiting for a read index (etcd's
    // v3rpc/interceptor.go): a write can be sent again, a read goes to the
    // next member.
    context.AddMetadata("hasleader", "true");
    absl::MutexLock lock(&mu_);
    if (!token_.empty()) context.AddMetadata("token", token_);
  }

  // After a failure on endpoints_[index]: the next call goes to the next
  // endpoint (unless another thread moved on already).
  void MoveOn(size_t index) {
    size_t expected = index;
    current_.compare_exchange_strong(expected, index + 1);
  }

  void Backoff(int attempt) ABSL_LOCKS_EXCLUDED(mu_) {
    const int64_t cap_ms = std::min<int64_t>(1000, int64_t{25} << std::min(attempt, 6));
    int64_t ms;
    {
      absl::MutexLock lock(&mu_);
      ms = absl::Uniform<int64_t>(bitgen_, cap_ms / 2, cap_ms + 1);
    }
    absl::SleepFor(absl::Milliseconds(ms));
  }

  static bool WaitConnected(Endpoint& endpoint, absl::Time deadline) {
    if (endpoint.channel->GetState(/*try_to_connect=*/true) == GRPC_CHANNEL_READY) {
      return true;
    }
    return endpoint.channel->WaitForConnected(absl::ToChronoTime(deadline));
  }

  // Waits until some endpoint connects, at most dial_timeout. Tries them
  // from a random one on, so that replicas given the same list spread over
  // the members, as etcd's own clients do: each member serves its share,
  // and not every replica's writes are forwarded by the same follower.
  absl::Status Connect() ABSL_LOCKS_EXCLUDED(mu_) {
    const absl::Time deadline = absl::Now() + options_.dial_timeout;
    for (Endpoint& endpoint : endpoints_) {
      endpoint.channel->GetState(/*try_to_connect=*/true);
    }
    size_t first;
    {
      absl::MutexLock lock(&mu_);
      first = absl::Uniform<size_t>(bitgen_, 0, endpoints_.size());
    }
    while (absl::Now() < deadline) {
      for (size_t k = 0; k < endpoints_.size(); ++k) {
        const size_t i = (first + k) % endpoints_.size();
        const absl::Time wait = std::min(deadline, absl::Now() + absl::Milliseconds(100));
        if (WaitConnected(endpoints_[i], wait)) {
          current_.store(i);
          return absl::OkStatus();
        }
      }
    }
    return absl::UnavailableError(absl::StrCat(
        "cannot connect to etcd at ", Targets(), " within ",
        absl::FormatDuration(options_.dial_timeout)));
  }

  absl::Status Authenticate() ABSL_LOCKS_EXCLUDED(mu_) {
    {
      // Not sent along with the request for a new one.
      absl::MutexLock lock(&mu_);
      token_.clear();
    }
    pb::AuthenticateRequest request;
    request.set_name(options_.username);
    request.set_password(options_.password);
    pb::AuthenticateResponse response;
    absl::Status status = Read("authenticating", [&](Endpoint& endpoint,
                                                     grpc::ClientContext& context) {
      return endpoint.auth->Authenticate(&context, request, &response);
    });
    if (!status.ok()) return status;
    absl::MutexLock lock(&mu_);
    token_ = response.token();
    return absl::OkStatus();
  }

  const EtcdStoreOptions options_;
  std::vector<Endpoint> endpoints_;
  // Index (modulo endpoints_.size()) of the endpoint calls go to.
  std::atomic<size_t> current_{0};
  absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
  absl::BitGen bitgen_ ABSL_GUARDED_BY(mu_);
};

// The records this store last read or wrote, by name. A record at a given
// revision never changes, so a write expecting the revision of the one
// here needs no read before its Txn, and a read of content can ask for the
// content key in the same round trip as the record (and check that the
// record is still that one). Never a source of answers by itself: etcd's
// compare and the record read with the content decide. Bounded by bytes,
// the least recently used forgotten first (a forgotten record costs its
// next write one read); thread-safe. Records are shared, never copied: a
// write plans on one while another thread may replace it here.
class RecentRecords {
 public:
  using Shared = std::shared_ptr<const EtcdRecord>;

  // Keeps at most `capacity_bytes` of records, names and bookkeeping.
  explicit RecentRecords(int64_t capacity_bytes) : records_(capacity_bytes) {}

  // Null if `name` is not known.
  Shared Get(absl::string_view name) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    const Shared* known = records_.Find(name);
    return known != nullptr ? *known : nullptr;
  }

  // The sequence of `name`'s record if it is known and live, else 0.
  int64_t LiveSequence(absl::string_view name) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    const Shared* known = records_.Find(name);
    if (known == nullptr || (*known)->deleted()) return 0;
    return (*known)->sequence();
  }

  // Keeps the newer of `record` (not null) and the one known.
  void Put(absl::string_view name, Shared record) ABSL_LOCKS_EXCLUDED(mu_) {
    const int64_t bytes = EntryBytes(name, *record);
    absl::MutexLock lock(&mu_);
    const Shared* known = records_.Find(name);
    if (known != nullptr && (*known)->revision() >= record->revision()) return;
    records_.Insert(name, std::move(record), bytes);
  }
  void Put(absl::string_view name, EtcdRecord record) ABSL_LOCKS_EXCLUDED(mu_) {
    Put(name, std::make_shared<const EtcdRecord>(std::move(record)));
  }

 private:
  // An estimate, without SpaceUsedLong's walk by reflection on every write:
  // the message object, twice its encoded size (strings and repeated
  // fields in memory), the shared pointer's control block, the list and
  // index nodes.
  static int64_t EntryBytes(absl::string_view name, const EtcdRecord& record) {
    constexpr int64_t kOverheadBytes = 128;
    return kOverheadBytes + static_cast<int64_t>(sizeof(EtcdRecord)) +
           static_cast<int64_t>(name.size()) +
           2 * static_cast<int64_t>(record.ByteSizeLong());
  }

  absl::Mutex mu_;
  ByteBoundedLru<Shared> records_ ABSL_GUARDED_BY(mu_);
};

// A write as it will be sent: the record it makes and its Txn.
struct PlannedWrite {
  EtcdRecord next;
  pb::TxnRequest txn;
};

class EtcdStore final : public Store {
 public:
  EtcdStore(const EtcdStoreOptions& options,
            std::unique_ptr<Connection> connection)
      : options_(options),
        keys_(options.prefix),
        connection_(std::move(connection)),
        recent_(options.recent_records_bytes),
        reads_(
            [this](absl::Span<const CurrentRead* const> reads,
                   absl::Span<CurrentReadResult* const> results) {
              SendReads(reads, results);
            },
            kReadsPerBatch, kReadBatchesInFlight) {}

  // One round trip (shared with the reads beside it) if the record's
  // content key is known (a live record this store last saw, still
  // current): the record and that content key together; otherwise the
  // content of the record found, as of its read, in a second.
  absl::StatusOr<std::optional<Record>> ReadCurrent(absl::string_view name,
                                                    bool with_content) override {
    // 0: unknown (sequences start at 1).
    const int64_t sequence = with_content ? recent_.LiveSequence(name) : 0;
    CurrentRead read{keys_.Current(name),
                     sequence > 0 ? keys_.Content(name, sequence) : std::string()};
    CurrentReadResult found = reads_.Read(read);
    ETAGD_RETURN_IF_ERROR(found.status);
    if (!found.record.has_value()) {
      if (sequence > 0) {
        return absl::DataLossError("a resource's record vanished from etcd");
      }
      return std::optional<Record>();
    }
    ETAGD_ASSIGN_OR_RETURN(EtcdRecord read_record, ReadKeyValue(*found.record));
    auto shared = std::make_shared<const EtcdRecord>(std::move(read_record));
    const EtcdRecord& stored = *shared;
    recent_.Put(name, shared);
    Record record = ToRecord(name, stored);
    if (with_content && !stored.deleted()) {
      if (sequence == stored.sequence() && found.content.has_value()) {
        record.content = *std::move(found.content);
      } else {
        ETAGD_ASSIGN_OR_RETURN(
            record.content,
            ReadContent(name, stored.sequence(), found.revision));
      }
    }
    return std::optional<Record>(std::move(record));
  }

  // The record this store last read or wrote, without a round trip: a
  // write planned on it is one Txn, whose compare on its revision decides.
  // A linearizable read (remembered) if there is none.
  absl::StatusOr<std::optional<Record>> ReadForWritePlan(
      absl::string_view name) override {
    if (RecentRecords::Shared known = recent_.Get(name)) {
      return std::optional<Record>(ToRecord(name, *known));
    }
    return ReadCurrent(name, /*with_content=*/false);
  }

  bool WritePlansMayBeStale() const override { return true; }

  bool ReadsWaitOnTheNetwork() const override { return true; }

  absl::StatusOr<Record> ReadRevision(absl::string_view name,
                                      int64_t revision) override {
    pb::TxnRequest txn;
    AddRange(txn, keys_.Current(name));
    AddRange(txn, keys_.History(name, revision));
    pb::TxnResponse response;
    ETAGD_RETURN_IF_ERROR(ReadTxn("reading a past version", txn, response));
    std::optional<EtcdRecord> found;
    for (int i = 0; i < 2 && !found.has_value(); ++i) {
      const pb::RangeResponse& range = response.responses(i).response_range();
      if (range.kvs_size() == 0) continue;
      ETAGD_ASSIGN_OR_RETURN(EtcdRecord record, ReadKeyValue(range.kvs(0)));
      if (record.revision() == revision) found = std::move(record);
    }
    if (!found.has_value()) {
      return absl::NotFoundError(
          absl::StrCat("no version of the resource at revision ", revision));
    }
    Record record = ToRecord(name, *found);
    if (!found->deleted()) {
      ETAGD_ASSIGN_OR_RETURN(record.content,
                             ReadContent(name, found->sequence(),
                                         response.header().revision()));
    }
    return record;
  }

  ~EtcdStore() override {
    const int64_t writes = write_times_.writes.load();
    const int64_t sends = write_times_.sends.load();
    if (writes == 0 || sends == 0) return;
    Log(LogLevel::kInfo,
        absl::StrFormat("etcd writes: %d planned, %.1f us each; %d sends "
                        "(one Txn or a batch of them), %.1f us each",
                        writes, write_times_.plan_ns.load() / 1e3 / writes,
                        sends, write_times_.send_ns.load() / 1e3 / sends));
  }

  absl::StatusOr<Record> Write(const WriteRequest& request) override {
    const absl::Time start = absl::Now();
    ETAGD_ASSIGN_OR_RETURN(PlannedWrite plan, PlanChecked(request));
    if (options_.before_send_for_test) options_.before_send_for_test();
    const absl::Time planned = absl::Now();
    pb::TxnResponse response;
    Connection::WriteOutcome sent = connection_->Write(
        "writing", [&](Connection::Endpoint& endpoint, grpc::ClientContext& context) {
          return endpoint.kv->Txn(&context, plan.txn, &response);
        });
    write_times_.Add(1, planned - start, absl::Now() - planned);
    return Finish(request, plan, sent, response);
  }

  // Distinct names written concurrently, each its own Txn (and revision,
  // as with the RocksDB engine), all sent at once: etcd commits concurrent
  // proposals together, and no thread waits for one of them.
  std::vector<absl::StatusOr<Record>> WriteMany(
      absl::Span<const WriteRequest> requests) override {
    std::vector<absl::StatusOr<Record>> results(
        requests.size(), absl::InternalError("not written"));
    absl::flat_hash_set<absl::string_view> names;
    std::vector<size_t> to_write;
    for (size_t i = 0; i < requests.size(); ++i) {
      if (!names.insert(requests[i].name).second) {
        results[i] =
            absl::InvalidArgumentError("a name may be written once per batch");
      } else {
        to_write.push_back(i);
      }
    }
    if (to_write.size() == 1) {
      results[to_write[0]] = Write(requests[to_write[0]]);
      return results;
    }
    const absl::Time start = absl::Now();
    std::vector<std::unique_ptr<absl::StatusOr<Current>>> pre_read =
        PreRead(requests, to_write);
    std::vector<size_t> planned;
    std::vector<PlannedWrite> plans;
    std::vector<const pb::TxnRequest*> txns;
    plans.reserve(to_write.size());
    for (size_t i : to_write) {
      absl::StatusOr<PlannedWrite> plan = PlanChecked(requests[i], pre_read[i].get());
      if (!plan.ok()) {
        results[i] = plan.status();
        continue;
      }
      planned.push_back(i);
      plans.push_back(*std::move(plan));
    }
    if (planned.empty()) return results;
    for (const PlannedWrite& plan : plans) {
      txns.push_back(&plan.txn);
      if (options_.before_send_for_test) options_.before_send_for_test();
    }
    std::vector<pb::TxnResponse> responses(plans.size());
    const absl::Time sending = absl::Now();
    std::vector<Connection::SentTxn> sent =
        connection_->SendAll("writing", txns, absl::MakeSpan(responses));
    write_times_.Add(static_cast<int64_t>(plans.size()), sending - start,
                     absl::Now() - sending);
    for (size_t k = 0; k < plans.size(); ++k) {
      if (sent[k].resend) {
        responses[k].Clear();
        sent[k].outcome = connection_->Write(
            "writing", [&](Connection::Endpoint& endpoint, grpc::ClientContext& context) {
              return endpoint.kv->Txn(&context, plans[k].txn, &responses[k]);
            });
      }
      results[planned[k]] =
          Finish(requests[planned[k]], plans[k], sent[k].outcome, responses[k]);
    }
    return results;
  }

  using Store::List;
  absl::StatusOr<ListPage> List(absl::string_view prefix,
                                absl::string_view start_after, int limit,
                                bool with_content, int64_t at_revision) override {
    absl::StatusOr<ListPage> page;
    if (at_revision > 0) {
      page = ListAtOneRevision(prefix, start_after, limit, with_content, at_revision);
      if (page.ok()) return page;
      if (absl::StrContains(page.status().message(), "compacted")) {
        return absl::OutOfRangeError(absl::StrCat(
            "the listing's revision ", at_revision,
            " is older than etcd keeps (compacted): start the listing over"));
      }
      if (absl::StrContains(page.status().message(), "future revision")) {
        return absl::InvalidArgumentError(absl::StrCat(
            "the listing's revision ", at_revision,
            " is beyond this store's latest: the position is from another "
            "store"));
      }
      return page;
    }
    // A first page is read at one revision; if etcd compacts it away
    // midway, the page starts over at a new one.
    for (int attempt = 0; attempt < 3; ++attempt) {
      page = ListAtOneRevision(prefix, start_after, limit, with_content, 0);
      if (page.ok() || !absl::StrContains(page.status().message(), "compacted")) {
        break;
      }
    }
    return page;
  }

  bool PinsListings() const override { return true; }

  absl::StatusOr<ChangeWindow> Changes() override { return change_log_->Window(); }
  absl::StatusOr<ChangePage> ReadChanges(int64_t from_revision,
                                         int64_t up_to_revision, int limit,
                                         bool with_content) override {
    return change_log_->Read(from_revision, up_to_revision, limit, with_content);
  }
  absl::StatusOr<std::unique_ptr<StoreView>> View() override {
    ETAGD_ASSIGN_OR_RETURN(const int64_t revision, change_log_->ViewRevision());
    return NewPinnedView(*this, revision);
  }
  void SetCommitListener(std::function<void()> listener) override {
    change_log_->SetListener(std::move(listener));
  }

  absl::Status CheckCompactionForTest() { return change_log_->CheckCompaction(); }
  absl::Status SyncChangeLog() { return change_log_->Sync().status(); }

  // etcd's revision now, by a linearizable read: a count-only Range of one
  // key whose answer carries the revision in its header.
  absl::StatusOr<int64_t> LinearizableRevision() {
    pb::RangeRequest request;
    request.set_key(keys_.Format());
    request.set_count_only(true);
    pb::RangeResponse response;
    ETAGD_RETURN_IF_ERROR(Range("learning etcd's revision", request, response));
    return response.header().revision();
  }

  // Starts the change log (etcd_change_log.h) over this store's keys.
  absl::Status StartChangeLog() {
    EtcdChangeLogHooks hooks;
    hooks.call_kv = [this](absl::string_view what,
                           const EtcdChangeLogHooks::KvCall& call) {
      return connection_->Read(
          what, [&](Connection::Endpoint& endpoint, grpc::ClientContext& context) {
            return call(*endpoint.kv, context);
          });
    };
    hooks.open_stream = [this](grpc::ClientContext& context) {
      return connection_->StreamChannel(context);
    };
    hooks.stream_failed = [this] { connection_->StreamFailed(); };
    hooks.decode = [this](const mvccpb::KeyValue& kv) -> absl::StatusOr<EtcdChange> {
      ETAGD_ASSIGN_OR_RETURN(EtcdRecord record, ReadKeyValue(kv));
      return EtcdChange{ToRecord(keys_.NameOf(kv.key()), record), record.sequence()};
    };
    hooks.content_key = [this](absl::string_view name, int64_t sequence) {
      return keys_.Content(name, sequence);
    };
    EtcdChangeLogOptions log_options;
    log_options.marker_key = keys_.ChangeMarker();
    log_options.records_end = keys_.RecordsEnd();
    log_options.call_timeout = options_.call_timeout;
    if (options_.max_buffered_changes_for_test > 0) {
      log_options.max_buffered_changes = options_.max_buffered_changes_for_test;
    }
    absl::StatusOr<std::unique_ptr<EtcdChangeLog>> log =
        EtcdChangeLog::Start(std::move(hooks), std::move(log_options));
    if (!log.ok()) {
      return absl::Status(log.status().code(),
                          absl::StrCat("starting the change feed's etcd watch: ",
                                       log.status().message()));
    }
    change_log_ = *std::move(log);
    return absl::OkStatus();
  }

  // A linearizable read needs a leader that a quorum confirms (a raft
  // ReadIndex), and with "hasleader" a member without one refuses at once.
  absl::Status CheckHealth() override {
    pb::RangeRequest request;
    request.set_key(keys_.Format());
    request.set_count_only(true);
    return connection_->Probe(request, kHealthProbeTimeout);
  }

  absl::StatusOr<ListPage> ListVersions(absl::string_view name,
                                        int64_t before_revision,
                                        int limit) override {
    ListPage page;
    if (limit <= 0) return page;
    pb::TxnRequest txn;
    AddRange(txn, keys_.Current(name));
    pb::RangeRequest* history = AddRange(txn, keys_.HistoryBegin(name));
    history->set_range_end(before_revision > 0
                               ? keys_.History(name, before_revision)
                               : keys_.HistoryEnd(name));
    history->set_sort_target(pb::RangeRequest::KEY);
    history->set_sort_order(pb::RangeRequest::DESCEND);
    history->set_limit(limit + 1);
    pb::TxnResponse response;
    ETAGD_RETURN_IF_ERROR(ReadTxn("listing versions", txn, response));
    const pb::RangeResponse& current = response.responses(0).response_range();
    if (current.kvs_size() == 0) return page;
    ETAGD_ASSIGN_OR_RETURN(EtcdRecord record, ReadKeyValue(current.kvs(0)));
    if (before_revision == 0 || record.revision() < before_revision) {
      page.records.push_back(ToRecord(name, record));
    }
    const pb::RangeResponse& past = response.responses(1).response_range();
    for (const mvccpb::KeyValue& kv : past.kvs()) {
      if (static_cast<int>(page.records.size()) == limit) {
        page.more = true;
        break;
      }
      ETAGD_ASSIGN_OR_RETURN(EtcdRecord past_record, ReadKeyValue(kv));
      page.records.push_back(ToRecord(name, past_record));
    }
    if (past.more()) page.more = true;
    return page;
  }

  bool SupportsCheckpoint() const override { return false; }

  absl::StatusOr<int64_t> Checkpoint(const std::string& /*directory*/) override {
    return absl::UnimplementedError(
        "the etcd engine has no checkpoint of its own: back up the etcd "
        "cluster with `etcdctl snapshot save`");
  }

  // Checks the prefix's format marker, writing it into an empty prefix.
  absl::Status CheckFormat() {
    pb::TxnRequest txn;
    pb::Compare* absent = txn.add_compare();
    absent->set_key(keys_.Format());
    absent->set_target(pb::Compare::CREATE);
    absent->set_result(pb::Compare::EQUAL);
    absent->set_create_revision(0);
    pb::PutRequest* put = txn.add_success()->mutable_request_put();
    put->set_key(keys_.Format());
    put->set_value(kFormat);
    txn.add_failure()->mutable_request_range()->set_key(keys_.Format());
    pb::TxnResponse response;
    // Writes the same value only where there is none: safe to repeat.
    ETAGD_RETURN_IF_ERROR(connection_->Read(
        "checking the key prefix's format",
        [&](Connection::Endpoint& endpoint, grpc::ClientContext& context) {
          return endpoint.kv->Txn(&context, txn, &response);
        }));
    if (response.succeeded()) return absl::OkStatus();
    const pb::RangeResponse& range = response.responses(0).response_range();
    const std::string format =
        range.kvs_size() > 0 ? range.kvs(0).value() : std::string();
    if (format != kFormat) {
      return absl::FailedPreconditionError(absl::StrCat(
          "etcd key prefix '", absl::CHexEscape(options_.prefix),
          "' holds store format '", absl::CHexEscape(format),
          "', this etagd reads '", kFormat, "'"));
    }
    return absl::OkStatus();
  }

 private:
  // A read of a name's current record, and of a content key beside it
  // (none if empty), in a batch (ReadBatcher).
  struct CurrentRead {
    std::string record_key;
    std::string content_key;
  };
  struct CurrentReadResult {
    absl::Status status;
    // The revision the batch was read at.
    int64_t revision = 0;
    std::optional<mvccpb::KeyValue> record;
    // Unset if not asked for or absent.
    std::optional<std::string> content;
  };

  struct Current {
    // Explicitly revisioned; null if the name has no record.
    RecentRecords::Shared record;
    // The revision the record was read at.
    int64_t revision = 0;
  };

  // A write's plan, once checked against the record it replaces and
  // etcd's limits: ABORTED, NOT_FOUND or RESOURCE_EXHAUSTED otherwise.
  // Whether planning `request` needs a read of its current record: not for
  // a create (its compare checks that there is none), nor for a write
  // expecting the record this store last saw (`known`, null if none).
  static bool NeedsRead(const WriteRequest& request,
                        const RecentRecords::Shared& known) {
    if (request.expected_revision == 0 && !request.is_delete) return false;
    return known == nullptr || known->revision() != request.expected_revision;
  }

  // `pre_read`, if not null, is the linearizable read of the record the
  // write replaces, made for it (PreRead) after NeedsRead said so.
  absl::StatusOr<PlannedWrite> PlanChecked(
      const WriteRequest& request,
      const absl::StatusOr<Current>* pre_read = nullptr) {
    if (!request.is_delete &&
        static_cast<int64_t>(request.content.size()) > options_.max_request_bytes) {
      return ContentTooLarge(static_cast<int64_t>(request.content.size()));
    }
    // The record the write replaces, if NeedsRead: a linearizable read (a
    // stale one would fail a compare-and-set that etcd would let through).
    Current current;
    RecentRecords::Shared known = recent_.Get(request.name);
    if (pre_read == nullptr && !NeedsRead(request, known)) {
      if (known != nullptr && request.expected_revision != 0) {
        current.record = std::move(known);
      }
    } else {
      absl::StatusOr<Current> read =
          pre_read != nullptr ? *pre_read : ReadCurrentRecord(request.name);
      if (!read.ok()) {
        return absl::Status(read.status().code(),
                            absl::StrCat(read.status().message(),
                                         "; the write was not applied"));
      }
      current = *std::move(read);
    }
    const int64_t current_revision =
        current.record != nullptr ? current.record->revision() : 0;
    if (current_revision != request.expected_revision) {
      return Changed(current_revision, request.expected_revision);
    }
    const bool live = current.record != nullptr && !current.record->deleted();
    if (request.is_delete && !live) {
      return absl::NotFoundError("the resource does not exist");
    }
    PlannedWrite plan = Plan(request, current.record.get());
    const int64_t request_bytes =
        static_cast<int64_t>(plan.txn.ByteSizeLong()) + kRaftWrapperBytes +
        static_cast<int64_t>(options_.username.size());
    if (request_bytes > options_.max_request_bytes) {
      return ContentTooLarge(static_cast<int64_t>(request.content.size()),
                             request_bytes);
    }
    return plan;
  }

  // The result of a write sent as `plan`, whose Txn ended as `sent` with
  // `response`.
  absl::StatusOr<Record> Finish(const WriteRequest& request,
                                PlannedWrite& plan,
                                const Connection::WriteOutcome& sent,
                                const pb::TxnResponse& response) {
    if (sent.status.ok()) {
      if (!response.succeeded()) {
        int64_t now_revision = 0;
        if (response.responses_size() > 0 &&
            response.responses(0).response_range().kvs_size() > 0) {
          const mvccpb::KeyValue& kv = response.responses(0).response_range().kvs(0);
          now_revision = kv.mod_revision();
          absl::StatusOr<EtcdRecord> now = ReadKeyValue(kv);
          if (now.ok()) recent_.Put(request.name, *std::move(now));
        }
        return Changed(now_revision, request.expected_revision);
      }
      auto made = std::make_shared<EtcdRecord>(std::move(plan.next));
      made->set_revision(response.header().revision());
      if (made->created()) made->set_create_revision(made->revision());
      recent_.Put(request.name, made);
      // Not waiting for the change log's watch to deliver it: the window's
      // acknowledged_revision covers it at once (etcd_change_log.h).
      change_log_->NoteAcknowledged(made->revision());
      return ToRecord(request.name, *made);
    }
    if (!sent.maybe_applied) return sent.status;
    absl::StatusOr<Record> resolved =
        ResolveAmbiguous(request, plan.next, sent.status);
    if (resolved.ok()) change_log_->NoteAcknowledged(resolved->revision);
    return resolved;
  }

  absl::Status ReadTxn(absl::string_view what, const pb::TxnRequest& txn,
                       pb::TxnResponse& response) {
    return connection_->Read(
        what, [&](Connection::Endpoint& endpoint, grpc::ClientContext& context) {
          return endpoint.kv->Txn(&context, txn, &response);
        });
  }

  absl::Status Range(absl::string_view what, const pb::RangeRequest& request,
                     pb::RangeResponse& response) {
    return connection_->Read(
        what, [&](Connection::Endpoint& endpoint, grpc::ClientContext& context) {
          return endpoint.kv->Range(&context, request, &response);
        });
  }

  absl::StatusOr<Current> ReadCurrentRecord(absl::string_view name) {
    return ToCurrent(name, reads_.Read(CurrentRead{keys_.Current(name), ""}));
  }

  // The current records of requests[i] for each i in `indices` whose plan
  // NeedsRead, at [i] (null elsewhere): read together, one Txn of ranges per kReadsPerBatch
  // names, instead of a round trip each while a batch is planned (a replica
  // forgets records beyond RecentRecords' capacity).
  std::vector<std::unique_ptr<absl::StatusOr<Current>>> PreRead(
      absl::Span<const WriteRequest> requests, const std::vector<size_t>& indices) {
    std::vector<size_t> needed;
    for (size_t i : indices) {
      if (NeedsRead(requests[i], recent_.Get(requests[i].name))) needed.push_back(i);
    }
    std::vector<std::unique_ptr<absl::StatusOr<Current>>> found(requests.size());
    for (size_t begin = 0; begin < needed.size(); begin += kReadsPerBatch) {
      const size_t end = std::min(needed.size(), begin + kReadsPerBatch);
      std::vector<CurrentRead> reads;
      std::vector<CurrentReadResult> results(end - begin);
      reads.reserve(end - begin);
      for (size_t k = begin; k < end; ++k) {
        reads.push_back(CurrentRead{keys_.Current(requests[needed[k]].name), ""});
      }
      std::vector<const CurrentRead*> read_ptrs;
      std::vector<CurrentReadResult*> result_ptrs;
      for (size_t k = 0; k < reads.size(); ++k) {
        read_ptrs.push_back(&reads[k]);
        result_ptrs.push_back(&results[k]);
      }
      SendReads(read_ptrs, absl::MakeSpan(result_ptrs));
      for (size_t k = begin; k < end; ++k) {
        found[needed[k]] = std::make_unique<absl::StatusOr<Current>>(ToCurrent(
            requests[needed[k]].name, std::move(results[k - begin])));
      }
    }
    return found;
  }

  // A read's result as a Current (remembered in recent_).
  absl::StatusOr<Current> ToCurrent(absl::string_view name,
                                    CurrentReadResult found) {
    ETAGD_RETURN_IF_ERROR(found.status);
    Current current;
    current.revision = found.revision;
    if (found.record.has_value()) {
      ETAGD_ASSIGN_OR_RETURN(EtcdRecord record, ReadKeyValue(*found.record));
      current.record = std::make_shared<const EtcdRecord>(std::move(record));
      recent_.Put(name, current.record);
    }
    return current;
  }

  // Sends `reads` as one Txn of ranges (ReadBatcher's Send).
  void SendReads(absl::Span<const CurrentRead* const> reads,
                 absl::Span<CurrentReadResult* const> results) {
    pb::TxnRequest txn;
    for (const CurrentRead* read : reads) {
      AddRange(txn, read->record_key);
      if (!read->content_key.empty()) AddRange(txn, read->content_key);
    }
    pb::TxnResponse response;
    absl::Status status = ReadTxn(
        reads.size() == 1 ? "reading a resource" : "reading resources", txn,
        response);
    int op = 0;
    for (size_t i = 0; i < reads.size(); ++i) {
      CurrentReadResult& result = *results[i];
      result.status = status;
      if (!status.ok()) continue;
      result.revision = response.header().revision();
      pb::RangeResponse* record =
          response.mutable_responses(op++)->mutable_response_range();
      if (record->kvs_size() > 0) result.record = std::move(*record->mutable_kvs(0));
      if (reads[i]->content_key.empty()) continue;
      pb::RangeResponse* content =
          response.mutable_responses(op++)->mutable_response_range();
      if (content->kvs_size() > 0) {
        result.content = std::move(*content->mutable_kvs(0)->mutable_value());
      }
    }
  }

  // The content of `name`'s put numbered `sequence`, as of `revision`
  // (where a record that names it was read).
  absl::StatusOr<std::string> ReadContent(absl::string_view name,
                                          int64_t sequence, int64_t revision) {
    pb::RangeRequest request;
    request.set_key(keys_.Content(name, sequence));
    request.set_revision(revision);
    pb::RangeResponse response;
    ETAGD_RETURN_IF_ERROR(Range("reading content", request, response));
    if (response.kvs_size() == 0) {
      return absl::DataLossError(absl::StrCat(
          "the content of a record (sequence ", sequence, ") is missing in etcd"));
    }
    return std::move(*response.mutable_kvs(0)->mutable_value());
  }

  // A page read at `at_revision` (0: the latest), which it reports.
  absl::StatusOr<ListPage> ListAtOneRevision(absl::string_view prefix,
                                             absl::string_view start_after,
                                             int limit, bool with_content,
                                             int64_t at_revision) {
    ListPage page;
    std::string from = start_after.empty() || start_after < prefix
                           ? keys_.Current(prefix)
                           : absl::StrCat(keys_.Current(start_after),
                                          absl::string_view("\0", 1));
    const std::string end = PrefixEnd(keys_.Current(prefix));
    std::vector<int64_t> sequences;
    int64_t revision = at_revision;
    bool done = false;
    while (!done) {
      pb::RangeRequest request;
      request.set_key(from);
      request.set_range_end(end);
      request.set_revision(revision);
      // A page of none still learns the revision (and checks at_revision).
      request.set_limit(std::max<int64_t>(
          limit <= 0 ? 1 : kListBatch,
          limit - static_cast<int64_t>(page.records.size()) + 1));
      pb::RangeResponse response;
      ETAGD_RETURN_IF_ERROR(Range("listing resources", request, response));
      if (revision == 0) revision = response.header().revision();
      page.revision = revision;
      if (limit <= 0) break;
      for (const mvccpb::KeyValue& kv : response.kvs()) {
        if (static_cast<int>(page.records.size()) == limit) {
          page.more = true;
          done = true;
          break;
        }
        ETAGD_ASSIGN_OR_RETURN(EtcdRecord record, ReadKeyValue(kv));
        if (record.deleted()) continue;
        page.records.push_back(ToRecord(keys_.NameOf(kv.key()), record));
        sequences.push_back(record.sequence());
      }
      if (done) break;
      if (!response.more() || response.kvs_size() == 0) break;
      from = absl::StrCat(response.kvs(response.kvs_size() - 1).key(),
                          absl::string_view("\0", 1));
    }
    if (with_content) {
      ETAGD_RETURN_IF_ERROR(FillContent(page, sequences, revision));
    }
    return page;
  }

  // Reads the content of page.records (numbered `sequences`) as of
  // `revision`, in Txns of at most kMaxTxnOps reads and about
  // kMaxContentBytesPerRead bytes.
  absl::Status FillContent(ListPage& page, const std::vector<int64_t>& sequences,
                           int64_t revision) {
    size_t begin = 0;
    while (begin < page.records.size()) {
      pb::TxnRequest txn;
      int64_t bytes = 0;
      size_t end = begin;
      while (end < page.records.size() && txn.success_size() < kMaxTxnOps &&
             (end == begin || bytes + page.records[end].content_length <=
                                  kMaxContentBytesPerRead)) {
        pb::RangeRequest* range =
            AddRange(txn, keys_.Content(page.records[end].name, sequences[end]));
        range->set_revision(revision);
        bytes += page.records[end].content_length;
        ++end;
      }
      pb::TxnResponse response;
      ETAGD_RETURN_IF_ERROR(ReadTxn("reading listed content", txn, response));
      for (size_t i = begin; i < end; ++i) {
        pb::RangeResponse* range =
            response.mutable_responses(static_cast<int>(i - begin))
                ->mutable_response_range();
        if (range->kvs_size() == 0) {
          return absl::DataLossError(
              "the content of a listed record is missing in etcd");
        }
        page.records[i].content = std::move(*range->mutable_kvs(0)->mutable_value());
      }
      begin = end;
    }
    return absl::OkStatus();
  }

  // A time for a write that replaces a record made at `floor_us`: the
  // clock, but never earlier than that record (replicas' clocks may
  // disagree) nor than any time this store handed out (the clock may step
  // back).
  int64_t NextTime(int64_t floor_us) ABSL_LOCKS_EXCLUDED(mu_) {
    const int64_t now = absl::ToUnixMicros(options_.clock());
    absl::MutexLock lock(&mu_);
    last_time_us_ = std::max({last_time_us_, now, floor_us});
    return last_time_us_;
  }

  // An import's time `us`, as given; no later write of this store gets an
  // earlier one.
  int64_t ImportTime(int64_t us) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    last_time_us_ = std::max(last_time_us_, us);
    return us;
  }

  uint64_t NextNonce() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return absl::Uniform<uint64_t>(bitgen_);
  }

  PlannedWrite Plan(const WriteRequest& request,
                    const EtcdRecord* current) {
    const bool live = current != nullptr && !current->deleted();
    PlannedWrite plan;
    EtcdRecord& next = plan.next;
    next.set_nonce(NextNonce());
    const int64_t floor_us = current != nullptr ? current->update_time_us() : 0;
    next.set_update_time_us(
        request.import_update_time.has_value()
            ? ImportTime(std::max(floor_us, absl::ToUnixMicros(*request.import_update_time)))
            : NextTime(floor_us));
    next.set_request_id(std::string(request.request_id));
    next.set_sequence(current != nullptr ? current->sequence() + 1 : 1);
    next.set_previous_revision(current != nullptr ? current->revision() : 0);
    if (request.is_delete) {
      next.set_deleted(true);
      next.set_deleted_etag(FormatEtag(current->revision(), current->nonce()));
    } else {
      next.set_content_type(std::string(request.content_type));
      StoreHttpMetadata(request.metadata, &next);
      next.set_content_length(static_cast<int64_t>(request.content.size()));
      next.set_created(!live);
      // A creating put's own revision is known once it commits.
      next.set_create_revision(live ? current->create_revision() : 0);
      next.set_version(live ? current->version() + 1 : 1);
      next.set_create_time_us(
          live ? current->create_time_us()
          : request.import_update_time.has_value() && request.import_create_time.has_value()
              ? absl::ToUnixMicros(*request.import_create_time)
              : next.update_time_us());
    }

    // History: the current record joins the past ones; the oldest beyond
    // history_depth fall out. The candidates, oldest first: current's past
    // records, then current (read in place, not copied).
    const size_t past =
        current != nullptr ? static_cast<size_t>(current->history_revisions_size()) : 0;
    const size_t candidates = current != nullptr ? past + 1 : 0;
    auto revision_of = [&](size_t i) {
      return i < past ? current->history_revisions(static_cast<int>(i))
                      : current->revision();
    };
    const size_t depth = static_cast<size_t>(std::max(0, options_.history_depth));
    const size_t drop = candidates > depth ? candidates - depth : 0;
    next.mutable_history_revisions()->Reserve(static_cast<int>(candidates - drop));
    next.mutable_history_request_ids()->Reserve(static_cast<int>(candidates - drop));
    for (size_t i = drop; i < candidates; ++i) {
      next.add_history_revisions(revision_of(i));
      const int at = static_cast<int>(i);
      next.add_history_request_ids(
          i == past ? current->request_id()
          : at < current->history_request_ids_size() ? current->history_request_ids(at)
                                                     : std::string());
    }

    pb::TxnRequest& txn = plan.txn;
    const std::string current_key = keys_.Current(request.name);
    if (!options_.non_atomic_writes_for_test) {
      pb::Compare* unchanged = txn.add_compare();
      unchanged->set_key(current_key);
      unchanged->set_target(pb::Compare::MOD);
      unchanged->set_result(pb::Compare::EQUAL);
      unchanged->set_mod_revision(request.expected_revision);
    }
    pb::Compare* unfenced = txn.add_compare();
    unfenced->set_key(keys_.Fence(next.nonce()));
    unfenced->set_target(pb::Compare::CREATE);
    unfenced->set_result(pb::Compare::EQUAL);
    unfenced->set_create_revision(0);

    pb::PutRequest* put = txn.add_success()->mutable_request_put();
    put->set_key(current_key);
    put->set_value(next.SerializeAsString());
    if (!request.is_delete) {
      pb::PutRequest* content = txn.add_success()->mutable_request_put();
      content->set_key(keys_.Content(request.name, next.sequence()));
      content->set_value(std::string(request.content));
    }
    if (current != nullptr && depth > 0) {
      pb::PutRequest* past = txn.add_success()->mutable_request_put();
      past->set_key(keys_.History(request.name, current->revision()));
      past->set_value(current->SerializeAsString());
    }
    if (drop > 0) {
      pb::DeleteRangeRequest* pruned =
          txn.add_success()->mutable_request_delete_range();
      pruned->set_key(keys_.HistoryBegin(request.name));
      pruned->set_range_end(drop < candidates
                                ? keys_.History(request.name, revision_of(drop))
                                : keys_.HistoryEnd(request.name));
    }
    // Content is kept for the records history keeps (the sequences just
    // before the new one) and the new one.
    if (current != nullptr) {
      const int64_t oldest_before =
          current->sequence() - current->history_revisions_size();
      const int64_t oldest_now = next.sequence() - next.history_revisions_size();
      if (oldest_now > oldest_before) {
        pb::DeleteRangeRequest* pruned =
            txn.add_success()->mutable_request_delete_range();
        pruned->set_key(keys_.ContentBegin(request.name));
        pruned->set_range_end(keys_.Content(request.name, oldest_now));
      }
    }
    txn.add_failure()->mutable_request_range()->set_key(current_key);
    return plan;
  }

  // A write whose Txn failed with `error`, which leaves open whether etcd
  // applied it. Fences the write (so that it cannot apply later), and reads
  // what followed the expected record in the same Txn.
  absl::StatusOr<Record> ResolveAmbiguous(const WriteRequest& request,
                                          const EtcdRecord& planned,
                                          const absl::Status& error) {
    const std::string unknown = absl::StrCat(
        "the outcome of the write is unknown (", error.message(),
        "): read the resource, or retry with the same request id");
    pb::LeaseGrantRequest grant;
    grant.set_ttl(kFenceTtlSeconds);
    pb::LeaseGrantResponse lease;
    // A lease granted twice only expires unused.
    absl::Status granted = connection_->Read(
        "fencing an ambiguous write",
        [&](Connection::Endpoint& endpoint, grpc::ClientContext& context) {
          return endpoint.lease->LeaseGrant(&context, grant, &lease);
        });
    if (!granted.ok()) return absl::UnavailableError(unknown);

    pb::TxnRequest txn;
    pb::PutRequest* fence = txn.add_success()->mutable_request_put();
    fence->set_key(keys_.Fence(planned.nonce()));
    fence->set_lease(lease.id());
    AddRange(txn, keys_.Current(request.name));
    pb::RangeRequest* after = AddRange(
        txn, keys_.History(request.name, request.expected_revision + 1));
    after->set_range_end(keys_.HistoryEnd(request.name));
    after->set_limit(1);
    pb::TxnResponse response;
    // Putting the fence again changes nothing: safe to repeat.
    absl::Status fenced = ReadTxn("fencing an ambiguous write", txn, response);
    if (!fenced.ok()) return absl::UnavailableError(unknown);

    // The oldest record after the expected one.
    std::optional<EtcdRecord> successor;
    for (int i : {2, 1}) {
      const pb::RangeResponse& range = response.responses(i).response_range();
      if (range.kvs_size() == 0) continue;
      ETAGD_ASSIGN_OR_RETURN(EtcdRecord record, ReadKeyValue(range.kvs(0)));
      if (record.revision() > request.expected_revision) {
        successor = std::move(record);
        break;
      }
    }
    if (!successor.has_value()) {
      return absl::UnavailableError(absl::StrCat(
          "etcd did not apply the write (", error.message(),
          "), and it never will: retry it"));
    }
    if (successor->previous_revision() != request.expected_revision) {
      // What followed the expected record fell out of history already.
      return absl::UnavailableError(unknown);
    }
    if (successor->nonce() != planned.nonce()) {
      return Changed(successor->revision(), request.expected_revision);
    }
    return ToRecord(request.name, *successor);
  }

  static absl::Status Changed(int64_t current_revision, int64_t expected) {
    return absl::AbortedError(absl::StrCat("the resource changed (revision ",
                                           current_revision, ", expected ",
                                           expected, ")"));
  }

  absl::Status ContentTooLarge(int64_t content_bytes,
                               int64_t request_bytes = 0) const {
    return absl::ResourceExhaustedError(absl::StrCat(
        "content of ", content_bytes, " bytes ",
        request_bytes > 0
            ? absl::StrCat("makes an etcd request of ", request_bytes, " bytes, ")
            : std::string("is "),
        "over etcd's request limit (--max-request-bytes) of ",
        options_.max_request_bytes, " bytes; the most content that always fits is ",
        EtcdMaxContentBytes(options_), " bytes"));
  }

  // Where writes' time goes, logged when the store closes: planning (the
  // read a write may need, its checks, its Txn built) and sending (one
  // Txn's round trip, or a batch's sent together).
  struct WriteTimes {
    void Add(int64_t planned, absl::Duration plan, absl::Duration send) {
      writes.fetch_add(planned, std::memory_order_relaxed);
      sends.fetch_add(1, std::memory_order_relaxed);
      plan_ns.fetch_add(absl::ToInt64Nanoseconds(plan), std::memory_order_relaxed);
      send_ns.fetch_add(absl::ToInt64Nanoseconds(send), std::memory_order_relaxed);
    }
    std::atomic<int64_t> writes{0};
    std::atomic<int64_t> sends{0};
    std::atomic<int64_t> plan_ns{0};
    std::atomic<int64_t> send_ns{0};
  };

  const EtcdStoreOptions options_;
  const Keys keys_;
  const std::unique_ptr<Connection> connection_;
  WriteTimes write_times_;
  RecentRecords recent_;
  ReadBatcher<CurrentRead, CurrentReadResult> reads_;
  // Declared after connection_, so destroyed (its watch stopped) first.
  std::unique_ptr<EtcdChangeLog> change_log_;
  absl::Mutex mu_;
  int64_t last_time_us_ ABSL_GUARDED_BY(mu_) = 0;
  absl::BitGen bitgen_ ABSL_GUARDED_BY(mu_);
};

}  // namespace

absl::Status CheckEtcdCompactionForTest(Store& store) {
  auto* etcd = dynamic_cast<EtcdStore*>(&store);
  if (etcd == nullptr) return absl::InvalidArgumentError("not an etcd store");
  return etcd->CheckCompactionForTest();
}

absl::StatusOr<int64_t> EtcdLinearizableRevision(Store& store) {
  auto* etcd = dynamic_cast<EtcdStore*>(&store);
  if (etcd == nullptr) return absl::InvalidArgumentError("not an etcd store");
  return etcd->LinearizableRevision();
}

absl::Status EtcdSyncChangeLog(Store& store) {
  auto* etcd = dynamic_cast<EtcdStore*>(&store);
  if (etcd == nullptr) return absl::InvalidArgumentError("not an etcd store");
  return etcd->SyncChangeLog();
}

int64_t EtcdMaxContentBytes(const EtcdStoreOptions& options) {
  const int64_t key = static_cast<int64_t>(options.prefix.size()) + kMaxNameBytes + 16;
  // A record: fixed fields, its content type and request id, and a
  // revision and request id per past record.
  const int64_t record =
      128 + kMaxContentTypeBytes + kMaxRequestIdBytes +
      std::max(0, options.history_depth) * (kMaxRequestIdBytes + 16);
  // Keys: two compares, three puts, two delete ranges (key and end), the
  // failure's range; the new record, the replaced one; etcd's wrapper.
  const int64_t overhead = 10 * (key + 8) + 2 * (record + 8) + kRaftWrapperBytes +
                           static_cast<int64_t>(options.username.size()) + 64;
  return std::max<int64_t>(0, options.max_request_bytes - overhead);
}

absl::StatusOr<std::unique_ptr<Store>> OpenEtcdStore(
    const EtcdStoreOptions& options) {
  if (options.prefix.empty()) {
    return absl::InvalidArgumentError("the etcd key prefix must not be empty");
  }
  ETAGD_ASSIGN_OR_RETURN(std::unique_ptr<Connection> connection,
                         Connection::Open(options));
  auto store = std::make_unique<EtcdStore>(options, std::move(connection));
  ETAGD_RETURN_IF_ERROR(store->CheckFormat());
  ETAGD_RETURN_IF_ERROR(store->StartChangeLog());
  return std::unique_ptr<Store>(std::move(store));
}

}  // namespace etagd
