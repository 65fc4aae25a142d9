#include "tests/testing/etcd_cluster.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"

extern char** environ;

namespace etagd {
namespace {

constexpr int kStartAttempts = 3;
constexpr size_t kLogTailBytes = 2048;

std::string ErrnoText(int error) { return std::strerror(error); }

// Binds `count` sockets to 127.0.0.1:0 at once (so the ports differ) and
// returns their ports, closing them for etcd to take.
absl::StatusOr<std::vector<int>> FreePorts(int count) {
  std::vector<int> fds;
  std::vector<int> ports;
  absl::Status status;
  for (int i = 0; i < count && status.ok(); ++i) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      status = absl::InternalError(absl::StrCat("socket: ", ErrnoText(errno)));
      break;
    }
    fds.push_back(fd);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof(address);
    if (bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
        getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      status = absl::InternalError(
          absl::StrCat("binding a free port: ", ErrnoText(errno)));
      break;
    }
    ports.push_back(ntohs(address.sin_port));
  }
  for (int fd : fds) close(fd);
  if (!status.ok()) return status;
  return ports;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::string Tail(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "(no log)";
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string text = buffer.str();
  if (text.size() > kLogTailBytes) text = text.substr(text.size() - kLogTailBytes);
  return text;
}

}  // namespace

absl::StatusOr<std::unique_ptr<EtcdCluster>> EtcdCluster::Start(
    const std::string& directory, EtcdClusterOptions options) {
  if (options.members < 1) {
    return absl::InvalidArgumentError("an etcd cluster needs a member");
  }
  if (access(options.etcd_path.c_str(), X_OK) != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        options.etcd_path, " is missing (install etcd-server: .ci/install)"));
  }
  std::unique_ptr<EtcdCluster> cluster(
      new EtcdCluster(directory, std::move(options)));
  absl::Status last;
  for (int attempt = 0; attempt < kStartAttempts; ++attempt) {
    const std::string attempt_dir = absl::StrCat(directory, "/start-", attempt);
    std::error_code error;
    std::filesystem::create_directories(attempt_dir, error);
    if (error) {
      return absl::InternalError(
          absl::StrCat("cannot create ", attempt_dir, ": ", error.message()));
    }
    cluster->cluster_token_ = absl::StrCat(
        "etagd-test-", absl::Uniform<uint64_t>(absl::BitGen()));
    cluster->members_.assign(cluster->options_.members, Member());
    for (int i = 0; i < cluster->size(); ++i) {
      Member& member = cluster->members_[i];
      member.name = absl::StrCat("m", i);
      member.data_dir = absl::StrCat(attempt_dir, "/", member.name, ".etcd");
      member.log_path = absl::StrCat(attempt_dir, "/", member.name, ".log");
    }
    last = cluster->PickPorts();
    for (int i = 0; i < cluster->size() && last.ok(); ++i) {
      last = cluster->Spawn(i, /*new_cluster=*/true);
    }
    if (last.ok()) last = cluster->WaitHealthy(cluster->options_.start_timeout);
    if (last.ok()) return cluster;
    // A member that lost its port to another process exits at once; the
    // next attempt picks other ports. Anything else fails the same way.
    const std::string tails = cluster->LogTails();
    cluster->KillAll();
    for (const Member& member : cluster->members_) {
      std::error_code ignored;  // A failed attempt's data is of no use.
      std::filesystem::remove_all(member.data_dir, ignored);
    }
    if (tails.find("address already in use") == std::string::npos) {
      return absl::Status(last.code(), absl::StrCat(last.message(), "\n", tails));
    }
  }
  return last;
}

// The members' data goes with them (etcd preallocates 64 MiB of
// write-ahead log per member, and a suite starts many clusters); their logs
// stay for the test's report.
EtcdCluster::~EtcdCluster() {
  KillAll();
  for (const Member& member : members_) {
    std::error_code ignored;  // Best effort: the test's directory goes too.
    std::filesystem::remove_all(member.data_dir, ignored);
  }
}

std::vector<std::string> EtcdCluster::ClientEndpoints() const {
  std::vector<std::string> endpoints;
  for (int i = 0; i < size(); ++i) endpoints.push_back(ClientEndpoint(i));
  return endpoints;
}

std::string EtcdCluster::ClientEndpoint(int member) const {
  return absl::StrCat("127.0.0.1:", members_[member].client_port);
}

std::string EtcdCluster::LogPath(int member) const {
  return members_[member].log_path;
}

