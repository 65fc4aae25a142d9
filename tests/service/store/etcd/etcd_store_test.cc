#include "service/store/etcd/etcd_store.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "service/status_macros.h"
#include "tests/service/store_conformance.h"
#include "tests/testing/etcd_cluster.h"
#include "tests/testing/http_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_pki.h"

namespace etagd {
namespace {

// One single-member etcd for the whole test binary; each test works under
// a key prefix of its own.
class SharedEtcd : public testing::Environment {
 public:
  void SetUp() override {
    const char* root = std::getenv("TEST_TMPDIR");
    absl::StatusOr<std::unique_ptr<EtcdCluster>> cluster = EtcdCluster::Start(
        absl::StrCat(root != nullptr ? root : "/tmp", "/shared-etcd"));
    ASSERT_THAT(cluster, IsOk());
    cluster_ = *std::move(cluster);
  }
  void TearDown() override { cluster_.reset(); }

  static EtcdCluster& cluster() { return *cluster_; }

 private:
  static std::unique_ptr<EtcdCluster> cluster_;
};

std::unique_ptr<EtcdCluster> SharedEtcd::cluster_;

testing::Environment* const kSharedEtcd =
    testing::AddGlobalTestEnvironment(new SharedEtcd);

// A prefix unique to the running test.
std::string TestPrefix() {
  const testing::TestInfo* info =
      testing::UnitTest::GetInstance()->current_test_info();
  return absl::StrCat("/etagd-test/", info->test_suite_name(), ".", info->name(), "/");
}

EtcdStoreOptions OptionsFor(const EtcdCluster& cluster) {
  EtcdStoreOptions options;
  options.endpoints = cluster.ClientEndpoints();
  options.prefix = TestPrefix();
  options.dial_timeout = absl::Seconds(10);
  return options;
}

// Direct access to etcd, bypassing the store.
std::unique_ptr<etcdserverpb::KV::Stub> RawKv(const EtcdCluster& cluster) {
  return etcdserverpb::KV::NewStub(grpc::CreateChannel(
      cluster.ClientEndpoint(0), grpc::InsecureChannelCredentials()));
}

grpc::Status RawCall(const std::function<grpc::Status(grpc::ClientContext&)>& call) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  return call(context);
}

class EtcdUnderTest : public EngineUnderTest {
 public:
  absl::StatusOr<std::unique_ptr<Store>> Open(
      const ConformanceOptions& options) override {
    EtcdStoreOptions etcd = OptionsFor(SharedEtcd::cluster());
    etcd.history_depth = options.history_depth;
    etcd.clock = options.clock;
    return OpenEtcdStore(etcd);
  }
  bool SupportsReplicas() const override { return true; }
};

INSTANTIATE_TEST_SUITE_P(
    Etcd, StoreConformanceTest,
    testing::Values(EngineFactory{
        "Etcd", [] { return std::make_unique<EtcdUnderTest>(); }}),
    StoreConformanceTest::EngineName);

WriteRequest PutRequest(const std::string& name, const std::string& content,
                        int64_t expected_revision = 0) {
  WriteRequest request;
  request.name = name;
  request.content = content;
  request.expected_revision = expected_revision;
  return request;
}

// --- Opening ------------------------------------------------------------

TEST(EtcdStoreTest, OpenWithoutAReachableEtcdIsUnavailableNamingTheEndpoint) {
  EtcdStoreOptions options;
  options.endpoints = {"127.0.0.1:1"};
  options.dial_timeout = absl::Milliseconds(300);
  EXPECT_THAT(OpenEtcdStore(options),
              StatusIs(absl::StatusCode::kUnavailable, "127.0.0.1:1"));
}

TEST(EtcdStoreTest, OpenWithoutEndpointsIsInvalid) {
  EXPECT_THAT(OpenEtcdStore(EtcdStoreOptions()),
              StatusIs(absl::StatusCode::kInvalidArgument, "endpoints"));
}

TEST(EtcdStoreTest, AcceptsEndpointsAsUrls) {
  EtcdStoreOptions options = OptionsFor(SharedEtcd::cluster());
  options.endpoints = {absl::StrCat("http://", SharedEtcd::cluster().ClientEndpoint(0))};
  EXPECT_THAT(OpenEtcdStore(options), IsOk());
}

TEST(EtcdStoreTest, PrefixHoldingAnotherFormatIsRefused) {
  EtcdStoreOptions options = OptionsFor(SharedEtcd::cluster());
  auto kv = RawKv(SharedEtcd::cluster());
  etcdserverpb::PutRequest put;
  put.set_key(options.prefix + "format");
  put.set_value("something-else-1");
  etcdserverpb::PutResponse response;
  ASSERT_TRUE(RawCall([&](grpc::ClientContext& c) { return kv->Put(&c, put, &response); }).ok());
  EXPECT_THAT(OpenEtcdStore(options),
              StatusIs(absl::StatusCode::kFailedPrecondition, "something-else-1"));
}

TEST(EtcdStoreTest, CheckpointIsUnimplementedAndPointsAtEtcdctl) {
  absl::StatusOr<std::unique_ptr<Store>> store =
      OpenEtcdStore(OptionsFor(SharedEtcd::cluster()));
  ASSERT_THAT(store, IsOk());
  EXPECT_THAT((*store)->Checkpoint(TestPath("checkpoint")),
              StatusIs(absl::StatusCode::kUnimplemented, "etcdctl snapshot save"));
}

// --- Key layout -----------------------------------------------------------

TEST(EtcdStoreTest, EveryKeyIsUnderThePrefix) {
  EtcdStoreOptions options = OptionsFor(SharedEtcd::cluster());
  absl::StatusOr<std::unique_ptr<Store>> store = OpenEtcdStore(options);
  ASSERT_THAT(store, IsOk());
  ASSERT_THAT((*store)->Write(PutRequest("a", "1")), IsOk());
  absl::StatusOr<std::optional<Record>> current = (*store)->ReadCurrent("a", false);
  ASSERT_THAT(current, IsOk());
  ASSERT_THAT((*store)->Write(PutRequest("a", "2", (*current)->revision)), IsOk());

  // Every key of the keyspace written since this test's first write.
  auto kv = RawKv(SharedEtcd::cluster());
  etcdserverpb::RangeRequest all;
  all.set_key(std::string(1, '\0'));
  all.set_range_end(std::string(1, '\0'));
  all.set_min_mod_revision((*current)->revision);
  all.set_keys_only(true);
  etcdserverpb::RangeResponse response;
  ASSERT_TRUE(RawCall([&](grpc::ClientContext& c) { return kv->Range(&c, all, &response); }).ok());
  ASSERT_GT(response.kvs_size(), 0);
  for (const mvccpb::KeyValue& key : response.kvs()) {
    EXPECT_TRUE(absl::StartsWith(key.key(), options.prefix)) << key.key();
  }
}

TEST(EtcdStoreTest, StoresWithDifferentPrefixesShareNothing) {
  EtcdStoreOptions options = OptionsFor(SharedEtcd::cluster());
  absl::StatusOr<std::unique_ptr<Store>> first = OpenEtcdStore(options);
  options.prefix += "other/";
  absl::StatusOr<std::unique_ptr<Store>> second = OpenEtcdStore(options);
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(second, IsOk());
  ASSERT_THAT((*first)->Write(PutRequest("a", "1")), IsOk());
  absl::StatusOr<std::optional<Record>> seen = (*second)->ReadCurrent("a", false);
  ASSERT_THAT(seen, IsOk());
  EXPECT_FALSE(seen->has_value());
}

// A replica that has not seen the records a batch replaces reads them (all
// in one round trip) before planning: the writes that expect the current
// revision apply, with history, and the one that expects an old one is
// ABORTED.
TEST(EtcdStoreTest, ABatchOnRecordsAnotherReplicaWroteChecksEachAgainstEtcd) {
  const EtcdStoreOptions options = OptionsFor(SharedEtcd::cluster());
  absl::StatusOr<std::unique_ptr<Store>> writer = OpenEtcdStore(options);
  absl::StatusOr<std::unique_ptr<Store>> other = OpenEtcdStore(options);
  ASSERT_THAT(writer, IsOk());
  ASSERT_THAT(other, IsOk());
  absl::StatusOr<Record> a = (*writer)->Write(PutRequest("a", "a1"));
  absl::StatusOr<Record> b = (*writer)->Write(PutRequest("b", "b1"));
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  absl::StatusOr<Record> b2 = (*writer)->Write(PutRequest("b", "b2", b->revision));
  ASSERT_THAT(b2, IsOk());
  std::vector<WriteRequest> batch = {PutRequest("a", "a2", a->revision),
                                     PutRequest("b", "stale", b->revision)};
  std::vector<absl::StatusOr<Record>> written = (*other)->WriteMany(batch);
  ASSERT_EQ(written.size(), 2u);
  ASSERT_THAT(written[0], IsOk());
  EXPECT_EQ(written[0]->version, 2);
  EXPECT_THAT(written[1], StatusIs(absl::StatusCode::kAborted));
  absl::StatusOr<ListPage> versions = (*writer)->ListVersions("a", 0, 10);
  ASSERT_THAT(versions, IsOk());
  ASSERT_EQ(versions->records.size(), 2u);
  EXPECT_EQ(versions->records[1].revision, a->revision);
  absl::StatusOr<std::optional<Record>> b_now = (*writer)->ReadCurrent("b", true);
  ASSERT_THAT(b_now, IsOk());
  ASSERT_TRUE(b_now->has_value());
  EXPECT_EQ((*b_now)->content, "b2");
}

// --- The records a replica remembers -----------------------------------

// Creates `names` (n0, n1, ...) through `store`, a batch at a time; their
// records, in order.
std::vector<Record> CreateNames(Store& store, int names) {
  constexpr int kBatch = 250;
  std::vector<std::string> all;
  for (int i = 0; i < names; ++i) all.push_back(absl::StrCat("n", i));
  std::vector<Record> made;
  for (int begin = 0; begin < names; begin += kBatch) {
    std::vector<WriteRequest> batch;
    for (int i = begin; i < std::min(names, begin + kBatch); ++i) {
      batch.push_back(PutRequest(all[i], "content"));
    }
    for (absl::StatusOr<Record>& written : store.WriteMany(batch)) {
      EXPECT_THAT(written, IsOk());
      if (written.ok()) made.push_back(*std::move(written));
    }
  }
  return made;
}

// Replaces each of `records` through `store`.
void Replace(Store& store, const std::vector<Record>& records) {
  std::vector<WriteRequest> batch;
  for (const Record& record : records) {
    batch.push_back(PutRequest(record.name, "replaced", record.revision));
  }
  for (const absl::StatusOr<Record>& written : store.WriteMany(batch)) {
    EXPECT_THAT(written, IsOk());
  }
}

// A write plan answered from memory is the record this store itself last
// saw, even after another replica replaced it (a stale plan, which the
// Txn's compare would refuse); one that reads etcd is the replacement. So a
// plan that returns the remembered revision made no read, and neither does
// a compare-and-set expecting that revision, which plans on the same
// memory. Names are remembered within recent_records_bytes, least recently
// used out first, however many there are.
TEST(EtcdStoreTest, AReplicaPlansWithoutAReadOnNamesItWroteThousandsOfNamesAgo) {
  constexpr int kNames = 6000;
  constexpr int kEarly = 1000;
  const EtcdStoreOptions options = OptionsFor(SharedEtcd::cluster());
  absl::StatusOr<std::unique_ptr<Store>> writer = OpenEtcdStore(options);
  absl::StatusOr<std::unique_ptr<Store>> other = OpenEtcdStore(options);
  ASSERT_THAT(writer, IsOk());
  ASSERT_THAT(other, IsOk());
  const std::vector<Record> made = CreateNames(**writer, kNames);
  ASSERT_EQ(made.size(), static_cast<size_t>(kNames));
  const std::vector<Record> early(made.begin(), made.begin() + kEarly);
  Replace(**other, early);
  for (const Record& record : early) {
    absl::StatusOr<std::optional<Record>> plan =
        (*writer)->ReadForWritePlan(record.name);
    ASSERT_THAT(plan, IsOk());
    ASSERT_TRUE(plan->has_value());
    ASSERT_EQ((*plan)->revision, record.revision) << record.name << " was read";
  }
}

TEST(EtcdStoreTest, AReplicaWithoutMemoryForRecordsReadsBeforeEachWritePlan) {
  EtcdStoreOptions options = OptionsFor(SharedEtcd::cluster());
  options.recent_records_bytes = 0;
  absl::StatusOr<std::unique_ptr<Store>> writer = OpenEtcdStore(options);
  absl::StatusOr<std::unique_ptr<Store>> other = OpenEtcdStore(options);
  ASSERT_THAT(writer, IsOk());
  ASSERT_THAT(other, IsOk());
  absl::StatusOr<Record> made = (*writer)->Write(PutRequest("a", "a1"));
  ASSERT_THAT(made, IsOk());
  absl::StatusOr<Record> replaced =
      (*other)->Write(PutRequest("a", "a2", made->revision));
  ASSERT_THAT(replaced, IsOk());
  absl::StatusOr<std::optional<Record>> plan = (*writer)->ReadForWritePlan("a");
  ASSERT_THAT(plan, IsOk());
  ASSERT_TRUE(plan->has_value());
  EXPECT_EQ((*plan)->revision, replaced->revision);
}

// --- What etcd's compaction cannot take ------------------------------------

TEST(EtcdStoreTest, HistorySurvivesEtcdCompaction) {
  absl::StatusOr<std::unique_ptr<Store>> store =
      OpenEtcdStore(OptionsFor(SharedEtcd::cluster()));
  ASSERT_THAT(store, IsOk());
  absl::StatusOr<Record> v1 = (*store)->Write(PutRequest("a", "one"));
  ASSERT_THAT(v1, IsOk());
  absl::StatusOr<Record> v2 = (*store)->Write(PutRequest("a", "two", v1->revision));
  ASSERT_THAT(v2, IsOk());
  absl::StatusOr<Record> v3 = (*store)->Write(PutRequest("a", "three", v2->revision));
  ASSERT_THAT(v3, IsOk());

  auto kv = RawKv(SharedEtcd::cluster());
  etcdserverpb::CompactionRequest compact;
  compact.set_revision(v3->revision);
  compact.set_physical(true);
  etcdserverpb::CompactionResponse compacted;
  ASSERT_TRUE(RawCall([&](grpc::ClientContext& c) {
                return kv->Compact(&c, compact, &compacted);
              }).ok());

  absl::StatusOr<Record> past = (*store)->ReadRevision("a", v1->revision);
  ASSERT_THAT(past, IsOk());
  EXPECT_EQ(past->content, "one");
  EXPECT_EQ(past->etag, v1->etag);
  absl::StatusOr<ListPage> versions = (*store)->ListVersions("a", 0, 10);
  ASSERT_THAT(versions, IsOk());
  EXPECT_THAT(versions->records, testing::SizeIs(3));
}

// A listing whose first page's revision etcd has compacted cannot go on at
// it: OUT_OF_RANGE, and a new listing works.
TEST(EtcdStoreTest, AListingAtACompactedRevisionIsOutOfRange) {
  absl::StatusOr<std::unique_ptr<Store>> store =
      OpenEtcdStore(OptionsFor(SharedEtcd::cluster()));
  ASSERT_THAT(store, IsOk());
  ASSERT_THAT((*store)->Write(PutRequest("a", "1")), IsOk());
  ASSERT_THAT((*store)->Write(PutRequest("b", "1")), IsOk());
  absl::StatusOr<ListPage> first = (*store)->List("", "", 1, false);
  ASSERT_THAT(first, IsOk());
  absl::StatusOr<Record> later = (*store)->Write(PutRequest("c", "1"));
  ASSERT_THAT(later, IsOk());

  auto kv = RawKv(SharedEtcd::cluster());
  etcdserverpb::CompactionRequest compact;
  compact.set_revision(later->revision);
  compact.set_physical(true);
  etcdserverpb::CompactionResponse compacted;
  ASSERT_TRUE(RawCall([&](grpc::ClientContext& c) {
                return kv->Compact(&c, compact, &compacted);
              }).ok());

  EXPECT_THAT((*store)->List("", "a", 10, false, first->revision),
              StatusIs(absl::StatusCode::kOutOfRange, "start the listing over"));
  absl::StatusOr<ListPage> again = (*store)->List("", "", 10, false);
  ASSERT_THAT(again, IsOk());
  EXPECT_EQ(again->records.size(), 3u);
}

// The keys of `prefix` + `part`, counted.
int CountKeys(const std::string& prefix, const std::string& part) {
  auto kv = RawKv(SharedEtcd::cluster());
  etcdserverpb::RangeRequest range;
  range.set_key(prefix + part);
  std::string end = prefix + part;
  end.back() = static_cast<char>(end.back() + 1);
  range.set_range_end(end);
  range.set_count_only(true);
  etcdserverpb::RangeResponse response;
  EXPECT_TRUE(RawCall([&](grpc::ClientContext& c) { return kv->Range(&c, range, &response); }).ok());
  return static_cast<int>(response.count());
}

TEST(EtcdStoreTest, PrunedVersionsLeaveNoKeysBehind) {
  EtcdStoreOptions options = OptionsFor(SharedEtcd::cluster());
  options.history_depth = 2;
  absl::StatusOr<std::unique_ptr<Store>> store = OpenEtcdStore(options);
  ASSERT_THAT(store, IsOk());
  int64_t revision = 0;
  for (int i = 0; i < 6; ++i) {
    absl::StatusOr<Record> written =
        (*store)->Write(PutRequest("a", std::to_string(i), revision));
    ASSERT_THAT(written, IsOk());
    revision = written->revision;
  }
  EXPECT_EQ(CountKeys(options.prefix, "h/"), 2);
  EXPECT_EQ(CountKeys(options.prefix, "c/"), 3);  // current and 2 past
  WriteRequest deletion;
  deletion.name = "a";
  deletion.expected_revision = revision;
  deletion.is_delete = true;
  ASSERT_THAT((*store)->Write(deletion), IsOk());
  EXPECT_EQ(CountKeys(options.prefix, "h/"), 2);
  EXPECT_EQ(CountKeys(options.prefix, "c/"), 2);  // the 2 past puts
}

// Writes whose answer is lost (a deadline shorter than etcd takes) are
// never sent again: each is found applied (by its nonce) or fenced off,
// and the store says which, truthfully. (On a local etcd about a third of
// these writes lose their answer, and etcd applies them all the same.)
TEST(EtcdStoreTest, WritesWhoseAnswerIsLostAreResolvedTruthfully) {
  EtcdStoreOptions options = OptionsFor(SharedEtcd::cluster());
  absl::StatusOr<std::unique_ptr<Store>> setup = OpenEtcdStore(options);
  ASSERT_THAT(setup, IsOk());
  absl::StatusOr<Record> first = (*setup)->Write(PutRequest("counter", "0"));
  ASSERT_THAT(first, IsOk());
  int applied = 0;
  int not_applied = 0;
  int64_t revision = first->revision;
  int value = 0;
  for (int i = 0; i < 40; ++i) {
    // From deadlines that end before the request is sent to ones that end
    // while etcd applies it.
    options.write_deadline_for_test =
        i % 4 == 0 ? absl::Microseconds(1) : absl::Microseconds(100 * (i % 30));
    absl::StatusOr<std::unique_ptr<Store>> store = OpenEtcdStore(options);
    ASSERT_THAT(store, IsOk());
    const std::string next = std::to_string(value + 1);
    absl::StatusOr<Record> written =
        (*store)->Write(PutRequest("counter", next, revision));
    absl::StatusOr<std::optional<Record>> current =
        (*setup)->ReadCurrent("counter", true);
    ASSERT_THAT(current, IsOk());
    if (written.ok()) {
      ++applied;
      EXPECT_EQ((*current)->content, next);
      EXPECT_EQ((*current)->revision, written->revision);
      EXPECT_EQ((*current)->etag, written->etag);
      ++value;
      revision = written->revision;
    } else {
      // Not applied, and it will not be: the record is unchanged.
      ASSERT_THAT(written, StatusIs(absl::StatusCode::kUnavailable, "did not apply"));
      ++not_applied;
      EXPECT_EQ((*current)->content, std::to_string(value));
      EXPECT_EQ((*current)->revision, revision);
    }
  }
  // It stays so: a fenced write never lands later.
  absl::StatusOr<std::optional<Record>> last = (*setup)->ReadCurrent("counter", true);
  ASSERT_THAT(last, IsOk());
  EXPECT_EQ((*last)->content, std::to_string(value));
  EXPECT_EQ((*last)->version, 1 + value);
  std::cerr << applied << " writes applied, " << not_applied << " not applied\n";
}

// The same for the writes of one batch, which are sent together.
TEST(EtcdStoreTest, BatchedWritesWhoseAnswerIsLostAreResolvedTruthfully) {
  EtcdStoreOptions options = OptionsFor(SharedEtcd::cluster());
  absl::StatusOr<std::unique_ptr<Store>> setup = OpenEtcdStore(options);
  ASSERT_THAT(setup, IsOk());
  const std::vector<std::string> names = {"batch/a", "batch/b", "batch/c"};
  std::vector<int64_t> revisions;
  std::vector<int> values(names.size(), 0);
  for (const std::string& name : names) {
    absl::StatusOr<Record> first = (*setup)->Write(PutRequest(name, "0"));
    ASSERT_THAT(first, IsOk());
    revisions.push_back(first->revision);
  }
  int applied = 0;
  int not_applied = 0;
  for (int i = 0; i < 20; ++i) {
    options.write_deadline_for_test =
        i % 4 == 0 ? absl::Microseconds(1) : absl::Microseconds(150 * (i % 20));
    absl::StatusOr<std::unique_ptr<Store>> store = OpenEtcdStore(options);
    ASSERT_THAT(store, IsOk());
    std::vector<std::string> next;
    std::vector<WriteRequest> batch;
    for (size_t k = 0; k < names.size(); ++k) next.push_back(std::to_string(values[k] + 1));
    for (size_t k = 0; k < names.size(); ++k) {
      batch.push_back(PutRequest(names[k], next[k], revisions[k]));
    }
    std::vector<absl::StatusOr<Record>> written = (*store)->WriteMany(batch);
    ASSERT_EQ(written.size(), names.size());
    for (size_t k = 0; k < names.size(); ++k) {
      absl::StatusOr<std::optional<Record>> current =
          (*setup)->ReadCurrent(names[k], true);
      ASSERT_THAT(current, IsOk());
      if (written[k].ok()) {
        ++applied;
        EXPECT_EQ((*current)->content, next[k]);
        EXPECT_EQ((*current)->etag, written[k]->etag);
        ++values[k];
        revisions[k] = written[k]->revision;
      } else {
        ASSERT_THAT(written[k],
                    StatusIs(absl::StatusCode::kUnavailable, "did not apply"));
        ++not_applied;
        EXPECT_EQ((*current)->content, std::to_string(values[k]));
        EXPECT_EQ((*current)->revision, revisions[k]);
      }
    }
  }
  std::cerr << applied << " batched writes applied, " << not_applied
            << " not applied\n";
}

// --- etcd's limits ----------------------------------------------------------

class EtcdLimitsTest : public testing::Test {
 protected:
  void StartEtcd(std::vector<std::string> flags) {
    EtcdClusterOptions cluster_options;
    cluster_options.extra_args = std::move(flags);
    absl::StatusOr<std::unique_ptr<EtcdCluster>> cluster =
        EtcdCluster::Start(TestPath("etcd"), cluster_options);
    ASSERT_THAT(cluster, IsOk());
    cluster_ = *std::move(cluster);
    options_ = OptionsFor(*cluster_);
  }

