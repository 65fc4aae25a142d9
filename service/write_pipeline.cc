#include "service/write_pipeline.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/container/node_hash_map.h"

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
  // Answers, without committing, a write its caller no longer wants.
  virtual void Abandon(absl::Status why) = 0;

  // Why the caller no longer wants the write at `now`, or OK.
  absl::Status Unwanted(absl::Time now) const {
    if (now >= control.deadline) {
      return absl::DeadlineExceededError(
          "the deadline passed before the write was committed; it was not "
          "applied");
    }
    if (control.cancelled != nullptr &&
        control.cancelled->load(std::memory_order_acquire)) {
      return absl::CancelledError(
          "the call was cancelled before the write was committed; it was not "
          "applied");
    }
    return absl::OkStatus();
  }

  WriteControl control;
  // The plan may be stale (the store said so, or a write of the name went
  // before it): plan again before committing.
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

  void Abandon(absl::Status why) override { answer_ = std::move(why); }

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
                        Callback<v1::PutResourceResponse> done,
                        WriteControl control) {
  auto op = std::make_unique<TypedOp<v1::PutResourceRequest, v1::PutResourceResponse>>(
      core_, &ResourceService::PlanPut, &ResourceService::CompletePut,
      "writing", request, std::move(done));
  op->control = control;
  Submit(std::move(op));
}

void WritePipeline::Delete(const v1::DeleteResourceRequest& request,
                           Callback<v1::DeleteResourceResponse> done,
                           WriteControl control) {
  auto op = std::make_unique<
      TypedOp<v1::DeleteResourceRequest, v1::DeleteResourceResponse>>(
      core_, &ResourceService::PlanDelete, &ResourceService::CompleteDelete,
      "deleting", request, std::move(done));
  op->control = control;
  Submit(std::move(op));
}

// The writes taken in but not yet answered: a queue per name, in arrival
// order, and the names whose turn is coming, each once. Only the committer
// thread uses it.
class WritePipeline::Waiting {
 public:
  using Queue = std::deque<std::unique_ptr<Op>>;

  bool empty() const { return turns_.empty(); }

  // Adds a write behind those of its name. True if one is already there.
  bool Add(std::unique_ptr<Op> op) {
    auto [it, inserted] = queues_.try_emplace(std::string(op->name()));
    const bool behind = !it->second.empty();
    it->second.push_back(std::move(op));
    if (!behind) turns_.push_back(&*it);
    return behind;
  }

  // The name whose turn is next, taken out of the turns: its queue, to take
  // writes from the front of, then Done() with.
  std::pair<const std::string, Queue>* Next() {
    auto* entry = turns_.front();
    turns_.pop_front();
    return entry;
  }

  // The name had its turn: it waits for another if writes are left.
  void Done(std::pair<const std::string, Queue>* entry) {
    if (!entry->second.empty()) {
      turns_.push_back(entry);
    } else {
      queues_.erase(entry->first);
    }
  }

 private:
  // Node-based: the turns point into it.
  absl::node_hash_map<std::string, Queue> queues_;
  std::deque<std::pair<const std::string, Queue>*> turns_;
};

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
  Waiting waiting;
  while (true) {
    std::deque<std::unique_ptr<Op>> arrived;
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
      arrived.swap(incoming_);
    }
    for (std::unique_ptr<Op>& op : arrived) {
      Op& added = *op;
      // Behind another write of its name, its plan will be stale by its
      // turn (unless that write fails): plan it again then.
      if (waiting.Add(std::move(op)) && options_.replan_held_back) {
        added.stale = true;
      }
    }
    CommitBatch(waiting);
  }
}

void WritePipeline::CommitBatch(Waiting& waiting) {
  std::vector<std::unique_ptr<Op>> planned;
  // The turn each planned write came from.
  std::vector<std::pair<const std::string, Waiting::Queue>*> planned_turns;
  std::vector<WriteRequest> writes;
  std::vector<std::unique_ptr<Op>> answered;
  std::vector<std::pair<const std::string, Waiting::Queue>*> turns;
  const absl::Time now = absl::Now();
  // One write of each name whose turn it is; writes answered without the
  // store (no longer wanted, or planned again into an answer) let the next
  // write of their name take the turn.
  while (!waiting.empty() && static_cast<int>(writes.size()) < options_.max_batch) {
    auto* turn = waiting.Next();
    turns.push_back(turn);
    Waiting::Queue& queue = turn->second;
    while (!queue.empty()) {
      std::unique_ptr<Op> op = std::move(queue.front());
      queue.pop_front();
      if (absl::Status unwanted = op->Unwanted(now); !unwanted.ok()) {
        op->Abandon(std::move(unwanted));
        answered.push_back(std::move(op));
      } else if (!op->stale || op->Plan()) {
        writes.push_back(op->write());
        planned.push_back(std::move(op));
        planned_turns.push_back(turn);
        break;
      } else {
        answered.push_back(std::move(op));
      }
    }
  }
  if (!writes.empty()) {
    std::vector<absl::StatusOr<Record>> results = store_.WriteMany(writes);
    for (size_t i = 0; i < planned.size(); ++i) {
      if (planned[i]->Complete(std::move(results[i]))) {
        // Planned again first in its name's queue, for the next batch.
        planned[i]->stale = true;
        planned_turns[i]->second.push_front(std::move(planned[i]));
      } else {
        answered.push_back(std::move(planned[i]));
      }
    }
  }
  for (auto* turn : turns) waiting.Done(turn);

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