absl::Status EtcdCluster::CheckIndex(int member) const {
  if (member < 0 || member >= size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no member ", member, " in a cluster of ", size()));
  }
  return absl::OkStatus();
}

absl::Status EtcdCluster::PickPorts() {
  absl::StatusOr<std::vector<int>> ports = FreePorts(2 * size());
  if (!ports.ok()) return ports.status();
  for (int i = 0; i < size(); ++i) {
    members_[i].client_port = (*ports)[2 * i];
    members_[i].peer_port = (*ports)[2 * i + 1];
  }
  return absl::OkStatus();
}

absl::Status EtcdCluster::Spawn(int index, bool new_cluster) {
  Member& member = members_[index];
  std::vector<std::string> peers;
  for (const Member& m : members_) {
    peers.push_back(absl::StrCat(m.name, "=http://127.0.0.1:", m.peer_port));
  }
  const bool tls = !options_.tls_cert_file.empty();
  const std::string client_url = absl::StrCat(
      tls ? "https" : "http", "://127.0.0.1:", member.client_port);
  const std::string peer_url = absl::StrCat("http://127.0.0.1:", member.peer_port);
  std::vector<std::string> args = {
      options_.etcd_path,
      "--name=" + member.name,
      "--data-dir=" + member.data_dir,
      "--listen-client-urls=" + client_url,
      "--advertise-client-urls=" + client_url,
      "--listen-peer-urls=" + peer_url,
      "--initial-advertise-peer-urls=" + peer_url,
      "--initial-cluster=" + absl::StrJoin(peers, ","),
      "--initial-cluster-token=" + cluster_token_,
      // Ignored once the data directory holds a member (a restart).
      std::string("--initial-cluster-state=") + (new_cluster ? "new" : "existing"),
      // etcd's log to a file: nothing has to drain a pipe while it runs.
      "--logger=zap",
      "--log-outputs=" + member.log_path,
  };
  if (tls) {
    args.push_back("--cert-file=" + options_.tls_cert_file);
    args.push_back("--key-file=" + options_.tls_key_file);
    if (options_.tls_require_client_cert) {
      args.push_back("--client-cert-auth");
      args.push_back("--trusted-ca-file=" + options_.tls_ca_file);
    }
  }
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  // Panics and anything else etcd prints go after its log.
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO,
                                   (member.log_path + ".out").c_str(),
                                   O_WRONLY | O_CREAT | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  sigset_t no_signals;
  sigemptyset(&no_signals);
  posix_spawnattr_setsigmask(&attributes, &no_signals);
  sigset_t defaults;
  sigemptyset(&defaults);
  for (int signal : {SIGPIPE, SIGINT, SIGTERM, SIGHUP, SIGCHLD}) {
    sigaddset(&defaults, signal);
  }
  posix_spawnattr_setsigdefault(&attributes, &defaults);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  pid_t pid = -1;
  const int error = posix_spawn(&pid, options_.etcd_path.c_str(), &actions,
                                &attributes, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (error != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot start ", options_.etcd_path, ": ", ErrnoText(error)));
  }
  member.pid = pid;
  member.paused = false;
  return absl::OkStatus();
}

bool EtcdCluster::Reap(Member& member) {
  if (member.pid < 0) return true;
  int status = 0;
  if (waitpid(member.pid, &status, WNOHANG) == member.pid) {
    member.pid = -1;
    member.paused = false;
    return true;
  }
  return false;
}

absl::Status EtcdCluster::Kill(int index) {
  if (absl::Status valid = CheckIndex(index); !valid.ok()) return valid;
  Member& member = members_[index];
  if (member.pid < 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("etcd member ", index, " is not running"));
  }
  kill(member.pid, SIGKILL);
  int status = 0;
  // SIGKILL cannot be caught: the wait ends as soon as the kernel has torn
  // the process down.
  while (waitpid(member.pid, &status, 0) < 0 && errno == EINTR) {
  }
  member.pid = -1;
  member.paused = false;
  return absl::OkStatus();
}

absl::Status EtcdCluster::Pause(int index) {
  if (absl::Status valid = CheckIndex(index); !valid.ok()) return valid;
  Member& member = members_[index];
  if (Reap(member) || kill(member.pid, SIGSTOP) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("etcd member ", index, " is not running"));
  }
  member.paused = true;
  return absl::OkStatus();
}

absl::Status EtcdCluster::Resume(int index) {
  if (absl::Status valid = CheckIndex(index); !valid.ok()) return valid;
  Member& member = members_[index];
  if (Reap(member) || kill(member.pid, SIGCONT) != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("etcd member ", index, " is not running"));
  }
  member.paused = false;
  return absl::OkStatus();
}

