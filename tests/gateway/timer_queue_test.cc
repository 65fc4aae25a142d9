// The gateway's timer thread: order, cancellation, and expiry at drain.
#include "gateway/timer_queue.h"

#include <atomic>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace etagd {
namespace {

TEST(TimerQueueTest, RunsTimersInOrderOfDueTime) {
  TimerQueue timers;
  absl::Mutex mu;
  std::vector<int> order;
  absl::Notification done;
  timers.Schedule(absl::Milliseconds(60), [&] {
    absl::MutexLock lock(&mu);
    order.push_back(3);
    done.Notify();
  });
  timers.Schedule(absl::Milliseconds(20), [&] {
    absl::MutexLock lock(&mu);
    order.push_back(2);
  });
  timers.Schedule(absl::ZeroDuration(), [&] {
    absl::MutexLock lock(&mu);
    order.push_back(1);
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  absl::MutexLock lock(&mu);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(TimerQueueTest, DoesNotRunBeforeItsTime) {
  TimerQueue timers;
  const absl::Time start = absl::Now();
  absl::Notification done;
  absl::Time ran;
  timers.Schedule(absl::Milliseconds(100), [&] {
    ran = absl::Now();
    done.Notify();
  });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_GE(ran - start, absl::Milliseconds(100));
}

TEST(TimerQueueTest, CancelledTimerNeverRuns) {
  std::atomic<bool> ran{false};
  {
    TimerQueue timers;
    const TimerQueue::Id id = timers.Schedule(absl::Milliseconds(50), [&] { ran = true; });
    EXPECT_TRUE(timers.Cancel(id));
    EXPECT_FALSE(timers.Cancel(id)) << "a second cancel finds nothing";
  }
  EXPECT_FALSE(ran.load());
}

TEST(TimerQueueTest, CancelAfterRunningReturnsFalse) {
  TimerQueue timers;
  absl::Notification done;
  const TimerQueue::Id id = timers.Schedule(absl::ZeroDuration(), [&] { done.Notify(); });
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_FALSE(timers.Cancel(id));
}

TEST(TimerQueueTest, ExpireAllRunsPendingAndLaterTimersAtOnce) {
  TimerQueue timers;
  absl::Notification first, second;
  timers.Schedule(absl::Hours(1), [&] { first.Notify(); });
  timers.ExpireAll();
  EXPECT_TRUE(first.WaitForNotificationWithTimeout(absl::Seconds(10)));
  timers.Schedule(absl::Hours(1), [&] { second.Notify(); });
  EXPECT_TRUE(second.WaitForNotificationWithTimeout(absl::Seconds(10)));
}

TEST(TimerQueueTest, CallbacksMayScheduleAndCancel) {
  TimerQueue timers;
  absl::Notification done;
  timers.Schedule(absl::ZeroDuration(), [&] {
    const TimerQueue::Id never = timers.Schedule(absl::Hours(1), [] {});
    EXPECT_TRUE(timers.Cancel(never));
    timers.Schedule(absl::Milliseconds(1), [&] { done.Notify(); });
  });
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
}

TEST(TimerQueueTest, DestructorRunsWhatIsPending) {
  std::atomic<bool> ran{false};
  {
    TimerQueue timers;
    timers.Schedule(absl::Hours(1), [&] { ran = true; });
  }
  EXPECT_TRUE(ran.load());
}

}  // namespace
}  // namespace etagd
