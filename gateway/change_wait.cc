#include "gateway/change_wait.h"

#include <utility>

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

// One wait. Its members are touched only on the timer queue's thread: the
// watch's answers are handed there, never handled where they arrive, so no
// lock is needed and the watch is never destroyed inside its own callback.
class ChangeWait : public std::enable_shared_from_this<ChangeWait> {
 public:
  ChangeWait(TimerQueue& timers, std::unique_ptr<WatchStream> watch,
             std::function<void(bool)> done)
      : timers_(timers), watch_(std::move(watch)), done_(std::move(done)) {}

  void Start(absl::Duration timeout) {
    timer_ = timers_.Schedule(timeout, [self = shared_from_this()] {
      self->timer_ = 0;
      self->Finish(false);
    });
    Pull();
  }

 private:
  void Pull() {
    watch_->Next([self = shared_from_this()](absl::StatusOr<v1::WatchResponse> r) {
      const bool failed = !r.ok();
      const bool changed = r.ok() && r->events_size() > 0;
      self->timers_.Schedule(absl::ZeroDuration(), [self, failed, changed] {
        if (self->finished_) return;
        if (changed) return self->Finish(true);
        // A failed watch cannot tell of a change: the wait runs out its time.
        if (failed) return self->watch_.reset();
        self->Pull();  // Progress only.
      });
    });
  }

  void Finish(bool changed) {
    finished_ = true;
    if (timer_ != 0) timers_.Cancel(timer_);
    watch_.reset();  // Its pending Next completes (CANCELLED), and is ignored.
    std::function<void(bool)> done = std::move(done_);
    done(changed);
  }

  TimerQueue& timers_;
  std::unique_ptr<WatchStream> watch_;
  std::function<void(bool)> done_;
  TimerQueue::Id timer_ = 0;
  bool finished_ = false;
};

}  // namespace

void WaitForChange(TimerQueue& timers, std::unique_ptr<WatchStream> watch,
                   absl::Duration timeout, std::function<void(bool changed)> done) {
  auto wait = std::make_shared<ChangeWait>(timers, std::move(watch), std::move(done));
  timers.Schedule(absl::ZeroDuration(), [wait, timeout] { wait->Start(timeout); });
}

}  // namespace etagd
