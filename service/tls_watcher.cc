#include "service/tls_watcher.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

#include "absl/strings/str_cat.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_credentials_options.h"
#include "service/log.h"
#include "service/status_macros.h"

namespace etagd {
namespace {

// How often gRPC's certificate provider looks at its in-memory files; its
// minimum.
constexpr unsigned kGrpcRefreshSeconds = 1;

absl::Status Errno(absl::string_view what) {
  return absl::InternalError(absl::StrCat("gRPC's in-memory copy of the certificate: ",
                                          what, ": ", std::strerror(errno)));
}

// The material, copied into memory files (memfd_create) that gRPC's
// FileWatcherCertificateProvider reads by path, /proc/self/fd/N. gRPC 1.51
// has no public provider that takes certificates from the program; its file
// watcher, pointed at the operator's files, would use whatever it finds
// there (an unreadable file even drops the certificate, failing every
// handshake), and the older SSL credentials' certificate-config fetcher can
// free a handshaker factory another thread is using when a reload meets
// concurrent handshakes (grpc/grpc#36693). These copies change only once a
// reload has been checked, and nothing touches a disk.
//
// An update writes each file anew and moves it onto its fixed descriptor
// number in one dup3(), so a reader opens either the old file or the new
// one, never a half-written one. The key and the certificate chain share
// one file (PEM readers skip blocks of other types), so they change
// together, and each new file gets a later mtime than the one before: gRPC
// re-reads a pair whose mtime moved while it read it. Thread-safe.
class GrpcMemoryFiles {
 public:
  GrpcMemoryFiles(bool with_identity, bool with_root)
      : with_identity_(with_identity), with_root_(with_root) {}

  ~GrpcMemoryFiles() {
    absl::MutexLock lock(&mu_);
    if (identity_fd_ >= 0) close(identity_fd_);
    if (root_fd_ >= 0) close(root_fd_);
  }

  GrpcMemoryFiles(const GrpcMemoryFiles&) = delete;
  GrpcMemoryFiles& operator=(const GrpcMemoryFiles&) = delete;

  // Puts a key and certificate chain, and CA certificates, in the files
  // (creating them the first time); each is ignored if its file is not kept.
  absl::Status Update(const std::string& private_key, const std::string& cert_chain,
                      const std::string& root) {
    absl::MutexLock lock(&mu_);
    if (with_identity_) {
      if (absl::Status s = Replace(identity_fd_, "etagd-tls-identity",
                                   absl::StrCat(private_key, "\n", cert_chain));
          !s.ok()) {
        return s;
      }
    }
    if (with_root_) return Replace(root_fd_, "etagd-tls-ca", root);
    return absl::OkStatus();
  }
  absl::Status Update(const ServerTlsMaterial& material) {
    return Update(material.private_key, material.cert_chain, material.client_ca);
  }
  absl::Status Update(const ClientTlsMaterial& material) {
    return Update(material.private_key, material.cert_chain, material.ca);
  }

  // The file of the key and certificate chain, and that of the CA
  // certificates (each empty if not kept). Fixed from the first Update() on.
  std::string identity_path() const {
    absl::MutexLock lock(&mu_);
    return with_identity_ ? FdPath(identity_fd_) : "";
  }
  std::string root_path() const {
    absl::MutexLock lock(&mu_);
    return with_root_ ? FdPath(root_fd_) : "";
  }

  // gRPC reads the files through /proc; finds out now if it cannot.
  absl::Status CheckReadable() const {
    for (const std::string& path : {identity_path(), root_path()}) {
      if (path.empty()) continue;
      const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0) {
        return absl::FailedPreconditionError(absl::StrCat(
            "cannot hand gRPC its certificate in memory: ", path, ": ",
            std::strerror(errno), " (is /proc mounted?)"));
      }
      close(fd);
    }
    return absl::OkStatus();
  }

 private:
  static std::string FdPath(int fd) { return absl::StrCat("/proc/self/fd/", fd); }

