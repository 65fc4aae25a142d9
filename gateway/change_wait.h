// The wait of a long-poll (a conditional GET with Prefer: wait): until a
// watch delivers a change or a timeout passes, on a TimerQueue's thread, so
// that no I/O thread waits.
#ifndef ETAGD_GATEWAY_CHANGE_WAIT_H_
#define ETAGD_GATEWAY_CHANGE_WAIT_H_

#include <functional>
#include <memory>

#include "absl/time/time.h"
#include "gateway/timer_queue.h"
#include "service/feed/watch_stream.h"

namespace etagd {

// Pulls `watch` until a response carries events, then calls done(true);
// once `timeout` passes without one, done(false). A watch that fails cannot
// tell of a change, so the wait then runs out its time (the caller's answer
// after it is right either way: it reads again). `done` is called exactly
// once, on `timers`' thread, after the watch was destroyed. Progress
// notifications are not changes. `timers` must outlive the wait (its
// destructor runs what is pending).
void WaitForChange(TimerQueue& timers, std::unique_ptr<WatchStream> watch,
                   absl::Duration timeout, std::function<void(bool changed)> done);

}  // namespace etagd

#endif  // ETAGD_GATEWAY_CHANGE_WAIT_H_
