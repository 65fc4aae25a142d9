// The whole etagd stack in one test process, over real sockets: RocksDB
// store, gRPC server on a loopback port, and the HTTP gateway calling it
// through a gRPC channel to that port (as etagd-gateway does) or directly
// (as etagd does when it hosts the gateway).
#ifndef ETAGD_TESTS_TESTING_GATEWAY_STACK_H_
#define ETAGD_TESTS_TESTING_GATEWAY_STACK_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "gateway/backend.h"
#include "gateway/gateway.h"
#include "gateway/http_server.h"
#include "gateway/local_backend.h"
#include "gateway/metrics.h"
#include "service/store/rocksdb/rocksdb_store.h"
#include "service/server.h"

namespace etagd {

enum class GatewayBackendKind {
  kGrpc,   // NewGrpcBackend over a loopback socket.
  kLocal,  // NewLocalBackend on the server in this process.
};

struct GatewayStackOptions {
  GatewayBackendKind backend = GatewayBackendKind::kGrpc;
  GatewayOptions gateway;
  HttpServerOptions http;
  ServerOptions server;
  // Its path is the data directory Start() is given.
  RocksDbStoreOptions store;
  // With the local backend: where watches go (null: the server's change feed).
  WatchOpener watches;
  // If set, the server gets what this makes of the RocksDB store (a test's
  // wrapper around it).
  std::function<std::unique_ptr<Store>(std::unique_ptr<Store>)> wrap_store;
};

class GatewayStack {
 public:
  // Starts everything on port 0 with data under `data_dir`. With the local
  // backend, /metrics shows the store's space, as in etagd; with the gRPC
  // one it does not, as in etagd-gateway.
  static absl::StatusOr<std::unique_ptr<GatewayStack>> Start(
      const std::string& data_dir, GatewayStackOptions options = {});

  ~GatewayStack();

  int http_port() const { return http_->port(); }
  int grpc_port() const { return server_->grpc_port(); }
  Server& server() { return *server_; }
  HttpServer& http() { return *http_; }
  Gateway& gateway() { return *gateway_; }

 private:
  GatewayStack() = default;

  std::unique_ptr<Server> server_;
  std::unique_ptr<Backend> backend_;
  HttpMetrics metrics_;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<HttpServer> http_;
};

}  // namespace etagd

#endif  // ETAGD_TESTS_TESTING_GATEWAY_STACK_H_
