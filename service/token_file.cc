#include "service/token_file.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <utility>

#include "absl/strings/str_cat.h"
#include "service/log.h"

namespace etagd {
namespace {

// A tokens file is a few lines per client; anything near this is a mistake.
constexpr std::streamsize kMaxTokenFileBytes = 1 << 20;

}  // namespace

absl::Status AuthorizeWith(const TokenStore* tokens,
                           absl::optional<absl::string_view> token, Rpc method,
                           absl::string_view name) {
  if (tokens == nullptr) return absl::OkStatus();
  return Authorize(*tokens->Current(), token, method, name);
}

absl::StatusOr<TokenTable> ReadTokenFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot read tokens file ", path, ": ", std::strerror(errno)));
  }
  std::string text;
  text.resize(static_cast<size_t>(kMaxTokenFileBytes) + 1);
  in.read(text.data(), kMaxTokenFileBytes + 1);
  if (in.bad()) {
    return absl::NotFoundError(absl::StrCat("cannot read tokens file ", path));
  }
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > static_cast<size_t>(kMaxTokenFileBytes)) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokens file ", path, " is larger than 1 MiB"));
  }
  absl::StatusOr<TokenTable> table = TokenTable::Parse(text);
  if (!table.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("tokens file ", path, ": ", table.status().message()));
  }
  return table;
}

absl::StatusOr<std::unique_ptr<TokenFileWatcher>> TokenFileWatcher::Start(
    std::string path, absl::Duration poll_interval) {
  // Identify before reading: a change in between is seen by the next poll.
  const FileIdentity id = IdentifyFile(path);
  absl::StatusOr<TokenTable> table = ReadTokenFile(path);
  if (!table.ok()) return table.status();
  const size_t count = table->size();
  std::unique_ptr<TokenFileWatcher> watcher(new TokenFileWatcher(
      std::move(path), std::make_shared<TokenStore>(*std::move(table))));
  {
    absl::MutexLock lock(&watcher->reload_mu_);
    watcher->last_ = id;
  }
  Log(LogLevel::kInfo,
      absl::StrCat("loaded ", count, " bearer tokens from ", watcher->path_));
  if (poll_interval > absl::ZeroDuration()) {
    TokenFileWatcher* self = watcher.get();
    watcher->poller_ = std::thread([self, poll_interval] { self->Poll(poll_interval); });
  }
  return watcher;
}

TokenFileWatcher::~TokenFileWatcher() {
  {
    absl::MutexLock lock(&stop_mu_);
    stopping_ = true;
  }
  if (poller_.joinable()) poller_.join();
}

void TokenFileWatcher::Reload() {
  absl::MutexLock lock(&reload_mu_);
  ReloadLocked(IdentifyFile(path_));
}

void TokenFileWatcher::ReloadIfChanged() {
  absl::MutexLock lock(&reload_mu_);
  const FileIdentity id = IdentifyFile(path_);
  if (id == last_) return;
  ReloadLocked(id);
}

void TokenFileWatcher::ReloadLocked(const FileIdentity& id) {
  last_ = id;
  absl::StatusOr<TokenTable> table = ReadTokenFile(path_);
  if (!table.ok()) {
    // The message names the path and a line number, never a token.
    Log(LogLevel::kError,
        absl::StrCat("cannot reload bearer tokens: ", table.status().message(),
                     "; keeping the ", store_->Current()->size(),
                     " tokens loaded before"));
    return;
  }
  const size_t count = table->size();
  store_->Set(*std::move(table));
  Log(LogLevel::kInfo,
      absl::StrCat("reloaded bearer tokens from ", path_, ": ", count, " tokens"));
}

void TokenFileWatcher::Poll(absl::Duration interval) {
  while (true) {
    {
      absl::MutexLock lock(&stop_mu_);
      if (stop_mu_.AwaitWithTimeout(absl::Condition(&stopping_), interval)) return;
    }
    ReloadIfChanged();
  }
}

}  // namespace etagd
