#include "service/write_pipeline.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"

namespace etagd {

namespace v1 = ::etagd::v1;

// One Put or Delete on its way through the pipeline.
class WritePipeline::Op {
 public:
  virtual ~Op() = default;
  virtual absl::string_view name() const = 0;
  // Plans the write: true if it needs the store (write() is then set);
  // false if it is answered already.
  virtual bool Plan() = 0;
  const WriteRequest& write() const { return write_; }
  // Takes the store's result; true if the write must be planned again.
  virtual bool Complete(absl::StatusOr<Record> written) = 0;
  // Calls the callback with the answer.
  virtual void Answer() = 0;

  // The store found the plan stale: plan again before the next commit.
  bool stale = false;

 protected:
  WriteRequest write_;
};

template <typename Request, typename Response>
class WritePipeline::TypedOp final : public WritePipeline::Op {
 public:
  using PlanFn = ResourceService::Plan<Response> (ResourceService::*)(const Request&);
  using CompleteFn = absl::StatusOr<Response> (ResourceService::*)(absl::StatusOr<Record>);

  TypedOp(ResourceService& core, PlanFn plan, CompleteFn complete,
          absl::string_view verb, const Request& request,
          Callback<Response> done)
      : core_(core),
        plan_(plan),
        complete_(complete),
        verb_(verb),
        request_(request),
        done_(std::move(done)) {}

  absl::string_view name() const override { return request_.name(); }

  bool Plan() override {
    ResourceService::Plan<Response> plan = (core_.*plan_)(request_);
    stale = false;
    if (plan.answered()) {
      answer_ = *std::move(plan.answer);
      return false;
    }
    write_ = plan.write;
    return true;
  }

  bool Complete(absl::StatusOr<Record> written) override {
    if (absl::IsAborted(written.status()) &&
        ++attempts_ < core_.options().max_write_attempts) {
      return true;
    }
    if (absl::IsAborted(written.status())) {
      answer_ = core_.GaveUp(verb_, request_.name());
    } else {
      answer_ = (core_.*complete_)(std::move(written));
    }
    return false;
  }

  void Answer() override { done_(std::move(answer_)); }

 private:
  ResourceService& core_;
  const PlanFn plan_;
  const CompleteFn complete_;
  const absl::string_view verb_;
  const Request& request_;
  Callback<Response> done_;
  absl::StatusOr<Response> answer_ = absl::InternalError("not answered");
  int attempts_ = 0;
};

WritePipeline::WritePipeline(ResourceService& core, Store& store,
                             ThreadPool& answerers, WritePipelineOptions options)
    : core_(core), store_(store), answerers_(answerers), options_(options) {
  committer_ = std::thread([this] { Run(); });
}

WritePipeline::~WritePipeline() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  committer_.join();
}

void WritePipeline::Put(const v1::PutResourceRequest& request,
                        Callback<v1::PutResourceResponse> done) {
  Submit(std::make_unique<TypedOp<v1::PutResourceRequest, v1::PutResourceResponse>>(
      core_, &ResourceService::PlanPut, &ResourceService::CompletePut,
      "writing", request, std::move(done)));
}

void WritePipeline::Delete(const v1::DeleteResourceRequest& request,
                           Callback<v1::DeleteResourceResponse> done) {
  Submit(std::make_unique<
         TypedOp<v1::DeleteResourceRequest, v1::DeleteResourceResponse>>(
      core_, &ResourceService::PlanDelete, &ResourceService::CompleteDelete,
      "deleting", request, std::move(done)));
}

// The first plan is made here, on the caller's thread: the committer then
// only commits, and a write answered without the store (a failed
// precondition, a retry of a write that happened) never waits for a batch.
// The plan reads committed records only, so it is a valid answer at this
// moment, and the store re-checks a planned write when it commits.
void WritePipeline::Submit(std::unique_ptr<Op> op) {
  if (!op->Plan()) return op->Answer();
  absl::MutexLock lock(&mu_);
  incoming_.push_back(std::move(op));
}

void WritePipeline::Run() {
  // Writes taken in but not yet answered, in arrival order.
  std::deque<std::unique_ptr<Op>> waiting;
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      if (waiting.empty()) {
        mu_.Await(absl::Condition(
            +[](WritePipeline* p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(p->mu_) {
              return !p->incoming_.empty() || p->stopping_;
            },
            this));
      }
      if (waiting.empty() && incoming_.empty()) return;  // Stopping.
      for (auto& op : incoming_) waiting.push_back(std::move(op));
      incoming_.clear();
    }
    CommitBatch(waiting);
  }
}

void WritePipeline::CommitBatch(std::deque<std::unique_ptr<Op>>& waiting) {
  std::vector<std::unique_ptr<Op>> planned;
  std::vector<WriteRequest> writes;
  writes.reserve(std::min<size_t>(waiting.size(), options_.max_batch));
  std::vector<std::unique_ptr<Op>> answered;
  std::deque<std::unique_ptr<Op>> later;
  absl::flat_hash_set<absl::string_view> names;
  while (!waiting.empty()) {
    std::unique_ptr<Op> op = std::move(waiting.front());
    waiting.pop_front();
    // A name's writes go one per batch, in order; so does everything after
    // a full batch.
    if (static_cast<int>(writes.size()) >= options_.max_batch ||
        names.contains(op->name())) {
      later.push_back(std::move(op));
      continue;
    }
    names.insert(op->name());
    if (!op->stale || op->Plan()) {
      writes.push_back(op->write());
      planned.push_back(std::move(op));
    } else {
      answered.push_back(std::move(op));
    }
  }
  if (!writes.empty()) {
    std::vector<absl::StatusOr<Record>> results = store_.WriteMany(writes);
    for (size_t i = 0; i < planned.size(); ++i) {
      if (planned[i]->Complete(std::move(results[i]))) {
        planned[i]->stale = true;
        later.push_back(std::move(planned[i]));
      } else {
        answered.push_back(std::move(planned[i]));
      }
    }
  }
  // What waits keeps its plan: the store's compare catches a plan this
  // commit made stale (ABORTED), and the write is planned again.
  waiting = std::move(later);

  // The answers go out on the pool, in a few tasks, while this thread
  // commits the next batch.
  const size_t chunk = static_cast<size_t>(std::max(1, options_.answers_per_task));
  for (size_t begin = 0; begin < answered.size(); begin += chunk) {
    auto task = std::make_shared<std::vector<std::unique_ptr<Op>>>();
    for (size_t i = begin; i < std::min(answered.size(), begin + chunk); ++i) {
      task->push_back(std::move(answered[i]));
    }
    answerers_.Schedule([task] {
      // Each op is freed right after its answer: what its callback holds
      // (an HTTP connection, say) must not outlive the answer by a chunk.
      for (std::unique_ptr<Op>& op : *task) {
        op->Answer();
        op.reset();
      }
    });
  }
}

}  // namespace etagd
