// etagd-gateway's Watch client (NewGrpcBackend's Watch, a client read
// reactor) against a gRPC server whose Resources.Watch is served from a
// feed the test controls: events in order, the caller's token passed on,
// errors with their details, cancellation reaching the server, and an
// event stream through the whole gateway over it.
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/cord.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "etagd/v1/etagd.grpc.pb.h"
#include "gateway/backend.h"
#include "gateway/watch_channel_pool.h"
#include "gateway/gateway.h"
#include "gateway/http_server.h"
#include "gateway/metrics.h"
#include "gmock/gmock.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "service/grpc_status.h"
#include "tests/testing/fake_feed.h"
#include "tests/testing/sse_client.h"
#include "tests/testing/status_matchers.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;
using ::testing::HasSubstr;

// Serves one Watch from the feed: the next response is taken from the
// feed only once the previous write is done.
class FeedWriter final : public grpc::ServerWriteReactor<v1::WatchResponse> {
 public:
  FeedWriter(FakeFeed& feed, const v1::WatchRequest& request,
             std::atomic<int>& cancels)
      : stream_(feed.Watch(request)), cancels_(cancels) {
    Pull();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) return Finish(grpc::Status::CANCELLED);
    Pull();
  }
  void OnCancel() override {
    ++cancels_;
    stream_->Cancel();
  }
  void OnDone() override { delete this; }

 private:
  void Pull() {
    stream_->Next([this](absl::StatusOr<v1::WatchResponse> r) {
      if (!r.ok()) return Finish(ToGrpcStatus(r.status()));
      response_ = *std::move(r);
      StartWrite(&response_);
    });
  }

  std::unique_ptr<WatchStream> stream_;
  std::atomic<int>& cancels_;
  v1::WatchResponse response_;
};

class FeedService final : public v1::Resources::CallbackService {
 public:
  explicit FeedService(FakeFeed& feed) : feed_(feed) {}

  grpc::ServerWriteReactor<v1::WatchResponse>* Watch(
      grpc::CallbackServerContext* context, const v1::WatchRequest* request) override {
    {
      absl::MutexLock lock(&mu_);
      auto it = context->client_metadata().find("authorization");
      last_authorization_ = it == context->client_metadata().end()
                                ? ""
                                : std::string(it->second.data(), it->second.size());
      peers_.push_back(context->peer());
    }
    return new FeedWriter(feed_, *request, cancels);
  }

  std::string last_authorization() {
    absl::MutexLock lock(&mu_);
    return last_authorization_;
  }

  // The peer (client address and port) of each Watch so far, once `n` have
  // started.
  std::vector<std::string> AwaitPeers(size_t n) {
    absl::MutexLock lock(&mu_);
    auto started = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return peers_.size() >= n;
    };
    mu_.AwaitWithTimeout(absl::Condition(&started), absl::Seconds(10));
    return peers_;
  }

  std::atomic<int> cancels{0};

 private:
  FakeFeed& feed_;
  absl::Mutex mu_;
  std::string last_authorization_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> peers_ ABSL_GUARDED_BY(mu_);
};

class GrpcBackendWatchTest : public testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    backend_ = NewGrpcBackend(
        grpc::CreateChannel(target(), grpc::InsecureChannelCredentials()),
        absl::Seconds(10));
  }
  void TearDown() override {
    backend_.reset();
    if (server_ != nullptr) server_->Shutdown(std::chrono::system_clock::now());
  }

  // The next response; the state is shared so that a late answer after a
  // timeout lands somewhere.
  static absl::StatusOr<v1::WatchResponse> Take(WatchStream& stream) {
    struct Answer {
      absl::Notification done;
      absl::StatusOr<v1::WatchResponse> result = absl::UnknownError("no answer");
    };
    auto answer = std::make_shared<Answer>();
    stream.Next([answer](absl::StatusOr<v1::WatchResponse> r) {
      answer->result = std::move(r);
      answer->done.Notify();
    });
    if (!answer->done.WaitForNotificationWithTimeout(absl::Seconds(10))) {
      return absl::DeadlineExceededError("no answer in time");
    }
    return answer->result;
  }

  // A watch from revision 1: the server's start may come after the
  // test's changes.
  static v1::WatchRequest FromTheStart() {
    v1::WatchRequest request;
    request.set_start_revision(1);
    return request;
  }

  void AwaitCancels(int n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (service_.cancels.load() < n && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
  }

  std::string target() const { return absl::StrCat("127.0.0.1:", port_); }

  FakeFeed feed_;
  FeedService service_{feed_};
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Backend> backend_;
};

