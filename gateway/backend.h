// What the gateway needs from etagd: the API's calls, asynchronously, so no
// gateway thread waits on the service.
#ifndef ETAGD_GATEWAY_BACKEND_H_
#define ETAGD_GATEWAY_BACKEND_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "etagd/v1/etagd.pb.h"
#include "grpcpp/channel.h"
#include "service/feed/watch_stream.h"
#include "service/get_query.h"

namespace etagd {

// On whose behalf a call is made: the HTTP client's credentials, passed on
// to the service, which alone decides (service/auth.h).
struct Caller {
  // Sent as "authorization: Bearer <token>"; empty sends none.
  std::string bearer_token;
};

// Implementations are thread-safe. Each call invokes `done` exactly once, on
// any thread, possibly before the call returns.
class Backend {
 public:
  template <typename T>
  using Callback = std::function<void(absl::StatusOr<T>)>;

  virtual ~Backend() = default;

  // Resources.Get. `query`, and the name it borrows, must stay valid until
  // `done` is called.
  virtual void Get(const Caller& caller, const GetQuery& query,
                   Callback<GetAnswer> done) = 0;
  virtual void Put(const Caller& caller, const etagd::v1::PutResourceRequest& request,
                   Callback<etagd::v1::PutResourceResponse> done) = 0;
  virtual void Delete(const Caller& caller, const etagd::v1::DeleteResourceRequest& request,
                      Callback<etagd::v1::DeleteResourceResponse> done) = 0;
  virtual void List(const Caller& caller, const etagd::v1::ListResourcesRequest& request,
                    Callback<etagd::v1::ListResourcesResponse> done) = 0;
  virtual void ListVersions(const Caller& caller, const etagd::v1::ListVersionsRequest& request,
                            Callback<etagd::v1::ListVersionsResponse> done) = 0;
  // Opens a watch of the changes `request` selects (Resources.Watch). Never
  // null; every error, authorization included, comes through Next. No
  // deadline applies: it lasts until the stream is cancelled or destroyed.
  virtual std::unique_ptr<WatchStream> Watch(const Caller& caller,
                                             const etagd::v1::WatchRequest& request) = 0;
  // OK if the service reports SERVING through gRPC health checking.
  virtual void CheckHealth(std::function<void(absl::Status)> done) = 0;
};

// The Backend over a gRPC channel (etagd-gateway's, to a remote etagd),
// using gRPC's callback API. Each call but Watch has `timeout` as its
// deadline. A Watch is a client streaming reactor that reads the next
// response only when the consumer calls Next, so a slow consumer's backlog
// stays in the remote etagd's feed (and gRPC's flow control), not here.
// Watches go over `watch_channels` (see WatchChannelPool), or over `channel`
// when there are none.
std::unique_ptr<Backend> NewGrpcBackend(
    std::shared_ptr<grpc::Channel> channel, absl::Duration timeout,
    std::vector<std::shared_ptr<grpc::Channel>> watch_channels = {});

}  // namespace etagd

#endif  // ETAGD_GATEWAY_BACKEND_H_
