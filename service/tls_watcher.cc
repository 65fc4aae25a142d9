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
  explicit GrpcMemoryFiles(bool with_root) : with_root_(with_root) {}

  ~GrpcMemoryFiles() {
    absl::MutexLock lock(&mu_);
    if (identity_fd_ >= 0) close(identity_fd_);
    if (root_fd_ >= 0) close(root_fd_);
  }

  GrpcMemoryFiles(const GrpcMemoryFiles&) = delete;
  GrpcMemoryFiles& operator=(const GrpcMemoryFiles&) = delete;

  // Puts `material` in the files (creating them the first time).
  absl::Status Update(const ServerTlsMaterial& material) {
    absl::MutexLock lock(&mu_);
    if (absl::Status s = Replace(identity_fd_, "etagd-tls-identity",
                                 absl::StrCat(material.private_key, "\n",
                                              material.cert_chain));
        !s.ok()) {
      return s;
    }
    if (with_root_) return Replace(root_fd_, "etagd-tls-client-ca", material.client_ca);
    return absl::OkStatus();
  }

  // The file of the key and certificate chain, and that of the client CA
  // (empty without one). Fixed from the first Update() on.
  std::string identity_path() const {
    absl::MutexLock lock(&mu_);
    return FdPath(identity_fd_);
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

  const bool with_root_;
  mutable absl::Mutex mu_;
  // Set by the first Update() and fixed from then on: later ones replace
  // the file behind the number.
  int identity_fd_ ABSL_GUARDED_BY(mu_) = -1;
  int root_fd_ ABSL_GUARDED_BY(mu_) = -1;
  int64_t last_mtime_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

absl::StatusOr<std::shared_ptr<ServerTlsWatcher>> ServerTlsWatcher::Start(
    ServerTlsFiles files, absl::Duration poll_interval) {
  if (!files.enabled()) {
    return absl::InvalidArgumentError("--tls_cert_file and --tls_key_file are not set");
  }
  std::shared_ptr<ServerTlsWatcher> watcher(new ServerTlsWatcher(std::move(files), nullptr));
  // Identify before reading: a change in between is seen by the next poll.
  std::vector<FileIdentity> ids = watcher->Identify();
  absl::StatusOr<ServerTlsMaterial> material = ReadServerTlsMaterial(watcher->files_);
  if (!material.ok()) return material.status();
  Log(LogLevel::kInfo, absl::StrCat("loaded TLS certificate from ",
                                    watcher->files_.cert_file, ": ",
                                    material->summary));
  {
    absl::MutexLock lock(&watcher->current_mu_);
    watcher->current_ = std::make_shared<const ServerTlsMaterial>(*std::move(material));
  }
  {
    absl::MutexLock lock(&watcher->reload_mu_);
    watcher->last_ = std::move(ids);
  }
  if (poll_interval > absl::ZeroDuration()) {
    ServerTlsWatcher* self = watcher.get();
    watcher->poller_ = std::thread([self, poll_interval] { self->Poll(poll_interval); });
  }
  return watcher;
}

ServerTlsWatcher::~ServerTlsWatcher() {
  {
    absl::MutexLock lock(&stop_mu_);
    stopping_ = true;
  }
  if (poller_.joinable()) poller_.join();
}

std::shared_ptr<const ServerTlsMaterial> ServerTlsWatcher::Current() const {
  absl::MutexLock lock(&current_mu_);
  return current_;
}

absl::Status ServerTlsWatcher::AddListener(Listener listener) {
  absl::MutexLock lock(&reload_mu_);
  if (absl::Status s = listener(*Current()); !s.ok()) return s;
  listeners_.push_back(std::move(listener));
  return absl::OkStatus();
}

std::vector<FileIdentity> ServerTlsWatcher::Identify() const {
  std::vector<FileIdentity> ids;
  for (const std::string* path : {&files_.cert_file, &files_.key_file,
                                  &files_.client_ca_file, &files_.http_client_ca_file}) {
    if (!path->empty()) ids.push_back(IdentifyFile(*path));
  }
  return ids;
}

void ServerTlsWatcher::Reload() {
  absl::MutexLock lock(&reload_mu_);
  ReloadLocked(Identify());
}

void ServerTlsWatcher::ReloadIfChanged() {
  absl::MutexLock lock(&reload_mu_);
  std::vector<FileIdentity> ids = Identify();
  if (ids == last_) return;
  ReloadLocked(std::move(ids));
}

void ServerTlsWatcher::ReloadLocked(std::vector<FileIdentity> ids) {
  last_ = std::move(ids);
  absl::StatusOr<ServerTlsMaterial> material = ReadServerTlsMaterial(files_);
  if (!material.ok()) {
    // The message names the flag, the path and what is wrong, never the
    // content.
    Log(LogLevel::kError,
        absl::StrCat("cannot reload TLS certificate: ", material.status().message(),
                     "; keeping the one loaded before (", Current()->summary, ")"));
    return;
  }
  auto next = std::make_shared<const ServerTlsMaterial>(*std::move(material));
  {
    absl::MutexLock lock(&current_mu_);
    current_ = next;
  }
  Log(LogLevel::kInfo, absl::StrCat("reloaded TLS certificate from ", files_.cert_file,
                                    ": ", next->summary));
  for (const Listener& listener : listeners_) {
    if (absl::Status s = listener(*next); !s.ok()) {
      Log(LogLevel::kError, absl::StrCat("the reloaded TLS certificate is not in use "
                                         "everywhere: ", s.message()));
    }
  }
}

void ServerTlsWatcher::Poll(absl::Duration interval) {
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
  auto files = std::make_shared<GrpcMemoryFiles>(mutual);
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

}  // namespace etagd
