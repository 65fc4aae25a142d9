// For tests: a RocksDB file system over the real one that runs out of space
// on demand, for RocksDbStoreOptions::file_system_for_test. It answers what a
// full disk answers (IOStatus::NoSpace, ENOSPC) to the store and to RocksDB
// alike, and reports whatever free space the test says, so that tests can
// drive both the store's own space checks and RocksDB's no-space errors
// without filling a real disk.
#ifndef ETAGD_SERVICE_STORE_ROCKSDB_NO_SPACE_FILE_SYSTEM_H_
#define ETAGD_SERVICE_STORE_ROCKSDB_NO_SPACE_FILE_SYSTEM_H_

#include <cstdint>
#include <memory>
#include <optional>

namespace rocksdb {
class FileSystem;
}  // namespace rocksdb

namespace etagd {

// Thread-safe: the test changes it while RocksDB's threads write.
class NoSpaceFileSystem {
 public:
  NoSpaceFileSystem();
  ~NoSpaceFileSystem();

  NoSpaceFileSystem(const NoSpaceFileSystem&) = delete;
  NoSpaceFileSystem& operator=(const NoSpaceFileSystem&) = delete;

  // The file system to hand to the store. It keeps this object's state
  // alive, so it may outlive this object.
  std::shared_ptr<rocksdb::FileSystem> file_system() const;

  // From now on, every write fails with NoSpace: appends, preallocation and
  // the creation of files (false: they work again). Reads, renames and
  // deletions still work, as on a full disk.
  void SetFull(bool full);

  // Appends succeed for `bytes` more bytes in all, then fail with NoSpace,
  // the one that crosses the line written in part (as write(2) does on a
  // disk that fills up); nullopt: no limit. SetFull(false) lifts it too.
  void SetWritableBytes(std::optional<int64_t> bytes);

  // GetFreeSpace answers `bytes`; nullopt: what the real file system says.
  void SetFreeBytes(std::optional<int64_t> bytes);

  // Writes refused so far.
  int64_t refused_writes() const;

  struct State;

 private:
  std::shared_ptr<State> state_;
  std::shared_ptr<rocksdb::FileSystem> file_system_;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_STORE_ROCKSDB_NO_SPACE_FILE_SYSTEM_H_
