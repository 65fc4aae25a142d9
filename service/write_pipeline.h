// Writes gathered into batches, so that one write-ahead-log sync and one
// thread hand-off serve many of them.
//
// Callers (the gRPC service, the embedded gateway) hand a Put or Delete in;
// it is planned on their thread (the service's validation and precondition
// evaluation against the committed record, ResourceService::Plan*), which
// answers it at once if it needs no store write. No thread waits for a
// write: a committer thread takes every planned write waiting, commits
// them together with Store::WriteMany, and hands the answers to the
// `answerers` pool, then takes the next batch. Writes that arrive while a
// batch commits form the next one, so batches grow with load and a lone
// write waits for nothing but its own sync. With several committers
// (WritePipelineOptions::committers), one batch is read and checked by the
// store while another waits for its log sync (RocksDB) or for its slowest
// Txn (etcd, which runs 8 by default).
//
// Writes wait in one queue per name, and names take turns in the order their
// writes arrived: a batch takes one write of each name whose turn it is, so
// forming a batch costs its size, however many writes of one name wait. Each
// name is written at most once per batch, and is in at most one batch being
// committed (the store checks each write against the committed record). A
// write that arrives behind another write of its name is planned again when
// its turn comes, against the record the earlier write left, so it never
// spends a batch slot on a stale plan. A
// write whose store check fails because the record changed since its plan
// (ABORTED) is planned again for the next batch, up to
// ResourceServiceOptions::max_write_attempts times.
//
// A write is committed only if, when its turn comes, its caller still wants
// it (WriteControl): one whose deadline has passed is answered
// DEADLINE_EXCEEDED, one cancelled CANCELLED, and neither is applied. Once
// in a batch, a write is committed and answered with its result.
#ifndef ETAGD_SERVICE_WRITE_PIPELINE_H_
#define ETAGD_SERVICE_WRITE_PIPELINE_H_

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "etagd/v1/etagd.pb.h"
#include "service/resource_service.h"
#include "service/store/store.h"
#include "service/thread_pool.h"

namespace etagd {

struct WritePipelineOptions {
  // Most writes committed together.
  int max_batch = 256;
  // Answers handed to one `answerers` task.
  int answers_per_task = 16;
  // Plan a write held back behind another write of its name again before
  // committing it. Off only for the linearizability checker's canary
  // (RocksDbStoreOptions::non_atomic_writes_for_test), whose lost updates
  // come from stale plans reaching a store that skips its compare.
  bool replan_held_back = true;
  // Batches committed at once, each by its own thread. More than one helps
  // a store whose WriteMany calls may run concurrently and spend part of
  // their time waiting (the RocksDB engine's log sync, the etcd engine's
  // round trips).
  int committers = 1;
};

// Whether the caller of a write still wants it. Borrowed: `cancelled`, if
// set, must outlive the write's answer.
struct WriteControl {
  // After this the write is not committed (DEADLINE_EXCEEDED).
  absl::Time deadline = absl::InfiniteFuture();
  // Becomes true, from any thread, when the caller gives up (CANCELLED).
  const std::atomic<bool>* cancelled = nullptr;
};

// Thread-safe. `core`, `store` (the one `core` uses) and `answerers` must
// outlive it. The destructor finishes every write handed in, answers it,
// then stops.
class WritePipeline {
 public:
  template <typename T>
  using Callback = std::function<void(absl::StatusOr<T>)>;

  WritePipeline(ResourceService& core, Store& store, ThreadPool& answerers,
                WritePipelineOptions options = {});
  ~WritePipeline();

  WritePipeline(const WritePipeline&) = delete;
  WritePipeline& operator=(const WritePipeline&) = delete;

  // `request` must stay valid until `done` is called, exactly once: before
  // this returns if no store write is needed, else on an `answerers`
  // thread.
  void Put(const etagd::v1::PutResourceRequest& request,
           Callback<etagd::v1::PutResourceResponse> done,
           WriteControl control = {});
  void Delete(const etagd::v1::DeleteResourceRequest& request,
              Callback<etagd::v1::DeleteResourceResponse> done,
              WriteControl control = {});

 private:
  class Op;
  template <typename Request, typename Response>
  class TypedOp;
  class Waiting;

  struct Batch;

  void Submit(std::unique_ptr<Op> op) ABSL_LOCKS_EXCLUDED(mu_);
  // A committer thread's loop.
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  // True if a committer has a batch to form, or may stop.
  bool CommitterHasWork() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Moves the writes handed in to the queues of their names.
  void TakeIncomingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes one batch out of the waiting writes: what it commits, and what is
  // answered without the store. Leaves what must wait for the next.
  Batch FormBatchLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Commits `batch` (no lock held), puts back what must be planned again,
  // and answers the rest.
  void CommitBatch(Batch& batch) ABSL_LOCKS_EXCLUDED(mu_);

  ResourceService& core_;
  Store& store_;
  ThreadPool& answerers_;
  const WritePipelineOptions options_;

  absl::Mutex mu_;
  std::deque<std::unique_ptr<Op>> incoming_ ABSL_GUARDED_BY(mu_);
  std::unique_ptr<Waiting> waiting_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> committers_;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_WRITE_PIPELINE_H_
