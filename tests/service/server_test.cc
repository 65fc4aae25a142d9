// The real server on a loopback port, driven by a real gRPC client: every RPC
// and every outcome as a remote client sees it.
#include "service/server.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "etagd/v1/etagd.grpc.pb.h"
#include "gmock/gmock.h"
#include "google/rpc/status.pb.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "service/store/rocksdb/rocksdb_store.h"
#include "tests/testing/blocking_store.h"
#include "tests/testing/forwarding_store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;

class ServerTest : public testing::Test {
 protected:
  static constexpr int64_t kMaxContent = 1000;

  void SetUp() override {
    RocksDbStoreOptions store_options;
    store_options.path = TestPath("db");
    absl::StatusOr<std::unique_ptr<Store>> store =
        OpenRocksDbStore(store_options);
    ASSERT_THAT(store, IsOk());
    auto blocking = std::make_unique<BlockingStore>(*std::move(store));
    blocking_ = blocking.get();
    ServerOptions options;
    options.grpc_listen = "127.0.0.1:0";
    options.service.max_content_bytes = kMaxContent;
    absl::StatusOr<std::unique_ptr<Server>> server =
        Server::Start(options, std::move(blocking));
    ASSERT_THAT(server, IsOk());
    server_ = *std::move(server);
    ASSERT_GT(server_->grpc_port(), 0);
    channel_ = grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(server_->grpc_port()),
        grpc::InsecureChannelCredentials());
    stub_ = v1::Resources::NewStub(channel_);
  }

  void TearDown() override {
    if (blocking_ != nullptr && !blocking_->release().HasBeenNotified()) {
      blocking_->release().Notify();
    }
  }

  grpc::Status Put(const std::string& name, const std::string& content,
                   v1::PutResourceResponse* response,
                   const v1::Preconditions& preconditions = {}) {
    v1::PutResourceRequest request;
    request.set_name(name);
    request.set_content(content);
    request.set_content_type("text/plain");
    *request.mutable_preconditions() = preconditions;
    grpc::ClientContext context;
    return stub_->PutResource(&context, request, response);
  }

  grpc::Status Get(const v1::GetResourceRequest& request,
                   v1::GetResourceResponse* response) {
    grpc::ClientContext context;
    return stub_->GetResource(&context, request, response);
  }

  HealthCheckResponse::ServingStatus Health(const std::string& service,
                                            grpc::Status* status) {
    auto health = grpc::health::v1::Health::NewStub(channel_);
    HealthCheckRequest request;
    request.set_service(service);
    HealthCheckResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    *status = health->Check(&context, request, &response);
    return response.status();
  }

  BlockingStore* blocking_ = nullptr;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Resources::Stub> stub_;
};

TEST_F(ServerTest, PutThenGetOverTheNetwork) {
  v1::PutResourceResponse put;
  ASSERT_TRUE(Put("docs/readme", "hello", &put).ok());
  EXPECT_TRUE(put.created());
  EXPECT_EQ(put.resource().content(), "") << "Put replies carry no content";

  v1::GetResourceRequest request;
  request.set_name("docs/readme");
  v1::GetResourceResponse got;
  ASSERT_TRUE(Get(request, &got).ok());
  ASSERT_TRUE(got.has_resource());
  EXPECT_EQ(got.resource().content(), "hello");
  EXPECT_EQ(got.resource().content_type(), "text/plain");
  EXPECT_EQ(got.resource().etag(), put.resource().etag());
}

TEST_F(ServerTest, NotModifiedIsANormalResponse) {
  v1::PutResourceResponse put;
  ASSERT_TRUE(Put("a", "x", &put).ok());
  v1::GetResourceRequest request;
  request.set_name("a");
  request.mutable_preconditions()->add_if_none_match(put.resource().etag());
  v1::GetResourceResponse got;
  grpc::Status status = Get(request, &got);
  ASSERT_TRUE(status.ok()) << status.error_message();
  ASSERT_TRUE(got.has_not_modified());
  EXPECT_EQ(got.not_modified().etag(), put.resource().etag());
  EXPECT_EQ(got.not_modified().revision(), put.resource().revision());
}

