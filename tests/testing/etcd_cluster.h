// A real etcd (Debian's /usr/bin/etcd, package etcd-server) for tests: one
// member or a cluster of several on free loopback ports, with data and logs
// in a directory the test owns (under TEST_TMPDIR), and the faults a test
// needs: kill -9, SIGSTOP/SIGCONT, restart. Every wait is bounded.
#ifndef ETAGD_TESTS_TESTING_ETCD_CLUSTER_H_
#define ETAGD_TESTS_TESTING_ETCD_CLUSTER_H_

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpcpp/security/credentials.h"

namespace etagd {

struct EtcdClusterOptions {
  // Members of the cluster (1 or more; 3 tolerates the loss of one).
  int members = 1;
  // How long Start() and Restart() wait for the cluster to serve.
  absl::Duration start_timeout = absl::Seconds(30);
  // Extra etcd flags for every member, e.g. "--max-request-bytes=65536" or
  // "--quota-backend-bytes=...". Later flags win over the helper's own.
  std::vector<std::string> extra_args;
  // The etcd binary.
  std::string etcd_path = "/usr/bin/etcd";
  // TLS on the members' client listeners (PEM files; empty: plaintext).
  // tls_ca_file signed tls_cert_file; the helper's own health checks trust
  // it.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_ca_file;
  // With TLS: clients must present a certificate signed by tls_ca_file; the
  // helper presents these.
  bool tls_require_client_cert = false;
  std::string tls_client_cert_file;
  std::string tls_client_key_file;
};

// Not thread-safe: one test thread drives it. Destroying it kills every
// member (SIGKILL, which also ends a stopped one) and reaps it; the data
// directory stays for the test framework to collect.
class EtcdCluster {
 public:
  // Starts `options.members` members with data in `directory` (created;
  // it must not hold another cluster) and waits until every one of them
  // answers a linearizable read. Ports are picked free on 127.0.0.1; a
  // start that loses a port to another process is retried with new ones.
  static absl::StatusOr<std::unique_ptr<EtcdCluster>> Start(
      const std::string& directory, EtcdClusterOptions options = {});

  EtcdCluster(const EtcdCluster&) = delete;
  EtcdCluster& operator=(const EtcdCluster&) = delete;
  ~EtcdCluster();

  int size() const { return static_cast<int>(members_.size()); }

  // "127.0.0.1:PORT" of each member's client (gRPC) listener, in member
  // order, whether or not the member is running (TLS with tls_cert_file).
  std::vector<std::string> ClientEndpoints() const;
  std::string ClientEndpoint(int member) const;

  // Where member `member` logs (etcd's own log, then anything it printed).
  std::string LogPath(int member) const;

  // kill -9 of `member`, reaped before this returns. Its data stays.
  absl::Status Kill(int member);
  // SIGSTOP: the member keeps its sockets but answers nothing.
  absl::Status Pause(int member);
  // SIGCONT after Pause().
  absl::Status Resume(int member);
  // Kills `member` if it runs (or is paused), starts it again on its data
  // and ports, and waits until it answers a linearizable read.
  absl::Status Restart(int member);

  // The member that is the leader (it says so itself), waiting up to
  // `timeout` for a cluster that is electing one.
  absl::StatusOr<int> Leader(absl::Duration timeout);

  // Waits until every running, unpaused member answers a linearizable read
  // (so the cluster has a leader and a quorum), at most `timeout`.
  absl::Status WaitHealthy(absl::Duration timeout);

  // The tail of every member's log, for failure messages.
  std::string LogTails() const;

 private:
  struct Member {
    std::string name;
    std::string data_dir;
    std::string log_path;
    int client_port = 0;
    int peer_port = 0;
    pid_t pid = -1;
    bool paused = false;
  };

  EtcdCluster(std::string directory, EtcdClusterOptions options)
      : directory_(std::move(directory)), options_(std::move(options)) {}

  // Assigns fresh ports to every member.
  absl::Status PickPorts();
  absl::Status Spawn(int member, bool new_cluster);
  // True (and the pid forgotten) if `member` has exited.
  bool Reap(Member& member);
  absl::Status WaitServing(int member, absl::Time deadline);
  absl::Status CheckIndex(int member) const;
  // For the helper's own calls.
  std::shared_ptr<grpc::ChannelCredentials> Credentials() const;
  void KillAll();

  const std::string directory_;
  const EtcdClusterOptions options_;
  std::string cluster_token_;
  std::vector<Member> members_;
};

}  // namespace etagd

#endif  // ETAGD_TESTS_TESTING_ETCD_CLUSTER_H_
