// The etcd engine's change log (Store::Changes, ReadChanges, View,
// SetCommitListener), built from etcd's own Watch API.
//
// One background watch covers the prefix's record keys and its progress
// marker (one key that sorts just before them, so that one etcd key range
// holds both and nothing else). Every replica over the prefix sees every
// write this way, its own and the others'. etcd delivers a watcher's events
// in revision order, each revision whole in one response, so once an event
// at revision R has arrived every event at or below R has: committed_revision
// only ever moves to the revision of an event received (a record, or a put of
// the marker). Progress notifications are never used (etcd 3.4.23 sends the
// on-request kind out of order with events, see
// /work/shared/research/change-feeds.md). To learn that the watch has
// everything up to "now", the log puts the marker and waits for that put's
// event (Sync): at start, and when a view's revision was compacted away.
// Revisions of other keys (history, content, fences, other prefixes) are
// gaps.
//
// This replica's own writes arrive like any other, after the write has been
// answered: a write does not wait for its event. The window's
// acknowledged_revision is the latest write the replica answered
// (NoteAcknowledged), so that a change feed's watch "from now" starts after
// it even before the watch has delivered it; committed_revision stays what
// the watch has delivered.
//
// The window: recent changes are kept in memory (bounded, see
// EtcdChangeLogOptions) and read from there; older ones are read from etcd's
// history with a watch from the revision asked for, which ends at the first
// event at or past the page's end (the marker put at start, or a later event,
// so there always is one). oldest_revision is the lower of the buffer's start
// and etcd's compaction revision + 1 (what etcd can still replay). A broken
// watch is opened again from committed_revision + 1, on the next endpoint; if
// etcd compacted past that meanwhile, the revisions in between are lost and
// the window starts after the compaction (unless no record key changed in
// between, which one Range tells).
#ifndef ETAGD_SERVICE_STORE_ETCD_ETCD_CHANGE_LOG_H_
#define ETAGD_SERVICE_STORE_ETCD_ETCD_CHANGE_LOG_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "service/store/record.h"
#include "service/store/store.h"

namespace etagd {

// A record key's put as the change log keeps it: the record (no content)
// and the sequence that names its content key.
struct EtcdChange {
  Record record;
  int64_t sequence = 0;
};

// What the change log borrows from the engine (etcd_store.cc): its calls
// and its key layout. Each must be safe for concurrent use.
struct EtcdChangeLogHooks {
  using KvCall = std::function<grpc::Status(etcdserverpb::KV::Stub& kv,
                                            grpc::ClientContext& context)>;
  // Runs a unary call (a read, or a write that is safe to repeat) as the
  // engine runs its reads: deadline, credentials, retries on the next
  // endpoint; the error as the engine states it.
  std::function<absl::Status(absl::string_view what, const KvCall& call)> call_kv;
  // Prepares `context` for a watch stream (credentials; no deadline) and
  // returns the channel of the endpoint to open it on.
  std::function<std::shared_ptr<grpc::Channel>(grpc::ClientContext& context)>
      open_stream;
  // A stream on that channel failed: the next goes to the next endpoint.
  std::function<void()> stream_failed;
  // A record key's value, decoded as ReadCurrent decodes it.
  std::function<absl::StatusOr<EtcdChange>(const mvccpb::KeyValue& kv)> decode;
  // The key holding the content of `name`'s put numbered `sequence`.
  std::function<std::string(absl::string_view name, int64_t sequence)>
      content_key;
};

struct EtcdChangeLogOptions {
  // The watched key range [marker_key, records_end): the progress marker
  // and every record key, and no other key.
  std::string marker_key;
  std::string records_end;
  // The in-memory buffer of recent changes holds at most this many changes
  // and about this many bytes (records without content; older changes are
  // read from etcd's history, which is slower).
  int64_t max_buffered_changes = 100000;
  int64_t max_buffered_bytes = int64_t{64} << 20;
  // Deadline of a read of etcd's history, and the longest Sync waits.
  absl::Duration call_timeout = absl::Seconds(5);
  // How often the log asks etcd whether it compacted below the buffer (one
  // Range when it did not), so that the window's oldest_revision is at most
  // this late; 0: never (reads still find out).
  absl::Duration compaction_check_interval = absl::Seconds(5);
};

// Thread-safe. Destroying it stops the watch and joins its thread; the
// hooks must stay valid until then.
class EtcdChangeLog {
 public:
  // Puts the marker, learns etcd's compaction revision and starts the
  // watch just after the marker's put. Fails (with the engine's error) if
  // etcd refuses either call.
  static absl::StatusOr<std::unique_ptr<EtcdChangeLog>> Start(
      EtcdChangeLogHooks hooks, EtcdChangeLogOptions options);

  EtcdChangeLog(const EtcdChangeLog&) = delete;
  EtcdChangeLog& operator=(const EtcdChangeLog&) = delete;
  ~EtcdChangeLog();

