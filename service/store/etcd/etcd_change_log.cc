#include "service/store/etcd/etcd_change_log.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "grpcpp/support/sync_stream.h"
#include "service/log.h"
#include "service/status_macros.h"

namespace etagd {
namespace {

namespace pb = ::etcdserverpb;

// etcd's --max-txn-ops default, and the content one Txn of a page fetches
// at most (as the engine's listings do).
constexpr int kMaxTxnOps = 128;
constexpr int64_t kMaxContentBytesPerRead = int64_t{16} << 20;
// Backoff between attempts to open the watch again.
constexpr absl::Duration kMinBackoff = absl::Milliseconds(50);
constexpr absl::Duration kMaxBackoff = absl::Seconds(1);

bool IsCompacted(const absl::Status& status) {
  return absl::StrContains(status.message(), "compacted");
}

// What a buffered change costs, about.
int64_t BytesOf(const EtcdChange& change) {
  const Record& r = change.record;
  int64_t bytes = static_cast<int64_t>(sizeof(EtcdChange)) +
                  static_cast<int64_t>(r.name.size() + r.content_type.size() +
                                       r.etag.size() + r.request_id.size());
  for (const auto& [revision, id] : r.past_request_ids) {
    bytes += static_cast<int64_t>(sizeof(revision) + id.size());
  }
  const HttpMetadata& m = r.metadata;
  bytes += static_cast<int64_t>(m.cache_control.size() + m.content_disposition.size() +
                                m.content_encoding.size() + m.content_language.size());
  for (const auto& [key, value] : m.user) {
    bytes += static_cast<int64_t>(key.size() + value.size() + 64);
  }
  return bytes + 128;  // Allocations.
}

absl::Status OutOfWindow(int64_t from, const ChangeWindow& window) {
  return absl::OutOfRangeError(absl::StrCat(
      "revision ", from, " is older than the change log keeps (from ",
      window.oldest_revision, "; etcd compacts its history)"));
}

class PinnedView final : public StoreView {
 public:
  PinnedView(Store& store, int64_t revision) : store_(store), revision_(revision) {}
  int64_t revision() const override { return revision_; }
  absl::StatusOr<ListPage> List(absl::string_view prefix,
                                absl::string_view start_after, int limit,
                                bool with_content) override {
    return store_.List(prefix, start_after, limit, with_content, revision_);
  }

 private:
  Store& store_;
  const int64_t revision_;
};

}  // namespace

std::unique_ptr<StoreView> NewPinnedView(Store& store, int64_t revision) {
  return std::make_unique<PinnedView>(store, revision);
}

EtcdChangeLog::EtcdChangeLog(EtcdChangeLogHooks hooks,
                             EtcdChangeLogOptions options)
    : hooks_(std::move(hooks)), options_(std::move(options)) {}

absl::StatusOr<std::unique_ptr<EtcdChangeLog>> EtcdChangeLog::Start(
    EtcdChangeLogHooks hooks, EtcdChangeLogOptions options) {
  std::unique_ptr<EtcdChangeLog> log(
      new EtcdChangeLog(std::move(hooks), std::move(options)));
  ETAGD_ASSIGN_OR_RETURN(const int64_t marked, log->PutMarker());
  ETAGD_ASSIGN_OR_RETURN(const int64_t compacted, log->FindCompaction(0, marked));
  {
    absl::MutexLock lock(&log->mu_);
    // The marker's put is all there is at its revision.
    log->committed_ = marked;
    log->buffer_begin_ = marked + 1;
    log->compact_revision_ = compacted;
  }
  EtcdChangeLog* raw = log.get();
  log->thread_ = std::thread([raw] { raw->Run(); });
  if (log->options_.compaction_check_interval > absl::ZeroDuration()) {
    log->checker_ = std::thread([raw] { raw->CheckCompactions(); });
  }
  return log;
}

EtcdChangeLog::~EtcdChangeLog() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    if (stream_context_ != nullptr) stream_context_->TryCancel();
  }
  if (thread_.joinable()) thread_.join();
  if (checker_.joinable()) checker_.join();
}

