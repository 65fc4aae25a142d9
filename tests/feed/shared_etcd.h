// One real etcd (tests/testing/etcd_cluster.h) for a whole test binary, and
// what a test needs to use it on its own: a key prefix per test and direct
// calls that bypass the store.
#ifndef ETAGD_TESTS_FEED_SHARED_ETCD_H_
#define ETAGD_TESTS_FEED_SHARED_ETCD_H_

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "etcd/etcdserver/etcdserverpb/rpc.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "service/store/etcd/etcd_store.h"
#include "tests/testing/etcd_cluster.h"

namespace etagd {

// Register with testing::AddGlobalTestEnvironment(new SharedEtcd).
class SharedEtcd : public testing::Environment {
 public:
  void SetUp() override {
    const char* root = std::getenv("TEST_TMPDIR");
    absl::StatusOr<std::unique_ptr<EtcdCluster>> cluster = EtcdCluster::Start(
        absl::StrCat(root != nullptr ? root : "/tmp", "/shared-etcd"));
    ASSERT_TRUE(cluster.ok()) << cluster.status();
    cluster_() = *std::move(cluster);
  }
  void TearDown() override { cluster_().reset(); }

  static EtcdCluster& cluster() { return *cluster_(); }

 private:
  static std::unique_ptr<EtcdCluster>& cluster_() {
    static std::unique_ptr<EtcdCluster>* cluster =
        new std::unique_ptr<EtcdCluster>();
    return *cluster;
  }
};

// Store options over the shared etcd, under a prefix unique to the running
// test.
inline EtcdStoreOptions SharedEtcdStoreOptions() {
  const testing::TestInfo* info =
      testing::UnitTest::GetInstance()->current_test_info();
  EtcdStoreOptions options;
  options.endpoints = SharedEtcd::cluster().ClientEndpoints();
  options.prefix =
      absl::StrCat("/etagd-feed-test/", info->test_suite_name(), ".", info->name(), "/");
  options.dial_timeout = absl::Seconds(10);
  return options;
}

// etcd's KV service on member 0, bypassing the store.
inline std::unique_ptr<etcdserverpb::KV::Stub> RawEtcdKv() {
  return etcdserverpb::KV::NewStub(grpc::CreateChannel(
      SharedEtcd::cluster().ClientEndpoint(0), grpc::InsecureChannelCredentials()));
}

// etcd's current revision.
inline absl::StatusOr<int64_t> EtcdRevision() {
  etcdserverpb::RangeRequest request;
  request.set_key("/");
  request.set_count_only(true);
  etcdserverpb::RangeResponse response;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  grpc::Status status = RawEtcdKv()->Range(&context, request, &response);
  if (!status.ok()) return absl::UnavailableError(status.error_message());
  return response.header().revision();
}

// etcdctl compact `revision` --physical.
// Compacts etcd's history up to `revision`: the shared member's, or
// through `endpoint`'s member when given. `physical`: wait until the
// member has removed it.
inline absl::Status CompactEtcd(int64_t revision, const std::string& endpoint = "",
                                bool physical = true) {
  etcdserverpb::CompactionRequest request;
  request.set_revision(revision);
  request.set_physical(physical);
  etcdserverpb::CompactionResponse response;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
  grpc::Status status =
      endpoint.empty()
          ? RawEtcdKv()->Compact(&context, request, &response)
          : etcdserverpb::KV::NewStub(grpc::CreateChannel(
                                          endpoint, grpc::InsecureChannelCredentials()))
                ->Compact(&context, request, &response);
  if (!status.ok()) return absl::UnavailableError(status.error_message());
  return absl::OkStatus();
}

}  // namespace etagd

#endif  // ETAGD_TESTS_FEED_SHARED_ETCD_H_
