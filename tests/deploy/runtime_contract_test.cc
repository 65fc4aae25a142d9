// The runtime contract that deploy/ relies on, tested on the real etagd run
// the way the container runs it: as uid/gid 65532 (the Dockerfile's USER,
// the manifests' runAsUser) with no capabilities and no_new_privs
// (capabilities drop ALL, allowPrivilegeEscalation: false), configured only
// through ETAGD_* variables (the ConfigMap via envFrom), with a working
// directory, HOME and TMPDIR it cannot write (readOnlyRootFilesystem) and
// one writable "volume" directory (the data volume, owned via fsGroup).
//
// The test process must be root to drop to that uid (setpriv from
// util-linux); CI runs as root. Elsewhere these tests skip.
#include <grp.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/testing/http_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"

namespace etagd {
namespace {

namespace fs = std::filesystem;
namespace v1 = ::etagd::v1;
using ::grpc::health::v1::HealthCheckRequest;
using ::grpc::health::v1::HealthCheckResponse;
using ::testing::HasSubstr;

// The Dockerfile's USER and the manifests' runAsUser/runAsGroup/fsGroup.
constexpr uid_t kUid = 65532;
constexpr gid_t kGid = 65532;

// Bounds a hang; not an expected duration.
constexpr absl::Duration kTimeout = absl::Seconds(60);

// ETAGD_DRAIN_TIMEOUT for these tests (the base sets 20s; shorter keeps the
// test quick, the contract is the same).
constexpr absl::Duration kDrain = absl::Seconds(5);
// etagd must exit within the drain timeout; this covers joining the write
// pool, closing RocksDB and the process exit after the drain deadline, on
// a busy 2-CPU test machine. Kubernetes' grace period leaves 10s for it.
constexpr absl::Duration kExitSlack = absl::Seconds(2);

constexpr char kSetpriv[] = "/usr/bin/setpriv";
constexpr char kContainerRootPrefix[] = "/tmp/etagd-deploy-test-";
constexpr char kEnv[] = "/usr/bin/env";

// A directory tree laid out like the container: a copy of the etagd binary
// (the test's runfiles live under /root, which uid 65532 cannot traverse),
// a read-only directory for cwd, HOME and TMPDIR, and volumes owned by the
// unprivileged user. Removed when destroyed.
class ContainerRoot {
 public:
  ContainerRoot() {
    std::string pattern = absl::StrCat(kContainerRootPrefix, "XXXXXX");
    if (mkdtemp(pattern.data()) == nullptr) return;
    root_ = pattern;
    std::error_code error;
    fs::permissions(root_, fs::perms(0755), error);
    fs::create_directories(bin(), error);
    fs::copy_file(DataBinaryPath("service/etagd"), etagd(), error);
    if (error) return;
    fs::permissions(etagd(), fs::perms(0755), error);
    fs::create_directories(read_only(), error);
    fs::permissions(read_only(), fs::perms(0555), error);
    ok_ = !error;
  }
  ContainerRoot(const ContainerRoot&) = delete;
  ContainerRoot& operator=(const ContainerRoot&) = delete;
  ~ContainerRoot() {
    if (root_.empty()) return;
    std::error_code error;
    fs::remove_all(root_, error);
  }

  bool ok() const { return ok_; }
  const std::string& root() const { return root_; }
  std::string bin() const { return root_ + "/bin"; }
  std::string etagd() const { return bin() + "/etagd"; }
  // Root-owned, mode 0555: etagd's cwd, HOME and TMPDIR.
  std::string read_only() const { return root_ + "/ro"; }

  // A new empty directory owned by kUid:kGid, mode 0750, like the image's
  // /var/lib/etagd with fsGroup applied.
  std::string NewVolume(const std::string& name) const {
    const std::string path = root_ + "/" + name;
    fs::create_directories(path);
    EXPECT_EQ(chown(path.c_str(), kUid, kGid), 0) << path;
    EXPECT_EQ(chmod(path.c_str(), 0750), 0) << path;
    return path;
  }

 private:
  std::string root_;
  bool ok_ = false;
};

// Gives `path` and everything under it to kUid:kGid.
void ChownTree(const std::string& path) {
  ASSERT_EQ(lchown(path.c_str(), kUid, kGid), 0) << path;
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(path)) {
    ASSERT_EQ(lchown(entry.path().c_str(), kUid, kGid), 0) << entry.path();
  }
}

struct UnprivilegedEtagd {
  std::unique_ptr<Subprocess> process;
  int grpc_port = 0;
  int http_port = 0;
  std::string startup_line;

