// etagd: the server binary. See --help.
#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gateway/backend.h"
#include "gateway/gateway.h"
#include "gateway/gateway_flags.h"
#include "gateway/http_server.h"
#include "gateway/local_backend.h"
#include "gateway/metrics.h"
#include "service/caching_store.h"
#include "service/env_flags.h"
#include "service/log.h"
#include "service/protobuf_log.h"
#include "service/rocksdb_store.h"
#include "service/server.h"
#include "service/space_guard.h"
#include "service/store.h"
#include "service/tls.h"
#include "service/tls_watcher.h"
#include "service/token_file.h"

ABSL_FLAG(std::string, grpc_listen, "127.0.0.1:7070",
          "HOST:PORT to serve gRPC on. Port 0 picks a free port; the startup "
          "line says which. Use 0.0.0.0:PORT to accept other hosts.");
ABSL_FLAG(std::string, data_dir, "etagd-data",
          "Directory of the RocksDB database; created if missing. One etagd "
          "at a time may use it.");
ABSL_FLAG(bool, sync_writes, true,
          "Durable writes: sync the write-ahead log before acknowledging a "
          "write, so acknowledged writes survive power loss. "
          "--nosync_writes is faster; acknowledged writes still survive a "
          "crash of etagd itself (even kill -9) but the most recent ones may "
          "be lost if the machine loses power or the kernel crashes.");
ABSL_FLAG(int, history_depth, 10,
          "Past versions (including deletions) kept per resource beyond the "
          "current one, readable by revision. 0 keeps none.");
ABSL_FLAG(int64_t, max_content_bytes, int64_t{4} << 20,
          "Largest content a Put may store, in bytes (at most 1 GiB); "
          "larger Puts fail with RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, quota_bytes, int64_t{8} << 30,
          "Most bytes the store's files (the --data_dir directory) may take, "
          "like etcd's --quota-backend-bytes. A Put that would pass it fails "
          "with RESOURCE_EXHAUSTED (HTTP 507 Insufficient Storage) saying "
          "so, while reads, listings and deletes go on; writes resume by "
          "themselves once deletes and compaction have made room for a "
          "--max_content_bytes write, or after a restart with a higher "
          "quota. Keep it below the volume's size less --disk_reserve_bytes. "
          "0: no quota.");
ABSL_FLAG(int64_t, disk_reserve_bytes, -1,
          "Free bytes to keep on the --data_dir volume, whatever else fills "
          "it; -1: a tenth of the volume, at most 1 GiB. A Put that would "
          "leave less fails with RESOURCE_EXHAUSTED (HTTP 507) before RocksDB "
          "runs out of space; deletes go on into the first half of the "
          "reserve, the rest is RocksDB's (its memtables, table files and "
          "compactions are sized from it, RocksDB's defaults from 1 GiB up, "
          "so that flushing and compacting fit). Writes resume by themselves "
          "once space is freed. 0 keeps none.");
ABSL_FLAG(absl::Duration, space_check_interval, absl::Seconds(1),
          "How often etagd measures its files and the volume's free space "
          "(in between, it counts what it writes) and, when full, tries to "
          "recover: writes resume within this long of space being freed.");
ABSL_FLAG(int64_t, block_cache_mb, 128,
          "RocksDB block cache size in MiB.");
ABSL_FLAG(int64_t, record_cache_mb, 64,
          "In-memory cache of recently read or written resources (content "
          "included), "
          "in MiB, in front of RocksDB; it is always exact. 0 turns it off.");
ABSL_FLAG(int, write_threads, 32,
          "Threads that answer writes. One committer thread commits the "
          "writes waiting in batches, one write-ahead-log sync each; these "
          "threads send the answers of a batch while the next one commits. "
          "Reads run on gRPC's own threads.");
ABSL_FLAG(int64_t, grpc_memory_quota_mb, 256,
          "Memory for gRPC calls in flight, in MiB: the limit of gRPC's own "
          "buffers (its resource quota), and separately of the Put requests "
          "waiting in the write pipeline. A Put beyond it fails "
          "at once with RESOURCE_EXHAUSTED (retry with backoff) instead of "
          "growing etagd without bound. 0 removes both limits.");
ABSL_FLAG(std::string, checkpoint_dir, "",
          "Directory under which the Admin CreateCheckpoint call writes "
          "consistent copies of the store (for backups). Empty disables "
          "checkpoints. Best on the same file system as --data_dir (hard "
          "links).");
ABSL_FLAG(bool, canary_non_atomic_writes, false,
          "FOR TESTS OF THE LINEARIZABILITY CHECKER ONLY: breaks "
          "compare-and-set on purpose (writes skip their compare), so that lost "
          "updates happen and the checker must find them.");
