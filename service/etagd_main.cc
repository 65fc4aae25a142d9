// etagd: the server binary. See --help.
#include <algorithm>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <system_error>
#include <vector>

#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "gateway/backend.h"
#include "gateway/gateway.h"
#include "gateway/gateway_flags.h"
#include "gateway/http_server.h"
#include "gateway/local_backend.h"
#include "gateway/metrics.h"
#include "service/store/caching_store.h"
#include "service/store/consistent_cache.h"
#include "service/env_flags.h"
#include "service/log.h"
#include "service/protobuf_log.h"
#include "service/store/rocksdb/rocksdb_store.h"
#include "service/server.h"
#include "service/store/rocksdb/space_guard.h"
#include "service/store/store.h"
#include "service/store/etcd/etcd_store.h"
#include "service/tls.h"
#include "service/tls_watcher.h"
#include "service/token_file.h"

ABSL_FLAG(std::string, grpc_listen, "127.0.0.1:7070",
          "HOST:PORT to serve gRPC on. Port 0 picks a free port; the startup "
          "line says which. Use 0.0.0.0:PORT to accept other hosts.");
ABSL_FLAG(std::string, engine, "rocksdb",
          "Where resources are stored: rocksdb (an embedded database in "
          "--data_dir; one etagd per directory) or etcd (an existing etcd 3.4+ "
          "cluster, --etcd_endpoints, shared by any number of etagd "
          "replicas).");
ABSL_FLAG(std::string, data_dir, "etagd-data",
          "With --engine=rocksdb: directory of the RocksDB database; created "
          "if missing. One etagd at a time may use it.");
ABSL_FLAG(std::string, etcd_endpoints, "127.0.0.1:2379",
          "With --engine=etcd: the cluster's client endpoints, HOST:PORT,... "
          "(an http:// or https:// prefix is accepted; https turns TLS on). "
          "Calls go to one at a time, a random one first, the next when it "
          "fails.");
ABSL_FLAG(std::string, etcd_prefix, "/etagd/",
          "With --engine=etcd: every key etagd writes starts with this; "
          "replicas with the same prefix share their resources.");
ABSL_FLAG(std::string, etcd_ca_file, "",
          "With --engine=etcd: PEM CA certificates that verify the etcd "
          "members' certificates (turns TLS to etcd on).");
ABSL_FLAG(std::string, etcd_cert_file, "",
          "With --engine=etcd: PEM client certificate for mutual TLS to etcd; "
          "needs --etcd_key_file.");
ABSL_FLAG(std::string, etcd_key_file, "",
          "With --engine=etcd: PEM private key of --etcd_cert_file.");
ABSL_FLAG(std::string, etcd_user, "",
          "With --engine=etcd: etcd user to authenticate as (needs "
          "--etcd_password_file). Empty: no etcd authentication.");
ABSL_FLAG(std::string, etcd_password_file, "",
          "With --engine=etcd: file holding --etcd_user's password (one line).");
ABSL_FLAG(absl::Duration, etcd_dial_timeout, absl::Seconds(5),
          "With --engine=etcd: how long to wait for a connection to etcd, at "
          "startup and before sending a write.");
ABSL_FLAG(absl::Duration, etcd_call_timeout, absl::Seconds(5),
          "With --engine=etcd: deadline of each call to etcd. A write that "
          "times out is never sent again: etagd finds out whether etcd "
          "applied it, or answers UNAVAILABLE saying the outcome is unknown.");
ABSL_FLAG(int64_t, etcd_max_request_bytes, 1572864,
          "With --engine=etcd: the cluster's --max-request-bytes. Content "
          "that would not fit is RESOURCE_EXHAUSTED before it is sent, and "
          "etagd refuses to start if --max_content_bytes cannot fit.");
