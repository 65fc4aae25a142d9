// The embedded gateway's direct backend: the same outcomes as a gRPC call,
// with reads answered on the calling thread (or, from a store that reads
// without blocking, where the read completes) and writes on the server's
// write threads under its write budget and authorization.
#include "gateway/local_backend.h"

#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/auth.h"
#include "service/error_details.h"
#include "service/store/rocksdb/rocksdb_store.h"
#include "tests/testing/blocking_store.h"
#include "tests/testing/fake_feed.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

// Waits for a callback's result. The result is handed over under a mutex:
// a Notification already notified is waited for without one, an ordering
// ThreadSanitizer does not see in Debian's uninstrumented Abseil.
template <typename T>
struct Outcome {
  absl::Notification done;
  absl::Mutex mu;
  absl::StatusOr<T> result = absl::UnknownError("no answer");
  std::thread::id thread;

  Backend::Callback<T> Callback() {
    return [this](absl::StatusOr<T> r) {
      {
        absl::MutexLock lock(&mu);
        result = std::move(r);
        thread = std::this_thread::get_id();
      }
      done.Notify();
    };
  }
  const absl::StatusOr<T>& Wait() {
    done.WaitForNotification();
    absl::MutexLock lock(&mu);
    return result;
  }
};

class LocalBackendTest : public testing::Test {
 protected:
  void Start(ServerOptions options = {}) {
    RocksDbStoreOptions store_options;
    store_options.path = TestPath("db");
    absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(store_options);
    ASSERT_THAT(store, IsOk());
    auto blocking = std::make_unique<BlockingStore>(*std::move(store));
    blocking_ = blocking.get();
    options.grpc_listen = "127.0.0.1:0";
    absl::StatusOr<std::unique_ptr<Server>> server =
        Server::Start(options, std::move(blocking));
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    backend_ = NewLocalBackend(*server_, watches_);
  }

  void TearDown() override {
    if (blocking_ != nullptr && !blocking_->release().HasBeenNotified()) {
      blocking_->release().Notify();
    }
  }

  absl::StatusOr<v1::PutResourceResponse> Put(const std::string& name,
                                              const std::string& content,
                                              const Caller& caller = {}) {
    v1::PutResourceRequest request;
    request.set_name(name);
    request.set_content(content);
    Outcome<v1::PutResourceResponse> outcome;
    backend_->Put(caller, request, outcome.Callback());
    return outcome.Wait();
  }

  // The first answer of a watch.
  static absl::StatusOr<v1::WatchResponse> FirstOf(WatchStream& stream) {
    Outcome<v1::WatchResponse> outcome;
    stream.Next(outcome.Callback());
    return outcome.Wait();
  }

  // Where watches go; set before Start.
  WatchOpener watches_;
  std::unique_ptr<Server> server_;
  BlockingStore* blocking_ = nullptr;
  std::unique_ptr<Backend> backend_;
};

TEST_F(LocalBackendTest, GetIsAnsweredOnTheCallingThreadBeforeItReturns) {
  Start();
  ASSERT_THAT(Put("doc", "hello"), IsOk());
  GetQuery request;
  request.name = "doc";
  Outcome<GetAnswer> outcome;
  backend_->Get(Caller(), request, outcome.Callback());
  ASSERT_TRUE(outcome.done.HasBeenNotified());
  EXPECT_EQ(outcome.thread, std::this_thread::get_id());
  ASSERT_THAT(outcome.result, IsOk());
  EXPECT_EQ(outcome.result->version.content, "hello");
}

