// The change feed hub over a real RocksDB store.
#include "service/feed/change_feed.h"

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"
#include "service/error_details.h"
#include "service/store/rocksdb/rocksdb_store.h"
#include "tests/feed/watch_reader.h"
#include "tests/testing/forwarding_store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

class ChangeFeedTest : public testing::Test {
 protected:
  void SetUp() override { Open(); }
  void TearDown() override {
    feed_.reset();
    store_.reset();
  }

  void Open() {
    feed_.reset();
    store_.reset();
    RocksDbStoreOptions options;
    options.path = path_;
    options.sync_writes = false;
    options.space_check_interval = absl::ZeroDuration();
    options.change_prune_interval = absl::ZeroDuration();
    options.change_retention_revisions = retention_revisions_;
    options.change_retention = absl::ZeroDuration();
    absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(options);
    ASSERT_THAT(store, IsOk());
    store_ = *std::move(store);
    feed_ = std::make_unique<ChangeFeed>(*store_, feed_options_);
  }

  Record Write(const std::string& name, const std::string& content,
               bool is_delete = false) {
    absl::StatusOr<std::optional<Record>> current =
        store_->ReadCurrent(name, false);
    EXPECT_THAT(current, IsOk());
    WriteRequest request;
    request.name = name;
    request.expected_revision =
        current.ok() && current->has_value() ? (*current)->revision : 0;
    request.is_delete = is_delete;
    request.content = content;
    absl::StatusOr<Record> written = store_->Write(request);
    EXPECT_THAT(written, IsOk());
    return written.ok() ? *written : Record();
  }

  WatchReader Watch(const std::string& prefix, int64_t start = 0) {
    v1::WatchRequest request;
    request.set_prefix(prefix);
    request.set_start_revision(start);
    return WatchReader(feed_->Watch(request));
  }

  // Reads events until `count` have come; their revisions.
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

  const std::string path_ = TestPath("db");
  int64_t retention_revisions_ = 0;
  ChangeFeedOptions feed_options_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<ChangeFeed> feed_;
};

TEST_F(ChangeFeedTest, FromNowTheFirstResponseGivesTheCurrentRevision) {
  const Record before = Write("a", "1");
  WatchReader reader = Watch("");
  absl::StatusOr<v1::WatchResponse> first = reader.Next();
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(first->events_size(), 0);
  EXPECT_EQ(first->revision(), before.revision);
}

TEST_F(ChangeFeedTest, FromNowDeliversOnlyLaterChanges) {
  Write("a", "1");
  WatchReader reader = Watch("");
  ASSERT_THAT(reader.Next(), IsOk());
  const Record later = Write("a", "2");
  absl::StatusOr<v1::WatchResponse> response = reader.NextEvents();
  ASSERT_THAT(response, IsOk());
  ASSERT_EQ(response->events_size(), 1);
  EXPECT_EQ(response->events(0).resource().revision(), later.revision);
  EXPECT_EQ(response->events(0).resource().etag(), later.etag);
  EXPECT_GE(response->revision(), later.revision);
}

TEST_F(ChangeFeedTest, OnlyNamesUnderThePrefixAreDelivered) {
  WatchReader reader = Watch("p/");
  Write("q/1", "x");
  const Record match = Write("p/1", "x");
  EXPECT_EQ(ReadRevisions(reader, 1), std::vector<int64_t>{match.revision});
}

TEST_F(ChangeFeedTest, ExactWatchesOneName) {
  v1::WatchRequest request;
  request.set_prefix("p");
  request.set_exact(true);
  WatchReader reader(feed_->Watch(request));
  Write("p/1", "x");
  Write("pp", "x");
  const Record match = Write("p", "x");
  EXPECT_EQ(ReadRevisions(reader, 1), std::vector<int64_t>{match.revision});
}

TEST_F(ChangeFeedTest, ADeletionIsAnEventMarkedDeleted) {
  Write("a", "1");
  WatchReader reader = Watch("");
  const Record deleted = Write("a", "", /*is_delete=*/true);
  absl::StatusOr<v1::WatchResponse> response = reader.NextEvents();
  ASSERT_THAT(response, IsOk());
  ASSERT_EQ(response->events_size(), 1);
  EXPECT_TRUE(response->events(0).deleted());
  EXPECT_EQ(response->events(0).resource().revision(), deleted.revision);
}

TEST_F(ChangeFeedTest, IncludeContentCarriesTheVersionsContent) {
  v1::WatchRequest request;
  request.set_include_content(true);
  WatchReader reader(feed_->Watch(request));
  Write("a", "hello");
  absl::StatusOr<v1::WatchResponse> response = reader.NextEvents();
  ASSERT_THAT(response, IsOk());
  ASSERT_EQ(response->events_size(), 1);
  EXPECT_EQ(response->events(0).resource().content(), "hello");
}

TEST_F(ChangeFeedTest, AStartRevisionReplaysFromThere) {
  const Record first = Write("a", "1");
  const Record second = Write("b", "2");
  const Record third = Write("a", "3");
  WatchReader reader = Watch("", second.revision);
  EXPECT_EQ(ReadRevisions(reader, 2),
            (std::vector<int64_t>{second.revision, third.revision}));
  const Record fourth = Write("c", "4");
  EXPECT_EQ(ReadRevisions(reader, 1), std::vector<int64_t>{fourth.revision});
  (void)first;
}

