// grpc_health_check: asks a server's grpc.health.v1.Health.Check for one
// service, as the kubelet's native gRPC probe does. For tests.
//
// Usage: grpc_health_check HOST:PORT SERVICE
// Prints the serving status (or the RPC error) and exits 0 for SERVING,
// 1 for any other status or error, 2 for a usage error.
#include <chrono>
#include <iostream>
#include <memory>
#include <string>

#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: grpc_health_check HOST:PORT SERVICE\n";
    return 2;
  }
  std::unique_ptr<grpc::health::v1::Health::Stub> health =
      grpc::health::v1::Health::NewStub(
          grpc::CreateChannel(argv[1], grpc::InsecureChannelCredentials()));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service(argv[2]);
  grpc::health::v1::HealthCheckResponse response;
  grpc::ClientContext context;
  // The kubelet's probe default (timeoutSeconds: 1) would be flaky on a busy
  // test machine; a probe is about the answer, not the latency.
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  const grpc::Status status = health->Check(&context, request, &response);
  if (!status.ok()) {
    std::cout << "error " << status.error_code() << ": "
              << status.error_message() << "\n";
    return 1;
  }
  std::cout << grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
                   response.status())
            << "\n";
  return response.status() == grpc::health::v1::HealthCheckResponse::SERVING
             ? 0
             : 1;
}
