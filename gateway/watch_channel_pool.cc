#include "gateway/watch_channel_pool.h"

#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "grpc/grpc.h"
#include "grpcpp/create_channel.h"

namespace etagd {

struct WatchChannelPool::Lease::Slots {
  std::vector<std::unique_ptr<etagd::v1::Resources::Stub>> stubs;
  mutable absl::Mutex mu;
  std::vector<int> open ABSL_GUARDED_BY(mu);
};

WatchChannelPool::Lease::~Lease() {
  if (slots_ == nullptr) return;  // Moved from.
  absl::MutexLock lock(&slots_->mu);
  --slots_->open[index_];
}

etagd::v1::Resources::Stub& WatchChannelPool::Lease::stub() const {
  return *slots_->stubs[index_];
}

WatchChannelPool::WatchChannelPool(
    std::vector<std::shared_ptr<grpc::Channel>> channels)
    : slots_(std::make_shared<Lease::Slots>()) {
  for (const std::shared_ptr<grpc::Channel>& channel : channels) {
    slots_->stubs.push_back(etagd::v1::Resources::NewStub(channel));
  }
  absl::MutexLock lock(&slots_->mu);
  slots_->open.assign(slots_->stubs.size(), 0);
}

WatchChannelPool::Lease WatchChannelPool::Acquire() {
  absl::MutexLock lock(&slots_->mu);
  size_t least = 0;
  for (size_t i = 1; i < slots_->open.size(); ++i) {
    if (slots_->open[i] < slots_->open[least]) least = i;
  }
  ++slots_->open[least];
  return Lease(slots_, least);
}

std::vector<int> WatchChannelPool::Open() const {
  absl::MutexLock lock(&slots_->mu);
  return slots_->open;
}

std::vector<std::shared_ptr<grpc::Channel>> MakeWatchChannels(
    const std::string& target,
    const std::shared_ptr<grpc::ChannelCredentials>& credentials,
    const grpc::ChannelArguments& args, int count) {
  grpc::ChannelArguments own = args;
  own.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  for (int i = 0; i < count; ++i) {
    channels.push_back(grpc::CreateCustomChannel(target, credentials, own));
  }
  return channels;
}

}  // namespace etagd
