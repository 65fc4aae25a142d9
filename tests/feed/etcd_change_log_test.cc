// The change log conformance suite against the etcd engine (a real etcd on
// loopback ports, one per test binary; each test under its own prefix).
#include <memory>

#include "service/store/etcd/etcd_store.h"
#include "tests/feed/change_log_conformance.h"
#include "tests/feed/shared_etcd.h"

namespace etagd {
namespace {

testing::Environment* const kSharedEtcd =
    testing::AddGlobalTestEnvironment(new SharedEtcd);

// Retention: the store keeps that many changes in memory, and Prune
// compacts etcd to the same revisions, so that the window is that wide
// whichever of the two serves a read.
class EtcdChangeLogEngine : public ChangeLogEngine {
 public:
  absl::StatusOr<std::unique_ptr<Store>> Open(
      int64_t retention_revisions) override {
    retention_ = retention_revisions;
    EtcdStoreOptions options = SharedEtcdStoreOptions();
    options.max_buffered_changes_for_test = retention_revisions;
    return OpenEtcdStore(options);
  }
  absl::Status Prune(Store& store) override {
    if (retention_ == 0) return absl::OkStatus();
    absl::StatusOr<int64_t> revision = EtcdRevision();
    if (!revision.ok()) return revision.status();
    absl::Status compacted = CompactEtcd(*revision - retention_);
    if (!compacted.ok()) return compacted;
    return CheckEtcdCompactionForTest(store);
  }

 private:
  int64_t retention_ = 0;
};

INSTANTIATE_TEST_SUITE_P(
    Etcd, ChangeLogConformanceTest,
    testing::Values(ChangeLogEngineFactory{
        "Etcd", [] { return std::make_unique<EtcdChangeLogEngine>(); }}),
    ChangeLogConformanceTest::EngineName);

}  // namespace
}  // namespace etagd
