// The client library against a real server on a loopback port.
#include "client/client.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/error_details.h"
#include "service/store/rocksdb/rocksdb_store.h"
#include "service/auth.h"
#include "service/server.h"
#include "service/token_file.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

class ClientTest : public testing::Test {
 protected:
  void SetUp() override {
    RocksDbStoreOptions store_options;
    store_options.path = TestPath("db");
    absl::StatusOr<std::unique_ptr<Store>> store =
        OpenRocksDbStore(store_options);
    ASSERT_THAT(store, IsOk());
    ServerOptions options;
    options.grpc_listen = "127.0.0.1:0";
    absl::StatusOr<std::unique_ptr<Server>> server =
        Server::Start(options, *std::move(store));
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    client_ = Client::Connect("127.0.0.1:" +
                              std::to_string(server_->grpc_port()));
  }

  absl::StatusOr<v1::PutResourceResponse> Put(const std::string& name,
                                              const std::string& content) {
    v1::PutResourceRequest request;
    request.set_name(name);
    request.set_content(content);
    return client_->Put(request);
  }

  std::string Content(const std::string& name) {
    v1::GetResourceRequest request;
    request.set_name(name);
    absl::StatusOr<v1::GetResourceResponse> got = client_->Get(request);
    EXPECT_THAT(got, IsOk());
    return got.ok() ? got->resource().content() : "";
  }

  // Adds one to a decimal counter, creating it at 1.
  static absl::StatusOr<std::string> Increment(const v1::Resource* current) {
    int value = 0;
    if (current != nullptr && !absl::SimpleAtoi(current->content(), &value)) {
      return absl::FailedPreconditionError("not a counter");
    }
    return std::to_string(value + 1);
  }

  std::unique_ptr<Server> server_;
  std::unique_ptr<Client> client_;
};

TEST_F(ClientTest, ErrorsKeepTheServersCodeAndDetails) {
  absl::StatusOr<v1::PutResourceResponse> first = Put("a", "1");
  ASSERT_THAT(first, IsOk());
  v1::PutResourceRequest stale;
  stale.set_name("a");
  stale.set_content("2");
  stale.mutable_preconditions()->add_if_match("\"stale\"");
  absl::StatusOr<v1::PutResourceResponse> second = client_->Put(stale);
  ASSERT_THAT(second, StatusIs(absl::StatusCode::kFailedPrecondition));
  std::optional<v1::PreconditionFailure> detail =
      GetPreconditionFailure(second.status());
  ASSERT_TRUE(detail.has_value());
  EXPECT_EQ(detail->current_etag(), first->resource().etag());
}

TEST_F(ClientTest, UnreachableServerIsUnavailable) {
  server_->Shutdown(absl::ZeroDuration());
  v1::GetResourceRequest request;
  request.set_name("a");
  absl::StatusOr<v1::GetResourceResponse> got = client_->Get(request);
  EXPECT_TRUE(absl::IsUnavailable(got.status()) ||
              absl::IsDeadlineExceeded(got.status()))
      << got.status();
}

TEST_F(ClientTest, UpdateCreatesAnAbsentResource) {
  bool saw_absent = false;
  absl::StatusOr<v1::PutResourceResponse> result = client_->Update(
      "counter", [&](const v1::Resource* current) -> absl::StatusOr<std::string> {
        saw_absent = current == nullptr;
        return std::string("1");
      });
  ASSERT_THAT(result, IsOk());
  EXPECT_TRUE(saw_absent);
  EXPECT_TRUE(result->created());
  EXPECT_EQ(Content("counter"), "1");
}

TEST_F(ClientTest, UpdateAppliesTheMutationToTheCurrentContent) {
  ASSERT_THAT(Put("counter", "41"), IsOk());
  ASSERT_THAT(client_->Update("counter", Increment), IsOk());
  EXPECT_EQ(Content("counter"), "42");
}

TEST_F(ClientTest, UpdateKeepsTheContentTypeUnlessTold) {
  v1::PutResourceRequest request;
  request.set_name("doc");
  request.set_content("1");
  request.set_content_type("application/json");
  ASSERT_THAT(client_->Put(request), IsOk());
  ASSERT_THAT(client_->Update("doc", Increment), IsOk());
  v1::GetResourceRequest get;
  get.set_name("doc");
  EXPECT_EQ(client_->Get(get)->resource().content_type(), "application/json");
}

TEST_F(ClientTest, UpdateStopsOnAMutationErrorWithoutWriting) {
  absl::StatusOr<v1::PutResourceResponse> before = Put("doc", "not a number");
  ASSERT_THAT(before, IsOk());
  EXPECT_THAT(client_->Update("doc", Increment),
              StatusIs(absl::StatusCode::kFailedPrecondition, "not a counter"));
  v1::GetResourceRequest get;
  get.set_name("doc");
  EXPECT_EQ(client_->Get(get)->resource().revision(),
            before->resource().revision());
}

