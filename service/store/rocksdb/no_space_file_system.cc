// Test-only, like the simulated power loss in rocksdb_store.cc: the one other
// file that includes RocksDB headers.
#include "service/store/rocksdb/no_space_file_system.h"

#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "rocksdb/file_system.h"
#include "rocksdb/io_status.h"

namespace etagd {

struct NoSpaceFileSystem::State {
  // How much of an append of `size` bytes may be written: all of it, or
  // (when the disk is full or fills up on the way) a prefix, then NoSpace.
  size_t Admit(size_t size) ABSL_LOCKS_EXCLUDED(mu) {
    absl::MutexLock lock(&mu);
    if (full) {
      ++refused;
      return 0;
    }
    if (!writable.has_value() || static_cast<int64_t>(size) <= *writable) {
      if (writable.has_value()) *writable -= static_cast<int64_t>(size);
      return size;
    }
    const size_t prefix = static_cast<size_t>(*writable);
    *writable = 0;
    full = true;
    ++refused;
    return prefix;
  }

  bool Refuses() ABSL_LOCKS_EXCLUDED(mu) {
    absl::MutexLock lock(&mu);
    if (full) ++refused;
    return full;
  }

  static rocksdb::IOStatus NoSpace(const std::string& what) {
    rocksdb::IOStatus s = rocksdb::IOStatus::NoSpace(
        what, "No space left on device (NoSpaceFileSystem)");
    // As the real file system marks ENOSPC.
    s.SetRetryable(true);
    return s;
  }

  absl::Mutex mu;
  bool full ABSL_GUARDED_BY(mu) = false;
  std::optional<int64_t> writable ABSL_GUARDED_BY(mu);
  std::optional<int64_t> free_bytes ABSL_GUARDED_BY(mu);
  int64_t refused ABSL_GUARDED_BY(mu) = 0;
};

namespace {

using State = NoSpaceFileSystem::State;

class NoSpaceWritableFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  NoSpaceWritableFile(std::unique_ptr<rocksdb::FSWritableFile> target,
                      std::string path, std::shared_ptr<State> state)
      : FSWritableFileOwnerWrapper(std::move(target)),
        path_(std::move(path)),
        state_(std::move(state)) {}

  rocksdb::IOStatus Append(const rocksdb::Slice& data,
                           const rocksdb::IOOptions& options,
                           rocksdb::IODebugContext* dbg) override {
    const size_t admitted = state_->Admit(data.size());
    if (admitted > 0) {
      rocksdb::IOStatus s =
          target()->Append(rocksdb::Slice(data.data(), admitted), options, dbg);
      if (!s.ok()) return s;
    }
    if (admitted < data.size()) return State::NoSpace("appending to " + path_);
    return rocksdb::IOStatus::OK();
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data,
                           const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& /*info*/,
                           rocksdb::IODebugContext* dbg) override {
    // A prefix would fail the verification; the plain append writes it.
    return Append(data, options, dbg);
  }
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& data,
                                     uint64_t offset,
                                     const rocksdb::IOOptions& options,
                                     rocksdb::IODebugContext* dbg) override {
    if (state_->Admit(data.size()) < data.size()) {
      return State::NoSpace("appending to " + path_);
    }
    return target()->PositionedAppend(data, offset, options, dbg);
  }
  rocksdb::IOStatus PositionedAppend(
      const rocksdb::Slice& data, uint64_t offset,
      const rocksdb::IOOptions& options,
      const rocksdb::DataVerificationInfo& /*info*/,
      rocksdb::IODebugContext* dbg) override {
    return PositionedAppend(data, offset, options, dbg);
  }
  rocksdb::IOStatus Allocate(uint64_t offset, uint64_t len,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
    if (state_->Refuses()) return State::NoSpace("preallocating " + path_);
    return target()->Allocate(offset, len, options, dbg);
  }

 private:
  const std::string path_;
  const std::shared_ptr<State> state_;
};

// Thread-safe.
class NoSpaceFileSystemImpl final : public rocksdb::FileSystemWrapper {
 public:
  explicit NoSpaceFileSystemImpl(std::shared_ptr<State> state)
      : FileSystemWrapper(rocksdb::FileSystem::Default()),
        state_(std::move(state)) {}

  static const char* kClassName() { return "etagd.NoSpaceFileSystem"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::IOStatus NewWritableFile(
      const std::string& path, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override {
    if (state_->Refuses()) return State::NoSpace("creating " + path);
    std::unique_ptr<rocksdb::FSWritableFile> file;
    rocksdb::IOStatus s = target()->NewWritableFile(path, options, &file, dbg);
    if (!s.ok()) return s;
    *result =
        std::make_unique<NoSpaceWritableFile>(std::move(file), path, state_);
    return s;
  }

  rocksdb::IOStatus ReopenWritableFile(
      const std::string& path, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override {
    if (state_->Refuses()) return State::NoSpace("reopening " + path);
    std::unique_ptr<rocksdb::FSWritableFile> file;
    rocksdb::IOStatus s =
        target()->ReopenWritableFile(path, options, &file, dbg);
    if (!s.ok()) return s;
    *result =
        std::make_unique<NoSpaceWritableFile>(std::move(file), path, state_);
    return s;
  }

  // These would write around the wrapper; RocksDB uses them only for
  // recycled logs and external files, which the store does not use.
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

  rocksdb::IOStatus GetFreeSpace(const std::string& path,
                                 const rocksdb::IOOptions& options,
                                 uint64_t* free_bytes,
                                 rocksdb::IODebugContext* dbg) override {
    {
      absl::MutexLock lock(&state_->mu);
      if (state_->free_bytes.has_value()) {
        *free_bytes = static_cast<uint64_t>(*state_->free_bytes);
        return rocksdb::IOStatus::OK();
      }
    }
    return target()->GetFreeSpace(path, options, free_bytes, dbg);
  }

 private:
  const std::shared_ptr<State> state_;
};

}  // namespace

NoSpaceFileSystem::NoSpaceFileSystem()
    : state_(std::make_shared<State>()),
      file_system_(std::make_shared<NoSpaceFileSystemImpl>(state_)) {}

NoSpaceFileSystem::~NoSpaceFileSystem() = default;

std::shared_ptr<rocksdb::FileSystem> NoSpaceFileSystem::file_system() const {
  return file_system_;
}

void NoSpaceFileSystem::SetFull(bool full) {
  absl::MutexLock lock(&state_->mu);
  state_->full = full;
  if (!full) state_->writable.reset();
}

void NoSpaceFileSystem::SetWritableBytes(std::optional<int64_t> bytes) {
  absl::MutexLock lock(&state_->mu);
  state_->writable = bytes;
}

void NoSpaceFileSystem::SetFreeBytes(std::optional<int64_t> bytes) {
  absl::MutexLock lock(&state_->mu);
  state_->free_bytes = bytes;
}

int64_t NoSpaceFileSystem::refused_writes() const {
  absl::MutexLock lock(&state_->mu);
  return state_->refused;
}

}  // namespace etagd