TEST_F(GrpcBackendWatchTest, DeliversEventsInRevisionOrder) {
  v1::WatchRequest request = FromTheStart();
  request.set_prefix("a/");
  std::unique_ptr<WatchStream> stream = backend_->Watch(Caller(), request);
  feed_.Change("a/1");
  feed_.Change("b/1");
  feed_.Change("a/2");
  absl::StatusOr<v1::WatchResponse> one = Take(*stream);
  ASSERT_THAT(one, IsOk());
  ASSERT_EQ(one->events_size(), 1);
  EXPECT_EQ(one->events(0).resource().name(), "a/1");
  absl::StatusOr<v1::WatchResponse> two = Take(*stream);
  ASSERT_THAT(two, IsOk());
  ASSERT_EQ(two->events_size(), 1);
  EXPECT_EQ(two->events(0).resource().name(), "a/2");
  EXPECT_EQ(two->events(0).resource().revision(), 3);
}

// As every other call: the caller's token goes out as authorization.
TEST_F(GrpcBackendWatchTest, PassesTheCallersBearerToken) {
  Caller caller;
  caller.bearer_token = "0123456789abcdef";
  std::unique_ptr<WatchStream> stream = backend_->Watch(caller, FromTheStart());
  feed_.Change("x");
  ASSERT_THAT(Take(*stream), IsOk());
  EXPECT_EQ(service_.last_authorization(), "Bearer 0123456789abcdef");
}

// OUT_OF_RANGE keeps its WatchWindow detail across gRPC, and every later
// Next gets the same error.
TEST_F(GrpcBackendWatchTest, OutOfRangeArrivesWithItsWatchWindow) {
  for (int i = 0; i < 5; ++i) feed_.Change("x");
  feed_.Compact(4);
  v1::WatchRequest request;
  request.set_start_revision(2);
  std::unique_ptr<WatchStream> stream = backend_->Watch(Caller(), request);
  absl::StatusOr<v1::WatchResponse> result = Take(*stream);
  ASSERT_TRUE(absl::IsOutOfRange(result.status())) << result.status();
  absl::optional<absl::Cord> payload =
      result.status().GetPayload("type.googleapis.com/etagd.v1.WatchWindow");
  ASSERT_TRUE(payload.has_value());
  v1::WatchWindow window;
  ASSERT_TRUE(window.ParseFromString(std::string(*payload)));
  EXPECT_EQ(window.oldest_revision(), 4);
  EXPECT_TRUE(absl::IsOutOfRange(Take(*stream).status()));
}

// Destroying the stream completes a pending Next with CANCELLED and ends
// the call on the server.
TEST_F(GrpcBackendWatchTest, DestroyingTheStreamCancelsTheCall) {
  std::unique_ptr<WatchStream> stream = backend_->Watch(Caller(), FromTheStart());
  feed_.Change("x");
  ASSERT_THAT(Take(*stream), IsOk());
  absl::Notification done;
  absl::Status status;
  stream->Next([&](absl::StatusOr<v1::WatchResponse> r) {
    status = r.status();
    done.Notify();
  });
  stream.reset();
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(absl::IsCancelled(status)) << status;
  AwaitCancels(1);
  EXPECT_EQ(service_.cancels.load(), 1);
}