ABSL_FLAG(bool, etcd_record_cache, true,
          "With --engine=etcd: keep the record cache (--record_cache_mb) "
          "exact across replicas by feeding it from this replica's etcd "
          "watch; each read of a resource first asks etcd its current "
          "revision (one linearizable query shared by every read waiting, "
          "none holding a thread) and waits until the cache has caught up "
          "to it, reading through to etcd if it has not within 10 ms. "
          "false (or --record_cache_mb=0): every read goes to etcd.");
ABSL_FLAG(int64_t, etcd_recent_records_mb, 16,
          "With --engine=etcd: memory, in MiB, for the records this replica "
          "last read or wrote (a few hundred bytes each), least recently "
          "used forgotten first. A compare-and-set on a remembered record is "
          "one etcd Txn; on a forgotten one, a linearizable read first. 0 "
          "remembers none.");
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
          "larger Puts fail with RESOURCE_EXHAUSTED. With --engine=etcd the "
          "default becomes the most that fits one etcd request "
          "(--etcd_max_request_bytes), and a larger value is refused.");
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
          "in MiB; it is always exact. 0 turns it off. With --engine=etcd, "
          "where other replicas write too, only with --etcd_record_cache "
          "(the default).");
ABSL_FLAG(int, write_threads, 32,
          "Threads that answer writes. Committer threads (--write_committers) "
          "commit the writes waiting in batches, one write-ahead-log sync "
          "each; these threads send the answers of a batch while the next "
          "one commits. Reads run on gRPC's own threads.");
ABSL_FLAG(int, write_committers, 0,
          "Batches of writes committed at once (1 to 32), each by its own "
          "thread; 0: the engine's choice (rocksdb 1, etcd 8). With rocksdb, "
          "more than one lets one batch be checked while another syncs the "
          "log (no gain measured yet); with --nosync_writes, what a power "
          "loss loses is then not always a suffix in revision order. With "
          "etcd, a batch waits for its slowest Txn: more batches keep more "
          "writes in flight to etcd.");
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
ABSL_FLAG(int64_t, watch_retention_revisions, 100000,
          "Watch: the change log keeps at least the changes of the last this "
          "many revisions (RocksDB engine; with --engine=etcd it keeps what "
          "etcd has not compacted); a Watch can start from any "
          "revision kept, an older one fails with OUT_OF_RANGE giving the "
          "oldest revision kept. 0: no limit by count.");
ABSL_FLAG(absl::Duration, watch_retention, absl::Hours(1),
          "Watch: changes older than this leave the change log (RocksDB "
          "engine), whatever --watch_retention_revisions says. 0: no limit "
          "by age.");
ABSL_FLAG(absl::Duration, watch_progress_interval, absl::Seconds(10),
          "Watch: a watcher waiting for changes gets a progress response "
          "(the revision it is complete up to) at least this often, also "
          "when nothing it watches changes. 0: none.");
ABSL_FLAG(int, watch_max_watchers, 10000,
          "Watch: most watch streams open at once; more fail with "
          "RESOURCE_EXHAUSTED. 0: no limit.");
ABSL_FLAG(int, watch_max_watchers_per_connection, 1000,
          "Watch: most watch streams open on one client connection; more "
          "fail with RESOURCE_EXHAUSTED. 0: no limit.");
ABSL_FLAG(int, watch_queue_events, 128,
          "Watch: events queued per watcher behind --watch_cache_mb while it "
          "is caught up from the change log.");
ABSL_FLAG(int64_t, watch_cache_mb, 64,
          "Watch: MiB of the latest changes kept in memory and shared by "
          "every watcher; a watcher behind by less reads nothing from the "
          "change log.");
ABSL_FLAG(int64_t, watch_buffer_mb, 256,
          "Watch: MiB all watchers together may hold in queues and in "
          "responses their clients have not taken yet; each gets "
          "1/(4 * --watch_max_watchers) of it for each, and larger events "
          "share half of it. With --watch_cache_mb and gRPC's own per-stream "
          "cost, this bounds the memory of watchers, however slow. 0: no "
          "bound for the whole (only per watcher).");
