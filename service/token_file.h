// The tokens file (--tokens_file, format in auth.h) kept current while etagd
// runs: a Kubernetes Secret mounted as a volume is updated in place, so the
// file is re-read when it changes (polled) or on request (SIGHUP), without a
// restart. A reload that fails keeps the tokens loaded before and logs why,
// never quoting the file.
#ifndef ETAGD_SERVICE_TOKEN_FILE_H_
#define ETAGD_SERVICE_TOKEN_FILE_H_

#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "service/auth.h"
#include "service/file_identity.h"

namespace etagd {

// The current token table. Thread-safe.
class TokenStore {
 public:
  explicit TokenStore(TokenTable table)
      : table_(std::make_shared<const TokenTable>(std::move(table))) {}

  // The table in force; callers keep it for as long as they use it.
  std::shared_ptr<const TokenTable> Current() const {
    absl::MutexLock lock(&mu_);
    return table_;
  }

  void Set(TokenTable table) {
    auto next = std::make_shared<const TokenTable>(std::move(table));
    absl::MutexLock lock(&mu_);
    table_ = std::move(next);
  }

 private:
  mutable absl::Mutex mu_;
  std::shared_ptr<const TokenTable> table_ ABSL_GUARDED_BY(mu_);
};

// Reads a tokens file; INVALID_ARGUMENT/NOT_FOUND naming the path and the
// line, never the content.
absl::StatusOr<TokenTable> ReadTokenFile(const std::string& path);

// Authorize() (auth.h) against the tokens in force; `tokens` null means
// authorization is off. The one check of both the gRPC service and the
// embedded gateway's direct backend.
absl::Status AuthorizeWith(const TokenStore* tokens,
                           absl::optional<absl::string_view> token, Rpc method,
                           absl::string_view name);

// Loads a tokens file into a TokenStore and reloads it when it changes.
// Thread-safe.
class TokenFileWatcher {
 public:
  // Loads `path` (an error if it cannot be read or parsed) and, if
  // `poll_interval` is positive, starts a thread that checks the file's
  // identity (device, inode, size, times: a Secret update swaps a symlink)
  // that often and reloads it when it changed.
  static absl::StatusOr<std::unique_ptr<TokenFileWatcher>> Start(
      std::string path, absl::Duration poll_interval);

  // Stops the polling thread.
  ~TokenFileWatcher();

  // The store the server reads; it stays valid as long as a reference does.
  std::shared_ptr<TokenStore> store() const { return store_; }

  // Re-reads the file now (on SIGHUP) and logs the outcome.
  void Reload();

  // Re-reads the file if its identity changed since the last attempt.
  void ReloadIfChanged();

 private:
  TokenFileWatcher(std::string path, std::shared_ptr<TokenStore> store)
      : path_(std::move(path)), store_(std::move(store)) {}

  void ReloadLocked(const FileIdentity& id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(reload_mu_);
  void Poll(absl::Duration interval);

  const std::string path_;
  const std::shared_ptr<TokenStore> store_;

  absl::Mutex reload_mu_;
  FileIdentity last_ ABSL_GUARDED_BY(reload_mu_);

  absl::Mutex stop_mu_;
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::thread poller_;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_TOKEN_FILE_H_
