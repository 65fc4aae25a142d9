// The change log conformance suite against the RocksDB engine.
#include <memory>

#include "service/store/rocksdb/rocksdb_store.h"
#include "tests/feed/change_log_conformance.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

class RocksDbChangeLogEngine : public ChangeLogEngine {
 public:
  absl::StatusOr<std::unique_ptr<Store>> Open(
      int64_t retention_revisions) override {
    RocksDbStoreOptions options;
    options.path = path_;
    options.sync_writes = false;
    options.space_check_interval = absl::ZeroDuration();
    options.change_prune_interval = absl::ZeroDuration();
    options.change_retention_revisions = retention_revisions;
    options.change_retention = absl::ZeroDuration();
    return OpenRocksDbStore(options);
  }
  absl::Status Prune(Store& store) override { return PruneChangesForTest(store); }

 private:
  const std::string path_ = TestPath("db");
};

INSTANTIATE_TEST_SUITE_P(
    RocksDb, ChangeLogConformanceTest,
    testing::Values(ChangeLogEngineFactory{
        "RocksDb", [] { return std::make_unique<RocksDbChangeLogEngine>(); }}),
    ChangeLogConformanceTest::EngineName);

}  // namespace
}  // namespace etagd
