// A RocksDB file system for crash tests (RocksDbStoreOptions::
// simulate_power_loss_for_test) under which a kill -9 of this process loses
// what a power loss would.
//
// A power loss keeps what was synced and loses the rest: file data written
// but not synced, and directory entries (new files, renames, links) made
// since the directory's last sync. PowerLossFileSystem makes a kill -9 of
// this process lose the same:
// - A writable file keeps what is appended to it in this process's memory,
//   standing in for the page cache. Sync and Fsync write it to the real file
//   (and sync that), so a kill -9 loses exactly the unsynced suffix. Close
//   writes it too, without a sync (the file can be read back afterwards, as
//   from the page cache).
// - Names made since their directory's last sync are listed in
//   SIMULATED_POWER_LOSS_UNSYNCED_NAMES in the data directory (test bookkeeping: the page
//   cache is enough for it). The next open with the option deletes them
//   before RocksDB looks.
// Simplifications: a rename over an existing file is undone by deleting the
// new name rather than bringing the old file back, deletions always stick,
// and data written and closed without a sync survives. RocksDB syncs every
// file before closing it except, with sync_writes off, the write-ahead log
// at shutdown: so after a clean shutdown nothing is lost here, where a real
// power loss soon after could still lose the unsynced writes.
#ifndef ETAGD_SERVICE_STORE_ROCKSDB_POWER_LOSS_FILE_SYSTEM_H_
#define ETAGD_SERVICE_STORE_ROCKSDB_POWER_LOSS_FILE_SYSTEM_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "rocksdb/file_system.h"

namespace etagd {

// First makes the last run's power loss happen in the data directory `path`
// (deletes the names it had not made durable, under the database's lock, so
// that a running etagd is never touched), then returns `target` wrapped so
// that this run's unsynced data and names are lost in turn by a kill -9.
absl::StatusOr<std::shared_ptr<rocksdb::FileSystem>> SimulatePowerLoss(
    std::shared_ptr<rocksdb::FileSystem> target, const std::string& path);

}  // namespace etagd

#endif  // ETAGD_SERVICE_STORE_ROCKSDB_POWER_LOSS_FILE_SYSTEM_H_