  // Store::Changes. Cheap: nothing is asked of etcd.
  ChangeWindow Window() ABSL_LOCKS_EXCLUDED(mu_);

  // Store::ReadChanges.
  absl::StatusOr<ChangePage> Read(int64_t from_revision, int64_t up_to_revision,
                                  int limit, bool with_content)
      ABSL_LOCKS_EXCLUDED(mu_);

  // The revision Store::View pins its listing to: the greater of
  // committed_revision and acknowledged_revision, or, if etcd compacted
  // that, committed_revision after a Sync.
  absl::StatusOr<int64_t> ViewRevision() ABSL_LOCKS_EXCLUDED(mu_);

  // Puts the marker and waits (at most call_timeout) until the watch has
  // delivered that put: committed_revision is then at least etcd's revision
  // at the call. Returns the marker's revision.
  absl::StatusOr<int64_t> Sync() ABSL_LOCKS_EXCLUDED(mu_);

  // A write this replica made at `revision` has been (or is being)
  // answered: the window's acknowledged_revision is at least `revision`.
  // Never blocks.
  void NoteAcknowledged(int64_t revision);

  // Learns etcd's compaction revision now (what the periodic check does).
  absl::Status CheckCompaction() ABSL_LOCKS_EXCLUDED(mu_);

  // Store::SetCommitListener: called on the watch's thread.
  void SetListener(std::function<void()> listener)
      ABSL_LOCKS_EXCLUDED(listener_mu_);

 private:
  EtcdChangeLog(EtcdChangeLogHooks hooks, EtcdChangeLogOptions options);

  absl::StatusOr<int64_t> PutMarker();
  // Whether etcd still holds `revision` (a Range of the marker at it).
  absl::StatusOr<bool> Readable(int64_t revision);
  // etcd's compaction revision, given a revision it compacted (`bad`, 0 if
  // none is known) and one it holds (`good`).
  absl::StatusOr<int64_t> FindCompaction(int64_t bad, int64_t good);
  void CheckCompactions() ABSL_LOCKS_EXCLUDED(mu_);
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  // Adds a response's events to the buffer and moves committed_revision.
  void Deliver(const etcdserverpb::WatchResponse& response)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Whether a record key was put from `from_revision` up to `at_revision`
  // (as etcd holds the keys at at_revision).
  absl::StatusOr<bool> RecordsChanged(int64_t from_revision, int64_t at_revision);
  // The watch was cancelled because etcd compacted `compact_revision`.
  void Compacted(int64_t compact_revision) ABSL_LOCKS_EXCLUDED(mu_);
  // Tells the listener that committed_revision may have moved.
  void Announce() ABSL_LOCKS_EXCLUDED(listener_mu_);
  void NoteCompaction(int64_t compact_revision) ABSL_LOCKS_EXCLUDED(mu_);
  void TrimLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  ChangeWindow WindowLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The changes from_revision..up_to_revision, at most `limit` revisions,
  // from etcd's history; `next` is where the next page starts.
  absl::Status ReadHistory(int64_t from_revision, int64_t up_to_revision,
                           int limit, std::vector<EtcdChange>& changes,
                           int64_t& next);
  // Reads the content of each put among `changes`.
  absl::Status FillContent(std::vector<EtcdChange>& changes);
  // The change a watch event is, if it is a record key's put.
  std::optional<EtcdChange> ChangeOf(const mvccpb::Event& event) const;

  const EtcdChangeLogHooks hooks_;
  const EtcdChangeLogOptions options_;

  absl::Mutex mu_;
  // Changes in revision order, whole revisions only.
  std::deque<EtcdChange> buffer_ ABSL_GUARDED_BY(mu_);
  int64_t buffered_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Every change from here up to committed_ is in buffer_.
  int64_t buffer_begin_ ABSL_GUARDED_BY(mu_) = 1;
  // Every event in the watched range up to here has arrived.
  int64_t committed_ ABSL_GUARDED_BY(mu_) = 0;
  // The highest compaction revision of etcd's known here.
  int64_t compact_revision_ ABSL_GUARDED_BY(mu_) = 0;
  // The watch failed and has not been created again since.
  bool stream_down_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  // The running watch's, so that shutdown can cancel it.
  grpc::ClientContext* stream_context_ ABSL_GUARDED_BY(mu_) = nullptr;

  // The latest revision NoteAcknowledged was given (atomic: every write
  // notes one, and mu_ is the watch's).
  std::atomic<int64_t> acknowledged_{0};

  absl::Mutex listener_mu_;
  std::function<void()> listener_ ABSL_GUARDED_BY(listener_mu_);

  std::thread thread_;
  std::thread checker_;
};

// A StoreView of `store` at `revision` (a List pinned to it); `store` must
// outlive it and pin listings (Store::PinsListings).
std::unique_ptr<StoreView> NewPinnedView(Store& store, int64_t revision);

}  // namespace etagd

#endif  // ETAGD_SERVICE_STORE_ETCD_ETCD_CHANGE_LOG_H_
