// An etagd server: the store, the core service and a gRPC server around them
// (with the gRPC health checking protocol and server reflection). The binary
// and the integration tests both run it.
#ifndef ETAGD_SERVICE_SERVER_H_
#define ETAGD_SERVICE_SERVER_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/server.h"
#include "service/feed/change_feed.h"
#include "service/grpc_service.h"
#include "service/resource_service.h"
#include "service/store/store.h"
#include "service/thread_pool.h"
#include "service/tls_watcher.h"
#include "service/token_file.h"
#include "service/memory_budget.h"
#include "service/write_pipeline.h"

namespace etagd {

struct ServerOptions {
  // HOST:PORT for gRPC; port 0 picks a free port (see grpc_port()).
  std::string grpc_listen = "127.0.0.1:7070";
  ResourceServiceOptions service;
  AdminServiceOptions admin;
  // Threads that answer writes once their batch is committed (gRPC's send
  // work happens on them), while the committer commits the next batch.
  int write_threads = 32;
  // Threads that serve Get and List calls when the store's reads wait on
  // the network (Store::ReadsWaitOnTheNetwork); otherwise gRPC's threads
  // serve them. Reads waiting at once can be sent together.
  int read_threads = 64;
  WritePipelineOptions write_pipeline;
  // Memory for calls in flight: gRPC's own (its resource quota), and
  // separately the Put requests held in the write pipeline (beyond it, Puts
  // fail at once with RESOURCE_EXHAUSTED). 0: no limit.
  int64_t grpc_memory_quota_bytes = 0;
  // TLS for the gRPC port (and mutual TLS with a client CA), following the
  // watcher's reloads; null: plaintext.
  std::shared_ptr<ServerTlsWatcher> tls;
  // Response content waiting for slow readers (grpc_service.h), shared
  // with the HTTP server in etagd; null: unbounded.
  std::shared_ptr<MemoryBudget> response_budget;
  // The change feed behind Watch (and the HTTP gateway's feeds).
  ChangeFeedOptions feed;
  // Bearer tokens every Resources and Admin call must carry (auth.h);
  // null: no authorization. Health and reflection stay open.
  std::shared_ptr<const TokenStore> tokens;
  // How often the store's health (Store::CheckHealth) is asked; while it
  // fails, health checks report NOT_SERVING. 0: never asked.
  absl::Duration store_health_interval = absl::Seconds(1);
};

// Thread-safe.
class Server {
 public:
  // Starts serving `store`, which the server owns from then on.
  static absl::StatusOr<std::unique_ptr<Server>> Start(
      const ServerOptions& options, std::unique_ptr<Store> store);

  // Shuts down with no grace period if Shutdown() was not called.
  ~Server();

  // The port gRPC listens on.
  int grpc_port() const { return grpc_port_; }

  // Reports NOT_SERVING to health checks from now on, so that load
  // balancers stop sending traffic; calls are still served.
  void MarkNotServing();

  // False once MarkNotServing() or Shutdown() was called.
  bool serving() const { return serving_.load(std::memory_order_acquire); }

  // What health checks report: OK if serving() and the store's last health
  // check passed; otherwise UNAVAILABLE saying why.
  absl::Status Health() const ABSL_LOCKS_EXCLUDED(health_mu_);

  // What the gRPC service runs calls with, for callers in this process that
  // skip gRPC (gateway/local_backend.h) but must get the same core, write
  // threads, write budget and authorization, and the store (for metrics).
  // Valid until Shutdown().
  ResourceService& core() { return *core_; }
  // The change feed every Watch is served from, for in-process transports
  // (their streams end with UNAVAILABLE at Shutdown()).
  ChangeFeed& feed() { return *feed_; }
  Store& store() { return *store_; }
  WritePipeline& writes() { return *writes_; }
  MemoryBudget& write_budget() { return *write_budget_; }
  // Null: no authorization.
  const std::shared_ptr<const TokenStore>& tokens() const { return tokens_; }

  // Reports NOT_SERVING to health checks, ends every Watch stream with
  // UNAVAILABLE (at once: they never finish by themselves), stops accepting
  // calls, lets calls in flight finish for up to `grace` (then cancels
  // them) and closes the store. Later calls return at once.
  void Shutdown(absl::Duration grace);

 private:
  Server() = default;

  std::unique_ptr<Store> store_;
  std::unique_ptr<ResourceService> core_;
  std::unique_ptr<ChangeFeed> feed_;
  std::unique_ptr<ThreadPool> writers_;
  // Null unless the store's reads wait on the network.
  std::unique_ptr<ThreadPool> readers_;
  std::unique_ptr<WritePipeline> writes_;
  std::unique_ptr<MemoryBudget> write_budget_;
  std::shared_ptr<MemoryBudget> response_budget_;
  std::shared_ptr<const TokenStore> tokens_;
  std::unique_ptr<GrpcResourcesService> grpc_service_;
  std::unique_ptr<AdminService> admin_;
  std::unique_ptr<GrpcAdminService> grpc_admin_;
  // Outlives grpc_server_, whose credentials read the certificate it keeps.
  std::shared_ptr<ServerTlsWatcher> tls_;
  std::unique_ptr<grpc::Server> grpc_server_;
  int grpc_port_ = 0;

  // Asks the store's health every `interval` until Shutdown().
  void WatchStoreHealth(absl::Duration interval) ABSL_LOCKS_EXCLUDED(health_mu_);
  // Tells the health service what Health() says.
  void PublishHealth() ABSL_EXCLUSIVE_LOCKS_REQUIRED(health_mu_);

  std::atomic<bool> serving_{true};
  mutable absl::Mutex health_mu_;
  absl::Status store_health_ ABSL_GUARDED_BY(health_mu_);
  bool stop_health_ ABSL_GUARDED_BY(health_mu_) = false;
  std::thread health_thread_;
  absl::Mutex shutdown_mu_;
  bool shut_down_ ABSL_GUARDED_BY(shutdown_mu_) = false;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_SERVER_H_
