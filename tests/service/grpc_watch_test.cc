// Watch over gRPC: the real server on a loopback port and the client
// library's Watch.
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "gtest/gtest.h"
#include "service/error_details.h"
#include "service/server.h"
#include "service/store/rocksdb/rocksdb_store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

class GrpcWatchTest : public testing::Test {
 protected:
  void SetUp() override {
    RocksDbStoreOptions store_options;
    store_options.path = TestPath("db");
    store_options.sync_writes = false;
    store_options.change_retention_revisions = 2;
    store_options.change_prune_interval = absl::ZeroDuration();
    absl::StatusOr<std::unique_ptr<Store>> store =
        OpenRocksDbStore(store_options);
    ASSERT_THAT(store, IsOk());
    ServerOptions options;
    options.grpc_listen = "127.0.0.1:0";
    absl::StatusOr<std::unique_ptr<Server>> server =
        Server::Start(options, *std::move(store));
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    client_ = Client::Connect(
        absl::StrCat("127.0.0.1:", server_->grpc_port()));
  }

  int64_t Put(const std::string& name) {
    v1::PutResourceRequest request;
    request.set_name(name);
    request.set_content("x");
    absl::StatusOr<v1::PutResourceResponse> put = client_->Put(request);
    EXPECT_THAT(put, IsOk());
    return put.ok() ? put->resource().revision() : 0;
  }

  std::unique_ptr<Server> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(GrpcWatchTest, StreamsChangesUnderThePrefixInRevisionOrder) {
  absl::Notification watching;
  absl::Mutex mu;
  std::vector<int64_t> received;
  absl::Status ended;
  std::thread watcher([&] {
    v1::WatchRequest request;
    request.set_prefix("p/");
    ended = client_->Watch(request, [&](const v1::WatchResponse& response) {
      if (!watching.HasBeenNotified()) watching.Notify();
      absl::MutexLock lock(&mu);
      for (const v1::WatchEvent& event : response.events()) {
        received.push_back(event.resource().revision());
      }
      return received.size() < 3;
    });
  });
  ASSERT_TRUE(watching.WaitForNotificationWithTimeout(absl::Seconds(10)));
  std::vector<int64_t> expected;
  for (int i = 0; i < 3; ++i) {
    Put("q/other");
    expected.push_back(Put(absl::StrCat("p/", i)));
  }
  watcher.join();
  EXPECT_THAT(ended, IsOk());
  EXPECT_EQ(received, expected);
}

TEST_F(GrpcWatchTest, AStartRevisionBelowTheWindowIsOutOfRangeWithItsWindow) {
  for (int i = 0; i < 5; ++i) Put("n");
  ASSERT_THAT(PruneChangesForTest(server_->store()), IsOk());
  v1::WatchRequest request;
  request.set_start_revision(1);
  const absl::Status status =
      client_->Watch(request, [](const v1::WatchResponse&) { return true; });
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kOutOfRange));
  std::optional<v1::WatchWindow> window = GetWatchWindow(status);
  ASSERT_TRUE(window.has_value());
  EXPECT_EQ(window->oldest_revision(), 4);
  EXPECT_EQ(window->current_revision(), 5);
}

TEST_F(GrpcWatchTest, AnInvalidRequestIsInvalidArgument) {
  v1::WatchRequest request;
  request.set_initial_state(true);
  request.set_start_revision(3);
  EXPECT_THAT(
      client_->Watch(request, [](const v1::WatchResponse&) { return true; }),
      StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST_F(GrpcWatchTest, ShutdownEndsWatchesWithUnavailableWithoutWaitingForTheGrace) {
  absl::Notification watching;
  absl::Status ended;
  std::thread watcher([&] {
    ended = client_->Watch(v1::WatchRequest(), [&](const v1::WatchResponse&) {
      if (!watching.HasBeenNotified()) watching.Notify();
      return true;
    });
  });
  ASSERT_TRUE(watching.WaitForNotificationWithTimeout(absl::Seconds(10)));
  const absl::Time start = absl::Now();
  server_->Shutdown(absl::Seconds(30));
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
  watcher.join();
  EXPECT_THAT(ended, StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace etagd
