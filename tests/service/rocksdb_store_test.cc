#include "service/store/rocksdb/rocksdb_store.h"

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "etagd/v1/etagd.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/entity_tag.h"
#include "service/error_details.h"
#include "service/store/rocksdb/no_space_file_system.h"
#include "tests/service/store_conformance.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::SizeIs;

class RocksDbStoreTest : public testing::Test {
 protected:
  void SetUp() override {
    options_.path = TestPath("db");
    Reopen();
  }

  void Reopen() {
    store_.reset();
    absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(options_);
    ASSERT_THAT(store, IsOk());
    store_ = *std::move(store);
  }

  // Writes unconditionally: reads the current revision first.
  Record Put(const std::string& name, const std::string& content) {
    absl::StatusOr<std::optional<Record>> current =
        store_->ReadCurrent(name, false);
    EXPECT_THAT(current, IsOk());
    WriteRequest request;
    request.name = name;
    request.expected_revision =
        current->has_value() ? (*current)->revision : 0;
    request.content = content;
    request.content_type = "text/plain";
    absl::StatusOr<Record> record = store_->Write(request);
    EXPECT_THAT(record, IsOk());
    return record.ok() ? *record : Record{};
  }

  Record Delete(const std::string& name) {
    absl::StatusOr<std::optional<Record>> current =
        store_->ReadCurrent(name, false);
    EXPECT_THAT(current, IsOk());
    WriteRequest request;
    request.name = name;
    request.expected_revision = current->has_value() ? (*current)->revision : 0;
    request.is_delete = true;
    absl::StatusOr<Record> record = store_->Write(request);
    EXPECT_THAT(record, IsOk());
    return record.ok() ? *record : Record{};
  }

  RocksDbStoreOptions options_;
  std::unique_ptr<Store> store_;
};

TEST_F(RocksDbStoreTest, RestartKeepsRevisionsMonotonicAndEtagsUnique) {
  std::set<std::string> etags;
  int64_t last = 0;
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 5; ++i) {
      Record r = Put("k" + std::to_string(i % 2), "v");
      EXPECT_GT(r.revision, last);
      last = r.revision;
      EXPECT_TRUE(etags.insert(r.etag).second) << "reused " << r.etag;
    }
    Delete("k0");
    Reopen();
  }
}

TEST_F(RocksDbStoreTest, RestartKeepsData) {
  Record r = Put("a/b c", "persisted");
  Reopen();
  absl::StatusOr<std::optional<Record>> current =
      store_->ReadCurrent("a/b c", true);
  ASSERT_TRUE(current->has_value());
  EXPECT_EQ((*current)->content, "persisted");
  EXPECT_EQ((*current)->etag, r.etag);
  EXPECT_EQ((*current)->update_time, r.update_time);
}

TEST_F(RocksDbStoreTest, UpdateTimeNeverGoesBackAcrossARestart) {
  absl::Time now = absl::FromUnixSeconds(2000000000);
  options_.clock = [&now] { return now; };
  Reopen();
  Record first = Put("a", "1");
  now -= absl::Hours(1);
  Reopen();
  Record second = Put("b", "1");
  EXPECT_GE(second.update_time, first.update_time);
}

TEST_F(RocksDbStoreTest, OpenCreatesMissingParentDirectories) {
  RocksDbStoreOptions nested = options_;
  nested.path = TestPath("a") + "/b/c/db";
  EXPECT_THAT(OpenRocksDbStore(nested), IsOk());
}

TEST_F(RocksDbStoreTest, SecondOpenOfALockedDirectoryFailsClearly) {
  EXPECT_THAT(OpenRocksDbStore(options_),
              StatusIs(absl::StatusCode::kFailedPrecondition, "locked"));
}

std::vector<std::string> Names(const ListPage& page) {
  std::vector<std::string> names;
  for (const Record& r : page.records) names.push_back(r.name);
  return names;
}