// The promise etagd exists for: many clients doing If-Match
// read-modify-write on one resource lose no acknowledged update.
TEST_F(ClientTest, ConcurrentIfMatchIncrementsLoseNoAcknowledgedUpdate) {
  ASSERT_THAT(Put("counter", "0"), IsOk());
  constexpr int kThreads = 8;
  constexpr int kAttemptsPerThread = 40;
  std::atomic<int> acknowledged{0};
  std::atomic<int> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kAttemptsPerThread; ++i) {
        v1::GetResourceRequest get;
        get.set_name("counter");
        absl::StatusOr<v1::GetResourceResponse> read = client_->Get(get);
        ASSERT_THAT(read, IsOk());
        absl::StatusOr<std::string> next = Increment(&read->resource());
        ASSERT_THAT(next, IsOk());
        v1::PutResourceRequest put;
        put.set_name("counter");
        put.set_content(*next);
        put.mutable_preconditions()->add_if_match(read->resource().etag());
        absl::StatusOr<v1::PutResourceResponse> written = client_->Put(put);
        if (written.ok()) {
          ++acknowledged;
        } else {
          ASSERT_THAT(written, StatusIs(absl::StatusCode::kFailedPrecondition));
          ++refused;
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(acknowledged + refused, kThreads * kAttemptsPerThread);
  EXPECT_GT(acknowledged.load(), 0);
  EXPECT_EQ(Content("counter"), std::to_string(acknowledged.load()));
}

TEST_F(ClientTest, ConcurrentUpdatesApplyEveryIncrementOnce) {
  constexpr int kThreads = 8;
  constexpr int kUpdatesPerThread = 15;
  std::atomic<int> succeeded{0};
  std::vector<std::thread> threads;
  UpdateOptions options;
  options.max_attempts = 1000;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kUpdatesPerThread; ++i) {
        absl::StatusOr<v1::PutResourceResponse> r =
            client_->Update("counter", Increment, options);
        ASSERT_THAT(r, IsOk());
        ++succeeded;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(succeeded.load(), kThreads * kUpdatesPerThread);
  EXPECT_EQ(Content("counter"), std::to_string(kThreads * kUpdatesPerThread));
}

TEST_F(ClientTest, UpdateGivesUpWithAbortedAfterMaxAttempts) {
  ASSERT_THAT(Put("contended", "0"), IsOk());
  UpdateOptions options;
  options.max_attempts = 3;
  // Every mutation is overtaken by another write before it is stored.
  absl::StatusOr<v1::PutResourceResponse> result = client_->Update(
      "contended",
      [&](const v1::Resource* current) -> absl::StatusOr<std::string> {
        EXPECT_THAT(Put("contended", "interloper"), IsOk());
        return current->content() + "+";
      },
      options);
  EXPECT_THAT(result, StatusIs(absl::StatusCode::kAborted, "3 attempts"));
  EXPECT_EQ(Content("contended"), "interloper");
}

TEST_F(ClientTest, RequestIdsAreUniqueAndValid) {
  std::string a = NewRequestId();
  std::string b = NewRequestId();
  EXPECT_NE(a, b);
  EXPECT_EQ(a.size(), 32u);
}

TEST(ClientOpenTest, RefusesTlsFilesItCannotRead) {
  ClientOptions options;
  options.tls.ca_file = TestPath("missing-ca.crt");
  EXPECT_THAT(Client::Open("127.0.0.1:1", options),
              StatusIs(absl::StatusCode::kInvalidArgument, "cannot read CA file"));
  ClientOptions key_without_ca;
  key_without_ca.tls.key_file = TestPath("client.key");
  EXPECT_THAT(Client::Open("127.0.0.1:1", key_without_ca),
              StatusIs(absl::StatusCode::kInvalidArgument, "needs a CA file"));
}

TEST(ClientOpenTest, SendsItsBearerTokenWithEveryCall) {
  constexpr char kToken[] = "client-test-0123456789abcdef";
  absl::StatusOr<TokenTable> table =
      TokenTable::Parse(std::string(kToken) + " read-write\n");
  ASSERT_THAT(table, IsOk());
  RocksDbStoreOptions store_options;
  store_options.path = TestPath("db");
  absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(store_options);
  ASSERT_THAT(store, IsOk());
  ServerOptions server_options;
  server_options.grpc_listen = "127.0.0.1:0";
  server_options.tokens = std::make_shared<TokenStore>(*std::move(table));
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Start(server_options, *std::move(store));
  ASSERT_THAT(server, IsOk());
  const std::string target = "127.0.0.1:" + std::to_string((*server)->grpc_port());

  v1::PutResourceRequest put;
  put.set_name("doc");
  put.set_content("x");
  EXPECT_THAT(Client::Connect(target)->Put(put),
              StatusIs(absl::StatusCode::kUnauthenticated));
  ClientOptions options;
  options.bearer_token = kToken;
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Open(target, options);
  ASSERT_THAT(client, IsOk());
  EXPECT_THAT((*client)->Put(put), IsOk());
  v1::CreateCheckpointRequest checkpoint;
  checkpoint.set_name("c");
  // Authorized, then refused for its own reason: no --checkpoint_dir.
  EXPECT_THAT((*client)->CreateCheckpoint(checkpoint),
              StatusIs(absl::StatusCode::kFailedPrecondition));
}

}  // namespace
}  // namespace etagd