absl::Status EtcdCluster::Restart(int index) {
  if (absl::Status valid = CheckIndex(index); !valid.ok()) return valid;
  if (!Reap(members_[index])) {
    if (absl::Status killed = Kill(index); !killed.ok()) return killed;
  }
  if (absl::Status spawned = Spawn(index, /*new_cluster=*/false); !spawned.ok()) {
    return spawned;
  }
  absl::Status serving =
      WaitServing(index, absl::Now() + options_.start_timeout);
  if (!serving.ok()) {
    return absl::Status(serving.code(),
                        absl::StrCat(serving.message(), "\n", LogTails()));
  }
  return serving;
}

absl::Status EtcdCluster::WaitHealthy(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  for (int i = 0; i < size(); ++i) {
    if (Reap(members_[i]) || members_[i].paused) continue;
    if (absl::Status serving = WaitServing(i, deadline); !serving.ok()) {
      return serving;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<int> EtcdCluster::Leader(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  std::string last = "no running member";
  while (absl::Now() < deadline) {
    for (int i = 0; i < size(); ++i) {
      if (Reap(members_[i]) || members_[i].paused) continue;
      auto maintenance = etcdserverpb::Maintenance::NewStub(
          grpc::CreateChannel(ClientEndpoint(i), Credentials()));
      grpc::ClientContext context;
      context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
      etcdserverpb::StatusRequest request;
      etcdserverpb::StatusResponse response;
      grpc::Status status = maintenance->Status(&context, request, &response);
      if (!status.ok()) {
        last = status.error_message();
        continue;
      }
      if (response.leader() != 0 && response.leader() == response.header().member_id()) {
        return i;
      }
      last = "no member says it leads";
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("the etcd cluster elected no leader in time: ", last));
}

absl::Status EtcdCluster::WaitServing(int index, absl::Time deadline) {
  Member& member = members_[index];
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel(ClientEndpoint(index), Credentials());
  std::unique_ptr<etcdserverpb::KV::Stub> kv = etcdserverpb::KV::NewStub(channel);
  grpc::Status last;
  // Backoff between attempts that etcd answered with an error at once (no
  // leader yet); an attempt that waits for the connection ends with it.
  absl::Duration backoff = absl::Milliseconds(10);
  while (true) {
    if (Reap(member)) {
      return absl::UnavailableError(absl::StrCat(
          "etcd member ", index, " exited while starting; its log ends:\n",
          Tail(member.log_path), Tail(member.log_path + ".out")));
    }
    const absl::Time now = absl::Now();
    if (now >= deadline) break;
    grpc::ClientContext context;
    context.set_wait_for_ready(true);
    context.set_deadline(absl::ToChronoTime(std::min(deadline, now + absl::Seconds(2))));
    etcdserverpb::RangeRequest request;
    request.set_key("health");
    etcdserverpb::RangeResponse response;
    last = kv->Range(&context, request, &response);
    if (last.ok()) return absl::OkStatus();
    const absl::Time retry = std::min(deadline, absl::Now() + backoff);
    while (absl::Now() < retry) absl::SleepFor(retry - absl::Now());
    backoff = std::min(backoff * 2, absl::Milliseconds(200));
  }
  return absl::DeadlineExceededError(absl::StrCat(
      "etcd member ", index, " (", ClientEndpoint(index),
      ") did not serve a linearizable read in time; last error: ",
      last.error_message()));
}

std::shared_ptr<grpc::ChannelCredentials> EtcdCluster::Credentials() const {
  if (options_.tls_cert_file.empty()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = ReadAll(options_.tls_ca_file);
  if (options_.tls_require_client_cert) {
    ssl.pem_cert_chain = ReadAll(options_.tls_client_cert_file);
    ssl.pem_private_key = ReadAll(options_.tls_client_key_file);
  }
  return grpc::SslCredentials(ssl);
}

std::string EtcdCluster::LogTails() const {
  std::string text;
  for (int i = 0; i < size(); ++i) {
    absl::StrAppend(&text, "--- etcd member ", i, " log (", members_[i].log_path,
                    ") ends:\n", Tail(members_[i].log_path), "\n",
                    Tail(members_[i].log_path + ".out"), "\n");
  }
  return text;
}

void EtcdCluster::KillAll() {
  for (int i = 0; i < size(); ++i) {
    if (!Reap(members_[i])) {
      // Kill fails only for a member that is not running.
      Kill(i).IgnoreError();
    }
  }
}

}  // namespace etagd
