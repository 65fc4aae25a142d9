#include "tests/testing/gateway_stack.h"

#include <utility>

#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gateway/local_backend.h"
#include "service/store/rocksdb/rocksdb_store.h"

namespace etagd {

absl::StatusOr<std::unique_ptr<GatewayStack>> GatewayStack::Start(
    const std::string& data_dir, GatewayStackOptions options) {
  std::unique_ptr<GatewayStack> stack(new GatewayStack());
  RocksDbStoreOptions store_options = options.store;
  store_options.path = data_dir;
  absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(store_options);
  if (!store.ok()) return store.status();
  if (options.wrap_store) *store = options.wrap_store(*std::move(store));
  options.server.grpc_listen = "127.0.0.1:0";
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Start(options.server, *std::move(store));
  if (!server.ok()) return server.status();
  stack->server_ = *std::move(server);

  if (options.backend == GatewayBackendKind::kLocal) {
    stack->backend_ = NewLocalBackend(*stack->server_, std::move(options.watches));
    Server& server = *stack->server_;
    stack->metrics_.SetStorageSource(
        [&server] { return server.store().Space(); });
  } else {
    grpc::ChannelArguments args;
    args.SetMaxReceiveMessageSize(64 << 20);
    args.SetMaxSendMessageSize(64 << 20);
    stack->backend_ = NewGrpcBackend(
        grpc::CreateCustomChannel(
            "127.0.0.1:" + std::to_string(stack->server_->grpc_port()),
            grpc::InsecureChannelCredentials(), args),
        absl::Seconds(10));
  }
  stack->gateway_ = std::make_unique<Gateway>(*stack->backend_, options.gateway,
                                              stack->metrics_);
  options.http.listen = "127.0.0.1:0";
  options.http.on_own_response = stack->metrics_.ServerResponseRecorder();
  Gateway* gateway = stack->gateway_.get();
  absl::StatusOr<std::unique_ptr<HttpServer>> http = HttpServer::Start(
      options.http,
      [gateway](HttpRequest&& request, std::function<void(HttpAnswer)> respond) {
        gateway->Handle(std::move(request), std::move(respond));
      });
  if (!http.ok()) return http.status();
  stack->http_ = *std::move(http);
  return stack;
}

GatewayStack::~GatewayStack() {
  if (gateway_ != nullptr) gateway_->Drain();
  if (http_ != nullptr) http_->Shutdown(absl::Seconds(5));
  if (server_ != nullptr) server_->Shutdown(absl::Seconds(5));
}

}  // namespace etagd
