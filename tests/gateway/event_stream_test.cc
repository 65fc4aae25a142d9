// The event stream body over a watch, without sockets: what each watch
// response becomes (WHATWG HTML §9.2), and that the watch is pulled only
// when a piece is asked for.
#include "gateway/event_stream.h"

#include <atomic>
#include <memory>
#include <optional>
#include <string>

#include "absl/strings/cord.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_feed.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;
using ::testing::HasSubstr;

TEST(EventStreamFormatTest, ChangeEventCarriesRevisionIdAndProtoJson) {
  v1::WatchEvent event;
  event.mutable_resource()->set_name("a/b");
  event.mutable_resource()->set_revision(12);
  event.mutable_resource()->set_etag("\"c-1\"");
  const std::string wire = FormatChangeEvent(event);
  EXPECT_THAT(wire, testing::StartsWith("event: change\nid: 12\ndata: {"));
  EXPECT_THAT(wire, HasSubstr("\"name\":\"a/b\""));
  EXPECT_THAT(wire, HasSubstr("\"etag\":\"\\\"c-1\\\"\""));
  EXPECT_THAT(wire, testing::EndsWith("}\n\n"));
}

TEST(EventStreamFormatTest, OutOfRangeErrorCarriesTheWindow) {
  absl::Status status = absl::OutOfRangeError("too old");
  v1::WatchWindow window;
  window.set_oldest_revision(5);
  window.set_current_revision(9);
  status.SetPayload("type.googleapis.com/etagd.v1.WatchWindow",
                    absl::Cord(window.SerializeAsString()));
  EXPECT_EQ(FormatWatchErrorEvent(status),
            "event: watch_error\n"
            "data: {\"error\": {\"code\": 400, \"status\": \"OUT_OF_RANGE\", "
            "\"message\": \"too old\", \"oldest_revision\": 5, "
            "\"current_revision\": 9}}\n\n");
}

// Takes one piece, waiting for it.
std::optional<std::string> Take(BodyStream& body) {
  absl::Notification done;
  std::optional<std::string> piece;
  body.Next([&](std::optional<std::string> p) {
    piece = std::move(p);
    done.Notify();
  });
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  return piece;
}

TEST(EventStreamTest, PullsTheWatchOnlyWhenAPieceIsAsked) {
  FakeFeed feed;
  TimerQueue timers;
  std::atomic<bool> draining{false};
  std::unique_ptr<BodyStream> body =
      NewEventStream(timers, feed.Watch(v1::WatchRequest()), {}, draining);
  EXPECT_EQ(Take(*body), "retry: 1000\n\n");
  for (int i = 0; i < 5; ++i) feed.Change("x");
  EXPECT_EQ(feed.delivered(), 0) << "nothing asked for yet";
  std::optional<std::string> first = Take(*body);
  ASSERT_TRUE(first.has_value());
  EXPECT_THAT(*first, HasSubstr("id: 1\n"));
  EXPECT_EQ(feed.delivered(), 1);
}

TEST(EventStreamTest, DrainingEndsTheBody) {
  FakeFeed feed;
  TimerQueue timers;
  std::atomic<bool> draining{false};
  EventStreamOptions options;
  options.heartbeat = absl::Hours(1);
  std::unique_ptr<BodyStream> body =
      NewEventStream(timers, feed.Watch(v1::WatchRequest()), options, draining);
  EXPECT_TRUE(Take(*body).has_value());
  draining = true;
  timers.ExpireAll();  // As Gateway::Drain does: the heartbeat wait ends.
  std::optional<std::string> piece = Take(*body);
  if (piece.has_value()) piece = Take(*body);  // The heartbeat, then the end.
  EXPECT_FALSE(piece.has_value());
}

TEST(EventStreamTest, DestroyingTheBodyCompletesItsPendingNextAndReleasesTheWatch) {
  FakeFeed feed;
  TimerQueue timers;
  std::atomic<bool> draining{false};
  EventStreamOptions options;
  options.heartbeat = absl::Hours(1);
  std::unique_ptr<BodyStream> body =
      NewEventStream(timers, feed.Watch(v1::WatchRequest()), options, draining);
  EXPECT_TRUE(Take(*body).has_value());
  absl::Notification done;
  std::optional<std::string> piece = "unset";
  body->Next([&](std::optional<std::string> p) {
    piece = std::move(p);
    done.Notify();
  });
  body.reset();
  EXPECT_TRUE(done.HasBeenNotified()) << "before the destructor returned";
  EXPECT_FALSE(piece.has_value());
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (feed.open_watchers() > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  EXPECT_EQ(feed.open_watchers(), 0);
}

}  // namespace
}  // namespace etagd
