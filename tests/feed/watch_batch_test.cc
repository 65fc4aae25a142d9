// A batch's wire form is exactly the message's: what a gRPC client parses
// is what the feed meant, built from shared event bytes. Pure.
#include "service/feed/watch_batch.h"

#include <string>

#include "gtest/gtest.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

SharedEvent Event(int64_t revision, size_t content_bytes = 0, bool initial = false) {
  v1::WatchEvent event;
  event.mutable_resource()->set_name("some/name");
  event.mutable_resource()->set_revision(revision);
  event.mutable_resource()->set_etag("\"abc\"");
  event.mutable_resource()->set_content(std::string(content_bytes, 'x'));
  event.set_initial(initial);
  return SharedEvent(std::move(event));
}

void ExpectWireIsTheMessage(const WatchBatch& batch) {
  const v1::WatchResponse message = batch.ToProto();
  EXPECT_EQ(batch.ToWire(), message.SerializeAsString());
  v1::WatchResponse parsed;
  ASSERT_TRUE(parsed.ParseFromString(batch.ToWire()));
  EXPECT_EQ(parsed.SerializeAsString(), message.SerializeAsString());
}

TEST(WatchBatchTest, ASharedEventCountsItsSerializedBytes) {
  const SharedEvent event = Event(7, 300);
  EXPECT_EQ(event.bytes, static_cast<int64_t>(event.event().ByteSizeLong()));
}

TEST(WatchBatchTest, AProgressResponseIsItsRevisionAlone) {
  WatchBatch progress;
  progress.revision = 1234567890123;
  ExpectWireIsTheMessage(progress);
}

TEST(WatchBatchTest, AProgressResponseAtRevisionZeroIsEmpty) {
  WatchBatch progress;
  EXPECT_EQ(progress.ToWire(), "");
  ExpectWireIsTheMessage(progress);
}

TEST(WatchBatchTest, EventsAndTheirRevisionMatchTheMessage) {
  WatchBatch batch;
  batch.events = {Event(5), Event(6, 10), Event(9, 200)};
  batch.revision = 11;
  ExpectWireIsTheMessage(batch);
}

// Lengths of 128 bytes and more take more than one varint byte.
TEST(WatchBatchTest, LargeEventsKeepTheirLengthPrefixesRight) {
  WatchBatch batch;
  batch.events = {Event(1, 127), Event(2, 128), Event(3, 70000)};
  batch.revision = 3;
  ExpectWireIsTheMessage(batch);
}

TEST(WatchBatchTest, TheInitialStateEndMarkerMatchesTheMessage) {
  WatchBatch marker;
  marker.initial_state_end = true;
  marker.revision = 42;
  ExpectWireIsTheMessage(marker);
}

TEST(WatchBatchTest, InitialEventsWithoutARevisionMatchTheMessage) {
  WatchBatch batch;
  batch.events = {Event(3, 0, true), Event(2, 0, true)};
  ExpectWireIsTheMessage(batch);
}

}  // namespace
}  // namespace etagd
