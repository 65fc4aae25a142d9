// The default Store: an embedded RocksDB database in one directory.
#ifndef ETAGD_SERVICE_STORE_ROCKSDB_ROCKSDB_STORE_H_
#define ETAGD_SERVICE_STORE_ROCKSDB_ROCKSDB_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "service/store/rocksdb/space_guard.h"
#include "service/store/store.h"

namespace rocksdb {
class FileSystem;
}  // namespace rocksdb

namespace etagd {

struct RocksDbStoreOptions {
  // Directory of the database; created if missing.
  std::string path;
  // Sync the write-ahead log before a write is acknowledged, so that it
  // survives power loss. Without it a write survives a crash of the process
  // (kill -9) but the last moments of writes may be lost on power loss or a
  // kernel crash.
  bool sync_writes = true;
  // Past records (superseded versions and deletions) kept per name, beyond
  // the current one. 0 keeps none.
  int history_depth = 10;
  // Size of the block cache shared by all column families.
  int64_t block_cache_bytes = int64_t{128} << 20;
  // Writes are refused before the store's files pass the quota or the
  // volume's free space the reserve (space_guard.h); deletes go on into the
  // first half of the reserve and then free space (while the store is full
  // they also drop the resource's past versions). A negative reserve_bytes
  // is a tenth of the volume, at most 1 GiB. RocksDB's memtables, table
  // files and compactions are sized from the reserve (RocksDB's defaults
  // from 1 GiB up), so that flushing and compacting fit in it.
  SpaceLimits space;
  // How often the store measures its files and the volume's free space, and
  // recovers from being full: resumes RocksDB after it ran out of space,
  // reopens read-write a store opened read-only, flushes and compacts what
  // deletes freed. Zero: only when CheckSpaceForTest() is called.
  absl::Duration space_check_interval = absl::Seconds(1);
  // Source of wall-clock time; tests substitute one that steps back.
  std::function<absl::Time()> clock = absl::Now;
  // A canary for tests of the linearizability checker: writes skip the
  // per-name lock and the compare (a write made from a stale read lands
  // anyway), so concurrent compare-and-writes can both succeed (lost
  // updates). Never set it outside such tests.
  bool non_atomic_writes_for_test = false;
  // For durability tests: files keep what is written to them in this
  // process's memory until it is synced (and new names in a directory are
  // forgotten until the directory is synced), so that a kill -9 loses what a
  // power loss would. The next open with this option also removes the files
  // whose names were never made durable. Never set it outside such tests.
  bool simulate_power_loss_for_test = false;
  // For tests: the RocksDB file system to use instead of the real one
  // (no_space_file_system.h makes one that runs out of space on demand).
  std::shared_ptr<rocksdb::FileSystem> file_system_for_test;
};

// Opens (creating if needed) the store at options.path. Fails with
// FAILED_PRECONDITION if another process holds the directory's lock, and
// with a message naming the path for any other I/O problem. If the disk is
// too full for RocksDB to open the store read-write (it writes a new
// MANIFEST, OPTIONS file and write-ahead log), it opens it read-only: reads
// are served, writes refused as for a full disk, and the store reopens
// itself read-write once space is free.
absl::StatusOr<std::unique_ptr<Store>> OpenRocksDbStore(
    const RocksDbStoreOptions& options);

// Does now what a store from OpenRocksDbStore does every
// space_check_interval: measures, and recovers from being full if it can.
// INVALID_ARGUMENT if `store` is not one.
absl::Status CheckSpaceForTest(Store& store);

}  // namespace etagd

#endif  // ETAGD_SERVICE_STORE_ROCKSDB_ROCKSDB_STORE_H_