  std::unique_ptr<EtcdCluster> cluster_;
  EtcdStoreOptions options_;
};

TEST_F(EtcdLimitsTest, ContentOverTheRequestLimitIsRefusedBeforeSending) {
  ASSERT_NO_FATAL_FAILURE(StartEtcd({"--max-request-bytes=65536"}));
  options_.max_request_bytes = 65536;
  absl::StatusOr<std::unique_ptr<Store>> store = OpenEtcdStore(options_);
  ASSERT_THAT(store, IsOk());
  EXPECT_THAT((*store)->Write(PutRequest("a", std::string(70000, 'x'))),
              StatusIs(absl::StatusCode::kResourceExhausted, "--max-request-bytes"));
  EXPECT_THAT((*store)->Write(PutRequest("a", std::string(65000, 'x'))),
              StatusIs(absl::StatusCode::kResourceExhausted, "65536"));
  absl::StatusOr<std::optional<Record>> current = (*store)->ReadCurrent("a", false);
  ASSERT_THAT(current, IsOk());
  EXPECT_FALSE(current->has_value());
}

// EtcdMaxContentBytes holds for the longest name and request ids and a full
// history of them, against etcd's own check.
TEST_F(EtcdLimitsTest, TheAdvertisedContentLimitFitsTheWorstCase) {
  ASSERT_NO_FATAL_FAILURE(StartEtcd({"--max-request-bytes=65536"}));
  options_.max_request_bytes = 65536;
  options_.history_depth = 10;
  absl::StatusOr<std::unique_ptr<Store>> store = OpenEtcdStore(options_);
  ASSERT_THAT(store, IsOk());
  const int64_t limit = EtcdMaxContentBytes(options_);
  ASSERT_GT(limit, 32768);
  const std::string name(1024, 'n');
  const std::string content_type(256, 't');
  int64_t revision = 0;
  for (int i = 0; i < 13; ++i) {
    const std::string request_id = std::string(126, 'r') + std::to_string(i % 10) + "x";
    WriteRequest request = PutRequest(name, std::string(limit, 'c'), revision);
    request.content_type = content_type;
    request.request_id = request_id;
    absl::StatusOr<Record> written = (*store)->Write(request);
    ASSERT_THAT(written, IsOk()) << "write " << i;
    revision = written->revision;
  }
}

// etagd configured for a larger limit than the cluster's: etcd's refusal is
// a clear RESOURCE_EXHAUSTED, and nothing is written.
TEST_F(EtcdLimitsTest, EtcdsOwnRequestLimitIsResourceExhausted) {
  ASSERT_NO_FATAL_FAILURE(StartEtcd({"--max-request-bytes=65536"}));
  absl::StatusOr<std::unique_ptr<Store>> store = OpenEtcdStore(options_);
  ASSERT_THAT(store, IsOk());
  EXPECT_THAT((*store)->Write(PutRequest("a", std::string(100000, 'x'))),
              StatusIs(absl::StatusCode::kResourceExhausted, "max-request-bytes"));
  absl::StatusOr<std::optional<Record>> current = (*store)->ReadCurrent("a", false);
  ASSERT_THAT(current, IsOk());
  EXPECT_FALSE(current->has_value());
}

TEST_F(EtcdLimitsTest, NospaceAlarmRefusesWritesWhileReadsWork) {
  ASSERT_NO_FATAL_FAILURE(StartEtcd({"--quota-backend-bytes=2097152"}));
  absl::StatusOr<std::unique_ptr<Store>> store = OpenEtcdStore(options_);
  ASSERT_THAT(store, IsOk());
  ASSERT_THAT((*store)->Write(PutRequest("kept", "still readable")), IsOk());
  absl::Status refused;
  for (int i = 0; i < 200 && refused.ok(); ++i) {
    refused = (*store)->Write(PutRequest(absl::StrCat("fill/", i),
                                         std::string(64 << 10, 'x')))
                  .status();
  }
  EXPECT_THAT(refused, StatusIs(absl::StatusCode::kResourceExhausted, "NOSPACE"));
  absl::StatusOr<std::optional<Record>> kept = (*store)->ReadCurrent("kept", true);
  ASSERT_THAT(kept, IsOk());
  ASSERT_TRUE(kept->has_value());
  EXPECT_EQ((*kept)->content, "still readable");
  EXPECT_THAT((*store)->List("", "", 10, false), IsOk());
}

// --- Losing the quorum -----------------------------------------------------------

// A three-member cluster of the test's own, under TEST_TMPDIR.
absl::StatusOr<std::unique_ptr<EtcdCluster>> StartThreeMembers() {
  EtcdClusterOptions cluster_options;
  cluster_options.members = 3;
  return EtcdCluster::Start(TestPath("etcd"), cluster_options);
}

// The Txns `member` has answered, from its /metrics (etcd's gRPC counters).
absl::StatusOr<int64_t> TxnsServed(const EtcdCluster& etcd, int member) {
  const std::string endpoint = etcd.ClientEndpoint(member);
  int port = 0;
  if (!absl::SimpleAtoi(endpoint.substr(endpoint.rfind(':') + 1), &port)) {
    return absl::InternalError(absl::StrCat("no port in ", endpoint));
  }
  HttpClient client(port);
  ETAGD_ASSIGN_OR_RETURN(HttpReply reply, client.Send("GET", "/metrics"));
  int64_t served = 0;
  for (absl::string_view line : absl::StrSplit(reply.body, '\n')) {
    if (!absl::StartsWith(line, "grpc_server_handled_total{") ||
        !absl::StrContains(line, "grpc_method=\"Txn\"")) {
      continue;
    }
    double count = 0;
    if (!absl::SimpleAtod(line.substr(line.rfind(' ') + 1), &count)) {
      return absl::InternalError(absl::StrCat("unreadable metric: ", line));
    }
    served += static_cast<int64_t>(count);
  }
  return served;
}

// Replicas given the same endpoints start at a random one each, so that
// they spread over the members instead of all sending to the first (whose
// every write is forwarded if it is a follower). Each store's first call,
// its format check, is a Txn: of 12 stores, all choose one member with
// probability 3 * 3^-12 (under 10^-5).
TEST(EtcdEndpointsTest, StoresGivenTheSameEndpointsSpreadOverTheMembers) {
  absl::StatusOr<std::unique_ptr<EtcdCluster>> cluster = StartThreeMembers();
  ASSERT_THAT(cluster, IsOk());
  EtcdCluster& etcd = **cluster;
  std::vector<int64_t> before;
  for (int member = 0; member < etcd.size(); ++member) {
    absl::StatusOr<int64_t> served = TxnsServed(etcd, member);
    ASSERT_THAT(served, IsOk());
    before.push_back(*served);
  }
  std::vector<std::unique_ptr<Store>> stores;
  for (int i = 0; i < 12; ++i) {
    absl::StatusOr<std::unique_ptr<Store>> store = OpenEtcdStore(OptionsFor(etcd));
    ASSERT_THAT(store, IsOk());
    stores.push_back(*std::move(store));
  }
  int members_used = 0;
  for (int member = 0; member < etcd.size(); ++member) {
    absl::StatusOr<int64_t> served = TxnsServed(etcd, member);
    ASSERT_THAT(served, IsOk());
    if (*served > before[member]) ++members_used;
  }
  EXPECT_GE(members_used, 2);
}

// Without a quorum a write cannot commit, and etagd may not be able to find
// out whether it will: it answers UNAVAILABLE, and whatever it says about
// the outcome holds once the quorum is back. The quorum goes before the
// write reads the current record, or between that read and its Txn.
class EtcdQuorumTest : public testing::TestWithParam<bool> {};

TEST_P(EtcdQuorumTest, WithoutAQuorumAWriteIsUnavailableAndWhatItSaysHolds) {
  const bool lose_after_read = GetParam();
  absl::StatusOr<std::unique_ptr<EtcdCluster>> cluster = StartThreeMembers();
  ASSERT_THAT(cluster, IsOk());
  EtcdCluster& etcd = **cluster;
  auto lose_quorum = [&etcd] {
    EXPECT_THAT(etcd.Pause(1), IsOk());
    EXPECT_THAT(etcd.Pause(2), IsOk());
  };
  EtcdStoreOptions options = OptionsFor(etcd);
  options.endpoints = {etcd.ClientEndpoint(0)};
  options.call_timeout = absl::Seconds(1);
  options.read_attempts = 2;
  bool armed = false;
  if (lose_after_read) {
    options.before_send_for_test = [&armed, &lose_quorum] {
      if (armed) lose_quorum();
    };
  }
  absl::StatusOr<std::unique_ptr<Store>> store = OpenEtcdStore(options);
  ASSERT_THAT(store, IsOk());
  absl::StatusOr<Record> before = (*store)->Write(PutRequest("a", "before"));
  ASSERT_THAT(before, IsOk());

  if (lose_after_read) {
    armed = true;
  } else {
    lose_quorum();
  }
  absl::StatusOr<Record> during =
      (*store)->Write(PutRequest("a", "during", before->revision));
  armed = false;
  ASSERT_THAT(during, StatusIs(absl::StatusCode::kUnavailable));
  const std::string said(during.status().message());
  const bool unknown = absl::StrContains(said, "unknown");
  EXPECT_TRUE(unknown || absl::StrContains(said, "not applied")) << said;
  std::cerr << "without quorum: " << said << "\n";

  ASSERT_THAT(etcd.Resume(1), IsOk());
  ASSERT_THAT(etcd.Resume(2), IsOk());
  ASSERT_THAT(etcd.WaitHealthy(absl::Seconds(30)), IsOk());
  absl::StatusOr<std::unique_ptr<Store>> reader = OpenEtcdStore(OptionsFor(etcd));
  ASSERT_THAT(reader, IsOk());
  absl::StatusOr<std::optional<Record>> after = (*reader)->ReadCurrent("a", true);
  ASSERT_THAT(after, IsOk());
  ASSERT_TRUE(after->has_value());
  if (!unknown) {
    EXPECT_EQ((*after)->content, "before") << said;
    EXPECT_EQ((*after)->revision, before->revision);
  } else {
    EXPECT_THAT((*after)->content, testing::AnyOf("before", "during"));
  }
  // Either way the store works again.
  EXPECT_THAT((*store)->Write(PutRequest("b", "after")), IsOk());
}

INSTANTIATE_TEST_SUITE_P(BeforeOrAfterTheRead, EtcdQuorumTest, testing::Bool());

// --- Members that go away ---------------------------------------------------------

// A store given every member's endpoint moves on when the one it talks to
// dies: reads retry on the next member, and a write that finds no
// connection is sent to the next one (it was never sent, so it may be).
TEST(EtcdFailoverTest, AStoreMovesOnWhenItsMemberDies) {
  absl::StatusOr<std::unique_ptr<EtcdCluster>> cluster = StartThreeMembers();
  ASSERT_THAT(cluster, IsOk());
  EtcdCluster& etcd = **cluster;
  EtcdStoreOptions options = OptionsFor(etcd);
  options.call_timeout = absl::Seconds(2);
  absl::StatusOr<std::unique_ptr<Store>> store = OpenEtcdStore(options);
  ASSERT_THAT(store, IsOk());
  absl::StatusOr<Record> first = (*store)->Write(PutRequest("a", "1"));
  ASSERT_THAT(first, IsOk());

  for (int member = 0; member < 2; ++member) {
    // Whichever member the store uses, one of the first two goes.
    ASSERT_THAT(etcd.Kill(member), IsOk());
    ASSERT_THAT(etcd.WaitHealthy(absl::Seconds(30)), IsOk());
    absl::StatusOr<std::optional<Record>> read = (*store)->ReadCurrent("a", true);
    ASSERT_THAT(read, IsOk());
    absl::StatusOr<Record> written = (*store)->Write(
        PutRequest("a", std::to_string(member + 2), (*read)->revision));
    ASSERT_THAT(written, IsOk());
    ASSERT_THAT(etcd.Restart(member), IsOk());
  }
  absl::StatusOr<std::optional<Record>> last = (*store)->ReadCurrent("a", true);
  ASSERT_THAT(last, IsOk());
  EXPECT_EQ((*last)->content, "3");
  EXPECT_EQ((*last)->version, 3);
}

// --- The leader goes ---------------------------------------------------------------

class EtcdLeaderFaultTest : public testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<EtcdCluster>> cluster = StartThreeMembers();
    ASSERT_THAT(cluster, IsOk());
    etcd_ = *std::move(cluster);
    options_ = OptionsFor(*etcd_);
    options_.call_timeout = absl::Seconds(2);
  }
  void TearDown() override {
    etcd_.reset();
    std::error_code ignored;  // Only disk space is at stake.
    std::filesystem::remove_all(TestPath("etcd"), ignored);
  }

  std::unique_ptr<EtcdCluster> etcd_;
  EtcdStoreOptions options_;
};

