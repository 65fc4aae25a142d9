#include "client/watch_format.h"

#include "gtest/gtest.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

v1::WatchEvent Event(int64_t revision, const char* name, const char* etag) {
  v1::WatchEvent event;
  event.mutable_resource()->set_revision(revision);
  event.mutable_resource()->set_name(name);
  event.mutable_resource()->set_etag(etag);
  return event;
}

TEST(FormatWatchResponseTest, OneLinePerEventWithItsKind) {
  v1::WatchResponse response;
  *response.add_events() = Event(5, "a", "\"5-1\"");
  v1::WatchEvent deletion = Event(6, "b", "");
  deletion.set_deleted(true);
  *response.add_events() = deletion;
  EXPECT_EQ(FormatWatchResponse(response),
            "5\tput\ta\t\"5-1\"\n"
            "6\tdelete\tb\t\n");
}

TEST(FormatWatchResponseTest, InitialStateAndItsEnd) {
  v1::WatchResponse initial;
  v1::WatchEvent event = Event(3, "a", "\"3-1\"");
  event.set_initial(true);
  *initial.add_events() = event;
  EXPECT_EQ(FormatWatchResponse(initial), "3\tinitial\ta\t\"3-1\"\n");
  v1::WatchResponse end;
  end.set_initial_state_end(true);
  end.set_revision(9);
  EXPECT_EQ(FormatWatchResponse(end), "9\tinitial-state-end\n");
}

TEST(FormatWatchResponseTest, AProgressNotificationPrintsNothing) {
  v1::WatchResponse progress;
  progress.set_revision(12);
  EXPECT_EQ(FormatWatchResponse(progress), "");
}

}  // namespace
}  // namespace etagd