ChangeWindow EtcdChangeLog::WindowLocked() const {
  ChangeWindow window;
  window.committed_revision = committed_;
  window.acknowledged_revision = acknowledged_.load(std::memory_order_relaxed);
  window.oldest_revision = std::min(buffer_begin_, compact_revision_ + 1);
  return window;
}

ChangeWindow EtcdChangeLog::Window() {
  absl::MutexLock lock(&mu_);
  return WindowLocked();
}

absl::StatusOr<int64_t> EtcdChangeLog::PutMarker() {
  pb::PutRequest request;
  request.set_key(options_.marker_key);
  pb::PutResponse response;
  // Putting the marker twice only makes one more revision.
  ETAGD_RETURN_IF_ERROR(hooks_.call_kv(
      "putting the change feed's progress marker",
      [&](pb::KV::Stub& kv, grpc::ClientContext& context) {
        return kv.Put(&context, request, &response);
      }));
  return response.header().revision();
}

absl::StatusOr<bool> EtcdChangeLog::Readable(int64_t revision) {
  // A Range at a revision below etcd's compaction revision fails; at it or
  // above, it works.
  pb::RangeRequest request;
  request.set_key(options_.marker_key);
  request.set_revision(std::max<int64_t>(1, revision));
  request.set_count_only(true);
  pb::RangeResponse response;
  absl::Status status = hooks_.call_kv(
      "finding etcd's compaction revision",
      [&](pb::KV::Stub& kv, grpc::ClientContext& context) {
        return kv.Range(&context, request, &response);
      });
  if (status.ok()) return true;
  if (IsCompacted(status)) return false;
  return status;
}

absl::StatusOr<int64_t> EtcdChangeLog::FindCompaction(int64_t bad, int64_t good) {
  if (bad == 0) {
    ETAGD_ASSIGN_OR_RETURN(const bool from_first, Readable(1));
    if (from_first) return 0;
    bad = 1;
  }
  while (good - bad > 1) {
    const int64_t mid = bad + (good - bad) / 2;
    ETAGD_ASSIGN_OR_RETURN(const bool ok, Readable(mid));
    (ok ? good : bad) = mid;
  }
  return good;
}

absl::Status EtcdChangeLog::CheckCompaction() {
  int64_t known;
  int64_t buffer_begin;
  {
    absl::MutexLock lock(&mu_);
    known = compact_revision_;
    buffer_begin = buffer_begin_;
  }
  // The window starts at the buffer whatever etcd compacted at or above it.
  if (known + 1 >= buffer_begin) return absl::OkStatus();
  ETAGD_ASSIGN_OR_RETURN(const bool unchanged, Readable(known));
  if (unchanged) return absl::OkStatus();
  ETAGD_ASSIGN_OR_RETURN(const bool below_buffer, Readable(buffer_begin - 1));
  int64_t compacted = buffer_begin;  // At least.
  if (below_buffer) {
    ETAGD_ASSIGN_OR_RETURN(compacted,
                           FindCompaction(std::max<int64_t>(known, 1), buffer_begin - 1));
  }
  NoteCompaction(compacted);
  return absl::OkStatus();
}

void EtcdChangeLog::CheckCompactions() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
      mu_.AwaitWithTimeout(absl::Condition(&stop), options_.compaction_check_interval);
      if (stopping_) return;
    }
    // A failure is the watch's to report; the next check tries again.
    CheckCompaction().IgnoreError();
  }
}

