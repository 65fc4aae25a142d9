// The change feed hub over the etcd engine: replicas, compaction, and an
// etcd restart, against a real etcd on loopback ports.
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "service/error_details.h"
#include "service/feed/change_feed.h"
#include "service/store/etcd/etcd_store.h"
#include "tests/feed/shared_etcd.h"
#include "tests/feed/watch_reader.h"
#include "tests/testing/etcd_cluster.h"
#include "tests/testing/status_matchers.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

testing::Environment* const kSharedEtcd =
    testing::AddGlobalTestEnvironment(new SharedEtcd);

std::unique_ptr<Store> OpenReplica(int64_t max_buffered_changes = 0) {
  EtcdStoreOptions options = SharedEtcdStoreOptions();
  options.max_buffered_changes_for_test = max_buffered_changes;
  absl::StatusOr<std::unique_ptr<Store>> store = OpenEtcdStore(options);
  EXPECT_THAT(store, IsOk());
  return store.ok() ? *std::move(store) : nullptr;
}

Record Write(Store& store, const std::string& name, bool is_delete = false) {
  absl::StatusOr<std::optional<Record>> current = store.ReadCurrent(name, false);
  EXPECT_THAT(current, IsOk());
  WriteRequest request;
  request.name = name;
  request.expected_revision =
      current.ok() && current->has_value() ? (*current)->revision : 0;
  request.is_delete = is_delete;
  request.content = "x";
  absl::StatusOr<Record> written = store.Write(request);
  EXPECT_THAT(written, IsOk());
  return written.ok() ? *written : Record();
}

ChangeFeedOptions FeedOptions() {
  ChangeFeedOptions options;
  options.progress_interval = absl::Milliseconds(100);
  return options;
}

WatchReader Watch(ChangeFeed& feed, int64_t start, bool initial_state = false,
                  const std::string& prefix = "") {
  v1::WatchRequest request;
  request.set_prefix(prefix);
  request.set_start_revision(start);
  request.set_initial_state(initial_state);
  return WatchReader(feed.Watch(request));
}

// Reads events until `count` have come: their revisions.
std::vector<int64_t> ReadRevisions(WatchReader& reader, size_t count) {
  std::vector<int64_t> revisions;
  while (revisions.size() < count) {
    absl::StatusOr<v1::WatchResponse> response = reader.NextEvents();
    EXPECT_THAT(response, IsOk());
    if (!response.ok()) break;
    for (const v1::WatchEvent& event : response->events()) {
      revisions.push_back(event.resource().revision());
    }
  }
  return revisions;
}

TEST(EtcdChangeFeedTest, AWriteThroughOneReplicaReachesAWatchOnAnother) {
  std::unique_ptr<Store> a = OpenReplica();
  std::unique_ptr<Store> b = OpenReplica();
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  ChangeFeed feed(*b, FeedOptions());
  WatchReader reader = Watch(feed, 0);
  ASSERT_THAT(reader.Next(), IsOk());  // The watch's start.
  const Record put = Write(*a, "x");
  const Record deleted = Write(*a, "x", /*is_delete=*/true);
  std::vector<v1::WatchEvent> events;
  while (events.size() < 2) {
    absl::StatusOr<v1::WatchResponse> response = reader.NextEvents();
    ASSERT_THAT(response, IsOk());
    for (const v1::WatchEvent& event : response->events()) events.push_back(event);
  }
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].resource().name(), "x");
  EXPECT_EQ(events[0].resource().revision(), put.revision);
  EXPECT_FALSE(events[0].deleted());
  EXPECT_EQ(events[1].resource().revision(), deleted.revision);
  EXPECT_TRUE(events[1].deleted());
}

