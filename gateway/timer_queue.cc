#include "gateway/timer_queue.h"

#include "absl/time/clock.h"

namespace etagd {

TimerQueue::TimerQueue() : thread_([this] { Run(); }) {}

TimerQueue::~TimerQueue() {
  {
    absl::MutexLock lock(&mu_);
    expired_ = true;
    stopping_ = true;
  }
  thread_.join();
}

TimerQueue::Id TimerQueue::Schedule(absl::Duration delay, std::function<void()> fn) {
  absl::MutexLock lock(&mu_);
  const Id id = next_id_++;
  const absl::Time due = expired_ ? absl::InfinitePast() : absl::Now() + delay;
  timers_.emplace(std::make_pair(due, id), std::move(fn));
  due_.emplace(id, due);
  return id;
}

bool TimerQueue::Cancel(Id id) {
  std::function<void()> doomed;  // Destroyed outside the lock.
  absl::MutexLock lock(&mu_);
  auto it = due_.find(id);
  if (it == due_.end()) return false;
  auto timer = timers_.find(std::make_pair(it->second, id));
  doomed = std::move(timer->second);
  timers_.erase(timer);
  due_.erase(it);
  return true;
}

void TimerQueue::ExpireAll() {
  absl::MutexLock lock(&mu_);
  expired_ = true;
}

void TimerQueue::Run() {
  absl::MutexLock lock(&mu_);
  while (true) {
    if (timers_.empty()) {
      if (stopping_) return;
      mu_.Await(absl::Condition(
          +[](TimerQueue* q) ABSL_EXCLUSIVE_LOCKS_REQUIRED(q->mu_) {
            return !q->timers_.empty() || q->stopping_;
          },
          this));
      continue;
    }
    auto first = timers_.begin();
    if (!expired_ && first->first.first > absl::Now()) {
      // Wake for the first due time, an earlier timer, ExpireAll or stop.
      const absl::Time due = first->first.first;
      const Id id = first->first.second;
      struct Args {
        TimerQueue* q;
        absl::Time due;
        Id id;
      } args{this, due, id};
      mu_.AwaitWithDeadline(
          absl::Condition(
              +[](Args* a) ABSL_EXCLUSIVE_LOCKS_REQUIRED(a->q->mu_) {
                return a->q->expired_ || a->q->timers_.empty() ||
                       a->q->timers_.begin()->first !=
                           std::make_pair(a->due, a->id);
              },
              &args),
          due);
      continue;
    }
    std::function<void()> fn = std::move(first->second);
    due_.erase(first->first.second);
    timers_.erase(first);
    mu_.Unlock();
    fn();
    fn = nullptr;  // Its captures go before the lock is taken again.
    mu_.Lock();
  }
}

}  // namespace etagd
