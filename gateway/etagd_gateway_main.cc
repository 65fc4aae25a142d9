// etagd-gateway: the HTTP gateway as its own process, calling etagd over
// gRPC. See --help.
#include <csignal>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/synchronization/mutex.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "gateway/backend.h"
#include "gateway/gateway.h"
#include "gateway/gateway_flags.h"
#include "gateway/http_server.h"
#include "gateway/metrics.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gateway/watch_channel_pool.h"
#include "service/env_flags.h"
#include "service/log.h"
#include "service/tls.h"
#include "service/tls_watcher.h"

ABSL_FLAG(std::string, backend, "127.0.0.1:7070", "etagd's gRPC HOST:PORT.");
ABSL_FLAG(absl::Duration, backend_timeout, absl::Seconds(10),
          "Deadline of each call to etagd.");
ABSL_FLAG(std::string, backend_ca_file, "",
          "PEM CA certificates that etagd's certificate must chain to: calls "
          "etagd over TLS. Empty: plaintext. The backend files are re-read "
          "when they change (--tls_poll_interval) or on SIGHUP, as the "
          "--tls_* files are.");
ABSL_FLAG(std::string, backend_cert_file, "",
          "PEM client certificate chain to present to etagd (for etagd's "
          "--tls_client_ca_file). Needs --backend_ca_file and "
          "--backend_key_file.");
ABSL_FLAG(std::string, backend_key_file, "",
          "PEM private key (unencrypted) of --backend_cert_file.");
ABSL_FLAG(std::string, backend_tls_server_name, "",
          "The name etagd's certificate must carry, if not the host of "
          "--backend.");
ABSL_FLAG(int, backend_watch_connections, 4,
          "Connections to etagd that carry the event streams (SSE and "
          "long-polls wait on them), each up to etagd's "
          "--watch_max_watchers_per_connection (1000 by default); a stream "
          "goes to the connection with the fewest. Other calls have their "
          "own connection.");
ABSL_FLAG(int64_t, max_content_bytes, int64_t{4} << 20,
          "Largest request content accepted, in bytes; more gets 413. Keep it "
          "at etagd's --max_content_bytes.");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(10),
          "On SIGTERM or SIGINT: how long requests in flight may take to "
          "finish before the gateway exits.");

