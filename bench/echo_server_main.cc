// echo-server: the gRPC floor for benchmarks. A callback-API unary service
// that returns its request, so etagd's figures can be set against the cost
// of gRPC itself on this machine.
#include <algorithm>
#include <csignal>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/str_cat.h"
#include "echo.grpc.pb.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "service/log.h"

ABSL_FLAG(std::string, listen, "127.0.0.1:7090",
          "HOST:PORT to serve on; port 0 picks a free port.");

namespace etagd {
namespace {

class EchoService final : public bench::Echo::CallbackService {
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context,
                                 const bench::EchoMessage* request,
                                 bench::EchoMessage* response) override {
    if (request->reply_bytes() > 0) {
      response->mutable_payload()->assign(
          static_cast<size_t>(std::min(request->reply_bytes(), 64 << 20)), 'v');
    } else {
      response->set_payload(request->payload());
    }
    grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

int Run() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  EchoService service;
  int port = 0;
  grpc::ServerBuilder builder;
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  builder.AddListeningPort(absl::GetFlag(FLAGS_listen),
                           grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    Log(LogLevel::kError,
        absl::StrCat("cannot listen on ", absl::GetFlag(FLAGS_listen)));
    return 1;
  }
  Log(LogLevel::kInfo, absl::StrCat("echo serving on port ", port));
  int signal = 0;
  sigwait(&signals, &signal);
  server->Shutdown();
  return 0;
}

}  // namespace
}  // namespace etagd

int main(int argc, char** argv) {
  etagd::SetLogProgramName("echo-server");
  absl::SetProgramUsageMessage(
      "A gRPC echo server: the floor etagd-bench compares etagd with.");
  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's
  // deadlock detection on: a lock-order graph update on every nested lock,
  // in gRPC's code too. Our lock order is fixed and documented; turn it off.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  absl::ParseCommandLine(argc, argv);
  return etagd::Run();
}
