#include "service/store/rocksdb/power_loss_file_system.h"

#include <filesystem>
#include <fstream>
#include <memory>
#include <set>
#include <string>
#include <system_error>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/file_system.h"
#include "rocksdb/io_status.h"

namespace etagd {
namespace {

constexpr char kUnsyncedNamesFile[] = "SIMULATED_POWER_LOSS_UNSYNCED_NAMES";

std::string NormalPath(const std::string& path) {
  std::string normal = std::filesystem::path(path).lexically_normal().string();
  while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  return normal;
}

// The names that a power loss would lose now. Thread-safe.
class UnsyncedNames {
 public:
  explicit UnsyncedNames(std::string list_path)
      : list_path_(std::move(list_path)) {}

  rocksdb::IOStatus Add(const std::string& path) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (!names_.insert(NormalPath(path)).second) return rocksdb::IOStatus::OK();
    return SaveLocked();
  }

  rocksdb::IOStatus Remove(const std::string& path) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (names_.erase(NormalPath(path)) == 0) return rocksdb::IOStatus::OK();
    return SaveLocked();
  }

  rocksdb::IOStatus Rename(const std::string& from, const std::string& to)
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    names_.erase(NormalPath(from));
    names_.insert(NormalPath(to));
    return SaveLocked();
  }

  // A sync of `directory` makes the names in it durable.
  rocksdb::IOStatus DirectorySynced(const std::string& directory)
      ABSL_LOCKS_EXCLUDED(mu_) {
    const std::string normal = NormalPath(directory);
    absl::MutexLock lock(&mu_);
    bool changed = false;
    for (auto it = names_.begin(); it != names_.end();) {
      if (std::filesystem::path(*it).parent_path().string() == normal) {
        it = names_.erase(it);
        changed = true;
      } else {
        ++it;
      }
    }
    return changed ? SaveLocked() : rocksdb::IOStatus::OK();
  }

 private:
  // Writes a new list and renames it over the old one, so that a kill -9
  // leaves one of them whole.
  rocksdb::IOStatus SaveLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const std::string temp = list_path_ + ".tmp";
    {
      std::ofstream out(temp, std::ios::trunc);
      for (const std::string& name : names_) out << name << '\n';
      out.flush();
      if (!out) return rocksdb::IOStatus::IOError("cannot write ", temp);
    }
    std::error_code error;
    std::filesystem::rename(temp, list_path_, error);
    if (error) return rocksdb::IOStatus::IOError(list_path_, error.message());
    return rocksdb::IOStatus::OK();
  }

  const std::string list_path_;
  absl::Mutex mu_;
  std::set<std::string> names_ ABSL_GUARDED_BY(mu_);
};