// The canary the linearizability checker is tested against: without the
// lock, concurrent compare-and-writes do lose updates.
TEST_F(RocksDbStoreTest, NonAtomicCanaryLosesUpdates) {
  options_.non_atomic_writes_for_test = true;
  Reopen();
  Put("counter", "0");
  std::atomic<int> acknowledged{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10; ++i) {
        absl::StatusOr<std::optional<Record>> current =
            store_->ReadCurrent("counter", true);
        ASSERT_THAT(current, IsOk());
        WriteRequest request;
        request.name = "counter";
        request.expected_revision = (*current)->revision;
        const std::string next = std::to_string(std::stoi((*current)->content) + 1);
        request.content = next;
        if (store_->Write(request).ok()) ++acknowledged;
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_LT(std::stoi((*store_->ReadCurrent("counter", true))->content),
            acknowledged.load());
}

// simulate_power_loss_for_test. What kill -9 then loses is tested on the
// real binary (tests/crash/power_loss_test.cc); these test the open path and
// the list of names never synced, kept in this file in the data directory.
constexpr char kUnsyncedNamesFile[] = "SIMULATED_POWER_LOSS_UNSYNCED_NAMES";

TEST_F(RocksDbStoreTest, SimulatedPowerLossKeepsWhatAStoreClosedCleanly) {
  options_.simulate_power_loss_for_test = true;
  options_.sync_writes = false;
  Reopen();
  Record written = Put("kept", "closed cleanly");
  Reopen();
  absl::StatusOr<std::optional<Record>> read = store_->ReadCurrent("kept", true);
  ASSERT_THAT(read, IsOk());
  ASSERT_TRUE(read->has_value());
  EXPECT_EQ((*read)->content, "closed cleanly");
  EXPECT_EQ((*read)->etag, written.etag);
}

TEST_F(RocksDbStoreTest, SimulatedPowerLossDeletesNamesNeverSynced) {
  options_.simulate_power_loss_for_test = true;
  Reopen();
  Put("kept", "synced");
  store_.reset();
  const std::string orphan = options_.path + "/000999.log";
  std::ofstream(orphan) << "a log whose directory entry was never synced";
  std::ofstream(options_.path + "/" + kUnsyncedNamesFile) << orphan << "\n";

  Reopen();
  EXPECT_FALSE(std::filesystem::exists(orphan));
  absl::StatusOr<std::optional<Record>> read = store_->ReadCurrent("kept", true);
  ASSERT_THAT(read, IsOk());
  ASSERT_TRUE(read->has_value());
  EXPECT_EQ((*read)->content, "synced");
}

TEST_F(RocksDbStoreTest, SimulatedPowerLossLeavesALockedStoreAlone) {
  options_.simulate_power_loss_for_test = true;
  Reopen();
  const std::string bystander = options_.path + "/bystander";
  std::ofstream(bystander) << "not to be deleted";
  std::ofstream(options_.path + "/" + kUnsyncedNamesFile) << bystander << "\n";

  EXPECT_THAT(OpenRocksDbStore(options_),
              StatusIs(absl::StatusCode::kFailedPrecondition, "locked"));
  EXPECT_TRUE(std::filesystem::exists(bystander));
}

// WriteMany: several names in one commit.

TEST_F(RocksDbStoreTest, RevisionsOfABatchSurviveARestart) {
  const std::string names[] = {"a", "b", "c"};
  std::vector<WriteRequest> writes(3);
  for (int i = 0; i < 3; ++i) {
    writes[i].name = names[i];
    writes[i].content = "x";
  }
  int64_t highest = 0;
  for (const absl::StatusOr<Record>& r : store_->WriteMany(writes)) {
    ASSERT_THAT(r, IsOk());
    highest = std::max(highest, r->revision);
  }
  Reopen();
  EXPECT_GT(Put("d", "after").revision, highest);
}

// Writes of names sharing a lock stripe (1 of 65,536) take turns in the
// stripe's kept record; each write still compares against its own name's.
TEST_F(RocksDbStoreTest, WritesOfManyNamesEachCompareAgainstTheirOwnRecord) {
  constexpr int kNames = 12000;  // About 980 stripes hold two or more.
  constexpr int kBatch = 100;
  std::vector<std::string> names;
  for (int i = 0; i < kNames; ++i) names.push_back("n" + std::to_string(i));
  std::vector<int64_t> revisions(kNames, 0);
  for (int round = 0; round < 3; ++round) {
    for (int begin = 0; begin < kNames; begin += kBatch) {
      std::vector<WriteRequest> writes(kBatch);
      for (int j = 0; j < kBatch; ++j) {
        writes[j].name = names[begin + j];
        writes[j].expected_revision = revisions[begin + j];
        writes[j].content = "x";
      }
      std::vector<absl::StatusOr<Record>> results = store_->WriteMany(writes);
      for (int j = 0; j < kBatch; ++j) {
        ASSERT_THAT(results[j], IsOk()) << names[begin + j];
        revisions[begin + j] = results[j]->revision;
      }
      // The revision before is stale now.
      WriteRequest stale = writes[0];
      stale.expected_revision = revisions[begin] - 1;
      EXPECT_THAT(store_->Write(stale), StatusIs(absl::StatusCode::kAborted));
    }
  }
}

// ---------------------------------------------------------------------------
// A full disk: the store over NoSpaceFileSystem, which reports the free space
// the test says and fails RocksDB's writes on demand. Space checks run only
// when the test calls CheckSpaceForTest.

constexpr int64_t kMiB = int64_t{1} << 20;
constexpr int64_t kReserve = 64 * kMiB;
constexpr int64_t kPlentyFree = int64_t{1} << 40;

class FullDiskTest : public RocksDbStoreTest {
 protected:
  void SetUp() override {
    options_.path = TestPath("db");
    options_.file_system_for_test = disk_.file_system();
    options_.space.reserve_bytes = kReserve;
    options_.space.resume_bytes = kMiB;
    options_.space_check_interval = absl::ZeroDuration();
    disk_.SetFreeBytes(kPlentyFree);
    Reopen();
  }

  // The disk now has `free_bytes` free, and the store has looked.
  void SetFree(int64_t free_bytes) {
    disk_.SetFreeBytes(free_bytes);
    ASSERT_THAT(CheckSpaceForTest(*store_), IsOk());
  }

  absl::StatusOr<Record> TryPut(const std::string& name,
                                const std::string& content) {
    absl::StatusOr<std::optional<Record>> current =
        store_->ReadCurrent(name, false);
    if (!current.ok()) return current.status();
    WriteRequest request;
    request.name = name;
    request.expected_revision = current->has_value() ? (*current)->revision : 0;
    request.content = content;
    request.content_type = "text/plain";
    return store_->Write(request);
  }

  NoSpaceFileSystem disk_;
};

etagd::v1::StorageFull::Reason ReasonOf(const absl::Status& status) {
  std::optional<etagd::v1::StorageFull> detail = GetStorageFull(status);
  return detail.has_value() ? detail->reason()
                            : etagd::v1::StorageFull::REASON_UNSPECIFIED;
}

TEST_F(FullDiskTest, PutsAreRefusedOnceTheDiskIsDownToTheReserve) {
  Put("a", "kept");
  SetFree(kReserve + 1000);
  absl::StatusOr<Record> refused = TryPut("b", std::string(2000, 'x'));
  EXPECT_THAT(refused,
              StatusIs(absl::StatusCode::kResourceExhausted, "disk full"));
  EXPECT_EQ(ReasonOf(refused.status()), etagd::v1::StorageFull::REASON_DISK);
  EXPECT_THAT(refused.status().message(), HasSubstr("67108864 bytes"));
  absl::StatusOr<std::optional<Record>> b = store_->ReadCurrent("b", false);
  ASSERT_THAT(b, IsOk());
  EXPECT_FALSE(b->has_value()) << "a refused write writes nothing";
}

TEST_F(FullDiskTest, ReadsListingsAndDeletesWorkWhileFull) {
  Record a = Put("a", "one");
  Put("a", "two");
  Put("b", "other");
  SetFree(kReserve - 1000);
  ASSERT_THAT(TryPut("c", "x"), StatusIs(absl::StatusCode::kResourceExhausted));
  absl::StatusOr<std::optional<Record>> read = store_->ReadCurrent("a", true);
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ((*read)->content, "two");
  EXPECT_THAT(store_->ReadRevision("a", a.revision), IsOk());
  absl::StatusOr<ListPage> page = store_->List("", "", 10, false);
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Names(*page), ElementsAre("a", "b"));
  EXPECT_THAT(store_->ListVersions("a", 0, 10), IsOk());
  Record deletion = Delete("b");
  EXPECT_TRUE(deletion.deleted);
}

