// The default Store: an embedded RocksDB database in one directory.
#ifndef ETAGD_SERVICE_ROCKSDB_STORE_H_
#define ETAGD_SERVICE_ROCKSDB_STORE_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "service/store.h"

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
};

// Opens (creating if needed) the store at options.path. Fails with
// FAILED_PRECONDITION if another process holds the directory's lock, and
// with a message naming the path for any other I/O problem.
absl::StatusOr<std::unique_ptr<Store>> OpenRocksDbStore(
    const RocksDbStoreOptions& options);

}  // namespace etagd

#endif  // ETAGD_SERVICE_ROCKSDB_STORE_H_