// The window's edges: exactly the oldest, one below it, a future revision.
TEST_F(ChangeFeedTest, StartingAtTheOldestRevisionKeptWorks) {
  retention_revisions_ = 2;
  Open();
  std::vector<int64_t> written;
  for (int i = 0; i < 5; ++i) written.push_back(Write("a", "x").revision);
  ASSERT_THAT(PruneChangesForTest(*store_), IsOk());
  absl::StatusOr<ChangeWindow> window = store_->Changes();
  ASSERT_THAT(window, IsOk());
  WatchReader reader = Watch("", window->oldest_revision);
  std::vector<int64_t> expected;
  for (int64_t r : written) {
    if (r >= window->oldest_revision) expected.push_back(r);
  }
  EXPECT_EQ(ReadRevisions(reader, expected.size()), expected);
}

TEST_F(ChangeFeedTest, StartingBelowTheOldestIsOutOfRangeWithTheWindow) {
  retention_revisions_ = 2;
  Open();
  for (int i = 0; i < 5; ++i) Write("a", "x");
  ASSERT_THAT(PruneChangesForTest(*store_), IsOk());
  absl::StatusOr<ChangeWindow> window = store_->Changes();
  ASSERT_THAT(window, IsOk());
  WatchReader reader = Watch("", window->oldest_revision - 1);
  absl::StatusOr<v1::WatchResponse> response = reader.Next();
  ASSERT_THAT(response, StatusIs(absl::StatusCode::kOutOfRange));
  std::optional<v1::WatchWindow> detail = GetWatchWindow(response.status());
  ASSERT_TRUE(detail.has_value());
  EXPECT_EQ(detail->oldest_revision(), window->oldest_revision);
  EXPECT_EQ(detail->current_revision(), window->committed_revision);
  // Every later Next gets the same error.
  EXPECT_THAT(reader.Next(), StatusIs(absl::StatusCode::kOutOfRange));
}

TEST_F(ChangeFeedTest, AFutureStartRevisionWaitsForIt) {
  const Record now = Write("a", "1");
  WatchReader reader = Watch("", now.revision + 3);
  Write("a", "2");
  Write("a", "3");
  const Record awaited = Write("a", "4");
  EXPECT_EQ(awaited.revision, now.revision + 3);
  EXPECT_EQ(ReadRevisions(reader, 1), std::vector<int64_t>{awaited.revision});
}

TEST_F(ChangeFeedTest, InitialStateListsThenMarksThenStreamsChanges) {
  const Record a = Write("p/a", "1");
  const Record b = Write("p/b", "2");
  Write("q/c", "3");
  v1::WatchRequest request;
  request.set_prefix("p/");
  request.set_initial_state(true);
  WatchReader reader(feed_->Watch(request));
  std::vector<std::string> names;
  int64_t end_revision = 0;
  while (end_revision == 0) {
    absl::StatusOr<v1::WatchResponse> response = reader.NextEvents();
    ASSERT_THAT(response, IsOk());
    if (response->initial_state_end()) {
      end_revision = response->revision();
      break;
    }
    for (const v1::WatchEvent& event : response->events()) {
      EXPECT_TRUE(event.initial());
      names.push_back(event.resource().name());
    }
  }
  EXPECT_EQ(names, (std::vector<std::string>{"p/a", "p/b"}));
  EXPECT_GE(end_revision, b.revision);
  const Record later = Write("p/a", "changed");
  absl::StatusOr<v1::WatchResponse> change = reader.NextEvents();
  ASSERT_THAT(change, IsOk());
  ASSERT_EQ(change->events_size(), 1);
  EXPECT_FALSE(change->events(0).initial());
  EXPECT_EQ(change->events(0).resource().revision(), later.revision);
  (void)a;
}

TEST_F(ChangeFeedTest, ASlowWatcherIsCaughtUpFromTheLogInOrder) {
  // No shared window: every change a watcher is behind on comes from the log.
  feed_options_.cache_bytes = 0;
  feed_options_.queue.max_events = 4;
  feed_options_.page_size = 3;
  Open();
  WatchReader reader = Watch("");
  ASSERT_THAT(reader.Next(), IsOk());
  std::vector<int64_t> written;
  for (int i = 0; i < 100; ++i) {
    written.push_back(Write(absl::StrCat("n", i % 7), "x").revision);
  }
  EXPECT_EQ(ReadRevisions(reader, written.size()), written);
}

TEST_F(ChangeFeedTest, AWatcherThatNeverReadsDoesNotHoldUpAnother) {
  feed_options_.queue.max_events = 2;
  Open();
  WatchReader stalled = Watch("");
  WatchReader reading = Watch("");
  ASSERT_THAT(reading.Next(), IsOk());
  std::vector<int64_t> written;
  for (int i = 0; i < 50; ++i) written.push_back(Write("n", "x").revision);
  EXPECT_EQ(ReadRevisions(reading, written.size()), written);
}