  std::string target() const { return absl::StrCat("127.0.0.1:", grpc_port); }
};

// The port after `marker` + "HOST:" in the startup line.
std::optional<int> PortAfter(const std::string& line,
                           const std::string& marker) {
  const size_t start = line.find(marker);
  if (start == std::string::npos) return std::nullopt;
  const size_t end = line.find_first_of(" ;", start + marker.size());
  const std::string address = line.substr(start + marker.size(),
                                          end - start - marker.size());
  int port = 0;
  if (!absl::SimpleAtoi(address.substr(address.rfind(':') + 1), &port)) {
    return std::nullopt;
  }
  return port;
}

// Starts etagd as the container would, on `volume`: only ETAGD_* settings
// (plus `extra_env`), loopback ports picked by the kernel.
absl::StatusOr<UnprivilegedEtagd> StartUnprivileged(
    const ContainerRoot& container, const std::string& volume,
    const std::vector<std::string>& extra_env = {}) {
  std::vector<std::string> args = {
      absl::StrCat("--reuid=", kUid), absl::StrCat("--regid=", kGid),
      "--clear-groups", "--inh-caps=-all", "--bounding-set=-all",
      "--no-new-privs", "--", kEnv, "-i", "-C", container.read_only(),
      "HOME=" + container.read_only(), "TMPDIR=" + container.read_only(),
      "PATH=/usr/bin:/bin",
      "ETAGD_GRPC_LISTEN=127.0.0.1:0", "ETAGD_HTTP_LISTEN=127.0.0.1:0",
      "ETAGD_DATA_DIR=" + volume + "/data",
      "ETAGD_CHECKPOINT_DIR=" + volume + "/checkpoints",
      absl::StrCat("ETAGD_DRAIN_TIMEOUT=", absl::FormatDuration(kDrain))};
  args.insert(args.end(), extra_env.begin(), extra_env.end());
  args.push_back(container.etagd());
  absl::StatusOr<std::unique_ptr<Subprocess>> process =
      Subprocess::Start(kSetpriv, args);
  if (!process.ok()) return process.status();
  absl::StatusOr<std::string> line =
      (*process)->WaitForStderrLine("serving gRPC on ", kTimeout);
  if (!line.ok()) return line.status();
  UnprivilegedEtagd etagd;
  std::optional<int> grpc_port = PortAfter(*line, "serving gRPC on ");
  std::optional<int> http_port = PortAfter(*line, " and HTTP on ");
  if (!grpc_port.has_value() || !http_port.has_value()) {
    return absl::InternalError(absl::StrCat("no ports in: ", *line));
  }
  etagd.process = *std::move(process);
  etagd.grpc_port = *grpc_port;
  etagd.http_port = *http_port;
  etagd.startup_line = *std::move(line);
  return etagd;
}

// Sends SIGTERM, waits, and returns how long etagd took to exit (the exit
// status in `exit_code`).
absl::Duration Terminate(UnprivilegedEtagd& etagd, int& exit_code) {
  exit_code = -1;
  const absl::Time start = absl::Now();
  EXPECT_THAT(etagd.process->Signal(SIGTERM), IsOk());
  absl::StatusOr<int> code = etagd.process->Wait(kTimeout);
  const absl::Duration took = absl::Now() - start;
  EXPECT_THAT(code, IsOk());
  if (code.ok()) exit_code = *code;
  return took;
}

void StopCleanly(UnprivilegedEtagd& etagd) {
  int exit_code = -1;
  Terminate(etagd, exit_code);
  EXPECT_EQ(exit_code, 0) << etagd.process->stderr_text();
}

// The fields of /proc/PID/status, e.g. "Uid" -> "65532\t65532\t65532\t65532".
std::map<std::string, std::string> ProcStatus(pid_t pid) {
  std::map<std::string, std::string> fields;
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    std::pair<std::string, std::string> kv =
        absl::StrSplit(line, absl::MaxSplits(':', 1));
    fields[kv.first] = std::string(absl::StripAsciiWhitespace(kv.second));
  }
  return fields;
}