TEST_F(FullDiskTest, ADeleteWhileFullDropsThePastVersions) {
  Record v1 = Put("a", std::string(1000, '1'));
  Put("a", std::string(1000, '2'));
  SetFree(kReserve - 1000);
  Record deletion = Delete("a");
  absl::StatusOr<ListPage> versions = store_->ListVersions("a", 0, 10);
  ASSERT_THAT(versions, IsOk());
  ASSERT_THAT(versions->records, SizeIs(1));
  EXPECT_EQ(versions->records[0].revision, deletion.revision);
  EXPECT_TRUE(versions->records[0].deleted);
  EXPECT_THAT(store_->ReadRevision("a", v1.revision),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(FullDiskTest, DeletesAreRefusedPastHalfTheReserve) {
  Put("a", "x");
  SetFree(kReserve / 2 - 1);
  absl::StatusOr<std::optional<Record>> current =
      store_->ReadCurrent("a", false);
  ASSERT_THAT(current, IsOk());
  WriteRequest request;
  request.name = "a";
  request.expected_revision = (*current)->revision;
  request.is_delete = true;
  EXPECT_THAT(
      store_->Write(request),
      StatusIs(absl::StatusCode::kResourceExhausted, "deletes wait too"));
}

TEST_F(FullDiskTest, WritesResumeWithoutARestartOnceSpaceReturns) {
  Put("a", "before");
  SetFree(kReserve - 1000);
  ASSERT_THAT(TryPut("b", "x"), StatusIs(absl::StatusCode::kResourceExhausted));
  SetFree(kReserve + kMiB / 2);
  EXPECT_THAT(TryPut("b", "x"), StatusIs(absl::StatusCode::kResourceExhausted))
      << "room for less than the largest write is not room yet";
  SetFree(kPlentyFree);
  EXPECT_THAT(TryPut("b", "x"), IsOk());
  EXPECT_FALSE(store_->Space()->full);
}

TEST_F(FullDiskTest, AStoreAtItsQuotaRefusesPutsAndSaysSoInItsSpace) {
  store_.reset();
  options_.space.quota_bytes = 0;
  Reopen();
  const int64_t empty = store_->Space()->store_bytes;
  store_.reset();
  options_.space.quota_bytes = empty + 200 * 1024;
  Reopen();
  absl::StatusOr<Record> written;
  int acknowledged = 0;
  for (; acknowledged < 100; ++acknowledged) {
    written =
        TryPut("r" + std::to_string(acknowledged), std::string(20000, 'q'));
    if (!written.ok()) break;
  }
  EXPECT_THAT(written,
              StatusIs(absl::StatusCode::kResourceExhausted, "store full"));
  EXPECT_EQ(ReasonOf(written.status()), etagd::v1::StorageFull::REASON_QUOTA);
  EXPECT_GE(acknowledged, 5);
  EXPECT_LE(acknowledged, 10);
  std::optional<StorageSpace> space = store_->Space();
  ASSERT_TRUE(space.has_value());
  EXPECT_TRUE(space->full);
  EXPECT_EQ(space->quota_bytes, empty + 200 * 1024);
  EXPECT_GT(space->store_bytes, empty + 100 * 1024);
  EXPECT_EQ(space->reserve_bytes, kReserve);
  EXPECT_FALSE(space->read_only);
}

TEST_F(FullDiskTest, RocksDbRunningOutRefusesWritesAndResumesOnceSpaceReturns) {
  // The disk claims room, but RocksDB's writes fail: the reserve was taken
  // by something the store could not see.
  Record kept = Put("a", "acknowledged");
  disk_.SetFull(true);
  absl::StatusOr<Record> failed = TryPut("b", "x");
  EXPECT_THAT(failed, StatusIs(absl::StatusCode::kResourceExhausted,
                               "RocksDB ran out of space"));
  EXPECT_EQ(ReasonOf(failed.status()), etagd::v1::StorageFull::REASON_ENGINE);
  EXPECT_GT(disk_.refused_writes(), 0);
  EXPECT_THAT(TryPut("c", "x"), StatusIs(absl::StatusCode::kResourceExhausted));
  absl::StatusOr<std::optional<Record>> read = store_->ReadCurrent("a", true);
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ((*read)->etag, kept.etag);

  disk_.SetFull(false);
  ASSERT_THAT(CheckSpaceForTest(*store_), IsOk());
  EXPECT_THAT(TryPut("b", "after"), IsOk());
  Reopen();
  EXPECT_EQ((*store_->ReadCurrent("a", true))->content, "acknowledged");
  EXPECT_EQ((*store_->ReadCurrent("b", true))->content, "after");
}

// The store keeps each name's last committed record for the next write's
// compare: a write whose commit failed must not take its place.
TEST_F(FullDiskTest, AFailedCommitLeavesTheRecordItWouldHaveReplacedCurrent) {
  Record kept = Put("a", "acknowledged");
  disk_.SetFull(true);
  EXPECT_THAT(TryPut("a", "refused"),
              StatusIs(absl::StatusCode::kResourceExhausted));
  disk_.SetFull(false);
  ASSERT_THAT(CheckSpaceForTest(*store_), IsOk());
  // Decided on the record read back, which is still the acknowledged one.
  WriteRequest request;
  request.name = "a";
  request.expected_revision = kept.revision;
  request.content = "after";
  absl::StatusOr<Record> written = store_->Write(request);
  ASSERT_THAT(written, IsOk());
  EXPECT_EQ(written->version, kept.version + 1);
  absl::StatusOr<Record> past = store_->ReadRevision("a", kept.revision);
  ASSERT_THAT(past, IsOk());
  EXPECT_EQ(past->content, "acknowledged");
}

TEST_F(FullDiskTest, NoAcknowledgedWriteIsLostWhenTheDiskFillsMidWrite) {
  // Appends stop part way through a write-ahead-log record, or a flush, or
  // the info log: wherever the disk happens to fill.
  disk_.SetWritableBytes(300 * 1024);
  std::map<std::string, std::string> acknowledged;  // name -> etag
  int refused = 0;
  for (int i = 0; i < 200 && refused < 5; ++i) {
    const std::string name = "k" + std::to_string(i % 40);
    absl::StatusOr<Record> written =
        TryPut(name, std::string(5000, 'a' + i % 26));
    if (written.ok()) {
      acknowledged[name] = written->etag;
    } else {
      EXPECT_THAT(written, StatusIs(absl::StatusCode::kResourceExhausted));
      ++refused;
    }
  }
  ASSERT_EQ(refused, 5);
  ASSERT_FALSE(acknowledged.empty());

  auto expect_all_there = [&](const char* when) {
    for (const auto& [name, etag] : acknowledged) {
      absl::StatusOr<std::optional<Record>> read =
          store_->ReadCurrent(name, false);
      ASSERT_THAT(read, IsOk()) << when;
      ASSERT_TRUE(read->has_value()) << name << " " << when;
      EXPECT_EQ((*read)->etag, etag) << name << " " << when;
    }
  };
  expect_all_there("while full");
  disk_.SetFull(false);
  ASSERT_THAT(CheckSpaceForTest(*store_), IsOk());
  expect_all_there("after resuming");
  EXPECT_THAT(TryPut("k0", "after"), IsOk());
  acknowledged.erase("k0");
  Reopen();
  expect_all_there("after a restart");
}

TEST_F(FullDiskTest, OpensReadOnlyOnAFullDiskAndServesReads) {
  Record a = Put("a", "readable");
  Put("b", "also");
  store_.reset();
  disk_.SetFull(true);
  disk_.SetFreeBytes(0);
  Reopen();
  std::optional<StorageSpace> space = store_->Space();
  ASSERT_TRUE(space.has_value());
  EXPECT_TRUE(space->read_only);
  EXPECT_TRUE(space->full);
  absl::StatusOr<std::optional<Record>> read = store_->ReadCurrent("a", true);
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ((*read)->content, "readable");
  EXPECT_EQ((*read)->etag, a.etag);
  absl::StatusOr<ListPage> page = store_->List("", "", 10, false);
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Names(*page), ElementsAre("a", "b"));
  absl::StatusOr<Record> refused = TryPut("c", "x");
  EXPECT_THAT(refused,
              StatusIs(absl::StatusCode::kResourceExhausted, "open read-only"));
  EXPECT_EQ(ReasonOf(refused.status()), etagd::v1::StorageFull::REASON_ENGINE);
  EXPECT_THAT(store_->Checkpoint(TestPath("checkpoint")),
              StatusIs(absl::StatusCode::kResourceExhausted));
}

TEST_F(FullDiskTest, AReadOnlyStoreLocksItsDirectory) {
  Put("a", "x");
  store_.reset();
  disk_.SetFull(true);
  disk_.SetFreeBytes(0);
  Reopen();
  ASSERT_TRUE(store_->Space()->read_only);
  EXPECT_THAT(OpenRocksDbStore(options_),
              StatusIs(absl::StatusCode::kFailedPrecondition, "locked"));
}

TEST_F(FullDiskTest, AReadOnlyStoreReopensReadWriteOnceSpaceReturns) {
  Record a = Put("a", "before");
  store_.reset();
  disk_.SetFull(true);
  disk_.SetFreeBytes(0);
  Reopen();
  ASSERT_TRUE(store_->Space()->read_only);
  disk_.SetFull(false);
  SetFree(kPlentyFree);
  EXPECT_FALSE(store_->Space()->read_only);
  absl::StatusOr<Record> b = TryPut("b", "after");
  ASSERT_THAT(b, IsOk());
  EXPECT_GT(b->revision, a.revision);
  EXPECT_EQ((*store_->ReadCurrent("a", true))->content, "before");
  Reopen();
  EXPECT_EQ((*store_->ReadCurrent("b", true))->content, "after");
}
// The behaviour every engine shares (tests/service/store_conformance.h).
class RocksDbUnderTest : public EngineUnderTest {
 public:
  absl::StatusOr<std::unique_ptr<Store>> Open(
      const ConformanceOptions& options) override {
    RocksDbStoreOptions rocksdb;
    rocksdb.path = path_;
    rocksdb.history_depth = options.history_depth;
    rocksdb.clock = options.clock;
    return OpenRocksDbStore(rocksdb);
  }
  bool SupportsReplicas() const override { return false; }

 private:
  const std::string path_ = TestPath("conformance-db");
};

INSTANTIATE_TEST_SUITE_P(
    RocksDb, StoreConformanceTest,
    testing::Values(EngineFactory{
        "RocksDb", [] { return std::make_unique<RocksDbUnderTest>(); }}),
    StoreConformanceTest::EngineName);

}  // namespace
}  // namespace etagd