// Writers keep creating names of their own while etcd's leader is killed
// (and later restarted): every write acknowledged is there afterwards with
// the entity-tag it was acknowledged with, and every one said not applied
// is absent.
TEST_F(EtcdLeaderFaultTest, NoAcknowledgedWriteIsLostWhenTheLeaderDies) {
  absl::StatusOr<std::unique_ptr<Store>> store = OpenEtcdStore(options_);
  ASSERT_THAT(store, IsOk());
  constexpr int kWriters = 8;
  std::atomic<bool> stop(false);
  struct Outcome {
    std::string name;
    absl::StatusOr<Record> result;
  };
  std::vector<std::vector<Outcome>> outcomes(kWriters);
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      for (int i = 0; !stop.load(); ++i) {
        Outcome outcome{absl::StrCat("w", w, "/", i), absl::UnknownError("")};
        outcome.result = (*store)->Write(PutRequest(outcome.name, outcome.name));
        outcomes[w].push_back(std::move(outcome));
      }
    });
  }
  absl::SleepFor(absl::Milliseconds(500));
  absl::StatusOr<int> leader = etcd_->Leader(absl::Seconds(10));
  ASSERT_THAT(leader, IsOk());
  ASSERT_THAT(etcd_->Kill(*leader), IsOk());
  absl::SleepFor(absl::Seconds(3));
  stop.store(true);
  for (std::thread& writer : writers) writer.join();
  ASSERT_THAT(etcd_->Restart(*leader), IsOk());
  ASSERT_THAT(etcd_->WaitHealthy(absl::Seconds(30)), IsOk());

  absl::StatusOr<std::unique_ptr<Store>> reader = OpenEtcdStore(options_);
  ASSERT_THAT(reader, IsOk());
  int acknowledged = 0;
  int failed = 0;
  for (const std::vector<Outcome>& list : outcomes) {
    for (const Outcome& outcome : list) {
      absl::StatusOr<std::optional<Record>> now = (*reader)->ReadCurrent(outcome.name, true);
      ASSERT_THAT(now, IsOk());
      if (outcome.result.ok()) {
        ++acknowledged;
        ASSERT_TRUE(now->has_value()) << outcome.name << " was acknowledged, then lost";
        EXPECT_EQ((*now)->etag, outcome.result->etag) << outcome.name;
        EXPECT_EQ((*now)->content, outcome.name);
        continue;
      }
      ++failed;
      EXPECT_THAT(outcome.result, StatusIs(absl::StatusCode::kUnavailable)) << outcome.name;
      if (absl::StrContains(outcome.result.status().message(), "not applied") ||
          absl::StrContains(outcome.result.status().message(), "did not apply")) {
        EXPECT_FALSE(now->has_value()) << outcome.name << " said not applied, but was";
      }
    }
  }
  EXPECT_GT(acknowledged, 50);
  std::cerr << acknowledged << " writes acknowledged and kept, " << failed
            << " failed, around the leader's death\n";
}

