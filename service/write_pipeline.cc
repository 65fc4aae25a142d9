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
// order, and the names whose turn is coming, each once. A name whose turn
// is taken by a batch being committed gets no other turn until Done().
class WritePipeline::Waiting {
 public:
  using Queue = std::deque<std::unique_ptr<Op>>;
  struct Line {
    Queue queue;
    // A batch being committed holds the name's turn.
    bool committing = false;
  };
  using Entry = std::pair<const std::string, Line>;

  // No write is waiting or being committed.
  bool empty() const { return lines_.empty(); }
  // Some name's turn can be taken.
  bool has_turns() const { return !turns_.empty(); }

  // Adds a write behind those of its name. True if one is already there or
  // being committed.
  bool Add(std::unique_ptr<Op> op) {
    auto [it, inserted] = lines_.try_emplace(std::string(op->name()));
    Line& line = it->second;
    const bool behind = !line.queue.empty() || line.committing;
    line.queue.push_back(std::move(op));
    if (!behind) turns_.push_back(&*it);
    return behind;
  }

  // The name whose turn is next, taken out of the turns: its queue, to take
  // writes from the front of, then Done() with.
  Entry* Next() {
    Entry* entry = turns_.front();
    turns_.pop_front();
    entry->second.committing = true;
    return entry;
  }

  // The name had its turn: it waits for another if writes are left.
  void Done(Entry* entry) {
    entry->second.committing = false;
    if (!entry->second.queue.empty()) {
      turns_.push_back(entry);
    } else {
      lines_.erase(entry->first);
    }
  }

 private:
  // Node-based: the turns point into it.
  absl::node_hash_map<std::string, Line> lines_;
  std::deque<Entry*> turns_;
};

// One batch: the writes it commits, the turn each came from, and the writes
// answered without the store.
struct WritePipeline::Batch {
  std::vector<std::unique_ptr<Op>> planned;
  std::vector<Waiting::Entry*> planned_turns;
  std::vector<WriteRequest> writes;
  std::vector<std::unique_ptr<Op>> answered;
  std::vector<Waiting::Entry*> turns;
};

WritePipeline::WritePipeline(ResourceService& core, Store& store,
                             ThreadPool& answerers, WritePipelineOptions options)
    : core_(core),
      store_(store),
      answerers_(answerers),
      options_(options),
      waiting_(std::make_unique<Waiting>()) {
  for (int i = 0; i < std::max(1, options_.committers); ++i) {
    committers_.emplace_back([this] { Run(); });
  }
}

WritePipeline::~WritePipeline() {
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (std::thread& committer : committers_) committer.join();
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

bool WritePipeline::CommitterHasWork() const {
  return !incoming_.empty() || waiting_->has_turns() ||
         (stopping_ && waiting_->empty());
}

void WritePipeline::TakeIncomingLocked() {
  for (std::unique_ptr<Op>& op : incoming_) {
    Op& added = *op;
    // Behind another write of its name, its plan will be stale by its turn
    // (unless that write fails): plan it again then.
    if (waiting_->Add(std::move(op)) && options_.replan_held_back) {
      added.stale = true;
    }
  }
  incoming_.clear();
}

void WritePipeline::Run() {
  while (true) {
    Batch batch;
    {
      absl::MutexLock lock(&mu_);
      mu_.Await(absl::Condition(this, &WritePipeline::CommitterHasWork));
      TakeIncomingLocked();
      if (!waiting_->has_turns()) {
        // Stopping with nothing left, or every waiting name is in another
        // committer's batch (which gives the turns back when it is done).
        if (stopping_ && waiting_->empty()) return;
        continue;
      }
      batch = FormBatchLocked();
    }
    CommitBatch(batch);
  }
}

WritePipeline::Batch WritePipeline::FormBatchLocked() {
  Batch batch;
  const absl::Time now = absl::Now();
  // One write of each name whose turn it is; writes answered without the
  // store (no longer wanted, or planned again into an answer) let the next
  // write of their name take the turn.
  while (waiting_->has_turns() &&
         static_cast<int>(batch.writes.size()) < options_.max_batch) {
    Waiting::Entry* turn = waiting_->Next();
    batch.turns.push_back(turn);
    Waiting::Queue& queue = turn->second.queue;
    while (!queue.empty()) {
      std::unique_ptr<Op> op = std::move(queue.front());
      queue.pop_front();
      if (absl::Status unwanted = op->Unwanted(now); !unwanted.ok()) {
        op->Abandon(std::move(unwanted));
        batch.answered.push_back(std::move(op));
      } else if (!op->stale || op->Plan()) {
        batch.writes.push_back(op->write());
        batch.planned.push_back(std::move(op));
        batch.planned_turns.push_back(turn);
        break;
      } else {
        batch.answered.push_back(std::move(op));
      }
    }
  }
  return batch;
}

void WritePipeline::CommitBatch(Batch& batch) {
  // Writes that must be planned again, and the turn each goes back to.
  std::vector<size_t> again;
  if (!batch.writes.empty()) {
    std::vector<absl::StatusOr<Record>> results = store_.WriteMany(batch.writes);
    for (size_t i = 0; i < batch.planned.size(); ++i) {
      if (batch.planned[i]->Complete(std::move(results[i]))) {
        batch.planned[i]->stale = true;
        again.push_back(i);
      } else {
        batch.answered.push_back(std::move(batch.planned[i]));
      }
    }
  }
  {
    absl::MutexLock lock(&mu_);
    // Planned again first in its name's queue, for the next batch.
    for (size_t i : again) {
      batch.planned_turns[i]->second.queue.push_front(std::move(batch.planned[i]));
    }
    for (Waiting::Entry* turn : batch.turns) waiting_->Done(turn);
  }

  // The answers go out on the pool, in a few tasks, while this thread
  // commits the next batch.
  std::vector<std::unique_ptr<Op>>& answered = batch.answered;
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