absl::StatusOr<int64_t> EtcdChangeLog::Sync() {
  ETAGD_ASSIGN_OR_RETURN(const int64_t marked, PutMarker());
  absl::MutexLock lock(&mu_);
  auto reached = [this, marked]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return committed_ >= marked || stopping_;
  };
  mu_.AwaitWithTimeout(absl::Condition(&reached), options_.call_timeout);
  if (committed_ < marked) {
    return absl::UnavailableError(absl::StrCat(
        "the change feed's etcd watch has not delivered revision ", marked,
        " within ", absl::FormatDuration(options_.call_timeout),
        " (it is at ", committed_, ")"));
  }
  return marked;
}

absl::StatusOr<int64_t> EtcdChangeLog::ViewRevision() {
  int64_t revision;
  {
    // Its own writes answered are in the view, as with every engine, even
    // before the watch has delivered them.
    absl::MutexLock lock(&mu_);
    revision = std::max(committed_, acknowledged_.load(std::memory_order_relaxed));
  }
  pb::RangeRequest request;
  request.set_key(options_.marker_key);
  request.set_revision(revision);
  request.set_count_only(true);
  pb::RangeResponse response;
  absl::Status status = hooks_.call_kv(
      "checking a view's revision",
      [&](pb::KV::Stub& kv, grpc::ClientContext& context) {
        return kv.Range(&context, request, &response);
      });
  if (status.ok()) return revision;
  if (!IsCompacted(status)) return status;
  // No change since etcd's compaction revision has arrived: the marker's
  // put brings committed_revision past it.
  return Sync();
}

void EtcdChangeLog::NoteAcknowledged(int64_t revision) {
  int64_t known = acknowledged_.load(std::memory_order_relaxed);
  while (known < revision &&
         !acknowledged_.compare_exchange_weak(known, revision,
                                              std::memory_order_relaxed)) {
  }
}

void EtcdChangeLog::SetListener(std::function<void()> listener) {
  absl::MutexLock lock(&listener_mu_);
  listener_ = std::move(listener);
}

void EtcdChangeLog::Announce() {
  absl::MutexLock lock(&listener_mu_);
  if (listener_) listener_();
}

std::optional<EtcdChange> EtcdChangeLog::ChangeOf(
    const mvccpb::Event& event) const {
  // Deletions of record keys are not etagd's (it deletes by putting a
  // deletion record); the marker carries no change.
  if (event.type() != mvccpb::Event::PUT ||
      event.kv().key() == options_.marker_key) {
    return std::nullopt;
  }
  absl::StatusOr<EtcdChange> change = hooks_.decode(event.kv());
  if (!change.ok()) {
    Log(LogLevel::kWarning,
        absl::StrCat("change feed: skipping the change at revision ",
                     event.kv().mod_revision(), ": ",
                     change.status().message()));
    return std::nullopt;
  }
  return *std::move(change);
}

void EtcdChangeLog::Deliver(const pb::WatchResponse& response) {
  int64_t top = 0;
  std::vector<EtcdChange> changes;
  for (const mvccpb::Event& event : response.events()) {
    top = std::max(top, event.kv().mod_revision());
    if (std::optional<EtcdChange> change = ChangeOf(event)) {
      changes.push_back(*std::move(change));
    }
  }
  {
    absl::MutexLock lock(&mu_);
    if (top <= committed_) return;
    for (EtcdChange& change : changes) {
      if (change.record.revision <= committed_) continue;
      buffered_bytes_ += BytesOf(change);
      buffer_.push_back(std::move(change));
    }
    committed_ = top;
    TrimLocked();
  }
  Announce();
}

void EtcdChangeLog::TrimLocked() {
  while (!buffer_.empty() &&
         (static_cast<int64_t>(buffer_.size()) > options_.max_buffered_changes ||
          buffered_bytes_ > options_.max_buffered_bytes)) {
    // Whole revisions go, so that the buffer never holds part of one.
    const int64_t revision = buffer_.front().record.revision;
    while (!buffer_.empty() && buffer_.front().record.revision == revision) {
      buffered_bytes_ -= BytesOf(buffer_.front());
      buffer_.pop_front();
    }
    buffer_begin_ = revision + 1;
  }
}