HealthCheckResponse::ServingStatus CheckHealth(const std::string& target,
                                               const std::string& service) {
  std::unique_ptr<grpc::health::v1::Health::Stub> health =
      grpc::health::v1::Health::NewStub(
          grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  HealthCheckRequest request;
  request.set_service(service);
  HealthCheckResponse response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(10));
  const grpc::Status status = health->Check(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  return status.ok() ? response.status() : HealthCheckResponse::UNKNOWN;
}

// Client threads putting distinct resources ("load/T/I") as fast as etagd
// acknowledges them, journalling every acknowledged write. Thread-safe.
class WriteLoad {
 public:
  struct Ack {
    std::string name;
    std::string content;
    int64_t revision = 0;
    // When the Put was sent.
    absl::Time sent;
  };

  WriteLoad(const std::string& target, int threads) {
    for (int t = 0; t < threads; ++t) {
      threads_.emplace_back([this, target, t] { Run(target, t); });
    }
  }
  WriteLoad(const WriteLoad&) = delete;
  WriteLoad& operator=(const WriteLoad&) = delete;
  ~WriteLoad() { Stop(); }

  // Stops sending and joins the threads.
  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    for (std::thread& thread : threads_) thread.join();
    threads_.clear();
  }

  // Waits until at least `count` writes have been acknowledged.
  bool WaitForAcks(size_t count, absl::Duration timeout) {
    absl::MutexLock lock(&mu_);
    auto enough = [this, count]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return acks_.size() >= count;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }

  std::vector<Ack> Acks() {
    absl::MutexLock lock(&mu_);
    return acks_;
  }

  int64_t failures() {
    absl::MutexLock lock(&mu_);
    return failures_;
  }

 private:
  void Run(const std::string& target, int thread) {
    ClientOptions options;
    options.timeout = absl::Seconds(10);
    std::unique_ptr<Client> client = Client::Connect(target, options);
    // A little over one RocksDB block per write, so that the store spans
    // several files by the time the tests signal or checkpoint it.
    const std::string padding(512, 'x');
    for (int i = 0;; ++i) {
      {
        absl::MutexLock lock(&mu_);
        if (stop_) return;
      }
      v1::PutResourceRequest request;
      request.set_name(absl::StrCat("load/", thread, "/", i));
      request.set_content(absl::StrCat(request.name(), " ", padding));
      const absl::Time sent = absl::Now();
      absl::StatusOr<v1::PutResourceResponse> response = client->Put(request);
      absl::MutexLock lock(&mu_);
      if (response.ok()) {
        acks_.push_back({request.name(), request.content(),
                         response->resource().revision(), sent});
      } else {
        ++failures_;
        // etagd is draining or gone: retry later, or stop at once if told.
        mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Milliseconds(20));
      }
    }
  }

  absl::Mutex mu_;
  std::vector<Ack> acks_ ABSL_GUARDED_BY(mu_);
  int64_t failures_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

// Polls GET /readyz until stopped, recording each answer's status (0 when
// the connection failed: refused or closed). Thread-safe.
class ReadinessWatch {
 public:
  struct Observation {
    absl::Time at;
    int status = 0;
  };

  explicit ReadinessWatch(int http_port)
      : thread_([this, http_port] { Run(http_port); }) {}
  ReadinessWatch(const ReadinessWatch&) = delete;
  ReadinessWatch& operator=(const ReadinessWatch&) = delete;
  ~ReadinessWatch() { Stop(); }

  void Stop() {
    {
      absl::MutexLock lock(&mu_);
      stop_ = true;
    }
    if (thread_.joinable()) thread_.join();
  }

  std::vector<Observation> observations() {
    absl::MutexLock lock(&mu_);
    return observations_;
  }

 private:
  void Run(int http_port) {
    HttpClient http(http_port);
    while (true) {
      absl::StatusOr<HttpReply> reply = http.Send("GET", "/readyz");
      if (!reply.ok()) http.Close();
      absl::MutexLock lock(&mu_);
      observations_.push_back({absl::Now(), reply.ok() ? reply->status : 0});
      // Paces the polling like a (fast) kubelet; ends early when stopped.
      if (mu_.AwaitWithTimeout(absl::Condition(&stop_), absl::Milliseconds(10))) {
        return;
      }
    }
  }