ABSL_FLAG(absl::Duration, watch_slow_timeout, absl::Seconds(30),
          "Watch: a watcher that holds a large event (beyond its share of "
          "--watch_buffer_mb) unsent this long while others wait for that "
          "memory is ended with RESOURCE_EXHAUSTED; it resumes from its last "
          "revision plus one. 0: never.");

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

// The storage engine, chosen by --engine: how to open it, and what the
// startup line says about it.
struct Engine {
  bool etcd = false;
  RocksDbStoreOptions rocksdb;
  EtcdStoreOptions etcd_options;
  // Largest content the engine accepts in one write (0: no limit of its own).
  int64_t max_content_bytes = 0;
  // Where the data lives, for the startup line.
  std::string description;
  bool non_atomic_writes_for_test = false;
  // WritePipelineOptions::committers. RocksDB's WriteMany calls may run
  // concurrently, but two committers measured no faster than one (the
  // spread between runs was larger), and cost ~6,000 instructions a write
  // with one in flight: one until a quiet machine shows otherwise. The
  // etcd engine's batch waits for its slowest Txn, and etcd commits
  // concurrent Txns together anyway: 8 batches in flight per replica
  // measured 0.89-1.09x raw etcd's CAS against 0.47-0.53x with one
  // (bench/RESULTS.md, "The etcd engine's committers").
  int committers = 1;
};