// Cancel() with no Next pending ends the call too (the reactor's hold is
// released), and later Nexts are CANCELLED.
TEST_F(GrpcBackendWatchTest, CancelWithoutPendingNextEndsTheCall) {
  std::unique_ptr<WatchStream> stream = backend_->Watch(Caller(), FromTheStart());
  feed_.Change("x");
  ASSERT_THAT(Take(*stream), IsOk());
  stream->Cancel();
  EXPECT_TRUE(absl::IsCancelled(Take(*stream).status()));
  AwaitCancels(1);
  EXPECT_EQ(service_.cancels.load(), 1);
}

// etagd limits watchers per connection: the gateway's watches spread evenly
// over its watch channels, each a connection of its own.
TEST_F(GrpcBackendWatchTest, WatchesSpreadEvenlyOverSeparateConnections) {
  std::unique_ptr<Backend> pooled = NewGrpcBackend(
      grpc::CreateChannel(target(), grpc::InsecureChannelCredentials()),
      absl::Seconds(10),
      MakeWatchChannels(target(), grpc::InsecureChannelCredentials(),
                        grpc::ChannelArguments(), 3));
  std::vector<std::unique_ptr<WatchStream>> streams;
  for (int i = 0; i < 6; ++i) {
    streams.push_back(pooled->Watch(Caller(), FromTheStart()));
  }
  const std::vector<std::string> peers = service_.AwaitPeers(6);
  ASSERT_EQ(peers.size(), 6u);
  absl::flat_hash_map<std::string, int> per_peer;
  for (const std::string& peer : peers) ++per_peer[peer];
  EXPECT_EQ(per_peer.size(), 3u);
  for (const auto& [peer, watches] : per_peer) EXPECT_EQ(watches, 2) << peer;
}

// A server that ends the stream (going away) is UNAVAILABLE: retry.
TEST_F(GrpcBackendWatchTest, ServerEndingTheStreamIsUnavailable) {
  std::unique_ptr<WatchStream> stream = backend_->Watch(Caller(), FromTheStart());
  feed_.Change("x");
  ASSERT_THAT(Take(*stream), IsOk());
  feed_.EndAll(absl::UnavailableError("going away"));
  EXPECT_TRUE(absl::IsUnavailable(Take(*stream).status()));
}

// The whole of etagd-gateway's path: HTTP event stream, Gateway, gRPC
// Watch, the remote feed.
TEST_F(GrpcBackendWatchTest, EventStreamThroughTheGatewayOverGrpc) {
  HttpMetrics metrics;
  Gateway gateway(*backend_, GatewayOptions(), metrics);
  HttpServerOptions options;
  options.listen = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<HttpServer>> http = HttpServer::Start(
      options, [&gateway](HttpRequest&& request, std::function<void(HttpAnswer)> respond) {
        gateway.Handle(std::move(request), std::move(respond));
      });
  ASSERT_THAT(http, IsOk());
  for (int i = 0; i < 3; ++i) feed_.Change("a/x");
  SseClient::Options sse_options;
  sse_options.headers = {{"Last-Event-ID", "1"}};
  absl::StatusOr<std::unique_ptr<SseClient>> sse =
      SseClient::Open((*http)->port(), "/v1/watch?prefix=a/", sse_options);
  ASSERT_THAT(sse, IsOk());
  ASSERT_THAT((*sse)->Next(), IsOk());  // retry:
  absl::StatusOr<SseBlock> two = (*sse)->Next();
  ASSERT_THAT(two, IsOk());
  EXPECT_EQ(two->id, "2");
  EXPECT_THAT(two->data, HasSubstr("\"name\":\"a/x\""));
  gateway.Drain();
  (*http)->Shutdown(absl::Seconds(2));
  EXPECT_TRUE((*sse)->EndsWithin(absl::Seconds(2)));
}

}  // namespace
}  // namespace etagd