// Thread-safe (IsSyncThreadSafe): RocksDB may sync a WAL while appending.
class PowerLossWritableFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  // `size` bytes are already in the file, durably.
  PowerLossWritableFile(std::unique_ptr<rocksdb::FSWritableFile> target,
                        uint64_t size)
      : FSWritableFileOwnerWrapper(std::move(target)),
        written_(size),
        size_(size) {}

  ~PowerLossWritableFile() override {
    // A file dropped without Close hands its data to the kernel all the
    // same, as the exit of a process would.
    bool closed;
    {
      absl::MutexLock order(&sync_mu_);
      closed = closed_;
    }
    if (!closed) {
      // Nobody is left to hear of a failure.
      Close(rocksdb::IOOptions(), nullptr).PermitUncheckedError();
    }
  }

  rocksdb::IOStatus Append(const rocksdb::Slice& data,
                           const rocksdb::IOOptions& /*options*/,
                           rocksdb::IODebugContext* /*dbg*/) override {
    absl::MutexLock lock(&mu_);
    unsynced_.append(data.data(), data.size());
    size_ += data.size();
    return rocksdb::IOStatus::OK();
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data,
                           const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& /*info*/,
                           rocksdb::IODebugContext* dbg) override {
    return Append(data, options, dbg);
  }
  // Only for direct I/O, which the store does not use.
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& /*data*/,
                                     uint64_t /*offset*/,
                                     const rocksdb::IOOptions& /*options*/,
                                     rocksdb::IODebugContext* /*dbg*/) override {
    return rocksdb::IOStatus::NotSupported("PositionedAppend");
  }
  rocksdb::IOStatus PositionedAppend(
      const rocksdb::Slice& /*data*/, uint64_t /*offset*/,
      const rocksdb::IOOptions& /*options*/,
      const rocksdb::DataVerificationInfo& /*info*/,
      rocksdb::IODebugContext* /*dbg*/) override {
    return rocksdb::IOStatus::NotSupported("PositionedAppend");
  }
  bool use_direct_io() const override { return false; }

  // Handing data to the kernel makes it no more durable than keeping it
  // here: both are lost on power loss.
  rocksdb::IOStatus Flush(const rocksdb::IOOptions& /*options*/,
                          rocksdb::IODebugContext* /*dbg*/) override {
    return rocksdb::IOStatus::OK();
  }
  // Only starts write-back on a real file system; never a durability point.
  rocksdb::IOStatus RangeSync(uint64_t /*offset*/, uint64_t /*nbytes*/,
                              const rocksdb::IOOptions& /*options*/,
                              rocksdb::IODebugContext* /*dbg*/) override {
    return rocksdb::IOStatus::OK();
  }

  rocksdb::IOStatus Sync(const rocksdb::IOOptions& options,
                         rocksdb::IODebugContext* dbg) override {
    return WriteThrough(options, dbg, Then::kSync);
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* dbg) override {
    return WriteThrough(options, dbg, Then::kFsync);
  }
  rocksdb::IOStatus Close(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* dbg) override {
    return WriteThrough(options, dbg, Then::kClose);
  }
  bool IsSyncThreadSafe() const override { return true; }

  rocksdb::IOStatus Truncate(uint64_t size, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
    absl::MutexLock order(&sync_mu_);
    absl::MutexLock lock(&mu_);
    size_ = size;
    if (size >= written_) {
      unsynced_.resize(size - written_);
      return rocksdb::IOStatus::OK();
    }
    unsynced_.clear();
    written_ = size;
    return target()->Truncate(size, options, dbg);
  }

  uint64_t GetFileSize(const rocksdb::IOOptions& /*options*/,
                       rocksdb::IODebugContext* /*dbg*/) override {
    absl::MutexLock lock(&mu_);
    return size_;
  }

 private:
  enum class Then { kSync, kFsync, kClose };

  // Writes the data kept so far to the real file, then syncs or closes it.
  // sync_mu_ keeps concurrent callers' writes in order; appends go on
  // meanwhile.
  rocksdb::IOStatus WriteThrough(const rocksdb::IOOptions& options,
                                 rocksdb::IODebugContext* dbg, Then then)
      ABSL_LOCKS_EXCLUDED(mu_, sync_mu_) {
    absl::MutexLock order(&sync_mu_);
    if (closed_) return rocksdb::IOStatus::OK();
    std::string data;
    {
      absl::MutexLock lock(&mu_);
      data.swap(unsynced_);
    }
    if (!data.empty()) {
      rocksdb::IOStatus s = target()->Append(data, options, dbg);
      if (s.ok()) s = target()->Flush(options, dbg);
      if (!s.ok()) return s;
      written_ += data.size();
    }
    switch (then) {
      case Then::kSync:
        return target()->Sync(options, dbg);
      case Then::kFsync:
        return target()->Fsync(options, dbg);
      case Then::kClose:
        closed_ = true;
        return target()->Close(options, dbg);
    }
    return rocksdb::IOStatus::OK();
  }

  // Lock order: sync_mu_, then mu_.
  absl::Mutex sync_mu_;
  uint64_t written_ ABSL_GUARDED_BY(sync_mu_);
  bool closed_ ABSL_GUARDED_BY(sync_mu_) = false;
  absl::Mutex mu_ ABSL_ACQUIRED_AFTER(sync_mu_);
  std::string unsynced_ ABSL_GUARDED_BY(mu_);
  uint64_t size_ ABSL_GUARDED_BY(mu_);
};

class PowerLossDirectory final : public rocksdb::FSDirectoryWrapper {
 public:
  PowerLossDirectory(std::unique_ptr<rocksdb::FSDirectory> target,
                     std::string path, UnsyncedNames& names)
      : FSDirectoryWrapper(std::move(target)),
        path_(std::move(path)),
        names_(names) {}

  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = FSDirectoryWrapper::Fsync(options, dbg);
    return s.ok() ? names_.DirectorySynced(path_) : s;
  }
  rocksdb::IOStatus FsyncWithDirOptions(
      const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg,
      const rocksdb::DirFsyncOptions& dir_options) override {
    rocksdb::IOStatus s =
        FSDirectoryWrapper::FsyncWithDirOptions(options, dbg, dir_options);
    return s.ok() ? names_.DirectorySynced(path_) : s;
  }

 private:
  const std::string path_;
  UnsyncedNames& names_;
};