// The engine's options from the flags; an error says which flag is wrong.
absl::StatusOr<Engine> EngineFromFlags() {
  Engine engine;
  const std::string name = absl::GetFlag(FLAGS_engine);
  const int history_depth = absl::GetFlag(FLAGS_history_depth);
  if (history_depth < 0) {
    return absl::InvalidArgumentError("--history_depth must not be negative");
  }
  if (name == "rocksdb") {
    RocksDbStoreOptions& options = engine.rocksdb;
    std::error_code error;
    std::filesystem::path data_dir =
        std::filesystem::absolute(absl::GetFlag(FLAGS_data_dir), error);
    if (error || absl::GetFlag(FLAGS_data_dir).empty()) {
      return absl::InvalidArgumentError("--data_dir must name a directory");
    }
    options.path = data_dir.lexically_normal().string();
    options.sync_writes = absl::GetFlag(FLAGS_sync_writes);
    options.history_depth = history_depth;
    options.non_atomic_writes_for_test =
        absl::GetFlag(FLAGS_canary_non_atomic_writes);
    engine.non_atomic_writes_for_test = options.non_atomic_writes_for_test;
    if (options.non_atomic_writes_for_test) {
      Log(LogLevel::kWarning,
          "--canary_non_atomic_writes: compare-and-set is broken on purpose");
    }
    options.simulate_power_loss_for_test =
        absl::GetFlag(FLAGS_simulate_power_loss_for_test);
    if (options.simulate_power_loss_for_test) {
      Log(LogLevel::kWarning,
          "--simulate_power_loss_for_test: kill -9 loses unsynced data on "
          "purpose");
    }
    const int64_t cache_mb = absl::GetFlag(FLAGS_block_cache_mb);
    if (cache_mb < 0 || cache_mb > (int64_t{1} << 20)) {
      return absl::InvalidArgumentError(
          "--block_cache_mb must be between 0 and 1048576");
    }
    options.block_cache_bytes = cache_mb << 20;
    options.change_retention_revisions =
        absl::GetFlag(FLAGS_watch_retention_revisions);
    options.change_retention = absl::GetFlag(FLAGS_watch_retention);
    if (options.change_retention_revisions < 0 ||
        options.change_retention < absl::ZeroDuration()) {
      return absl::InvalidArgumentError(
          "--watch_retention_revisions and --watch_retention must not be "
          "negative");
    }
    engine.description = absl::StrCat(
        "data in ", options.path, " (",
        options.sync_writes ? "durable writes" : "unsynced writes",
        ", history depth ", history_depth, ")");
    return engine;
  }
  if (name != "etcd") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--engine must be rocksdb or etcd, not '", name, "'"));
  }
  if (absl::GetFlag(FLAGS_simulate_power_loss_for_test)) {
    return absl::InvalidArgumentError(
        "--simulate_power_loss_for_test is for --engine=rocksdb only");
  }
  engine.etcd = true;
  engine.committers = 8;
  EtcdStoreOptions& options = engine.etcd_options;
  options.non_atomic_writes_for_test = absl::GetFlag(FLAGS_canary_non_atomic_writes);
  engine.non_atomic_writes_for_test = options.non_atomic_writes_for_test;
  if (options.non_atomic_writes_for_test) {
    Log(LogLevel::kWarning,
        "--canary_non_atomic_writes: compare-and-set is broken on purpose");
  }
  for (absl::string_view endpoint :
       absl::StrSplit(absl::GetFlag(FLAGS_etcd_endpoints), ',', absl::SkipEmpty())) {
    options.endpoints.emplace_back(absl::StripAsciiWhitespace(endpoint));
  }
  if (options.endpoints.empty()) {
    return absl::InvalidArgumentError("--etcd_endpoints must name an endpoint");
  }
  options.prefix = absl::GetFlag(FLAGS_etcd_prefix);
  if (options.prefix.empty()) {
    return absl::InvalidArgumentError("--etcd_prefix must not be empty");
  }
  options.history_depth = history_depth;
  options.ca_file = absl::GetFlag(FLAGS_etcd_ca_file);
  options.cert_file = absl::GetFlag(FLAGS_etcd_cert_file);
  options.key_file = absl::GetFlag(FLAGS_etcd_key_file);
  options.username = absl::GetFlag(FLAGS_etcd_user);
  const std::string password_file = absl::GetFlag(FLAGS_etcd_password_file);
  if (options.username.empty() != password_file.empty()) {
    return absl::InvalidArgumentError(
        "--etcd_user and --etcd_password_file go together");
  }
  if (!password_file.empty()) {
    std::ifstream in(password_file, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    if (!in) {
      return absl::InvalidArgumentError(
          absl::StrCat("cannot read --etcd_password_file ", password_file));
    }
    // Never logged; one line, without its line break.
    options.password = text.str();
    while (!options.password.empty() &&
           (options.password.back() == '\n' || options.password.back() == '\r')) {
      options.password.pop_back();
    }
  }
  options.dial_timeout = absl::GetFlag(FLAGS_etcd_dial_timeout);
  options.call_timeout = absl::GetFlag(FLAGS_etcd_call_timeout);
  if (options.dial_timeout <= absl::ZeroDuration() ||
      options.call_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(
        "--etcd_dial_timeout and --etcd_call_timeout must be positive");
  }
  options.max_request_bytes = absl::GetFlag(FLAGS_etcd_max_request_bytes);
  if (options.max_request_bytes < 65536) {
    return absl::InvalidArgumentError(
        "--etcd_max_request_bytes must be at least 65536");
  }
  const int64_t recent_records_mb = absl::GetFlag(FLAGS_etcd_recent_records_mb);
  if (recent_records_mb < 0 || recent_records_mb > (int64_t{1} << 20)) {
    return absl::InvalidArgumentError(
        "--etcd_recent_records_mb must be between 0 and 1048576");
  }
  options.recent_records_bytes = recent_records_mb << 20;
  engine.max_content_bytes = EtcdMaxContentBytes(options);
  const bool tls = !options.ca_file.empty() || !options.cert_file.empty() ||
                   absl::StrContains(absl::GetFlag(FLAGS_etcd_endpoints), "https://");
  engine.description = absl::StrCat(
      "data in etcd at ", absl::StrJoin(options.endpoints, ","), " under prefix ",
      options.prefix, " (history depth ", history_depth,
      tls ? (options.cert_file.empty() ? ", TLS" : ", mutual TLS") : "",
      options.username.empty() ? "" : absl::StrCat(", as etcd user ", options.username),
      ")");
  return engine;
}

absl::StatusOr<std::unique_ptr<Store>> OpenEngine(const Engine& engine) {
  if (engine.etcd) return OpenEtcdStore(engine.etcd_options);
  return OpenRocksDbStore(engine.rocksdb);
}