// A write in flight when etcd's leader stops (SIGSTOP, racing with the
// write's Txn): OK only if it was applied, UNAVAILABLE otherwise (saying
// "not applied" only if it was not); never ABORTED or FAILED_PRECONDITION,
// for there is no other writer.
TEST_F(EtcdLeaderFaultTest, AWriteInFlightWhenTheLeaderStopsIsAnsweredTruthfully) {
  int paused_member = -1;
  std::thread pauser;
  absl::Duration pause_after = absl::ZeroDuration();
  options_.before_send_for_test = [&] {
    absl::StatusOr<int> leader = etcd_->Leader(absl::Seconds(10));
    ASSERT_THAT(leader, IsOk());
    paused_member = *leader;
    pauser = std::thread([this, member = *leader, after = pause_after] {
      absl::SleepFor(after);
      EXPECT_THAT(etcd_->Pause(member), IsOk());
    });
  };
  absl::StatusOr<std::unique_ptr<Store>> store = OpenEtcdStore(options_);
  ASSERT_THAT(store, IsOk());
  EtcdStoreOptions plain = OptionsFor(*etcd_);
  int outcomes[3] = {0, 0, 0};  // applied, not applied, unknown
  int value = 0;
  for (int round = 0; round < 5; ++round) {
    pause_after = absl::Microseconds(round * 700);
    absl::StatusOr<std::unique_ptr<Store>> reader = OpenEtcdStore(plain);
    ASSERT_THAT(reader, IsOk());
    absl::StatusOr<std::optional<Record>> before = (*reader)->ReadCurrent("doc", true);
    ASSERT_THAT(before, IsOk());
    const int64_t expected = before->has_value() ? (*before)->revision : 0;
    const std::string next = std::to_string(value + 1);
    absl::StatusOr<Record> written = (*store)->Write(PutRequest("doc", next, expected));
    if (pauser.joinable()) pauser.join();
    ASSERT_GE(paused_member, 0);
    ASSERT_THAT(etcd_->Resume(paused_member), IsOk());
    ASSERT_THAT(etcd_->WaitHealthy(absl::Seconds(30)), IsOk());
    absl::StatusOr<std::optional<Record>> after = (*reader)->ReadCurrent("doc", true);
    ASSERT_THAT(after, IsOk());
    ASSERT_TRUE(after->has_value() || !written.ok());
    const bool applied = after->has_value() && (*after)->content == next;
    if (written.ok()) {
      ++outcomes[0];
      EXPECT_TRUE(applied);
      EXPECT_EQ((*after)->etag, written->etag);
    } else {
      ASSERT_THAT(written, StatusIs(absl::StatusCode::kUnavailable));
      const std::string said(written.status().message());
      if (absl::StrContains(said, "unknown")) {
        ++outcomes[2];
      } else {
        ++outcomes[1];
        EXPECT_FALSE(applied) << said;
      }
    }
    if (applied) ++value;
  }
  std::cerr << "writes in flight as the leader stopped: " << outcomes[0]
            << " applied and answered OK, " << outcomes[1] << " not applied, "
            << outcomes[2] << " left unknown\n";
}