  // Writes `content` to a new memory file and puts it at `fd` (or, the first
  // time, makes `fd` that file).
  absl::Status Replace(int& fd, const char* name, const std::string& content)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const int next = memfd_create(name, MFD_CLOEXEC);
    if (next < 0) return Errno("memfd_create");
    for (size_t done = 0; done < content.size();) {
      const ssize_t n = write(next, content.data() + done, content.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        absl::Status error = Errno("writing a memory file");
        close(next);
        return error;
      }
      done += static_cast<size_t>(n);
    }
    last_mtime_ = std::max<int64_t>(last_mtime_ + 1, time(nullptr));
    struct timespec times[2];
    times[0].tv_sec = times[1].tv_sec = static_cast<time_t>(last_mtime_);
    times[0].tv_nsec = times[1].tv_nsec = 0;
    if (futimens(next, times) != 0) {
      absl::Status error = Errno("futimens");
      close(next);
      return error;
    }
    if (fd < 0) {
      fd = next;
      return absl::OkStatus();
    }
    const bool moved = dup3(next, fd, O_CLOEXEC) >= 0;
    absl::Status error = moved ? absl::OkStatus() : Errno("dup3");
    close(next);
    return error;
  }

  const bool with_identity_;
  const bool with_root_;
  mutable absl::Mutex mu_;
  // Set by the first Update() and fixed from then on: later ones replace
  // the file behind the number.
  int identity_fd_ ABSL_GUARDED_BY(mu_) = -1;
  int root_fd_ ABSL_GUARDED_BY(mu_) = -1;
  int64_t last_mtime_ ABSL_GUARDED_BY(mu_) = 0;
};

// What differs between the server's files and a client's.
absl::StatusOr<ServerTlsMaterial> ReadMaterial(const ServerTlsFiles& files) {
  return ReadServerTlsMaterial(files);
}
absl::StatusOr<ClientTlsMaterial> ReadMaterial(const ClientTlsFiles& files) {
  return ReadClientTlsMaterial(files);
}

std::vector<const std::string*> WatchedPaths(const ServerTlsFiles& files) {
  return {&files.cert_file, &files.key_file, &files.client_ca_file,
          &files.http_client_ca_file};
}
std::vector<const std::string*> WatchedPaths(const ClientTlsFiles& files) {
  return {&files.ca_file, &files.cert_file, &files.key_file};
}

// For log lines: "TLS certificate from cert.pem".
std::string Describe(const ServerTlsFiles& files) {
  return absl::StrCat("TLS certificate from ", files.cert_file);
}
std::string Describe(const ClientTlsFiles& files) {
  return absl::StrCat("client TLS files (CA ", files.ca_file,
                      files.cert_file.empty() ? "" : ", certificate ", files.cert_file, ")");
}

absl::Status RequireEnabled(const ServerTlsFiles& files) {
  if (files.enabled()) return absl::OkStatus();
  return absl::InvalidArgumentError("--tls_cert_file and --tls_key_file are not set");
}
absl::Status RequireEnabled(const ClientTlsFiles& files) {
  if (files.enabled()) return absl::OkStatus();
  return absl::InvalidArgumentError("no CA file is set: TLS is off");
}

}  // namespace

template <typename Files, typename Material>
absl::StatusOr<std::shared_ptr<TlsWatcher<Files, Material>>>
TlsWatcher<Files, Material>::Start(Files files, absl::Duration poll_interval) {
  ETAGD_RETURN_IF_ERROR(RequireEnabled(files));
  std::shared_ptr<TlsWatcher> watcher(new TlsWatcher(std::move(files), nullptr));
  // Identify before reading: a change in between is seen by the next poll.
  std::vector<FileIdentity> ids = watcher->Identify();
  absl::StatusOr<Material> material = ReadMaterial(watcher->files_);
  if (!material.ok()) return material.status();
  Log(LogLevel::kInfo, absl::StrCat("loaded ", Describe(watcher->files_), ": ",
                                    material->summary));
  {
    absl::MutexLock lock(&watcher->current_mu_);
    watcher->current_ = std::make_shared<const Material>(*std::move(material));
  }
  {
    absl::MutexLock lock(&watcher->reload_mu_);
    watcher->last_ = std::move(ids);
  }
  if (poll_interval > absl::ZeroDuration()) {
    TlsWatcher* self = watcher.get();
    watcher->poller_ = std::thread([self, poll_interval] { self->Poll(poll_interval); });
  }
  return watcher;
}

template <typename Files, typename Material>
TlsWatcher<Files, Material>::~TlsWatcher() {
  {
    absl::MutexLock lock(&stop_mu_);
    stopping_ = true;
  }
  if (poller_.joinable()) poller_.join();
}

template <typename Files, typename Material>
std::shared_ptr<const Material> TlsWatcher<Files, Material>::Current() const {
  absl::MutexLock lock(&current_mu_);
  return current_;
}

template <typename Files, typename Material>
absl::Status TlsWatcher<Files, Material>::AddListener(Listener listener) {
  absl::MutexLock lock(&reload_mu_);
  if (absl::Status s = listener(*Current()); !s.ok()) return s;
  listeners_.push_back(std::move(listener));
  return absl::OkStatus();
}