// A store whose current reads do not block (the etcd engine's consistent
// cache) is read without holding the caller, an HTTP I/O thread, for the
// read's round trip: Get returns first and the answer comes later.
TEST_F(LocalBackendTest, GetFromAStoreThatReadsWithoutBlockingDoesNotWaitForTheRead) {
  Start();
  ASSERT_THAT(Put("slow", "hello"), IsOk());
  blocking_->AnswerReadsAsynchronously();
  blocking_->Arm();
  GetQuery request;
  request.name = "slow";
  Outcome<GetAnswer> outcome;
  absl::Notification returned;
  std::thread caller([&] {
    backend_->Get(Caller(), request, outcome.Callback());
    returned.Notify();
  });
  const bool returned_first = returned.WaitForNotificationWithTimeout(absl::Seconds(10));
  const bool answered_first = outcome.done.HasBeenNotified();
  blocking_->release().Notify();
  caller.join();
  EXPECT_TRUE(returned_first) << "Get waited for the store's read";
  EXPECT_FALSE(answered_first);
  ASSERT_THAT(outcome.Wait(), IsOk());
  EXPECT_EQ(outcome.result->version.content, "hello");
}

TEST_F(LocalBackendTest, AStoreWriteIsAnsweredOnAPipelineThread) {
  Start();
  v1::PutResourceRequest request;
  request.set_name("doc");
  request.set_content("hello");
  Outcome<v1::PutResourceResponse> outcome;
  backend_->Put(Caller(), request, outcome.Callback());
  ASSERT_THAT(outcome.Wait(), IsOk());
  EXPECT_NE(outcome.thread, std::this_thread::get_id());
}

TEST_F(LocalBackendTest, FailedPreconditionKeepsTheCurrentEtagDetail) {
  Start();
  absl::StatusOr<v1::PutResourceResponse> created = Put("doc", "hello");
  ASSERT_THAT(created, IsOk());
  v1::PutResourceRequest request;
  request.set_name("doc");
  request.set_content("lost update");
  request.mutable_preconditions()->add_if_match("\"stale\"");
  Outcome<v1::PutResourceResponse> outcome;
  backend_->Put(Caller(), request, outcome.Callback());
  const absl::Status status = outcome.Wait().status();
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kFailedPrecondition));
  std::optional<v1::PreconditionFailure> detail = GetPreconditionFailure(status);
  ASSERT_TRUE(detail.has_value());
  EXPECT_EQ(detail->current_etag(), created->resource().etag());
}

TEST_F(LocalBackendTest, PutBeyondTheWriteBudgetIsAnOverloadToRetryAfterASecond) {
  ServerOptions options;
  options.grpc_memory_quota_bytes = 1 << 10;
  Start(options);
  // The first Put holds the budget while the store keeps it waiting (in
  // its plan, on the calling thread: hence a thread of its own).
  blocking_->Arm();
  Outcome<v1::PutResourceResponse> held;
  v1::PutResourceRequest request;
  request.set_name("slow");
  request.set_content(std::string(800, 'x'));
  std::thread writer(
      [&] { backend_->Put(Caller(), request, held.Callback()); });
  blocking_->entered().WaitForNotification();

  absl::StatusOr<v1::PutResourceResponse> refused = Put("other", std::string(800, 'y'));
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted));
  EXPECT_EQ(GetRetryDelay(refused.status()), kOverloadRetryDelay);
  blocking_->release().Notify();
  EXPECT_THAT(held.Wait(), IsOk());
  writer.join();
  EXPECT_THAT(Put("other", std::string(800, 'y')), IsOk());
}