// A write is answered before the replica's own watch delivers it; a watch
// from now started right after it must still begin after it.
TEST(EtcdChangeFeedTest, AWatchFromNowStartedRightAfterAWriteSeesTheNextChangeOnly) {
  std::unique_ptr<Store> a = OpenReplica();
  ASSERT_NE(a, nullptr);
  ChangeFeed feed(*a, FeedOptions());
  const Record acknowledged = Write(*a, "x");
  WatchReader reader = Watch(feed, 0);
  absl::StatusOr<v1::WatchResponse> start = reader.Next();  // The watch's start.
  ASSERT_THAT(start, IsOk());
  EXPECT_GE(start->revision(), acknowledged.revision);
  const Record next = Write(*a, "x");
  EXPECT_EQ(ReadRevisions(reader, 1), std::vector<int64_t>{next.revision});
}

TEST(EtcdChangeFeedTest, AnInitialStateStartedRightAfterAWriteHoldsIt) {
  std::unique_ptr<Store> a = OpenReplica();
  ASSERT_NE(a, nullptr);
  ChangeFeed feed(*a, FeedOptions());
  const Record acknowledged = Write(*a, "q/x");
  WatchReader reader = Watch(feed, 0, /*initial_state=*/true, "q/");
  std::vector<int64_t> listed;
  while (true) {
    absl::StatusOr<v1::WatchResponse> response = reader.NextEvents();
    ASSERT_THAT(response, IsOk());
    for (const v1::WatchEvent& event : response->events()) {
      EXPECT_TRUE(event.initial());
      listed.push_back(event.resource().revision());
    }
    if (response->initial_state_end()) break;
  }
  EXPECT_EQ(listed, std::vector<int64_t>{acknowledged.revision});
  const Record next = Write(*a, "q/x");
  EXPECT_EQ(ReadRevisions(reader, 1), std::vector<int64_t>{next.revision});
}

TEST(EtcdChangeFeedTest, AnInitialStateOnAReplicaListsWhatAnotherWrote) {
  std::unique_ptr<Store> a = OpenReplica();
  ASSERT_NE(a, nullptr);
  Write(*a, "p/a");
  const Record b_written = Write(*a, "p/b");
  std::unique_ptr<Store> b = OpenReplica();
  ASSERT_NE(b, nullptr);
  ChangeFeed feed(*b, FeedOptions());
  WatchReader reader = Watch(feed, 0, /*initial_state=*/true, "p/");
  std::vector<std::string> names;
  while (true) {
    absl::StatusOr<v1::WatchResponse> response = reader.NextEvents();
    ASSERT_THAT(response, IsOk());
    for (const v1::WatchEvent& event : response->events()) {
      EXPECT_TRUE(event.initial());
      names.push_back(event.resource().name());
    }
    if (response->initial_state_end()) {
      EXPECT_GE(response->revision(), b_written.revision);
      break;
    }
  }
  EXPECT_EQ(names, (std::vector<std::string>{"p/a", "p/b"}));
}

TEST(EtcdChangeFeedTest, AfterACompactionAStartBelowItIsOutOfRangeAndOneAtItsEdgeWorks) {
  std::unique_ptr<Store> a = OpenReplica();
  ASSERT_NE(a, nullptr);
  std::vector<int64_t> written;
  for (int i = 0; i < 5; ++i) written.push_back(Write(*a, "n").revision);
  ASSERT_THAT(CompactEtcd(written[2]), IsOk());
  // A replica opened after the compaction has none of it in memory.
  std::unique_ptr<Store> b = OpenReplica();
  ASSERT_NE(b, nullptr);
  ChangeFeed feed(*b, FeedOptions());
  const int64_t oldest = written[2] + 1;

  WatchReader below = Watch(feed, oldest - 1);
  absl::StatusOr<v1::WatchResponse> refused = below.Next();
  ASSERT_THAT(refused, StatusIs(absl::StatusCode::kOutOfRange));
  std::optional<v1::WatchWindow> window = GetWatchWindow(refused.status());
  ASSERT_TRUE(window.has_value());
  EXPECT_EQ(window->oldest_revision(), oldest);

  WatchReader at_edge = Watch(feed, oldest);
  EXPECT_EQ(ReadRevisions(at_edge, 2),
            (std::vector<int64_t>{written[3], written[4]}));
}