  absl::Mutex mu_;
  std::vector<Observation> observations_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

// Expects every write in `acks` to be served by the etagd at `target` with
// its content and revision.
void ExpectAllServed(const std::string& target,
                     const std::vector<WriteLoad::Ack>& acks) {
  std::unique_ptr<Client> client = Client::Connect(target);
  std::vector<std::string> missing;
  for (const WriteLoad::Ack& ack : acks) {
    v1::GetResourceRequest request;
    request.set_name(ack.name);
    absl::StatusOr<v1::GetResourceResponse> got = client->Get(request);
    if (!got.ok() || got->resource().content() != ack.content ||
        got->resource().revision() != ack.revision) {
      missing.push_back(absl::StrCat(
          ack.name, " (revision ", ack.revision, "): ",
          got.ok() ? absl::StrCat("revision ", got->resource().revision())
                   : got.status().ToString()));
    }
  }
  EXPECT_TRUE(missing.empty())
      << missing.size() << " of " << acks.size()
      << " acknowledged writes are not served, e.g. " << missing.front();
}

class RuntimeContractTest : public testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) {
      GTEST_SKIP() << "needs root to run etagd as uid " << kUid
                   << " through setpriv (CI runs as root)";
    }
    ASSERT_EQ(access(kSetpriv, X_OK), 0) << kSetpriv << " (util-linux)";
    ASSERT_TRUE(container_.ok()) << "cannot lay out " << container_.root();
  }

  ContainerRoot container_;
};

TEST_F(RuntimeContractTest, RunsUnprivilegedAndWritesOnlyInsideItsVolume) {
  // ctime has one-second granularity on some file systems: look back a
  // little, and only at files of this uid outside our tree.
  const absl::Time start = absl::Now() - absl::Seconds(2);
  const std::string volume = container_.NewVolume("volume");
  absl::StatusOr<UnprivilegedEtagd> etagd = StartUnprivileged(container_, volume);
  ASSERT_THAT(etagd, IsOk());

  // The process itself: the user, no groups, no capabilities, no way back.
  std::map<std::string, std::string> status = ProcStatus(etagd->process->pid());
  const std::string ids = absl::StrCat(kUid, "\t", kUid, "\t", kUid, "\t", kUid);
  EXPECT_EQ(status["Uid"], ids);
  EXPECT_EQ(status["Gid"], absl::StrCat(kGid, "\t", kGid, "\t", kGid, "\t", kGid));
  EXPECT_EQ(status["Groups"], "");
  EXPECT_EQ(status["CapEff"], "0000000000000000");
  EXPECT_EQ(status["CapPrm"], "0000000000000000");
  EXPECT_EQ(status["NoNewPrivs"], "1");
  EXPECT_EQ(fs::read_symlink(absl::StrCat("/proc/", etagd->process->pid(), "/exe")),
            fs::path(container_.etagd()));

  // Exercise everything that writes: a Put, HTTP, a checkpoint, the drain.
  std::unique_ptr<Client> client = Client::Connect(etagd->target());
  v1::PutResourceRequest put;
  put.set_name("written");
  put.set_content("by uid 65532");
  EXPECT_THAT(client->Put(put), IsOk());
  HttpClient http(etagd->http_port);
  absl::StatusOr<HttpReply> reply = http.Send("GET", "/v1/resources/written");
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->status, 200);
  absl::StatusOr<CommandResult> checkpoint = RunCommand(
      DataBinaryPath("client/etagctl"),
      {"--target=" + etagd->target(), "checkpoint", "first"});
  ASSERT_THAT(checkpoint, IsOk());
  EXPECT_EQ(checkpoint->exit_code, 0) << checkpoint->stderr_text;
  http.Close();
  client.reset();
  StopCleanly(*etagd);

  // Nothing in the read-only cwd/HOME/TMPDIR (it could not have been), and
  // in the volume only the two directories the settings name.
  EXPECT_TRUE(fs::is_empty(container_.read_only()));
  std::set<std::string> in_volume;
  for (const fs::directory_entry& entry : fs::directory_iterator(volume)) {
    in_volume.insert(entry.path().filename().string());
  }
  EXPECT_EQ(in_volume, (std::set<std::string>{"checkpoints", "data"}));
  EXPECT_TRUE(fs::exists(volume + "/data/CURRENT"));
  EXPECT_TRUE(fs::exists(volume + "/checkpoints/first/CURRENT"));

  // Every file the user owns in the places it could write (world-writable
  // directories and our tree) is inside the volume.
  std::vector<std::string> outside;
  for (const char* root : {"/tmp", "/var/tmp", "/dev/shm"}) {
    std::error_code error;
    fs::recursive_directory_iterator it(
        root, fs::directory_options::skip_permission_denied, error);
    for (; !error && it != fs::recursive_directory_iterator(); it.increment(error)) {
      struct stat info;
      if (lstat(it->path().c_str(), &info) != 0 || info.st_uid != kUid) continue;
      const std::string path = it->path().string();
      const bool ours = absl::StartsWith(path, container_.root() + "/");
      // Trees of this test running concurrently (--runs_per_test) are
      // checked by those runs.
      if (!ours && absl::StartsWith(path, kContainerRootPrefix)) {
        it.disable_recursion_pending();
        continue;
      }
      if (!ours && absl::FromTimeT(info.st_ctime) < start) continue;
      if (!absl::StartsWith(path, volume + "/") && path != volume) {
        outside.push_back(path);
      }
    }
  }
  EXPECT_TRUE(outside.empty()) << "written outside " << volume << ": "
                               << outside.front();
}