// --- TLS ------------------------------------------------------------------------

class EtcdTlsTest : public testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TestPki> pki = MakeTestPki(TestPath("pki"));
    ASSERT_THAT(pki, IsOk());
    pki_ = *std::move(pki);
    EtcdClusterOptions cluster_options;
    cluster_options.tls_cert_file = pki_.server_cert;
    cluster_options.tls_key_file = pki_.server_key;
    cluster_options.tls_ca_file = pki_.ca_cert;
    cluster_options.tls_require_client_cert = true;
    cluster_options.tls_client_cert_file = pki_.client_cert;
    cluster_options.tls_client_key_file = pki_.client_key;
    absl::StatusOr<std::unique_ptr<EtcdCluster>> cluster =
        EtcdCluster::Start(TestPath("etcd"), cluster_options);
    ASSERT_THAT(cluster, IsOk());
    cluster_ = *std::move(cluster);
    options_ = OptionsFor(*cluster_);
    options_.dial_timeout = absl::Seconds(2);
    options_.ca_file = pki_.ca_cert;
  }

  TestPki pki_;
  std::unique_ptr<EtcdCluster> cluster_;
  EtcdStoreOptions options_;
};

TEST_F(EtcdTlsTest, MutualTlsReadsAndWrites) {
  options_.cert_file = pki_.client_cert;
  options_.key_file = pki_.client_key;
  absl::StatusOr<std::unique_ptr<Store>> store = OpenEtcdStore(options_);
  ASSERT_THAT(store, IsOk());
  ASSERT_THAT((*store)->Write(PutRequest("a", "over TLS")), IsOk());
  absl::StatusOr<std::optional<Record>> current = (*store)->ReadCurrent("a", true);
  ASSERT_THAT(current, IsOk());
  EXPECT_EQ((*current)->content, "over TLS");
}