TEST(EtcdChangeFeedTest, AReadFromHistoryLearnsOfACompactionSinceTheReplicaOpened) {
  // One change in memory: older reads go to etcd's history.
  std::unique_ptr<Store> a = OpenReplica(/*max_buffered_changes=*/1);
  ASSERT_NE(a, nullptr);
  std::vector<int64_t> written;
  for (int i = 0; i < 5; ++i) written.push_back(Write(*a, "n").revision);
  ASSERT_THAT(CompactEtcd(written[2]), IsOk());
  ChangeFeed feed(*a, FeedOptions());
  WatchReader reader = Watch(feed, written[1]);
  absl::StatusOr<v1::WatchResponse> refused = reader.NextEvents();
  ASSERT_THAT(refused, StatusIs(absl::StatusCode::kOutOfRange));
  std::optional<v1::WatchWindow> window = GetWatchWindow(refused.status());
  ASSERT_TRUE(window.has_value());
  EXPECT_EQ(window->oldest_revision(), written[2] + 1);
}

TEST(EtcdChangeFeedTest, AWatcherGetsEveryEventOnceAndInOrderAcrossAnEtcdRestart) {
  std::unique_ptr<Store> watched = OpenReplica();
  std::unique_ptr<Store> writer = OpenReplica();
  ASSERT_NE(watched, nullptr);
  ASSERT_NE(writer, nullptr);
  ChangeFeed feed(*watched, FeedOptions());
  WatchReader reader = Watch(feed, 0);
  ASSERT_THAT(reader.Next(), IsOk());
  std::vector<int64_t> written;
  for (int i = 0; i < 3; ++i) written.push_back(Write(*writer, "n").revision);
  std::vector<int64_t> received = ReadRevisions(reader, 3);
  ASSERT_THAT(SharedEtcd::cluster().Restart(0), IsOk());
  // Written while the watched replica's watch is still opening again: it
  // has to resume from where it was.
  for (int i = 0; i < 3; ++i) written.push_back(Write(*writer, "n").revision);
  for (int64_t revision : ReadRevisions(reader, 3)) received.push_back(revision);
  EXPECT_EQ(received, written);
  // And nothing twice.
  EXPECT_THAT(reader.NextEvents(absl::Seconds(1)),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
}

// A three-member cluster of its own, a watched replica on member 0 only and
// a writing one on member 1 only: member 0 can go down while the cluster
// goes on.
class EtcdThreeMemberFeedTest : public testing::Test {
 protected:
  void SetUp() override {
    const char* root = std::getenv("TEST_TMPDIR");
    const testing::TestInfo* test = testing::UnitTest::GetInstance()->current_test_info();
    EtcdClusterOptions cluster_options;
    cluster_options.members = 3;
    absl::StatusOr<std::unique_ptr<EtcdCluster>> cluster = EtcdCluster::Start(
        absl::StrCat(root != nullptr ? root : "/tmp", "/", test->name()), cluster_options);
    ASSERT_THAT(cluster, IsOk());
    cluster_ = *std::move(cluster);
    EtcdStoreOptions options = SharedEtcdStoreOptions();
    options.endpoints = {cluster_->ClientEndpoint(0)};
    absl::StatusOr<std::unique_ptr<Store>> watched = OpenEtcdStore(options);
    ASSERT_THAT(watched, IsOk());
    watched_ = *std::move(watched);
    options.endpoints = {cluster_->ClientEndpoint(1)};
    absl::StatusOr<std::unique_ptr<Store>> writer = OpenEtcdStore(options);
    ASSERT_THAT(writer, IsOk());
    writer_ = *std::move(writer);
  }

  // Declared first: destroyed after the stores over it.
  std::unique_ptr<EtcdCluster> cluster_;
  std::unique_ptr<Store> watched_;
  std::unique_ptr<Store> writer_;
};

TEST_F(EtcdThreeMemberFeedTest, AWatchResumesWithWhatOtherMembersCommittedWhileItsMemberWasDown) {
  ChangeFeed feed(*watched_, FeedOptions());
  WatchReader reader = Watch(feed, 0);
  ASSERT_THAT(reader.Next(), IsOk());
  std::vector<int64_t> written;
  for (int i = 0; i < 3; ++i) written.push_back(Write(*writer_, "n").revision);
  std::vector<int64_t> received = ReadRevisions(reader, 3);
  ASSERT_THAT(cluster_->Kill(0), IsOk());
  for (int i = 0; i < 3; ++i) written.push_back(Write(*writer_, "n").revision);
  ASSERT_THAT(cluster_->Restart(0), IsOk());
  for (int64_t revision : ReadRevisions(reader, 3)) received.push_back(revision);
  EXPECT_EQ(received, written);
  EXPECT_THAT(reader.NextEvents(absl::Seconds(1)),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  feed.Shutdown();
}

// etcd compacted revisions the replica's watch had not got while its member
// was down: the watchers that needed them end with OUT_OF_RANGE, and the
// feed goes on after the compaction.
TEST_F(EtcdThreeMemberFeedTest, RevisionsCompactedWhileTheWatchWasDownEndWatchersBehindThem) {
  ChangeFeed feed(*watched_, FeedOptions());
  WatchReader behind = Watch(feed, 0);
  ASSERT_THAT(behind.Next(), IsOk());
  const int64_t first = Write(*writer_, "n").revision;
  ASSERT_EQ(ReadRevisions(behind, 1), std::vector<int64_t>{first});

  ASSERT_THAT(cluster_->Kill(0), IsOk());
  int64_t last = 0;
  for (int i = 0; i < 3; ++i) last = Write(*writer_, "n").revision;
  ASSERT_THAT(CompactEtcd(last, cluster_->ClientEndpoint(1), /*physical=*/false),
              IsOk());
  // etcd serves clients only once the member has applied its log (the
  // compaction too).
  ASSERT_THAT(cluster_->Restart(0), IsOk());

  absl::StatusOr<v1::WatchResponse> refused = behind.NextEvents();
  ASSERT_THAT(refused, StatusIs(absl::StatusCode::kOutOfRange));
  std::optional<v1::WatchWindow> window = GetWatchWindow(refused.status());
  ASSERT_TRUE(window.has_value());
  EXPECT_EQ(window->oldest_revision(), last + 1);

  WatchReader after = Watch(feed, last + 1);
  const int64_t next = Write(*writer_, "n").revision;
  EXPECT_EQ(ReadRevisions(after, 1), std::vector<int64_t>{next});
  feed.Shutdown();
}

// etcd compacted revisions the watch had not got, but none of them changed
// this prefix: the watchers go on.
TEST_F(EtcdThreeMemberFeedTest, ACompactionWhileTheWatchWasDownThatLostNothingEndsNoWatcher) {
  ChangeFeed feed(*watched_, FeedOptions());
  WatchReader reader = Watch(feed, 0);
  ASSERT_THAT(reader.Next(), IsOk());
  const int64_t first = Write(*writer_, "n").revision;
  ASSERT_EQ(ReadRevisions(reader, 1), std::vector<int64_t>{first});

  ASSERT_THAT(cluster_->Kill(0), IsOk());
  // The other two elect a leader if member 0 was it.
  ASSERT_THAT(cluster_->WaitHealthy(absl::Seconds(30)), IsOk());
  {
    auto kv = etcdserverpb::KV::NewStub(grpc::CreateChannel(
        cluster_->ClientEndpoint(1), grpc::InsecureChannelCredentials()));
    int64_t revision = 0;
    for (int i = 0; i < 3; ++i) {
      etcdserverpb::PutRequest put;
      put.set_key("/another-prefix/key");
      put.set_value("x");
      etcdserverpb::PutResponse response;
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
      ASSERT_TRUE(kv->Put(&context, put, &response).ok());
      revision = response.header().revision();
    }
    ASSERT_THAT(
        CompactEtcd(revision, cluster_->ClientEndpoint(1), /*physical=*/false),
        IsOk());
  }
  ASSERT_THAT(cluster_->Restart(0), IsOk());

  const int64_t next = Write(*writer_, "n").revision;
  EXPECT_EQ(ReadRevisions(reader, 1), std::vector<int64_t>{next});
  feed.Shutdown();
}

}  // namespace
}  // namespace etagd
