#include "tests/testing/etcd_cluster.h"

#include <filesystem>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

// A put through `endpoint`, waiting at most `timeout`.
grpc::Status Put(const std::string& endpoint, const std::string& key,
                 const std::string& value,
                 absl::Duration timeout = absl::Seconds(10)) {
  auto kv = etcdserverpb::KV::NewStub(
      grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  etcdserverpb::PutRequest request;
  request.set_key(key);
  request.set_value(value);
  etcdserverpb::PutResponse response;
  return kv->Put(&context, request, &response);
}

// The value of `key` read linearizably through `endpoint` ("" if absent,
// "error: ..." if the read fails).
std::string Get(const std::string& endpoint, const std::string& key) {
  auto kv = etcdserverpb::KV::NewStub(
      grpc::CreateChannel(endpoint, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  etcdserverpb::RangeRequest request;
  request.set_key(key);
  etcdserverpb::RangeResponse response;
  grpc::Status status = kv->Range(&context, request, &response);
  if (!status.ok()) return "error: " + status.error_message();
  return response.kvs_size() == 0 ? std::string() : response.kvs(0).value();
}

TEST(EtcdClusterTest, SingleMemberServesReadsAndWrites) {
  absl::StatusOr<std::unique_ptr<EtcdCluster>> cluster =
      EtcdCluster::Start(TestPath("etcd"));
  ASSERT_THAT(cluster, IsOk());
  const std::string endpoint = (*cluster)->ClientEndpoint(0);
  ASSERT_TRUE(Put(endpoint, "k", "v").ok());
  EXPECT_EQ(Get(endpoint, "k"), "v");
}

// A suite starts many clusters; each member preallocates 64 MiB of log.
TEST(EtcdClusterTest, DestroyingItRemovesItsMembersData) {
  const std::string directory = TestPath("etcd");
  {
    absl::StatusOr<std::unique_ptr<EtcdCluster>> cluster =
        EtcdCluster::Start(directory);
    ASSERT_THAT(cluster, IsOk());
    ASSERT_TRUE(Put((*cluster)->ClientEndpoint(0), "k", "v").ok());
  }
  int64_t bytes = 0;
  for (const auto& entry :
       std::filesystem::recursive_directory_iterator(directory)) {
    if (entry.is_regular_file() && entry.path().extension() != ".log") {
      bytes += static_cast<int64_t>(entry.file_size());
    }
  }
  EXPECT_EQ(bytes, 0);
}

TEST(EtcdClusterTest, RestartedMemberKeepsItsData) {
  absl::StatusOr<std::unique_ptr<EtcdCluster>> cluster =
      EtcdCluster::Start(TestPath("etcd"));
  ASSERT_THAT(cluster, IsOk());
  ASSERT_TRUE(Put((*cluster)->ClientEndpoint(0), "k", "kept").ok());
  ASSERT_THAT((*cluster)->Kill(0), IsOk());
  ASSERT_THAT((*cluster)->Restart(0), IsOk());
  EXPECT_EQ(Get((*cluster)->ClientEndpoint(0), "k"), "kept");
}

TEST(EtcdClusterTest, ThreeMembersServeWithOneKilledAndOnePaused) {
  EtcdClusterOptions options;
  options.members = 3;
  absl::StatusOr<std::unique_ptr<EtcdCluster>> cluster =
      EtcdCluster::Start(TestPath("etcd"), options);
  ASSERT_THAT(cluster, IsOk());
  EtcdCluster& etcd = **cluster;
  ASSERT_TRUE(Put(etcd.ClientEndpoint(0), "k", "1").ok());
  EXPECT_EQ(Get(etcd.ClientEndpoint(2), "k"), "1");

  // Two of three keep a quorum.
  ASSERT_THAT(etcd.Kill(0), IsOk());
  ASSERT_THAT(etcd.WaitHealthy(absl::Seconds(30)), IsOk());
  ASSERT_TRUE(Put(etcd.ClientEndpoint(1), "k", "2").ok());

  // With one killed and one paused there is no quorum: a write times out.
  ASSERT_THAT(etcd.Pause(2), IsOk());
  EXPECT_FALSE(Put(etcd.ClientEndpoint(1), "k", "lost?", absl::Seconds(1)).ok());

  ASSERT_THAT(etcd.Resume(2), IsOk());
  ASSERT_THAT(etcd.Restart(0), IsOk());
  ASSERT_THAT(etcd.WaitHealthy(absl::Seconds(30)), IsOk());
  // The write without quorum may still have been applied once the quorum
  // came back: etcd's own "outcome unknown".
  EXPECT_THAT(Get(etcd.ClientEndpoint(0), "k"), testing::AnyOf("2", "lost?"));
}

TEST(EtcdClusterTest, StartWithoutTheBinaryFailsClearly) {
  EtcdClusterOptions options;
  options.etcd_path = "/nonexistent/etcd";
  EXPECT_THAT(EtcdCluster::Start(TestPath("etcd"), options),
              StatusIs(absl::StatusCode::kFailedPrecondition, "etcd-server"));
}

}  // namespace
}  // namespace etagd
