#include "service/server.h"

#include <algorithm>
#include <chrono>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "service/log.h"
#include "grpc/health/v1/health.pb.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/resource_quota.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server_builder.h"

namespace etagd {
namespace {

// Room for a Put's other fields and framing beyond its content.
constexpr int kMessageOverheadBytes = 64 << 10;

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::Start(
    const ServerOptions& options, std::unique_ptr<Store> store) {
  std::unique_ptr<Server> server(new Server());
  server->store_ = std::move(store);
  server->core_ =
      std::make_unique<ResourceService>(*server->store_, options.service);
  server->feed_ = std::make_unique<ChangeFeed>(*server->store_, options.feed);
  server->writers_ = std::make_unique<ThreadPool>(std::max(1, options.write_threads));
  if (server->store_->ReadsWaitOnTheNetwork()) {
    server->readers_ = std::make_unique<ThreadPool>(std::max(1, options.read_threads));
  }
  server->writes_ = std::make_unique<WritePipeline>(
      *server->core_, *server->store_, *server->writers_,
      options.write_pipeline);
  server->write_budget_ =
      std::make_unique<MemoryBudget>(options.grpc_memory_quota_bytes);
  server->tokens_ = options.tokens;
  server->response_budget_ = options.response_budget;
  server->grpc_service_ = std::make_unique<GrpcResourcesService>(
      *server->core_, *server->writes_, *server->write_budget_,
      options.tokens, server->response_budget_.get(), server->feed_.get(),
      server->readers_.get());
  AdminServiceOptions admin = options.admin;
  admin.import.max_content_bytes = options.service.max_content_bytes;
  server->admin_ = std::make_unique<AdminService>(*server->store_, std::move(admin));
  server->grpc_admin_ = std::make_unique<GrpcAdminService>(
      *server->admin_, *server->writers_, options.tokens);
  server->tls_ = options.tls;
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      server->tls_ != nullptr ? GrpcServerCredentials(*server->tls_)
                              : grpc::InsecureServerCredentials();
  if (!credentials.ok()) return credentials.status();

  grpc::EnableDefaultHealthCheckService(true);
  // Reflection lists every registered service and describes it from the
  // generated descriptor pool. gRPC's own health service carries no
  // descriptor, so the health protocol's file is linked in and registered
  // here: without it, reflection clients (grpcurl, Postman) are told
  // "Symbol not found" for grpc.health.v1.Health and cannot call it.
  grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default, which would let a second etagd bind
  // this port and silently take half of the connections to its own data.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // Keepalive enforcement, stated rather than left to gRPC's defaults: a
  // client may ping at most every 10 s (the least keepalive time gRPC's
  // guide allows clients) and only while it has calls open; a ping beyond
  // two such strikes earns a GOAWAY (ENHANCE_YOUR_CALM, "too_many_pings")
  // and the connection is closed, so a ping flood costs others nothing.
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 10'000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_PING_STRIKES, 2);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  if (options.grpc_memory_quota_bytes > 0) {
    grpc::ResourceQuota quota("etagd");
    quota.Resize(static_cast<size_t>(options.grpc_memory_quota_bytes));
    builder.SetResourceQuota(quota);
  }
  builder.AddListeningPort(options.grpc_listen, *credentials,
                           &server->grpc_port_);
  builder.RegisterService(server->grpc_service_.get());
  builder.RegisterService(server->grpc_admin_.get());
  const int64_t max_message =
      options.service.max_content_bytes + kMessageOverheadBytes;
  builder.SetMaxReceiveMessageSize(
      static_cast<int>(std::min<int64_t>(max_message, INT32_MAX)));
  builder.SetMaxSendMessageSize(
      static_cast<int>(std::min<int64_t>(max_message, INT32_MAX)));
  server->grpc_server_ = builder.BuildAndStart();
  if (server->grpc_server_ == nullptr || server->grpc_port_ == 0) {
    return absl::UnavailableError(absl::StrCat(
        "cannot listen for gRPC on ", options.grpc_listen,
        " (is the address valid and the port free?)"));
  }
  {
    absl::MutexLock lock(&server->health_mu_);
    server->PublishHealth();
  }
  if (options.store_health_interval > absl::ZeroDuration()) {
    Server* raw = server.get();
    const absl::Duration interval = options.store_health_interval;
    server->health_thread_ = std::thread([raw, interval] { raw->WatchStoreHealth(interval); });
  }
  return server;
}

Server::~Server() { Shutdown(absl::ZeroDuration()); }

void Server::MarkNotServing() {
  serving_.store(false, std::memory_order_release);
  absl::MutexLock lock(&health_mu_);
  PublishHealth();
}

absl::Status Server::Health() const {
  if (!serving()) return absl::UnavailableError("etagd is not serving");
  absl::MutexLock lock(&health_mu_);
  return store_health_;
}

void Server::PublishHealth() {
  const bool serving = serving_.load(std::memory_order_acquire) && store_health_.ok();
  grpc::HealthCheckServiceInterface* health = grpc_server_->GetHealthCheckService();
  health->SetServingStatus(serving);
  health->SetServingStatus(etagd::v1::Resources::service_full_name(), serving);
}

void Server::WatchStoreHealth(absl::Duration interval) {
  absl::MutexLock lock(&health_mu_);
  while (!stop_health_) {
    absl::Status health;
    {
      // The store may take seconds to answer; Health() must not wait.
      health_mu_.Unlock();
      health = store_->CheckHealth();
      health_mu_.Lock();
    }
    if (stop_health_) break;
    if (health.ok() != store_health_.ok()) {
      if (health.ok()) {
        Log(LogLevel::kInfo, "the store is healthy again: serving");
      } else {
        Log(LogLevel::kWarning,
            absl::StrCat("the store is unhealthy, reporting NOT_SERVING: ",
                         health.message()));
      }
    }
    store_health_ = health;
    PublishHealth();
    health_mu_.AwaitWithTimeout(absl::Condition(&stop_health_), interval);
  }
}

void Server::Shutdown(absl::Duration grace) {
  absl::MutexLock lock(&shutdown_mu_);
  if (shut_down_) return;
  shut_down_ = true;
  serving_.store(false, std::memory_order_release);
  {
    absl::MutexLock health_lock(&health_mu_);
    stop_health_ = true;
  }
  if (health_thread_.joinable()) health_thread_.join();
  // Watch streams end now, so that the grace is the other calls'.
  if (feed_ != nullptr) feed_->Shutdown();
  if (grpc_server_ != nullptr) {
    grpc_server_->GetHealthCheckService()->SetServingStatus(false);
    grpc_server_->Shutdown(std::chrono::system_clock::now() +
                           absl::ToChronoMilliseconds(grace));
    grpc_server_->Wait();
  }
  grpc_admin_.reset();
  admin_.reset();
  // The writes first: their answers call into grpc_service_ (an answer
  // releases its write budget just before its reactor's Finish()). The
  // pipeline commits and answers what it holds; the pool runs the answers.
  writes_.reset();
  writers_.reset();
  // Idle: gRPC's Wait() returned, so every read it ran has been answered.
  readers_.reset();
  grpc_service_.reset();
  feed_.reset();
  core_.reset();
  store_.reset();
}

}  // namespace etagd