namespace etagd {
namespace {

int Fail(absl::string_view message) {
  Log(LogLevel::kError, absl::StrCat("cannot start: ", message));
  return 1;
}

int Run() {
  if (absl::GetFlag(FLAGS_http_listen).empty()) {
    return Fail("--http_listen must name HOST:PORT: serving HTTP is the "
                "gateway's job");
  }
  const int64_t max_content = absl::GetFlag(FLAGS_max_content_bytes);
  if (max_content <= 0 || max_content > (int64_t{1} << 30)) {
    return Fail("--max_content_bytes must be between 1 and 1073741824");
  }
  absl::StatusOr<GatewayOptions> gateway_options = GatewayOptionsFromFlags();
  if (!gateway_options.ok()) return Fail(gateway_options.status().message());
  absl::StatusOr<HttpServerOptions> http_options =
      HttpServerOptionsFromFlags(max_content);
  if (!http_options.ok()) return Fail(http_options.status().message());
  absl::StatusOr<ServerTlsFiles> tls_files = ServerTlsFilesFromFlags();
  if (!tls_files.ok()) return Fail(tls_files.status().message());
  absl::StatusOr<absl::Duration> tls_poll_interval = TlsPollIntervalFromFlags();
  if (!tls_poll_interval.ok()) return Fail(tls_poll_interval.status().message());
  if (absl::Status check = CheckServerTlsFiles(*tls_files); !check.ok()) {
    return Fail(check.message());
  }

  ClientTlsFiles backend_tls;
  backend_tls.ca_file = absl::GetFlag(FLAGS_backend_ca_file);
  backend_tls.cert_file = absl::GetFlag(FLAGS_backend_cert_file);
  backend_tls.key_file = absl::GetFlag(FLAGS_backend_key_file);
  backend_tls.server_name = absl::GetFlag(FLAGS_backend_tls_server_name);
  if (absl::Status check = CheckClientTlsFiles(backend_tls); !check.ok()) {
    return Fail(absl::StrCat("--backend_*: ", check.message()));
  }

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  // Reloads TLS files.
  if (tls_files->enabled() || backend_tls.enabled()) sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // The HTTP server takes the certificate in force from it as it accepts
  // each connection.
  std::shared_ptr<ServerTlsWatcher> tls;
  if (tls_files->enabled()) {
    absl::StatusOr<std::shared_ptr<ServerTlsWatcher>> watcher =
        ServerTlsWatcher::Start(*tls_files, *tls_poll_interval);
    if (!watcher.ok()) return Fail(watcher.status().message());
    tls = *std::move(watcher);
    http_options->tls = [tls] { return tls->Current(); };
  }

  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(static_cast<int>(max_content + (64 << 10)));
  args.SetMaxSendMessageSize(static_cast<int>(max_content + (64 << 10)));
  // The channel's credentials follow the backend files as they change, as
  // the HTTPS listener's do.
  std::shared_ptr<ClientTlsWatcher> backend_tls_watcher;
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      grpc::InsecureChannelCredentials();
  if (backend_tls.enabled()) {
    absl::StatusOr<std::shared_ptr<ClientTlsWatcher>> watcher =
        ClientTlsWatcher::Start(backend_tls, *tls_poll_interval);
    if (!watcher.ok()) {
      return Fail(absl::StrCat("--backend_*: ", watcher.status().message()));
    }
    backend_tls_watcher = *std::move(watcher);
    credentials = GrpcChannelCredentials(*backend_tls_watcher, args);
  }
  if (!credentials.ok()) {
    return Fail(absl::StrCat("--backend_*: ", credentials.status().message()));
  }
  const int watch_connections = absl::GetFlag(FLAGS_backend_watch_connections);
  if (watch_connections < 1) {
    return Fail("--backend_watch_connections must be at least 1");
  }
  std::unique_ptr<Backend> backend = NewGrpcBackend(
      grpc::CreateCustomChannel(absl::GetFlag(FLAGS_backend), *credentials, args),
      absl::GetFlag(FLAGS_backend_timeout),
      MakeWatchChannels(absl::GetFlag(FLAGS_backend), *credentials, args,
                        watch_connections));
  HttpMetrics metrics;
  Gateway gateway(*backend, *gateway_options, metrics);
  http_options->on_own_response = metrics.ServerResponseRecorder();
  absl::StatusOr<std::unique_ptr<HttpServer>> http = HttpServer::Start(
      *http_options, [&gateway](HttpRequest&& request,
                                std::function<void(HttpAnswer)> respond) {
        gateway.Handle(std::move(request), std::move(respond));
      });
  if (!http.ok()) return Fail(http.status().message());

  const std::string listen = http_options->listen;
  Log(LogLevel::kInfo,
      absl::StrCat("serving ", (*http)->tls() ? "HTTPS" : "HTTP", " on ",
                   listen.substr(0, listen.rfind(':')), ":", (*http)->port(),
                   " for etagd at ", absl::GetFlag(FLAGS_backend),
                   backend_tls.enabled()
                       ? (backend_tls.cert_file.empty()
                              ? " over TLS"
                              : " over TLS with a client certificate")
                       : "",
                   tls_files->http_client_ca_file.empty()
                       ? ""
                       : "; HTTPS clients need a certificate"));
  int signal = 0;
  while (sigwait(&signals, &signal) == 0 && signal == SIGHUP) {
    if (tls != nullptr) tls->Reload();
    if (backend_tls_watcher != nullptr) backend_tls_watcher->Reload();
  }
  const absl::Duration drain = absl::GetFlag(FLAGS_drain_timeout);
  Log(LogLevel::kInfo,
      absl::StrCat("received ", signal == SIGTERM ? "SIGTERM" : "SIGINT",
                   "; finishing requests in flight (up to ",
                   absl::FormatDuration(drain), ")"));
  // Held long-polls answer now and event streams end, then requests in
  // flight finish.
  gateway.Drain();
  (*http)->Shutdown(drain);
  Log(LogLevel::kInfo, "stopped");
  return 0;
}

}  // namespace
}  // namespace etagd

int main(int argc, char** argv) {
  etagd::SetLogProgramName("etagd-gateway");
  absl::SetProgramUsageMessage(std::string(
      "The etagd HTTP gateway: serves RFC 9110 conditional requests over "
      "HTTP/1.1 by calling etagd's gRPC API.\n\n"
      "Usage: etagd-gateway [--http_listen=HOST:PORT] [--backend=HOST:PORT] "
      "[flags]\nStops cleanly on SIGTERM or SIGINT; SIGHUP reloads the TLS "
      "files.\n") + etagd::kEnvironmentHelp);
  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's
  // deadlock detection on: a lock-order graph update on every nested lock,
  // in gRPC's code too. Our lock order is fixed and documented; turn it off.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  etagd::ShowAllEtagdFlagsInHelp();
  if (absl::Status env = etagd::ApplyEnvironmentToFlags(); !env.ok()) {
    etagd::Log(etagd::LogLevel::kError,
               absl::StrCat("cannot start: ", env.message()));
    return 1;
  }
  absl::ParseCommandLine(argc, argv);
  return etagd::Run();
}