TEST_F(LocalBackendTest, CallsNeedATokenWhenTheServerHasTokens) {
  absl::StatusOr<TokenTable> table = TokenTable::Parse("reader-token-0123456789 read\n");
  ASSERT_THAT(table, IsOk());
  ServerOptions options;
  options.tokens = std::make_shared<const TokenStore>(*std::move(table));
  Start(options);
  EXPECT_THAT(Put("doc", "hello"), StatusIs(absl::StatusCode::kUnauthenticated));
  Caller reader;
  reader.bearer_token = "reader-token-0123456789";
  EXPECT_THAT(Put("doc", "hello", reader),
              StatusIs(absl::StatusCode::kPermissionDenied));

  GetQuery get;
  get.name = "doc";
  Outcome<GetAnswer> read;
  backend_->Get(reader, get, read.Callback());
  EXPECT_THAT(read.Wait(), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(LocalBackendTest, WatchReadsTheServersChangeFeed) {
  Start();
  absl::StatusOr<v1::PutResourceResponse> put = Put("doc", "hello");
  ASSERT_THAT(put, IsOk());
  v1::WatchRequest request;
  request.set_start_revision(put->resource().revision());
  std::unique_ptr<WatchStream> stream = backend_->Watch(Caller(), request);
  // Progress notifications may come first.
  absl::StatusOr<v1::WatchResponse> response;
  for (int i = 0; i < 10; ++i) {
    response = FirstOf(*stream);
    if (!response.ok() || response->events_size() > 0) break;
  }
  ASSERT_THAT(response, IsOk());
  ASSERT_GT(response->events_size(), 0);
  EXPECT_EQ(response->events(0).resource().name(), "doc");
  EXPECT_EQ(response->events(0).resource().revision(), put->resource().revision());
}

TEST_F(LocalBackendTest, WatchGoesToTheOpenerWhenOneIsSet) {
  FakeFeed feed;
  watches_ = [&feed](const v1::WatchRequest& request) { return feed.Watch(request); };
  Start();
  v1::WatchRequest request;
  request.set_prefix("a/");
  request.set_start_revision(1);
  feed.Change("a/x");
  std::unique_ptr<WatchStream> stream = backend_->Watch(Caller(), request);
  absl::StatusOr<v1::WatchResponse> first = FirstOf(*stream);
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(first->events(0).resource().name(), "a/x");
}

// A watch reads what a listing of its prefix reads (an exact one, what a
// Get of its name reads): auth.h's decision for those.
TEST_F(LocalBackendTest, WatchNeedsWhatAListingOfItsPrefixNeeds) {
  FakeFeed feed;
  watches_ = [&feed](const v1::WatchRequest& request) { return feed.Watch(request); };
  absl::StatusOr<TokenTable> table =
      TokenTable::Parse("tenant-token-0123456789 read tenant-a/\n");
  ASSERT_THAT(table, IsOk());
  ServerOptions options;
  options.tokens = std::make_shared<const TokenStore>(*std::move(table));
  Start(options);
  Caller tenant;
  tenant.bearer_token = "tenant-token-0123456789";
  v1::WatchRequest other;
  other.set_prefix("tenant-b/");
  EXPECT_THAT(FirstOf(*backend_->Watch(tenant, other)),
              StatusIs(absl::StatusCode::kPermissionDenied));
  v1::WatchRequest own;
  own.set_prefix("tenant-a/");
  EXPECT_THAT(FirstOf(*backend_->Watch(Caller(), own)),
              StatusIs(absl::StatusCode::kUnauthenticated));
  v1::WatchRequest one;
  one.set_prefix("tenant-a/doc");
  one.set_exact(true);
  one.set_start_revision(1);
  feed.Change("tenant-a/doc");
  EXPECT_THAT(FirstOf(*backend_->Watch(tenant, one)), IsOk());
  EXPECT_EQ(feed.open_watchers(), 0);
}

TEST_F(LocalBackendTest, ReadinessFollowsTheServersServingState) {
  Start();
  Outcome<bool> before;
  backend_->CheckHealth([&](absl::Status s) {
    before.Callback()(s.ok() ? absl::StatusOr<bool>(true) : s);
  });
  EXPECT_THAT(before.Wait(), IsOk());
  server_->MarkNotServing();
  Outcome<bool> after;
  backend_->CheckHealth([&](absl::Status s) {
    after.Callback()(s.ok() ? absl::StatusOr<bool>(true) : s);
  });
  EXPECT_THAT(after.Wait(), StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace etagd