ABSL_FLAG(bool, simulate_power_loss_for_test, false,
          "FOR DURABILITY TESTS ONLY: breaks durability on purpose. Data not "
          "yet synced stays in etagd's memory, so that kill -9 loses what a "
          "power loss would; the next start with this flag also deletes the "
          "files whose directory entries were never synced.");
ABSL_FLAG(absl::Duration, drain_timeout, absl::Seconds(10),
          "On SIGTERM or SIGINT: how long calls and HTTP requests in flight "
          "may take, in all, to finish before they are cancelled and etagd "
          "exits. Keep Kubernetes' terminationGracePeriodSeconds above it.");
ABSL_FLAG(std::string, tls_client_ca_file, "",
          "PEM CA certificates for mutual TLS on gRPC: clients must present a "
          "certificate signed by one of them. Needs --tls_cert_file. Reloaded "
          "with it. HTTPS has its own, --http_tls_client_ca_file (set both to "
          "the same file for mutual TLS on both). Empty: no client "
          "certificates asked for.");
ABSL_FLAG(std::string, tokens_file, "",
          "File of bearer tokens, one per line: \"<token> <read|read-write> "
          "[prefix]\" (# starts a comment). Every Resources and Admin call "
          "must then carry \"authorization: Bearer <token>\" (HTTP: the "
          "Authorization header). Re-read when it changes (checked every 2s) "
          "and on SIGHUP; a broken file keeps the tokens loaded before. "
          "Empty: no authorization.");