TEST_F(RuntimeContractTest, RefusesToStartWithOneLineWhenTheVolumeIsNotItsOwn) {
  // A volume without fsGroup: root-owned, not writable by the user.
  const std::string volume = container_.root() + "/root-owned";
  fs::create_directories(volume);
  fs::permissions(volume, fs::perms(0755));
  absl::StatusOr<UnprivilegedEtagd> etagd = StartUnprivileged(container_, volume);
  ASSERT_FALSE(etagd.ok());
  EXPECT_THAT(std::string(etagd.status().message()),
              HasSubstr("level=error program=etagd msg=\"cannot start"));
  EXPECT_THAT(std::string(etagd.status().message()), HasSubstr(volume + "/data"));
}

TEST_F(RuntimeContractTest, HealthIsServingOnceTheStartupLineAppears) {
  absl::StatusOr<UnprivilegedEtagd> etagd =
      StartUnprivileged(container_, container_.NewVolume("volume"));
  ASSERT_THAT(etagd, IsOk());
  // No retries: the line is the promise that the probes pass.
  HttpClient http(etagd->http_port);
  absl::StatusOr<HttpReply> ready = http.Send("GET", "/readyz");
  ASSERT_THAT(ready, IsOk());
  EXPECT_EQ(ready->status, 200) << ready->body;
  absl::StatusOr<HttpReply> healthy = http.Send("GET", "/healthz");
  ASSERT_THAT(healthy, IsOk());
  EXPECT_EQ(healthy->status, 200) << healthy->body;
  EXPECT_EQ(CheckHealth(etagd->target(), "etagd.v1.Resources"),
            HealthCheckResponse::SERVING);
  EXPECT_EQ(CheckHealth(etagd->target(), ""), HealthCheckResponse::SERVING);
  http.Close();
  StopCleanly(*etagd);
}

TEST_F(RuntimeContractTest, SigtermUnderWriteLoadDrainsInTimeAndKeepsAcknowledgedWrites) {
  const std::string volume = container_.NewVolume("volume");
  absl::StatusOr<UnprivilegedEtagd> etagd = StartUnprivileged(container_, volume);
  ASSERT_THAT(etagd, IsOk());

  WriteLoad load(etagd->target(), 6);
  ASSERT_TRUE(load.WaitForAcks(300, kTimeout)) << etagd->process->stderr_text();
  ReadinessWatch readiness(etagd->http_port);

  const size_t acked_before_sigterm = load.Acks().size();
  const absl::Time sigterm = absl::Now();
  int exit_code = -1;
  const absl::Duration took = Terminate(*etagd, exit_code);
  readiness.Stop();
  load.Stop();

  EXPECT_EQ(exit_code, 0) << etagd->process->stderr_text();
  EXPECT_LE(took, kDrain + kExitSlack) << etagd->process->stderr_text();
  EXPECT_THAT(etagd->process->stderr_text(), HasSubstr("received SIGTERM"));
  EXPECT_THAT(etagd->process->stderr_text(), HasSubstr("stopped; database closed"));

  // Readiness: once it turns (503, or the port closes) it stays turned.
  std::optional<absl::Time> turned;
  for (const ReadinessWatch::Observation& seen : readiness.observations()) {
    if (seen.at < sigterm) continue;
    if (seen.status != 200 && !turned.has_value()) turned = seen.at;
    if (turned.has_value()) {
      EXPECT_NE(seen.status, 200) << "ready again " << (seen.at - *turned)
                                  << " after turning unready";
    }
    EXPECT_TRUE(seen.status == 200 || seen.status == 503 || seen.status == 0)
        << seen.status;
  }
  EXPECT_TRUE(turned.has_value()) << "/readyz never turned after SIGTERM";
  RecordProperty("drain_ms", static_cast<int>(absl::ToInt64Milliseconds(took)));
  if (turned.has_value()) {
    RecordProperty("unready_after_sigterm_ms",
                   static_cast<int>(absl::ToInt64Milliseconds(*turned - sigterm)));
  }

  // Every acknowledged write (before SIGTERM and during the drain) is there
  // after a restart.
  const std::vector<WriteLoad::Ack> acks = load.Acks();
  EXPECT_GE(acked_before_sigterm, 300u);
  absl::StatusOr<UnprivilegedEtagd> restarted = StartUnprivileged(container_, volume);
  ASSERT_THAT(restarted, IsOk());
  ExpectAllServed(restarted->target(), acks);
  StopCleanly(*restarted);
}

