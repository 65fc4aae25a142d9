#include "service/feed/event_queue.h"

#include <string>

#include "gtest/gtest.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

v1::WatchEvent Event(int64_t revision, bool initial = false,
                     size_t content_bytes = 0) {
  v1::WatchEvent event;
  event.mutable_resource()->set_name("n");
  event.mutable_resource()->set_revision(revision);
  event.mutable_resource()->set_content(std::string(content_bytes, 'x'));
  event.set_initial(initial);
  return event;
}

TEST(EventQueueTest, RefusesEventsBeyondItsCount) {
  EventQueue queue(EventQueueLimits{2, 1 << 20});
  EXPECT_TRUE(queue.TryPush(Event(1)));
  EXPECT_TRUE(queue.TryPush(Event(2)));
  v1::WatchEvent third = Event(3);
  EXPECT_FALSE(queue.TryPush(std::move(third)));
  EXPECT_EQ(queue.size(), 2u);
}

TEST(EventQueueTest, RefusesEventsBeyondItsBytesButAlwaysTakesOne) {
  EventQueue queue(EventQueueLimits{100, 1000});
  EXPECT_TRUE(queue.TryPush(Event(1, false, 5000)));
  EXPECT_FALSE(queue.TryPush(Event(2, false, 10)));
  queue.Take(ResponseLimits());
  EXPECT_TRUE(queue.TryPush(Event(2, false, 10)));
}

TEST(EventQueueTest, TakeBatchesEventsInOrderUpToTheResponseLimits) {
  EventQueue queue(EventQueueLimits{100, 1 << 20});
  for (int i = 1; i <= 5; ++i) queue.TryPush(Event(i));
  const v1::WatchResponse first = queue.Take(ResponseLimits{3, 1 << 20}).ToProto();
  ASSERT_EQ(first.events_size(), 3);
  EXPECT_EQ(first.events(0).resource().revision(), 1);
  EXPECT_EQ(first.events(2).resource().revision(), 3);
  EXPECT_EQ(queue.Take(ResponseLimits{3, 1 << 20}).events.size(), 2u);
  EXPECT_TRUE(queue.empty());
}

TEST(EventQueueTest, TheMarkerComesAloneBetweenInitialAndChangeEvents) {
  EventQueue queue(EventQueueLimits{100, 1 << 20});
  queue.TryPush(Event(3, true));
  queue.TryPush(Event(2, true));
  queue.PushInitialStateEnd(4);
  queue.TryPush(Event(5));
  const v1::WatchResponse initial = queue.Take(ResponseLimits()).ToProto();
  EXPECT_EQ(initial.events_size(), 2);
  EXPECT_FALSE(initial.initial_state_end());
  const v1::WatchResponse marker = queue.Take(ResponseLimits()).ToProto();
  EXPECT_TRUE(marker.initial_state_end());
  EXPECT_EQ(marker.revision(), 4);
  EXPECT_EQ(marker.events_size(), 0);
  const v1::WatchResponse changes = queue.Take(ResponseLimits()).ToProto();
  ASSERT_EQ(changes.events_size(), 1);
  EXPECT_EQ(changes.events(0).resource().revision(), 5);
}

TEST(EventQueueTest, HalfEmptyOnceHalfOfTheCountIsTaken) {
  EventQueue queue(EventQueueLimits{4, 1 << 20});
  for (int i = 1; i <= 4; ++i) queue.TryPush(Event(i));
  EXPECT_FALSE(queue.HalfEmpty());
  queue.Take(ResponseLimits{2, 1 << 20});
  EXPECT_TRUE(queue.HalfEmpty());
}

}  // namespace
}  // namespace etagd