void EtcdChangeLog::NoteCompaction(int64_t compact_revision) {
  absl::MutexLock lock(&mu_);
  compact_revision_ = std::max(compact_revision_, compact_revision);
}

absl::StatusOr<bool> EtcdChangeLog::RecordsChanged(int64_t from_revision,
                                                   int64_t at_revision) {
  // etcd filters by mod_revision only after reading the whole range (and
  // not at all with count_only): a full read of the prefix's records, on
  // the server, for one key at most in the answer.
  pb::RangeRequest request;
  request.set_key(options_.marker_key + std::string(1, '\0'));
  request.set_range_end(options_.records_end);
  request.set_revision(at_revision);
  request.set_min_mod_revision(from_revision);
  request.set_keys_only(true);
  request.set_limit(1);
  pb::RangeResponse response;
  ETAGD_RETURN_IF_ERROR(hooks_.call_kv(
      "checking what a compaction removed",
      [&](pb::KV::Stub& kv, grpc::ClientContext& context) {
        return kv.Range(&context, request, &response);
      }));
  return response.kvs_size() > 0;
}

void EtcdChangeLog::Compacted(int64_t compact_revision) {
  int64_t lost_from;
  {
    absl::MutexLock lock(&mu_);
    compact_revision_ = std::max(compact_revision_, compact_revision);
    lost_from = committed_ + 1;
    if (compact_revision < lost_from) return;
  }
  // A record put in lost_from..compact_revision still shows in its key at
  // compact_revision with a mod_revision in that range (etagd never deletes
  // record keys). If there is none, nothing was lost: the prefix was quiet
  // while etcd compacted other keys' revisions.
  absl::StatusOr<bool> changed = RecordsChanged(lost_from, compact_revision);
  {
    absl::MutexLock lock(&mu_);
    if (changed.ok() && !*changed) {
      committed_ = std::max(committed_, compact_revision);
    } else {
      // Revisions lost_from..compact_revision can no longer be had: the
      // log goes on after them, and readers that needed them get
      // OUT_OF_RANGE.
      buffer_.clear();
      buffered_bytes_ = 0;
      committed_ = compact_revision;
      buffer_begin_ = compact_revision + 1;
    }
  }
  if (!changed.ok() || *changed) {
    const std::string why =
        changed.ok() ? std::string()
                     : absl::StrCat(" (", changed.status().message(), ")");
    Log(LogLevel::kWarning,
        absl::StrCat("change feed: etcd compacted revisions ", lost_from, "..",
                     compact_revision, " while the watch was down", why,
                     "; watchers behind them get OUT_OF_RANGE"));
  }
  Announce();
}

