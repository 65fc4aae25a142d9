// TLS files (tls.h) kept current while etagd or etagd-gateway runs: the
// server's, and a gRPC client's (etagd-gateway's to its etagd). A
// Kubernetes Secret mounted as a volume is updated in place, so the files
// are re-read when one of them changes (polled) or on request (SIGHUP),
// without a restart. New connections, gRPC and HTTPS alike, get the new
// certificate; connections already open keep the one they were made with. A reload that fails (a file that cannot be read or does not
// parse, a key that is not the certificate's) keeps what was loaded before
// and logs one error line saying why, never quoting a file.
#ifndef ETAGD_SERVICE_TLS_WATCHER_H_
#define ETAGD_SERVICE_TLS_WATCHER_H_

#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"
#include "grpcpp/support/channel_arguments.h"
#include "service/file_identity.h"
#include "service/tls.h"

namespace etagd {

// Loads TLS files (ServerTlsFiles or ClientTlsFiles) into their Material
// (ServerTlsMaterial or ClientTlsMaterial) and reloads them when they
// change. Thread-safe.
template <typename Files, typename Material>
class TlsWatcher {
 public:
  // Loads `files` (TLS on; an error if they cannot be read or checked) and,
  // if `poll_interval` is positive, starts a thread that checks the files'
  // identities (file_identity.h) that often and reloads them when one
  // changed.
  static absl::StatusOr<std::shared_ptr<TlsWatcher>> Start(
      Files files, absl::Duration poll_interval);

  // Stops the polling thread.
  ~TlsWatcher();

  const Files& files() const { return files_; }

  // The material in force; callers keep it for as long as they use it. Each
  // successful reload replaces the pointer, so comparing pointers tells
  // whether the material changed.
  std::shared_ptr<const Material> Current() const;

  // Calls `listener` with the material in force and returns what it
  // returns. If that is OK, calls it again with the new material after
  // every successful reload, with no reload in between, so it misses none;
  // errors then are logged. Calls are serialized, on the reloading thread;
  // `listener` must not call Reload() or ReloadIfChanged().
  using Listener = std::function<absl::Status(const Material&)>;
  absl::Status AddListener(Listener listener);

  // Re-reads the files now (on SIGHUP) and logs the outcome.
  void Reload();

  // Re-reads the files if one's identity changed since the last attempt.
  void ReloadIfChanged();

 private:
  TlsWatcher(Files files, std::shared_ptr<const Material> material)
      : files_(std::move(files)), current_(std::move(material)) {}

  // The identities of the files that are set, in a fixed order.
  std::vector<FileIdentity> Identify() const;
  void ReloadLocked(std::vector<FileIdentity> ids)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);
  void Poll(absl::Duration interval);

  const Files files_;

  mutable absl::Mutex current_mu_;
  std::shared_ptr<const Material> current_ ABSL_GUARDED_BY(current_mu_);

  // Held while reloading, and while listeners change; taken before
  // current_mu_.
  absl::Mutex reload_mu_;
  std::vector<FileIdentity> last_ ABSL_GUARDED_BY(reload_mu_);
  std::vector<Listener> listeners_ ABSL_GUARDED_BY(reload_mu_);

  absl::Mutex stop_mu_;
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::thread poller_;
};

using ServerTlsWatcher = TlsWatcher<ServerTlsFiles, ServerTlsMaterial>;
using ClientTlsWatcher = TlsWatcher<ClientTlsFiles, ClientTlsMaterial>;

// gRPC server credentials whose certificate, key and client CA follow
// `watcher`: TLS 1.2 and later, and mutual TLS when
// watcher.files().client_ca_file is set. Connections accepted from about a
// second after a reload on get the new material (gRPC's certificate
// provider looks at its copy every second); open ones keep theirs.
// `watcher` must outlive the gRPC server.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> GrpcServerCredentials(
    ServerTlsWatcher& watcher);

// gRPC channel credentials whose CA, client certificate and key follow
// `watcher` (TLS 1.2 and later); watcher.files().server_name, if set, goes
// on `args` as the name the server's certificate must carry. Connections
// made from about a second after a reload on use the new material.
// `watcher` must outlive every channel made with them.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> GrpcChannelCredentials(
    ClientTlsWatcher& watcher, grpc::ChannelArguments& args);

}  // namespace etagd

#endif  // ETAGD_SERVICE_TLS_WATCHER_H_