namespace etagd {
namespace {

constexpr int64_t kMaxContentLimit = int64_t{1} << 30;
// A write's record beyond its content: name, content type, metadata.
constexpr int64_t kWriteOverheadBytes = 64 << 10;
// How often --tokens_file is checked for changes.
constexpr absl::Duration kTokensPollInterval = absl::Seconds(2);

int Fail(absl::string_view message) {
  Log(LogLevel::kError, absl::StrCat("cannot start: ", message));
  return 1;
}

int Run() {
  RocksDbStoreOptions store_options;
  std::error_code error;
  std::filesystem::path data_dir =
      std::filesystem::absolute(absl::GetFlag(FLAGS_data_dir), error);
  if (error || absl::GetFlag(FLAGS_data_dir).empty()) {
    return Fail("--data_dir must name a directory");
  }
  store_options.path = data_dir.lexically_normal().string();
  store_options.sync_writes = absl::GetFlag(FLAGS_sync_writes);
  store_options.history_depth = absl::GetFlag(FLAGS_history_depth);
  store_options.non_atomic_writes_for_test =
      absl::GetFlag(FLAGS_canary_non_atomic_writes);
  if (store_options.non_atomic_writes_for_test) {
    Log(LogLevel::kWarning,
        "--canary_non_atomic_writes: compare-and-set is broken on purpose");
  }
  store_options.simulate_power_loss_for_test =
      absl::GetFlag(FLAGS_simulate_power_loss_for_test);
  if (store_options.simulate_power_loss_for_test) {
    Log(LogLevel::kWarning,
        "--simulate_power_loss_for_test: kill -9 loses unsynced data on "
        "purpose");
  }
  if (store_options.history_depth < 0) {
    return Fail("--history_depth must not be negative");
  }
  const int64_t cache_mb = absl::GetFlag(FLAGS_block_cache_mb);
  if (cache_mb < 0 || cache_mb > (int64_t{1} << 20)) {
    return Fail("--block_cache_mb must be between 0 and 1048576");
  }
  store_options.block_cache_bytes = cache_mb << 20;

  ServerOptions server_options;
  server_options.grpc_listen = absl::GetFlag(FLAGS_grpc_listen);
  server_options.service.max_content_bytes =
      absl::GetFlag(FLAGS_max_content_bytes);
  if (server_options.service.max_content_bytes <= 0 ||
      server_options.service.max_content_bytes > kMaxContentLimit) {
    return Fail("--max_content_bytes must be between 1 and 1073741824");
  }
  store_options.space.quota_bytes = absl::GetFlag(FLAGS_quota_bytes);
  if (store_options.space.quota_bytes < 0) {
    return Fail("--quota_bytes must not be negative");
  }
  store_options.space.reserve_bytes = absl::GetFlag(FLAGS_disk_reserve_bytes);
  if (store_options.space.reserve_bytes < -1) {
    return Fail("--disk_reserve_bytes must be -1 (automatic) or more");
  }
  // Once full, writes resume when the largest write fits again.
  store_options.space.resume_bytes =
      server_options.service.max_content_bytes + kWriteOverheadBytes;
  store_options.space_check_interval =
      absl::GetFlag(FLAGS_space_check_interval);
  if (store_options.space_check_interval <= absl::ZeroDuration()) {
    return Fail("--space_check_interval must be positive");
  }
  server_options.admin.checkpoint_dir = absl::GetFlag(FLAGS_checkpoint_dir);
  const int64_t quota_mb = absl::GetFlag(FLAGS_grpc_memory_quota_mb);
  if (quota_mb < 0 || quota_mb > (int64_t{1} << 20)) {
    return Fail("--grpc_memory_quota_mb must be between 0 and 1048576");
  }
  server_options.grpc_memory_quota_bytes = quota_mb << 20;
  server_options.write_threads = absl::GetFlag(FLAGS_write_threads);
  // The canary's lost updates need stale plans to reach the store.
  server_options.write_pipeline.replan_held_back =
      !store_options.non_atomic_writes_for_test;
  if (server_options.write_threads < 1 || server_options.write_threads > 1024) {
    return Fail("--write_threads must be between 1 and 1024");
  }
  const absl::Duration drain = absl::GetFlag(FLAGS_drain_timeout);
  if (drain < absl::ZeroDuration()) {
    return Fail("--drain_timeout must not be negative");
  }
  absl::StatusOr<ServerTlsFiles> tls_files = ServerTlsFilesFromFlags();
  if (!tls_files.ok()) return Fail(tls_files.status().message());
  absl::StatusOr<absl::Duration> tls_poll_interval = TlsPollIntervalFromFlags();
  if (!tls_poll_interval.ok()) return Fail(tls_poll_interval.status().message());
  tls_files->client_ca_file = absl::GetFlag(FLAGS_tls_client_ca_file);
  if (absl::Status tls = CheckServerTlsFiles(*tls_files); !tls.ok()) {
    return Fail(tls.message());
  }
  const std::string tokens_file = absl::GetFlag(FLAGS_tokens_file);
  const bool serve_http = !absl::GetFlag(FLAGS_http_listen).empty();
  if (!serve_http && !tls_files->http_client_ca_file.empty()) {
    return Fail("--http_tls_client_ca_file is set but HTTP is off (--http_listen "
                "is empty)");
  }
  absl::StatusOr<GatewayOptions> gateway_options = GatewayOptionsFromFlags();
  if (!gateway_options.ok()) return Fail(gateway_options.status().message());
  absl::StatusOr<HttpServerOptions> http_options =
      HttpServerOptionsFromFlags(server_options.service.max_content_bytes);
  if (!http_options.ok()) return Fail(http_options.status().message());
  // One bound for responses to slow readers, over gRPC and HTTP alike.
  server_options.response_budget = http_options->response_budget;

  // Signals go to the thread that waits for them below, never to gRPC's or
  // RocksDB's threads, which inherit this mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  // SIGHUP reloads the tokens and the TLS files.
  if (!tokens_file.empty() || tls_files->enabled()) sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // The gRPC server and the HTTP server each take the certificate in force
  // from it as they accept a connection.
  std::shared_ptr<ServerTlsWatcher> tls;
  if (tls_files->enabled()) {
    absl::StatusOr<std::shared_ptr<ServerTlsWatcher>> watcher =
        ServerTlsWatcher::Start(*tls_files, *tls_poll_interval);
    if (!watcher.ok()) return Fail(watcher.status().message());
    tls = *std::move(watcher);
    server_options.tls = tls;
    http_options->tls = [tls] { return tls->Current(); };
  }

  std::unique_ptr<TokenFileWatcher> tokens;
  if (!tokens_file.empty()) {
    absl::StatusOr<std::unique_ptr<TokenFileWatcher>> watcher =
        TokenFileWatcher::Start(tokens_file, kTokensPollInterval);
    if (!watcher.ok()) return Fail(watcher.status().message());
    tokens = *std::move(watcher);
    server_options.tokens = tokens->store();
  }

  absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(store_options);
  if (!store.ok()) return Fail(store.status().message());
  const std::optional<StorageSpace> space = (*store)->Space();
  const bool read_only = space.has_value() && space->read_only;
  const int64_t record_cache_mb = absl::GetFlag(FLAGS_record_cache_mb);
  if (record_cache_mb < 0 || record_cache_mb > (int64_t{1} << 20)) {
    return Fail("--record_cache_mb must be between 0 and 1048576");
  }
  if (record_cache_mb > 0) {
    CachingStoreOptions cache_options;
    cache_options.capacity_bytes = record_cache_mb << 20;
    store = NewCachingStore(*std::move(store), cache_options);
  }
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::Start(server_options, *std::move(store));
  if (!server.ok()) return Fail(server.status().message());

  // The HTTP gateway calls the core directly (gateway/local_backend.h):
  // the same evaluation, authorization and write path as gRPC clients,
  // without serializing, and reads without a thread hop.
  std::unique_ptr<Backend> backend;
  HttpMetrics metrics;
  std::unique_ptr<Gateway> gateway;
  std::unique_ptr<HttpServer> http;
  std::string http_line;
  if (serve_http) {
    Server& started_server = **server;
    metrics.SetStorageSource(
        [&started_server] { return started_server.store().Space(); });
    backend = NewLocalBackend(**server);
    gateway = std::make_unique<Gateway>(*backend, *gateway_options, metrics);
    absl::StatusOr<std::unique_ptr<HttpServer>> started = HttpServer::Start(
        *http_options, [&gateway](HttpRequest request,
                                  std::function<void(HttpResponse)> respond) {
          gateway->Handle(std::move(request), std::move(respond));
        });
    if (!started.ok()) return Fail(started.status().message());
    http = *std::move(started);
    http_line = absl::StrCat(
        " and HTTP on ",
        http_options->listen.substr(0, http_options->listen.rfind(':')), ":",
        http->port());
  }

  const std::string host = server_options.grpc_listen.substr(
      0, server_options.grpc_listen.rfind(':'));
  Log(LogLevel::kInfo,
      absl::StrCat(
          "serving gRPC on ", host, ":", (*server)->grpc_port(), http_line,
          "; data in ", store_options.path, " (",
          store_options.sync_writes ? "durable writes" : "unsynced writes",
          ", history depth ", store_options.history_depth, ", quota ",
          store_options.space.quota_bytes > 0
              ? DescribeBytes(store_options.space.quota_bytes)
              : "none",
          ", disk reserve ",
          DescribeBytes(space.has_value() ? space->reserve_bytes : 0), ")",
          read_only ? "; READ-ONLY until the disk has room" : "",
          tls != nullptr ? "; TLS" : "",
          tls_files->client_ca_file.empty() ? ""
                                            : ", gRPC clients need a certificate",
          tls_files->http_client_ca_file.empty()
              ? ""
              : ", HTTPS clients need a certificate",
          tokens != nullptr ? absl::StrCat("; bearer tokens from ", tokens_file)
                            : ""));

  int signal = 0;
  while (sigwait(&signals, &signal) == 0 && signal == SIGHUP) {
    if (tokens != nullptr) tokens->Reload();
    if (tls != nullptr) tls->Reload();
  }
  Log(LogLevel::kInfo,
      absl::StrCat("received ", signal == SIGTERM ? "SIGTERM" : "SIGINT",
                   "; finishing calls in flight (up to ",
                   absl::FormatDuration(drain), ")"));
  // Readiness goes first, so load balancers stop routing; then HTTP drains
  // (its requests still need the server's core and writes), then gRPC.
  // One deadline for both, so etagd exits within --drain_timeout.
  const absl::Time deadline = absl::Now() + drain;
  (*server)->MarkNotServing();
  if (http != nullptr) http->Shutdown(drain);
  (*server)->Shutdown(std::max(absl::ZeroDuration(), deadline - absl::Now()));
  Log(LogLevel::kInfo, "stopped; database closed");
  return 0;
}

}  // namespace
}  // namespace etagd

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(std::string(
      "Serves versioned resources over gRPC (etagd.v1.Resources) with HTTP "
      "conditional-request semantics (RFC 9110 section 13).\n\n"
      "Usage: etagd [--grpc_listen=HOST:PORT] [--http_listen=HOST:PORT] "
      "[--data_dir=DIR] [flags]\n") +
      "Serves gRPC on 127.0.0.1:7070 and HTTP on 127.0.0.1:8080 by default "
      "(--http_listen= turns HTTP off). Stops cleanly on SIGTERM or SIGINT; "
      "SIGHUP reloads the tokens and TLS files.\n" +
      std::string(etagd::kEnvironmentHelp));
  // Debian builds Abseil without NDEBUG, which leaves absl::Mutex's
  // deadlock detection on: a lock-order graph update on every nested lock,
  // in gRPC's code too. Our lock order is fixed and documented; turn it off.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  etagd::ShowAllEtagdFlagsInHelp();
  etagd::RouteProtobufLogs();
  if (absl::Status env = etagd::ApplyEnvironmentToFlags(); !env.ok()) {
    etagd::Log(etagd::LogLevel::kError,
               absl::StrCat("cannot start: ", env.message()));
    return 1;
  }
  absl::ParseCommandLine(argc, argv);
  return etagd::Run();
}