void EtcdChangeLog::Run() {
  absl::Duration backoff = kMinBackoff;
  bool warned = false;
  while (true) {
    grpc::ClientContext context;
    std::shared_ptr<grpc::Channel> channel = hooks_.open_stream(context);
    int64_t from;
    {
      absl::MutexLock lock(&mu_);
      if (stopping_) return;
      stream_context_ = &context;
      from = committed_ + 1;
    }
    std::unique_ptr<pb::Watch::Stub> stub = pb::Watch::NewStub(channel);
    std::unique_ptr<grpc::ClientReaderWriter<pb::WatchRequest, pb::WatchResponse>>
        stream = stub->Watch(&context);
    pb::WatchRequest request;
    pb::WatchCreateRequest* create = request.mutable_create_request();
    create->set_key(options_.marker_key);
    create->set_range_end(options_.records_end);
    create->set_start_revision(from);
    std::string why = "the stream ended";
    bool cancel = true;
    if (stream->Write(request)) {
      pb::WatchResponse response;
      while (stream->Read(&response)) {
        if (response.canceled()) {
          if (response.compact_revision() > 0) {
            Compacted(response.compact_revision());
          }
          why = absl::StrCat("etcd cancelled the watch: ",
                             response.cancel_reason().empty()
                                 ? "compacted"
                                 : response.cancel_reason());
          break;
        }
        if (response.created()) {
          absl::MutexLock lock(&mu_);
          stream_down_ = false;
          backoff = kMinBackoff;
          if (warned) {
            Log(LogLevel::kInfo,
                absl::StrCat("change feed: etcd watch open again from revision ",
                             from));
            warned = false;
          }
        }
        if (response.events_size() > 0) Deliver(response);
      }
      // Ended by etcd or the connection, not by this side: Finish says why.
      cancel = response.canceled();
    }
    if (cancel) context.TryCancel();
    const grpc::Status status = stream->Finish();
    {
      absl::MutexLock lock(&mu_);
      stream_context_ = nullptr;
      if (stopping_) return;
      stream_down_ = true;
    }
    if (!status.ok()) {
      why = absl::StrCat(why, " (", status.error_message(), ")");
    }
    if (!warned) {
      Log(LogLevel::kWarning,
          absl::StrCat("change feed: the etcd watch (from revision ", from,
                       ") failed, opening it again: ", why));
      warned = true;
    }
    hooks_.stream_failed();
    absl::MutexLock lock(&mu_);
    auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return stopping_; };
    mu_.AwaitWithTimeout(absl::Condition(&stop), backoff);
    if (stopping_) return;
    backoff = std::min(kMaxBackoff, backoff * 2);
  }
}

absl::StatusOr<ChangePage> EtcdChangeLog::Read(int64_t from_revision,
                                               int64_t up_to_revision,
                                               int limit, bool with_content) {
  limit = std::max(limit, 1);
  ChangePage page;
  std::vector<EtcdChange> changes;
  bool from_history = false;
  {
    absl::MutexLock lock(&mu_);
    const ChangeWindow window = WindowLocked();
    if (from_revision < window.oldest_revision) {
      return OutOfWindow(from_revision, window);
    }
    up_to_revision = std::min(up_to_revision, committed_);
    if (from_revision > up_to_revision) {
      page.next_revision = from_revision;
      return page;
    }
    if (from_revision >= buffer_begin_) {
      auto it = std::lower_bound(
          buffer_.begin(), buffer_.end(), from_revision,
          [](const EtcdChange& change, int64_t revision) {
            return change.record.revision < revision;
          });
      int revisions = 0;
      page.next_revision = up_to_revision + 1;
      for (; it != buffer_.end() && it->record.revision <= up_to_revision; ++it) {
        if (changes.empty() ||
            changes.back().record.revision != it->record.revision) {
          if (revisions == limit) {
            page.next_revision = it->record.revision;
            break;
          }
          ++revisions;
        }
        changes.push_back(*it);
      }
    } else {
      from_history = true;
    }
  }
  if (from_history) {
    ETAGD_RETURN_IF_ERROR(ReadHistory(from_revision, up_to_revision, limit,
                                      changes, page.next_revision));
  }
  if (with_content) {
    absl::Status filled = FillContent(changes);
    if (!filled.ok()) return filled;
  }
  page.changes.reserve(changes.size());
  for (EtcdChange& change : changes) page.changes.push_back(std::move(change.record));
  return page;
}

