// The change log conformance suite against the etcd engine (a real etcd on
// loopback ports, one per test binary; each test under its own prefix).
#include <memory>
#include <optional>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "service/store/etcd/etcd_store.h"
#include "tests/feed/change_log_conformance.h"
#include "tests/feed/shared_etcd.h"
#include "tests/testing/status_matchers.h"

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

// --- What is particular to etcd ------------------------------------------

std::unique_ptr<Store> Open() {
  absl::StatusOr<std::unique_ptr<Store>> store = OpenEtcdStore(SharedEtcdStoreOptions());
  EXPECT_THAT(store, IsOk());
  return store.ok() ? *std::move(store) : nullptr;
}

int64_t Committed(Store& store) {
  absl::StatusOr<ChangeWindow> window = store.Changes();
  EXPECT_THAT(window, IsOk());
  return window.ok() ? window->committed_revision : -1;
}

// Waits (at most 20 s) until the change log of `store` has `revision`: a
// write is answered before the log's watch delivers it.
void AwaitLogged(Store& store, int64_t revision) {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (Committed(store) < revision && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_GE(Committed(store), revision) << "the change log did not catch up";
}

// Writes, and returns once the change log has the write.
Record Put(Store& store, const std::string& name, const std::string& content) {
  absl::StatusOr<std::optional<Record>> current = store.ReadCurrent(name, false);
  EXPECT_THAT(current, IsOk());
  WriteRequest request;
  request.name = name;
  request.expected_revision =
      current.ok() && current->has_value() ? (*current)->revision : 0;
  request.content = content;
  absl::StatusOr<Record> written = store.Write(request);
  EXPECT_THAT(written, IsOk());
  if (!written.ok()) return Record();
  AwaitLogged(store, written->revision);
  return *written;
}

// Writes a key of another prefix: a revision with no change of this one.
void WriteElsewhere() {
  etcdserverpb::PutRequest put;
  put.set_key("/elsewhere/key");
  put.set_value("x");
  etcdserverpb::PutResponse response;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  ASSERT_TRUE(RawEtcdKv()->Put(&context, put, &response).ok());
}

TEST(EtcdChangeLogTest, AReadFromEtcdsHistoryCarriesEachVersionsContent) {
  std::unique_ptr<Store> writer = Open();
  ASSERT_NE(writer, nullptr);
  const Record first = Put(*writer, "a", "first");
  Put(*writer, "a", "second");
  // A replica opened later has neither in memory.
  std::unique_ptr<Store> reader = Open();
  ASSERT_NE(reader, nullptr);
  absl::StatusOr<ChangePage> page =
      reader->ReadChanges(first.revision, Committed(*reader), 10, true);
  ASSERT_THAT(page, IsOk());
  ASSERT_EQ(page->changes.size(), 2u);
  EXPECT_EQ(page->changes[0].content, "first");
  EXPECT_EQ(page->changes[1].content, "second");
}

TEST(EtcdChangeLogTest, ContentOfACompactedRevisionIsReadWhileHistoryKeepsIt) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  const Record first = Put(*store, "a", "first");
  Put(*store, "a", "second");
  absl::StatusOr<int64_t> now = EtcdRevision();
  ASSERT_THAT(now, IsOk());
  ASSERT_THAT(CompactEtcd(*now), IsOk());
  // Both are still in memory; their content keys are still in etcd.
  absl::StatusOr<ChangePage> page =
      store->ReadChanges(first.revision, Committed(*store), 10, true);
  ASSERT_THAT(page, IsOk());
  ASSERT_EQ(page->changes.size(), 2u);
  EXPECT_EQ(page->changes[0].content, "first");
  EXPECT_EQ(page->changes[1].content, "second");
}

TEST(EtcdChangeLogTest, AViewOfACompactedRevisionMovesToTheCurrentOne) {
  std::unique_ptr<Store> store = Open();
  ASSERT_NE(store, nullptr);
  const Record a = Put(*store, "p/a", "1");
  WriteElsewhere();
  absl::StatusOr<int64_t> now = EtcdRevision();
  ASSERT_THAT(now, IsOk());
  ASSERT_THAT(CompactEtcd(*now), IsOk());
  ASSERT_EQ(Committed(*store), a.revision);
  absl::StatusOr<std::unique_ptr<StoreView>> view = store->View();
  ASSERT_THAT(view, IsOk());
  EXPECT_GT((*view)->revision(), *now);
  EXPECT_EQ((*view)->revision(), Committed(*store));
  absl::StatusOr<ListPage> listed = (*view)->List("p/", "", 10, true);
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->records.size(), 1u);
  EXPECT_EQ(listed->records[0].content, "1");
}

}  // namespace
}  // namespace etagd