template <typename Files, typename Material>
std::vector<FileIdentity> TlsWatcher<Files, Material>::Identify() const {
  std::vector<FileIdentity> ids;
  for (const std::string* path : WatchedPaths(files_)) {
    if (!path->empty()) ids.push_back(IdentifyFile(*path));
  }
  return ids;
}

template <typename Files, typename Material>
void TlsWatcher<Files, Material>::Reload() {
  absl::MutexLock lock(&reload_mu_);
  ReloadLocked(Identify());
}

template <typename Files, typename Material>
void TlsWatcher<Files, Material>::ReloadIfChanged() {
  absl::MutexLock lock(&reload_mu_);
  std::vector<FileIdentity> ids = Identify();
  if (ids == last_) return;
  ReloadLocked(std::move(ids));
}

template <typename Files, typename Material>
void TlsWatcher<Files, Material>::ReloadLocked(std::vector<FileIdentity> ids) {
  last_ = std::move(ids);
  absl::StatusOr<Material> material = ReadMaterial(files_);
  if (!material.ok()) {
    // The message names the flag, the path and what is wrong, never the
    // content.
    Log(LogLevel::kError,
        absl::StrCat("cannot reload ", Describe(files_), ": ", material.status().message(),
                     "; keeping the one loaded before (", Current()->summary, ")"));
    return;
  }
  auto next = std::make_shared<const Material>(*std::move(material));
  {
    absl::MutexLock lock(&current_mu_);
    current_ = next;
  }
  Log(LogLevel::kInfo, absl::StrCat("reloaded ", Describe(files_), ": ", next->summary));
  for (const Listener& listener : listeners_) {
    if (absl::Status s = listener(*next); !s.ok()) {
      Log(LogLevel::kError, absl::StrCat("the reloaded TLS certificate is not in use "
                                         "everywhere: ", s.message()));
    }
  }
}

template <typename Files, typename Material>
void TlsWatcher<Files, Material>::Poll(absl::Duration interval) {
  while (true) {
    {
      absl::MutexLock lock(&stop_mu_);
      if (stop_mu_.AwaitWithTimeout(absl::Condition(&stopping_), interval)) return;
    }
    ReloadIfChanged();
  }
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> GrpcServerCredentials(
    ServerTlsWatcher& watcher) {
  const bool mutual = !watcher.files().client_ca_file.empty();
  // The listener keeps the files open for as long as the watcher lives.
  auto files = std::make_shared<GrpcMemoryFiles>(/*with_identity=*/true, mutual);
  ETAGD_RETURN_IF_ERROR(watcher.AddListener(
      [files](const ServerTlsMaterial& material) { return files->Update(material); }));
  ETAGD_RETURN_IF_ERROR(files->CheckReadable());
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      files->identity_path(), files->identity_path(), files->root_path(),
      kGrpcRefreshSeconds);
  // gRPC's TLS credentials accept TLS 1.2 and 1.3 only (their default
  // minimum).
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (mutual) {
    options.watch_root_certs();
    options.set_cert_request_type(
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> GrpcChannelCredentials(
    ClientTlsWatcher& watcher, grpc::ChannelArguments& args) {
  const bool with_identity = !watcher.files().cert_file.empty();
  // The listener keeps the files open for as long as the watcher lives.
  auto files = std::make_shared<GrpcMemoryFiles>(with_identity, /*with_root=*/true);
  ETAGD_RETURN_IF_ERROR(watcher.AddListener(
      [files](const ClientTlsMaterial& material) { return files->Update(material); }));
  ETAGD_RETURN_IF_ERROR(files->CheckReadable());
  auto provider = std::make_shared<grpc::experimental::FileWatcherCertificateProvider>(
      files->identity_path(), files->identity_path(), files->root_path(),
      kGrpcRefreshSeconds);
  // gRPC's TLS credentials accept TLS 1.2 and 1.3 only (their default
  // minimum), and check the server's name against its certificate.
  grpc::experimental::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(provider);
  options.watch_root_certs();
  if (with_identity) options.watch_identity_key_cert_pairs();
  if (!watcher.files().server_name.empty()) {
    args.SetSslTargetNameOverride(watcher.files().server_name);
  }
  return grpc::experimental::TlsCredentials(options);
}

template class TlsWatcher<ServerTlsFiles, ServerTlsMaterial>;
template class TlsWatcher<ClientTlsFiles, ClientTlsMaterial>;

}  // namespace etagd