absl::Status EtcdChangeLog::ReadHistory(int64_t from_revision,
                                        int64_t up_to_revision, int limit,
                                        std::vector<EtcdChange>& changes,
                                        int64_t& next) {
  grpc::ClientContext context;
  std::shared_ptr<grpc::Channel> channel = hooks_.open_stream(context);
  context.set_deadline(absl::ToChronoTime(absl::Now() + options_.call_timeout));
  std::unique_ptr<pb::Watch::Stub> stub = pb::Watch::NewStub(channel);
  std::unique_ptr<grpc::ClientReaderWriter<pb::WatchRequest, pb::WatchResponse>>
      stream = stub->Watch(&context);
  pb::WatchRequest request;
  pb::WatchCreateRequest* create = request.mutable_create_request();
  create->set_key(options_.marker_key);
  create->set_range_end(options_.records_end);
  create->set_start_revision(from_revision);
  // The page ends at the first event at or past up_to_revision (there is
  // one: committed_revision's), or at the limit.
  bool done = false;
  int64_t compacted = 0;
  std::string cancelled;
  int revisions = 0;
  next = up_to_revision + 1;
  if (stream->Write(request)) {
    pb::WatchResponse response;
    while (!done && stream->Read(&response)) {
      if (response.canceled()) {
        compacted = response.compact_revision();
        cancelled = response.cancel_reason();
        break;
      }
      for (const mvccpb::Event& event : response.events()) {
        const int64_t revision = event.kv().mod_revision();
        if (revision > up_to_revision) {
          done = true;
          break;
        }
        // A revision is whole within one response.
        if (revision == up_to_revision) done = true;
        std::optional<EtcdChange> change = ChangeOf(event);
        if (!change.has_value()) continue;
        if (changes.empty() || changes.back().record.revision != revision) {
          if (revisions == limit) {
            next = revision;
            done = true;
            break;
          }
          ++revisions;
        }
        changes.push_back(*std::move(change));
      }
    }
  }
  context.TryCancel();
  const grpc::Status status = stream->Finish();
  if (compacted > 0) {
    NoteCompaction(compacted);
    return OutOfWindow(from_revision, Window());
  }
  if (!done) {
    hooks_.stream_failed();
    return absl::UnavailableError(absl::StrCat(
        "cannot read etcd's history from revision ", from_revision, " (",
        cancelled.empty() ? status.error_message() : cancelled, ")"));
  }
  return absl::OkStatus();
}

absl::Status EtcdChangeLog::FillContent(std::vector<EtcdChange>& changes) {
  size_t begin = 0;
  while (begin < changes.size()) {
    std::vector<size_t> puts;
    int64_t bytes = 0;
    size_t end = begin;
    for (; end < changes.size() && static_cast<int>(puts.size()) < kMaxTxnOps;
         ++end) {
      const Record& record = changes[end].record;
      if (record.deleted) continue;
      if (!puts.empty() && bytes + record.content_length > kMaxContentBytesPerRead) {
        break;
      }
      puts.push_back(end);
      bytes += record.content_length;
    }
    // Each put's content as of its revision; a content key holds the same
    // bytes as long as it exists, so the latest one does too if etcd
    // compacted that revision.
    for (const bool latest : {false, true}) {
      pb::TxnRequest txn;
      for (size_t i : puts) {
        pb::RangeRequest* range = txn.add_success()->mutable_request_range();
        range->set_key(hooks_.content_key(changes[i].record.name,
                                          changes[i].sequence));
        if (!latest) range->set_revision(changes[i].record.revision);
      }
      pb::TxnResponse response;
      if (!puts.empty()) {
        absl::Status read = hooks_.call_kv(
            "reading changed content",
            [&](pb::KV::Stub& kv, grpc::ClientContext& context) {
              return kv.Txn(&context, txn, &response);
            });
        if (!read.ok() && !latest && IsCompacted(read)) continue;
        if (!read.ok()) return read;
        if (response.responses_size() != static_cast<int>(puts.size())) {
          return absl::InternalError("etcd answered a content read with "
                                     "fewer ranges than asked for");
        }
      }
      for (size_t k = 0; k < puts.size(); ++k) {
        pb::RangeResponse* range =
            response.mutable_responses(static_cast<int>(k))->mutable_response_range();
        Record& record = changes[puts[k]].record;
        if (range->kvs_size() == 0) {
          return absl::OutOfRangeError(absl::StrCat(
              "the content of revision ", record.revision,
              " is no longer kept (etcd compacted it and it left history)"));
        }
        record.content = std::move(*range->mutable_kvs(0)->mutable_value());
      }
      break;
    }
    begin = end;
  }
  return absl::OkStatus();
}

}  // namespace etagd