TEST_F(ServerTest, FailedPreconditionCarriesTheCurrentEtagInStatusDetails) {
  v1::PutResourceResponse put;
  ASSERT_TRUE(Put("a", "x", &put).ok());
  v1::Preconditions stale;
  stale.add_if_match("\"stale\"");
  v1::PutResourceResponse ignored;
  grpc::Status status = Put("a", "y", &ignored, stale);
  ASSERT_EQ(status.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(status.error_message(), testing::HasSubstr(put.resource().etag()));

  // Any gRPC client can decode grpc-status-details-bin as google.rpc.Status.
  google::rpc::Status details;
  ASSERT_TRUE(details.ParseFromString(status.error_details()));
  EXPECT_EQ(details.code(), grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_EQ(details.details_size(), 1);
  EXPECT_EQ(details.details(0).type_url(),
            "type.googleapis.com/etagd.v1.PreconditionFailure");
  v1::PreconditionFailure failure;
  ASSERT_TRUE(failure.ParseFromString(details.details(0).value()));
  EXPECT_EQ(failure.reason(), v1::PreconditionFailure::REASON_IF_MATCH_FAILED);
  EXPECT_TRUE(failure.exists());
  EXPECT_EQ(failure.current_etag(), put.resource().etag());
  EXPECT_EQ(failure.current_revision(), put.resource().revision());
}

TEST_F(ServerTest, GetOfAbsentResourceIsNotFound) {
  v1::GetResourceRequest request;
  request.set_name("missing");
  request.mutable_preconditions()->add_if_match("*");
  v1::GetResourceResponse got;
  EXPECT_EQ(Get(request, &got).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServerTest, InvalidNameIsInvalidArgument) {
  v1::PutResourceResponse put;
  grpc::Status status = Put(std::string("bad\nname"), "x", &put);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(status.error_message(), testing::HasSubstr("control character"));
}

TEST_F(ServerTest, ContentOverTheLimitIsResourceExhausted) {
  v1::PutResourceResponse put;
  grpc::Status status = Put("big", std::string(kMaxContent + 1, 'x'), &put);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  v1::GetResourceRequest request;
  request.set_name("big");
  v1::GetResourceResponse got;
  EXPECT_EQ(Get(request, &got).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(ServerTest, MessageOverTheTransportLimitIsResourceExhausted) {
  v1::PutResourceResponse put;
  grpc::Status status = Put("huge", std::string(1 << 20, 'x'), &put);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
}

TEST_F(ServerTest, DeleteListAndVersionsOverTheNetwork) {
  v1::PutResourceResponse put;
  ASSERT_TRUE(Put("dir/a", "1", &put).ok());
  ASSERT_TRUE(Put("dir/a", "2", &put).ok());
  ASSERT_TRUE(Put("dir/b", "3", &put).ok());

  v1::ListResourcesRequest list;
  list.set_prefix("dir/");
  v1::ListResourcesResponse listed;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->ListResources(&context, list, &listed).ok());
  }
  ASSERT_EQ(listed.resources_size(), 2);
  EXPECT_EQ(listed.resources(0).name(), "dir/a");

  v1::DeleteResourceRequest del;
  del.set_name("dir/a");
  v1::DeleteResourceResponse deleted;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->DeleteResource(&context, del, &deleted).ok());
  }
  EXPECT_GT(deleted.revision(), put.resource().revision());

  v1::ListVersionsRequest versions;
  versions.set_name("dir/a");
  v1::ListVersionsResponse history;
  {
    grpc::ClientContext context;
    ASSERT_TRUE(stub_->ListVersions(&context, versions, &history).ok());
  }
  ASSERT_EQ(history.versions_size(), 3);
  EXPECT_TRUE(history.versions(0).deleted());
  EXPECT_EQ(history.versions(0).resource().revision(), deleted.revision());
}

TEST_F(ServerTest, HealthCheckReportsServingForServerAndService) {
  grpc::Status status;
  EXPECT_EQ(Health("", &status), HealthCheckResponse::SERVING);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(Health("etagd.v1.Resources", &status), HealthCheckResponse::SERVING);
  EXPECT_TRUE(status.ok()) << status.error_message();
}

TEST_F(ServerTest, ReflectionListsTheResourcesService) {
  // grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo, with a
  // hand-encoded request: field 7 (list_services) = "".
  grpc::GenericStub generic(channel_);
  grpc::CompletionQueue cq;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
  auto call = generic.PrepareCall(
      &context, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      &cq);
  void* tag;
  bool ok;
  auto next = [&](intptr_t expected) {
    ASSERT_TRUE(cq.Next(&tag, &ok));
    ASSERT_EQ(reinterpret_cast<intptr_t>(tag), expected);
  };
  call->StartCall(reinterpret_cast<void*>(1));
  next(1);
  const char request_bytes[] = {0x3a, 0x00};
  grpc::Slice slice(request_bytes, sizeof(request_bytes));
  grpc::ByteBuffer request(&slice, 1);
  call->Write(request, reinterpret_cast<void*>(2));
  next(2);
  grpc::ByteBuffer response;
  call->Read(&response, reinterpret_cast<void*>(3));
  next(3);
  ASSERT_TRUE(ok);
  call->WritesDone(reinterpret_cast<void*>(4));
  next(4);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  next(5);
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  EXPECT_THAT(bytes, testing::HasSubstr("etagd.v1.Resources"));
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

TEST_F(ServerTest, ShutdownLetsACallInFlightFinish) {
  v1::PutResourceResponse put;
  ASSERT_TRUE(Put("slow", "finished", &put).ok());
  blocking_->Arm();

  v1::GetResourceResponse in_flight;
  grpc::Status in_flight_status;
  std::thread call([&] {
    v1::GetResourceRequest request;
    request.set_name("slow");
    in_flight_status = Get(request, &in_flight);
  });
  blocking_->entered().WaitForNotification();

  std::thread shutdown([&] { server_->Shutdown(absl::Seconds(30)); });
  // Shutdown first turns health to NOT_SERVING (or refuses new calls).
  grpc::Status health_status;
  for (int i = 0; i < 1000 && Health("", &health_status) ==
                                  HealthCheckResponse::SERVING &&
                  health_status.ok();
       ++i) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  blocking_->release().Notify();
  call.join();
  shutdown.join();
  // Shutdown destroyed the store: TearDown must not touch it.
  blocking_ = nullptr;

  ASSERT_TRUE(in_flight_status.ok()) << in_flight_status.error_message();
  EXPECT_EQ(in_flight.resource().content(), "finished");
  // After shutdown, new calls are refused.
  v1::GetResourceRequest request;
  request.set_name("slow");
  v1::GetResourceResponse after;
  EXPECT_FALSE(Get(request, &after).ok());
}

// README, "Deadlines": a write whose deadline passes before it is
// committed is not applied.
TEST_F(ServerTest, APutWhoseDeadlinePassesWhileItWaitsIsNotApplied) {
  blocking_->ArmWrites();
  v1::PutResourceRequest gate;
  gate.set_name("gate");
  gate.set_content("x");
  v1::PutResourceResponse gate_response;
  grpc::ClientContext gate_context;
  absl::Notification gate_done;
  grpc::Status gate_status;
  stub_->async()->PutResource(&gate_context, &gate, &gate_response,
                              [&](grpc::Status s) {
                                gate_status = std::move(s);
                                gate_done.Notify();
                              });
  blocking_->entered().WaitForNotification();  // The committer is held.

  v1::PutResourceRequest late;
  late.set_name("doc");
  late.set_content("too late");
  v1::PutResourceResponse late_response;
  grpc::ClientContext late_context;
  late_context.set_deadline(std::chrono::system_clock::now() +
                            std::chrono::milliseconds(200));
  EXPECT_EQ(stub_->PutResource(&late_context, late, &late_response).error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  blocking_->release().Notify();
  gate_done.WaitForNotification();
  EXPECT_TRUE(gate_status.ok()) << gate_status.error_message();

  v1::GetResourceRequest get;
  get.set_name("doc");
  v1::GetResourceResponse got;
  EXPECT_EQ(Get(get, &got).error_code(), grpc::StatusCode::NOT_FOUND);
}

// A store that says it is unhealthy when told to.
class SwitchableHealthStore : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;
  absl::Status CheckHealth() override {
    if (healthy.load()) return absl::OkStatus();
    return absl::UnavailableError("the test says the store is down");
  }
  std::atomic<bool> healthy{true};
};

// While the store's health check fails, the server reports NOT_SERVING
// (and why); once it passes again, SERVING, without anyone restarting it.
TEST(ServerHealthTest, FollowsTheStoresHealthBothWays) {
  RocksDbStoreOptions store_options;
  store_options.path = TestPath("db");
  absl::StatusOr<std::unique_ptr<Store>> inner = OpenRocksDbStore(store_options);
  ASSERT_THAT(inner, IsOk());
  auto store = std::make_unique<SwitchableHealthStore>(*std::move(inner));
  SwitchableHealthStore* switchable = store.get();
  ServerOptions options;
  options.grpc_listen = "127.0.0.1:0";
  options.store_health_interval = absl::Milliseconds(10);
  absl::StatusOr<std::unique_ptr<Server>> server = Server::Start(options, std::move(store));
  ASSERT_THAT(server, IsOk());
  auto health = grpc::health::v1::Health::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string((*server)->grpc_port()),
      grpc::InsecureChannelCredentials()));
  auto grpc_status = [&] {
    HealthCheckRequest request;
    request.set_service("etagd.v1.Resources");
    HealthCheckResponse response;
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    EXPECT_TRUE(health->Check(&context, request, &response).ok());
    return response.status();
  };
  // Waits (at most 10 s) for the server to report `serving`.
  auto wait_for = [&](bool serving) {
    for (int i = 0; i < 1000; ++i) {
      if ((*server)->Health().ok() == serving &&
          grpc_status() == (serving ? HealthCheckResponse::SERVING
                                    : HealthCheckResponse::NOT_SERVING)) {
        return true;
      }
      absl::SleepFor(absl::Milliseconds(10));
    }
    return false;
  };
  EXPECT_TRUE(wait_for(true));
  switchable->healthy.store(false);
  EXPECT_TRUE(wait_for(false));
  EXPECT_THAT((*server)->Health(),
              StatusIs(absl::StatusCode::kUnavailable, "the store is down"));
  switchable->healthy.store(true);
  EXPECT_TRUE(wait_for(true));
  // MarkNotServing wins over a healthy store.
  (*server)->MarkNotServing();
  EXPECT_TRUE(wait_for(false));
  (*server)->Shutdown(absl::ZeroDuration());
}

}  // namespace
}  // namespace etagd
