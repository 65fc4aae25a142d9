// Writes gathered into batches, so that one write-ahead-log sync and one
// thread hand-off serve many of them.
//
// Callers (the gRPC service, the embedded gateway) hand a Put or Delete in;
// it is planned on their thread (the service's validation and precondition
// evaluation against the committed record, ResourceService::Plan*), which
// answers it at once if it needs no store write. No thread waits for a
// write: one committer thread takes every planned write waiting, commits
// them together with Store::WriteMany, and hands the answers to the
// `answerers` pool, then takes the next batch. Writes that arrive while a
// batch commits form the next one, so batches grow with load and a lone
// write waits for nothing but its own sync.
//
// Each name is written at most once per batch (the store checks each write
// against the committed record); a second write of a name waits for the
// next batch, in arrival order. A write whose store check fails because the
// record changed since its plan (ABORTED) is planned again for the next
// batch, up to ResourceServiceOptions::max_write_attempts times.
#ifndef ETAGD_SERVICE_WRITE_PIPELINE_H_
#define ETAGD_SERVICE_WRITE_PIPELINE_H_

#include <deque>
#include <functional>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "etagd/v1/etagd.pb.h"
#include "service/resource_service.h"
#include "service/store.h"
#include "service/thread_pool.h"

namespace etagd {

struct WritePipelineOptions {
  // Most writes committed together.
  int max_batch = 256;
  // Answers handed to one `answerers` task.
  int answers_per_task = 16;
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
           Callback<etagd::v1::PutResourceResponse> done);
  void Delete(const etagd::v1::DeleteResourceRequest& request,
              Callback<etagd::v1::DeleteResourceResponse> done);

 private:
  class Op;
  template <typename Request, typename Response>
  class TypedOp;

  void Submit(std::unique_ptr<Op> op) ABSL_LOCKS_EXCLUDED(mu_);
  void Run() ABSL_LOCKS_EXCLUDED(mu_);
  // Commits one batch out of `waiting` (taking what it commits or answers,
  // leaving what must wait for the next) and answers it.
  void CommitBatch(std::deque<std::unique_ptr<Op>>& waiting);

  ResourceService& core_;
  Store& store_;
  ThreadPool& answerers_;
  const WritePipelineOptions options_;

  absl::Mutex mu_;
  std::deque<std::unique_ptr<Op>> incoming_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread committer_;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_WRITE_PIPELINE_H_
