#ifndef ETAGD_GATEWAY_WATCH_CHANNEL_POOL_H_
#define ETAGD_GATEWAY_WATCH_CHANNEL_POOL_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "etagd/v1/etagd.grpc.pb.h"
#include "grpcpp/channel.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace etagd {

// Spreads etagd-gateway's long-lived watches over several gRPC channels,
// each its own TCP connection. etagd limits watchers per connection
// (--watch_max_watchers_per_connection), and one gateway carries the event
// streams of many web clients: with N channels the gateway can hold N times
// that limit. A watch goes to the channel with the fewest open watches.
// Thread-safe; leases may outlive the pool.
class WatchChannelPool {
 public:
  // A watch's place on one channel, given back when the lease is destroyed.
  class Lease {
   public:
    Lease(Lease&&) = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();

    etagd::v1::Resources::Stub& stub() const;
    // The channel's position in the pool.
    size_t channel() const { return index_; }

   private:
    friend class WatchChannelPool;
    struct Slots;
    Lease(std::shared_ptr<Slots> slots, size_t index)
        : slots_(std::move(slots)), index_(index) {}

    std::shared_ptr<Slots> slots_;
    size_t index_;
  };

  // `channels` must not be empty.
  explicit WatchChannelPool(std::vector<std::shared_ptr<grpc::Channel>> channels);

  Lease Acquire();
  // The open watches of each channel, in pool order.
  std::vector<int> Open() const;

 private:
  std::shared_ptr<Lease::Slots> slots_;
};

// `count` channels to `target`, each with its own subchannel pool, so that
// gRPC does not share one connection among them.
std::vector<std::shared_ptr<grpc::Channel>> MakeWatchChannels(
    const std::string& target,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials,
    const grpc::ChannelArguments& args, int count);

}  // namespace etagd

#endif  // ETAGD_GATEWAY_WATCH_CHANNEL_POOL_H_
