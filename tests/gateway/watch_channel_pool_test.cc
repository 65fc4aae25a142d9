// WatchChannelPool: which channel a watch gets, and when its place is
// given back. The channels never connect (gRPC connects lazily).
#include "gateway/watch_channel_pool.h"

#include <chrono>
#include <memory>
#include <optional>
#include <vector>

#include "grpcpp/client_context.h"
#include "grpcpp/security/credentials.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace etagd {
namespace {

using ::testing::ElementsAre;

WatchChannelPool PoolOf(int channels) {
  return WatchChannelPool(MakeWatchChannels(
      "127.0.0.1:1", grpc::InsecureChannelCredentials(), grpc::ChannelArguments(),
      channels));
}

TEST(WatchChannelPoolTest, AWatchGoesToTheChannelWithTheFewestOpen) {
  WatchChannelPool pool = PoolOf(3);
  std::vector<WatchChannelPool::Lease> leases;
  for (int i = 0; i < 4; ++i) leases.push_back(pool.Acquire());
  EXPECT_EQ(leases[0].channel(), 0u);
  EXPECT_EQ(leases[1].channel(), 1u);
  EXPECT_EQ(leases[2].channel(), 2u);
  EXPECT_EQ(leases[3].channel(), 0u);
  EXPECT_THAT(pool.Open(), ElementsAre(2, 1, 1));
}

TEST(WatchChannelPoolTest, AnEndedLeaseGivesItsPlaceBack) {
  WatchChannelPool pool = PoolOf(2);
  std::optional<WatchChannelPool::Lease> first = pool.Acquire();
  WatchChannelPool::Lease second = pool.Acquire();
  first.reset();
  EXPECT_THAT(pool.Open(), ElementsAre(0, 1));
  EXPECT_EQ(pool.Acquire().channel(), 0u);
}

TEST(WatchChannelPoolTest, AMovedLeaseIsGivenBackOnce) {
  WatchChannelPool pool = PoolOf(1);
  {
    WatchChannelPool::Lease lease = pool.Acquire();
    WatchChannelPool::Lease moved = std::move(lease);
    EXPECT_THAT(pool.Open(), ElementsAre(1));
  }
  EXPECT_THAT(pool.Open(), ElementsAre(0));
}

TEST(WatchChannelPoolTest, ALeaseOutlivesItsPool) {
  std::optional<WatchChannelPool> pool = PoolOf(1);
  WatchChannelPool::Lease lease = pool->Acquire();
  pool.reset();
  // Its stub still makes calls (to an address where nothing listens).
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::milliseconds(200));
  etagd::v1::GetResourceRequest request;
  etagd::v1::GetResourceResponse response;
  const grpc::Status status = lease.stub().GetResource(&context, request, &response);
  EXPECT_TRUE(status.error_code() == grpc::StatusCode::UNAVAILABLE ||
              status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
      << status.error_message();
}

}  // namespace
}  // namespace etagd