TEST_F(EtcdTlsTest, WithoutAClientCertificateTheStoreCannotConnect) {
  EXPECT_THAT(OpenEtcdStore(options_), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(EtcdTlsTest, ACertificateFromAnotherCaCannotConnect) {
  options_.cert_file = pki_.other_client_cert;
  options_.key_file = pki_.other_client_key;
  EXPECT_THAT(OpenEtcdStore(options_), StatusIs(absl::StatusCode::kUnavailable));
}

TEST_F(EtcdTlsTest, AnUnreadableCaFileIsNamed) {
  options_.ca_file = TestPath("missing-ca.pem");
  EXPECT_THAT(OpenEtcdStore(options_),
              StatusIs(absl::StatusCode::kFailedPrecondition, "missing-ca.pem"));
}

// --- Authentication -----------------------------------------------------------

// Turns etcd's authentication on, with a root user and a user who may do
// nothing, as etcdctl's user add, role add, user grant-role and auth
// enable do.
absl::Status EnableAuth(const EtcdCluster& cluster) {
  auto auth = etcdserverpb::Auth::NewStub(grpc::CreateChannel(
      cluster.ClientEndpoint(0), grpc::InsecureChannelCredentials()));
  std::vector<std::function<grpc::Status(grpc::ClientContext&)>> steps = {
      [&](grpc::ClientContext& c) {
        etcdserverpb::AuthUserAddRequest request;
        request.set_name("root");
        request.set_password("root-secret");
        etcdserverpb::AuthUserAddResponse response;
        return auth->UserAdd(&c, request, &response);
      },
      [&](grpc::ClientContext& c) {
        etcdserverpb::AuthRoleAddRequest request;
        request.set_name("root");
        etcdserverpb::AuthRoleAddResponse response;
        return auth->RoleAdd(&c, request, &response);
      },
      [&](grpc::ClientContext& c) {
        etcdserverpb::AuthUserGrantRoleRequest request;
        request.set_user("root");
        request.set_role("root");
        etcdserverpb::AuthUserGrantRoleResponse response;
        return auth->UserGrantRole(&c, request, &response);
      },
      [&](grpc::ClientContext& c) {
        etcdserverpb::AuthUserAddRequest request;
        request.set_name("nobody");
        request.set_password("nobody-secret");
        etcdserverpb::AuthUserAddResponse response;
        return auth->UserAdd(&c, request, &response);
      },
      [&](grpc::ClientContext& c) {
        etcdserverpb::AuthEnableRequest request;
        etcdserverpb::AuthEnableResponse response;
        return auth->AuthEnable(&c, request, &response);
      },
  };
  for (const auto& step : steps) {
    grpc::Status status = RawCall(step);
    if (!status.ok()) return absl::InternalError(status.error_message());
  }
  return absl::OkStatus();
}

class EtcdAuthTest : public EtcdLimitsTest {
 protected:
  void SetUp() override {
    ASSERT_NO_FATAL_FAILURE(StartEtcd({}));
    ASSERT_THAT(EnableAuth(*cluster_), IsOk());
  }
};

TEST_F(EtcdAuthTest, AUserWithAccessReadsAndWrites) {
  options_.username = "root";
  options_.password = "root-secret";
  absl::StatusOr<std::unique_ptr<Store>> store = OpenEtcdStore(options_);
  ASSERT_THAT(store, IsOk());
  ASSERT_THAT((*store)->Write(PutRequest("a", "1")), IsOk());
  absl::StatusOr<std::optional<Record>> current = (*store)->ReadCurrent("a", true);
  ASSERT_THAT(current, IsOk());
  EXPECT_EQ((*current)->content, "1");
}

// etcd forgets every token when authentication is turned off and on again;
// the store authenticates again and its calls go on.
TEST_F(EtcdAuthTest, ARevokedTokenIsReplaced) {
  options_.username = "root";
  options_.password = "root-secret";
  absl::StatusOr<std::unique_ptr<Store>> store = OpenEtcdStore(options_);
  ASSERT_THAT(store, IsOk());
  absl::StatusOr<Record> first = (*store)->Write(PutRequest("a", "1"));
  ASSERT_THAT(first, IsOk());

  auto auth = etcdserverpb::Auth::NewStub(grpc::CreateChannel(
      cluster_->ClientEndpoint(0), grpc::InsecureChannelCredentials()));
  etcdserverpb::AuthenticateRequest login;
  login.set_name("root");
  login.set_password("root-secret");
  etcdserverpb::AuthenticateResponse token;
  ASSERT_TRUE(RawCall([&](grpc::ClientContext& c) {
                return auth->Authenticate(&c, login, &token);
              }).ok());
  etcdserverpb::AuthDisableResponse disabled;
  ASSERT_TRUE(RawCall([&](grpc::ClientContext& c) {
                c.AddMetadata("token", token.token());
                return auth->AuthDisable(&c, etcdserverpb::AuthDisableRequest(),
                                         &disabled);
              }).ok());
  etcdserverpb::AuthEnableResponse enabled;
  ASSERT_TRUE(RawCall([&](grpc::ClientContext& c) {
                return auth->AuthEnable(&c, etcdserverpb::AuthEnableRequest(), &enabled);
              }).ok());

  absl::StatusOr<std::optional<Record>> read = (*store)->ReadCurrent("a", true);
  ASSERT_THAT(read, IsOk());
  EXPECT_EQ((*read)->content, "1");
  EXPECT_THAT((*store)->Write(PutRequest("a", "2", first->revision)), IsOk());
}

TEST_F(EtcdAuthTest, WithoutCredentialsOpeningIsRefused) {
  EXPECT_THAT(OpenEtcdStore(options_),
              StatusIs(absl::StatusCode::kFailedPrecondition, "--etcd_user"));
}

TEST_F(EtcdAuthTest, AWrongPasswordIsRefusedClearly) {
  options_.username = "root";
  options_.password = "wrong";
  EXPECT_THAT(OpenEtcdStore(options_),
              StatusIs(absl::StatusCode::kFailedPrecondition, "user name or password"));
}

TEST_F(EtcdAuthTest, AUserWithoutAccessToThePrefixIsRefusedClearly) {
  options_.username = "nobody";
  options_.password = "nobody-secret";
  EXPECT_THAT(OpenEtcdStore(options_),
              StatusIs(absl::StatusCode::kFailedPrecondition, "denied"));
}

}  // namespace
}  // namespace etagd