int Run() {
  absl::StatusOr<Engine> engine = EngineFromFlags();
  if (!engine.ok()) return Fail(engine.status().message());

  ServerOptions server_options;
  server_options.grpc_listen = absl::GetFlag(FLAGS_grpc_listen);
  server_options.service.max_content_bytes =
      absl::GetFlag(FLAGS_max_content_bytes);
  // Left at its default, the content limit becomes the engine's own if
  // that is lower; set explicitly, it must fit.
  const absl::CommandLineFlag& max_content =
      absl::GetFlagReflectionHandle(FLAGS_max_content_bytes);
  if (engine->max_content_bytes > 0 &&
      max_content.CurrentValue() == max_content.DefaultValue()) {
    server_options.service.max_content_bytes = std::min(
        server_options.service.max_content_bytes, engine->max_content_bytes);
  }
  if (server_options.service.max_content_bytes <= 0 ||
      server_options.service.max_content_bytes > kMaxContentLimit) {
    return Fail("--max_content_bytes must be between 1 and 1073741824");
  }
  if (engine->max_content_bytes > 0 &&
      server_options.service.max_content_bytes > engine->max_content_bytes) {
    return Fail(absl::StrCat(
        "--max_content_bytes=", server_options.service.max_content_bytes,
        " is more than etcd accepts in one request: with "
        "--etcd_max_request_bytes=", engine->etcd_options.max_request_bytes,
        " (etcd's --max-request-bytes) content may be at most ",
        engine->max_content_bytes,
        " bytes; lower --max_content_bytes, or raise both limits"));
  }
  if (!engine->etcd) {
    // The RocksDB engine's space: etcd has its own quota (NOSPACE).
    RocksDbStoreOptions& store_options = engine->rocksdb;
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
      !engine->non_atomic_writes_for_test;
  const int committers = absl::GetFlag(FLAGS_write_committers);
  if (committers < 0 || committers > 32) {
    return Fail("--write_committers must be between 0 and 32");
  }
  server_options.write_pipeline.committers =
      committers > 0 ? committers : engine->committers;
  if (server_options.write_threads < 1 || server_options.write_threads > 1024) {
    return Fail("--write_threads must be between 1 and 1024");
  }
  server_options.feed.progress_interval =
      absl::GetFlag(FLAGS_watch_progress_interval);
  server_options.feed.max_watchers = absl::GetFlag(FLAGS_watch_max_watchers);
  server_options.feed.max_watchers_per_peer =
      absl::GetFlag(FLAGS_watch_max_watchers_per_connection);
  server_options.feed.queue.max_events = absl::GetFlag(FLAGS_watch_queue_events);
  const int64_t watch_cache_mb = absl::GetFlag(FLAGS_watch_cache_mb);
  const int64_t watch_buffer_mb = absl::GetFlag(FLAGS_watch_buffer_mb);
  server_options.feed.slow_watcher_timeout =
      absl::GetFlag(FLAGS_watch_slow_timeout);
  if (server_options.feed.progress_interval < absl::ZeroDuration() ||
      server_options.feed.max_watchers < 0 ||
      server_options.feed.max_watchers_per_peer < 0 ||
      server_options.feed.queue.max_events < 1 || watch_cache_mb < 0 ||
      watch_cache_mb > (int64_t{1} << 20) || watch_buffer_mb < 0 ||
      watch_buffer_mb > (int64_t{1} << 20) ||
      server_options.feed.slow_watcher_timeout < absl::ZeroDuration()) {
    return Fail(
        "--watch_progress_interval, --watch_max_watchers, "
        "--watch_max_watchers_per_connection and --watch_slow_timeout must "
        "not be negative, --watch_cache_mb and --watch_buffer_mb must be "
        "between 0 and 1048576, and --watch_queue_events must be at least 1");
  }
  server_options.feed.cache_bytes = watch_cache_mb << 20;
  server_options.feed.buffer_bytes = watch_buffer_mb << 20;
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

  const int64_t record_cache_mb = absl::GetFlag(FLAGS_record_cache_mb);
  if (record_cache_mb < 0 || record_cache_mb > (int64_t{1} << 20)) {
    return Fail("--record_cache_mb must be between 0 and 1048576");
  }
  absl::StatusOr<std::unique_ptr<Store>> store = OpenEngine(*engine);
  if (!store.ok()) return Fail(store.status().message());
  const std::optional<StorageSpace> space = (*store)->Space();
  const bool read_only = space.has_value() && space->read_only;
  if (record_cache_mb > 0 && !engine->etcd) {
    CachingStoreOptions cache_options;
    cache_options.capacity_bytes = record_cache_mb << 20;
    store = NewCachingStore(*std::move(store), cache_options);
  } else if (record_cache_mb > 0 && absl::GetFlag(FLAGS_etcd_record_cache)) {
    // Other replicas write to etcd behind this one's back: the cache is
    // fed by etcd's watch and each read waits until it has caught up.
    ConsistentCacheOptions cache_options;
    cache_options.capacity_bytes = record_cache_mb << 20;
    Store& etcd = **store;
    cache_options.latest_revision = [&etcd] { return EtcdLinearizableRevision(etcd); };
    cache_options.sync_change_log = [&etcd] { return EtcdSyncChangeLog(etcd); };
    absl::StatusOr<std::unique_ptr<ConsistentCache>> cache =
        ConsistentCache::Create(*std::move(store), std::move(cache_options));
    if (!cache.ok()) return Fail(cache.status().message());
    store = std::unique_ptr<Store>(*std::move(cache));
  }
  // The consistent cache, if on, for its counts at shutdown.
  const ConsistentCache* consistent_cache =
      dynamic_cast<const ConsistentCache*>(store->get());
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
    http_options->on_own_response = metrics.ServerResponseRecorder();
    absl::StatusOr<std::unique_ptr<HttpServer>> started = HttpServer::Start(
        *http_options, [&gateway](HttpRequest&& request,
                                  std::function<void(HttpAnswer)> respond) {
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
          "; ", engine->description,
          engine->etcd
              ? absl::StrCat("; content up to ",
                             server_options.service.max_content_bytes, " bytes")
              : absl::StrCat(
                    "; quota ",
                    engine->rocksdb.space.quota_bytes > 0
                        ? DescribeBytes(engine->rocksdb.space.quota_bytes)
                        : "none",
                    ", disk reserve ",
                    DescribeBytes(space.has_value() ? space->reserve_bytes : 0)),
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
  if (http != nullptr) {
    // Held long-polls answer now and event streams end, then requests in
    // flight finish.
    gateway->Drain();
    http->Shutdown(drain);
  }
  (*server)->Shutdown(std::max(absl::ZeroDuration(), deadline - absl::Now()));
  if (consistent_cache != nullptr) {
    const ConsistentCacheStats stats = consistent_cache->stats();
    Log(LogLevel::kInfo,
        absl::StrCat("record cache: ", stats.reads, " reads, ", stats.hits,
                     " from the cache, ", stats.fallbacks,
                     " read through while its watch was behind; ",
                     stats.revision_queries, " revision queries (for ",
                     stats.revision_readers, " reads), ", stats.syncs,
                     " change log syncs, ", stats.resets, " resets"));
  }
  Log(LogLevel::kInfo, engine->etcd ? "stopped; etcd connections closed"
                                     : "stopped; database closed");
  return 0;
}

}  // namespace
}  // namespace etagd

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(std::string(
      "Serves versioned resources over gRPC (etagd.v1.Resources) with HTTP "
      "conditional-request semantics (RFC 9110 section 13).\n\n"
      "Usage: etagd [--grpc_listen=HOST:PORT] [--http_listen=HOST:PORT] "
      "[--data_dir=DIR | --engine=etcd --etcd_endpoints=HOST:PORT,...] "
      "[flags]\n") +
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