TEST_F(RuntimeContractTest, CheckpointTakenDuringWritesRestoresAcknowledgedWrites) {
  const std::string volume = container_.NewVolume("volume");
  absl::StatusOr<UnprivilegedEtagd> etagd = StartUnprivileged(container_, volume);
  ASSERT_THAT(etagd, IsOk());

  WriteLoad load(etagd->target(), 6);
  ASSERT_TRUE(load.WaitForAcks(300, kTimeout)) << etagd->process->stderr_text();
  const std::vector<WriteLoad::Ack> before = load.Acks();
  absl::StatusOr<CommandResult> checkpoint = RunCommand(
      DataBinaryPath("client/etagctl"),
      {"--target=" + etagd->target(), "checkpoint", "during-load"});
  const absl::Time checkpoint_done = absl::Now();
  ASSERT_THAT(checkpoint, IsOk());
  ASSERT_EQ(checkpoint->exit_code, 0) << checkpoint->stderr_text;
  // Writes go on after the checkpoint, so that restoring a later state
  // could not pass for restoring the checkpoint.
  EXPECT_TRUE(load.WaitForAcks(load.Acks().size() + 200, kTimeout));
  load.Stop();
  StopCleanly(*etagd);

  // "checkpoint: PATH\nrevision: N\n"
  const std::string path = volume + "/checkpoints/during-load";
  EXPECT_THAT(checkpoint->stdout_text, HasSubstr("checkpoint: " + path + "\n"));
  int64_t revision = 0;
  const size_t at = checkpoint->stdout_text.find("revision: ");
  ASSERT_NE(at, std::string::npos) << checkpoint->stdout_text;
  ASSERT_TRUE(absl::SimpleAtoi(
      absl::StripAsciiWhitespace(checkpoint->stdout_text.substr(at + 10)), &revision));
  for (const WriteLoad::Ack& ack : before) EXPECT_LE(ack.revision, revision);

  // Restore: the checkpoint, copied, becomes the data dir of a new etagd.
  const std::string restored = container_.NewVolume("restored");
  fs::copy(path, restored + "/data", fs::copy_options::recursive);
  ChownTree(restored + "/data");
  absl::StatusOr<UnprivilegedEtagd> from_checkpoint =
      StartUnprivileged(container_, restored);
  ASSERT_THAT(from_checkpoint, IsOk());
  ExpectAllServed(from_checkpoint->target(), before);

  // And it is the checkpoint's state: no write sent after the checkpoint
  // call returned is in it.
  std::unique_ptr<Client> client = Client::Connect(from_checkpoint->target());
  int later = 0;
  for (const WriteLoad::Ack& ack : load.Acks()) {
    if (ack.sent <= checkpoint_done) continue;
    ++later;
    v1::GetResourceRequest request;
    request.set_name(ack.name);
    EXPECT_THAT(client->Get(request), StatusIs(absl::StatusCode::kNotFound))
        << ack.name << " was written after the checkpoint";
  }
  EXPECT_GT(later, 0);
  client.reset();
  StopCleanly(*from_checkpoint);
}

}  // namespace
}  // namespace etagd
