// One thread that runs callbacks at their times: the deadlines of held
// long-polls and the heartbeats of event streams, so that neither ties up
// an I/O thread while it waits.
#ifndef ETAGD_GATEWAY_TIMER_QUEUE_H_
#define ETAGD_GATEWAY_TIMER_QUEUE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace etagd {

// Thread-safe. Callbacks run on the queue's thread, one at a time, never
// under its lock, so they may schedule and cancel.
class TimerQueue {
 public:
  using Id = uint64_t;

  TimerQueue();
  // Runs every timer still pending (as ExpireAll), then joins the thread.
  ~TimerQueue();

  // Runs `fn` once `delay` has passed (at once if ExpireAll was called).
  Id Schedule(absl::Duration delay, std::function<void()> fn);

  // True if the timer had not run and now never will; false if it ran, is
  // running, or never existed.
  bool Cancel(Id id);

  // Makes every pending timer, and every one scheduled from now on, due at
  // once (a server draining: held requests answer now).
  void ExpireAll();

 private:
  void Run();

  absl::Mutex mu_;
  // By due time, then by id (the order of scheduling).
  std::map<std::pair<absl::Time, Id>, std::function<void()>> timers_
      ABSL_GUARDED_BY(mu_);
  std::map<Id, absl::Time> due_ ABSL_GUARDED_BY(mu_);
  Id next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool expired_ ABSL_GUARDED_BY(mu_) = false;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace etagd

#endif  // ETAGD_GATEWAY_TIMER_QUEUE_H_