// Thread-safe.
class PowerLossFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  PowerLossFileSystem(const std::shared_ptr<rocksdb::FileSystem>& target,
                      const std::string& unsynced_names_path)
      : FileSystemWrapper(target), names_(unsynced_names_path) {}

  static const char* kClassName() { return "etagd.PowerLossFileSystem"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::IOStatus NewWritableFile(
      const std::string& path, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override {
    std::unique_ptr<rocksdb::FSWritableFile> file;
    rocksdb::IOStatus s = target()->NewWritableFile(path, options, &file, dbg);
    if (s.ok()) s = names_.Add(path);
    if (!s.ok()) return s;
    *result = std::make_unique<PowerLossWritableFile>(std::move(file), 0);
    return s;
  }

  rocksdb::IOStatus ReopenWritableFile(
      const std::string& path, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override {
    uint64_t size = 0;
    rocksdb::IOStatus s =
        target()->GetFileSize(path, rocksdb::IOOptions(), &size, dbg);
    const bool existed = s.ok();
    std::unique_ptr<rocksdb::FSWritableFile> file;
    s = target()->ReopenWritableFile(path, options, &file, dbg);
    if (s.ok() && !existed) s = names_.Add(path);
    if (!s.ok()) return s;
    *result = std::make_unique<PowerLossWritableFile>(std::move(file), size);
    return s;
  }

  // These would write around the simulation; RocksDB uses them only for
  // recycled logs and external file ingestion, which the store does not use.
  rocksdb::IOStatus ReuseWritableFile(
      const std::string& /*path*/, const std::string& /*old_path*/,
      const rocksdb::FileOptions& /*options*/,
      std::unique_ptr<rocksdb::FSWritableFile>* /*result*/,
      rocksdb::IODebugContext* /*dbg*/) override {
    return rocksdb::IOStatus::NotSupported("ReuseWritableFile");
  }
  rocksdb::IOStatus NewRandomRWFile(
      const std::string& /*path*/, const rocksdb::FileOptions& /*options*/,
      std::unique_ptr<rocksdb::FSRandomRWFile>* /*result*/,
      rocksdb::IODebugContext* /*dbg*/) override {
    return rocksdb::IOStatus::NotSupported("NewRandomRWFile");
  }

  rocksdb::IOStatus NewDirectory(const std::string& path,
                                 const rocksdb::IOOptions& options,
                                 std::unique_ptr<rocksdb::FSDirectory>* result,
                                 rocksdb::IODebugContext* dbg) override {
    std::unique_ptr<rocksdb::FSDirectory> directory;
    rocksdb::IOStatus s =
        target()->NewDirectory(path, options, &directory, dbg);
    if (!s.ok()) return s;
    *result = std::make_unique<PowerLossDirectory>(std::move(directory), path,
                                                   names_);
    return s;
  }

  rocksdb::IOStatus DeleteFile(const std::string& path,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->DeleteFile(path, options, dbg);
    return s.ok() ? names_.Remove(path) : s;
  }
  rocksdb::IOStatus RenameFile(const std::string& from, const std::string& to,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->RenameFile(from, to, options, dbg);
    return s.ok() ? names_.Rename(from, to) : s;
  }
  rocksdb::IOStatus LinkFile(const std::string& from, const std::string& to,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->LinkFile(from, to, options, dbg);
    return s.ok() ? names_.Add(to) : s;
  }

 private:
  UnsyncedNames names_;
};

// Deletes the files whose names the last run with simulate_power_loss_for_test
// had not made durable (see UnsyncedNames), holding the database's lock
// meanwhile so that a running etagd is never touched.
absl::Status ApplySimulatedPowerLoss(rocksdb::FileSystem& fs,
                                     const std::string& path) {
  rocksdb::FileLock* lock = nullptr;
  rocksdb::IOStatus s =
      fs.LockFile(path + "/LOCK", rocksdb::IOOptions(), &lock, nullptr);
  if (!s.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data directory ", path,
        " is locked by another process (is another etagd running on it?): ",
        s.ToString()));
  }
  const std::string list = absl::StrCat(path, "/", kUnsyncedNamesFile);
  std::ifstream in(list);
  std::string name;
  std::error_code error;
  while (!error && std::getline(in, name)) {
    if (!name.empty()) std::filesystem::remove(name, error);
  }
  if (!error) std::filesystem::remove(list, error);
  // The lock is released at once by whoever holds it; nothing to recover.
  fs.UnlockFile(lock, rocksdb::IOOptions(), nullptr).PermitUncheckedError();
  if (error) {
    return absl::UnavailableError(absl::StrCat(
        "cannot simulate power loss in ", path, ": ", error.message()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<rocksdb::FileSystem>> SimulatePowerLoss(
    std::shared_ptr<rocksdb::FileSystem> target, const std::string& path) {
  absl::Status applied = ApplySimulatedPowerLoss(*target, path);
  if (!applied.ok()) return applied;
  return std::shared_ptr<rocksdb::FileSystem>(
      std::make_shared<PowerLossFileSystem>(
          std::move(target), absl::StrCat(path, "/", kUnsyncedNamesFile)));
}

}  // namespace etagd