TEST_F(ChangeFeedTest, AWatcherLeftBehindByPruningGetsOutOfRangeAtOnce) {
  retention_revisions_ = 5;
  // No shared window, which would still hold what the log pruned.
  feed_options_.cache_bytes = 0;
  feed_options_.queue.max_events = 2;
  Open();
  WatchReader reader = Watch("");
  ASSERT_THAT(reader.Next(), IsOk());
  for (int i = 0; i < 30; ++i) Write("n", "x");
  ASSERT_THAT(PruneChangesForTest(*store_), IsOk());
  // Its queue is full (two events); the error still comes first... once the
  // catch-up finds the gap, which the first reads trigger.
  absl::Status status;
  for (int i = 0; i < 40 && status.ok(); ++i) {
    status = reader.NextEvents().status();
  }
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kOutOfRange));
  EXPECT_TRUE(GetWatchWindow(status).has_value());
}

TEST_F(ChangeFeedTest, ProgressArrivesWhenNothingMatchingChanges) {
  feed_options_.progress_interval = absl::Milliseconds(50);
  Open();
  WatchReader reader = Watch("p/");
  ASSERT_THAT(reader.Next(), IsOk());
  const Record other = Write("q/1", "x");
  // The progress revision moves past the unrelated change.
  int64_t revision = 0;
  for (int i = 0; i < 100 && revision < other.revision; ++i) {
    absl::StatusOr<v1::WatchResponse> progress = reader.Next(absl::Seconds(2));
    ASSERT_THAT(progress, IsOk());
    EXPECT_EQ(progress->events_size(), 0);
    revision = progress->revision();
  }
  EXPECT_GE(revision, other.revision);
}

TEST_F(ChangeFeedTest, TooManyWatchersIsResourceExhausted) {
  feed_options_.max_watchers = 2;
  Open();
  WatchReader first = Watch("");
  WatchReader second = Watch("");
  WatchReader third = Watch("");
  EXPECT_THAT(third.Next(), StatusIs(absl::StatusCode::kResourceExhausted));
  first.Close();
  WatchReader fourth = Watch("");
  EXPECT_THAT(fourth.Next(), IsOk());
}

TEST_F(ChangeFeedTest, TooManyWatchersOfOnePeerIsResourceExhausted) {
  feed_options_.max_watchers_per_peer = 1;
  Open();
  v1::WatchRequest request;
  WatchReader first(feed_->Watch(request, "peer-1"));
  WatchReader second(feed_->Watch(request, "peer-1"));
  WatchReader other(feed_->Watch(request, "peer-2"));
  EXPECT_THAT(second.Next(), StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_THAT(other.Next(), IsOk());
}

TEST_F(ChangeFeedTest, ShutdownEndsPendingStreamsWithUnavailable) {
  WatchReader reader = Watch("");
  ASSERT_THAT(reader.Next(), IsOk());
  EXPECT_THAT(reader.Next(absl::Milliseconds(10)),
              StatusIs(absl::StatusCode::kDeadlineExceeded));
  feed_->Shutdown();
  EXPECT_THAT(reader.Next(), StatusIs(absl::StatusCode::kUnavailable));
  EXPECT_THAT(Watch("").Next(), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(ChangeFeedTest, DestroyingAStreamCompletesItsPendingNextWithCancelled) {
  std::unique_ptr<WatchStream> stream = feed_->Watch(v1::WatchRequest());
  absl::Notification first;
  stream->Next([&](absl::StatusOr<v1::WatchResponse>) { first.Notify(); });
  first.WaitForNotification();
  absl::Status status;
  stream->Next([&](absl::StatusOr<v1::WatchResponse> r) { status = r.status(); });
  stream.reset();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kCancelled));
  EXPECT_EQ(feed_->watchers(), 0);
}

TEST_F(ChangeFeedTest, AWatchResumesAcrossARestartOfTheStore) {
  const Record before = Write("a", "1");
  Open();
  const Record after = Write("a", "2");
  WatchReader reader = Watch("", before.revision);
  EXPECT_EQ(ReadRevisions(reader, 2),
            (std::vector<int64_t>{before.revision, after.revision}));
}

TEST_F(ChangeFeedTest, InvalidRequestsFailOnTheFirstNext) {
  v1::WatchRequest request;
  request.set_start_revision(-5);
  EXPECT_THAT(WatchReader(feed_->Watch(request)).Next(),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// An engine without a change log (as the etcd engine is for now).
class NoChangeLogStore : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  absl::StatusOr<ChangeWindow> Changes() override {
    return absl::UnimplementedError("no change log");
  }
};

TEST_F(ChangeFeedTest, AnEngineWithoutAChangeLogAnswersUnimplemented) {
  feed_.reset();
  NoChangeLogStore store(std::move(store_));
  ChangeFeed feed(store, feed_options_);
  EXPECT_THAT(WatchReader(feed.Watch(v1::WatchRequest())).Next(),
              StatusIs(absl::StatusCode::kUnimplemented));
}

}  // namespace
}  // namespace etagd
