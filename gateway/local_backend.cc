#include "gateway/local_backend.h"

#include <memory>
#include <utility>

#include "absl/types/optional.h"
#include "gateway/failed_watch_stream.h"
#include "service/error_details.h"
#include "service/token_file.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

class LocalBackend final : public Backend {
 public:
  LocalBackend(Server& server, WatchOpener watches)
      : server_(server), watches_(std::move(watches)) {}

  void Get(const Caller& caller, const GetQuery& query,
           Callback<GetAnswer> done) override {
    if (absl::Status access = Check(caller, Rpc::kGetResource, query.name);
        !access.ok()) {
      return done(access);
    }
    ResourceService& core = server_.core();
    if (!core.GetsWithoutBlocking(query)) return done(core.Get(query));
    core.GetAsync(query, std::move(done));
  }

  void Put(const Caller& caller, const v1::PutResourceRequest& request,
           Callback<v1::PutResourceResponse> done) override {
    if (absl::Status access = Check(caller, Rpc::kPutResource, request.name());
        !access.ok()) {
      return done(access);
    }
    const int64_t bytes = static_cast<int64_t>(request.ByteSizeLong());
    if (!server_.write_budget().TryAcquire(bytes)) {
      return done(OverloadedError(
          "too many bytes of writes in flight (--grpc_memory_quota_mb); "
          "retry with backoff",
          kOverloadRetryDelay));
    }
    // The write outlives this call: it takes its own copy of the request.
    auto owned = std::make_shared<const v1::PutResourceRequest>(request);
    server_.writes().Put(
        *owned, [this, owned, bytes, done = std::move(done)](
                    absl::StatusOr<v1::PutResourceResponse> result) {
          server_.write_budget().Release(bytes);
          done(std::move(result));
        });
  }

  void Delete(const Caller& caller, const v1::DeleteResourceRequest& request,
              Callback<v1::DeleteResourceResponse> done) override {
    if (absl::Status access =
            Check(caller, Rpc::kDeleteResource, request.name());
        !access.ok()) {
      return done(access);
    }
    auto owned = std::make_shared<const v1::DeleteResourceRequest>(request);
    server_.writes().Delete(
        *owned, [owned, done = std::move(done)](
                    absl::StatusOr<v1::DeleteResourceResponse> result) {
          done(std::move(result));
        });
  }

  void List(const Caller& caller, const v1::ListResourcesRequest& request,
            Callback<v1::ListResourcesResponse> done) override {
    if (absl::Status access =
            Check(caller, Rpc::kListResources, request.prefix());
        !access.ok()) {
      return done(access);
    }
    done(server_.core().List(request));
  }

  void ListVersions(const Caller& caller, const v1::ListVersionsRequest& request,
                    Callback<v1::ListVersionsResponse> done) override {
    if (absl::Status access = Check(caller, Rpc::kListVersions, request.name());
        !access.ok()) {
      return done(access);
    }
    done(server_.core().ListVersions(request));
  }

  // Authorized as the gRPC Watch is (auth.h: a read of the prefix).
  std::unique_ptr<WatchStream> Watch(const Caller& caller,
                                     const v1::WatchRequest& request) override {
    if (absl::Status access = Check(caller, Rpc::kWatch, request.prefix());
        !access.ok()) {
      return NewFailedWatchStream(std::move(access));
    }
    if (watches_) return watches_(request);
    return server_.feed().Watch(request);
  }

  void CheckHealth(std::function<void(absl::Status)> done) override {
    done(server_.Health());
  }

 private:
  // auth.h's one decision, as the gRPC service makes it for a call whose
  // metadata carries the caller's bearer token (none if it is empty).
  absl::Status Check(const Caller& caller, Rpc method,
                     absl::string_view name) const {
    absl::optional<absl::string_view> token;
    if (!caller.bearer_token.empty()) token = caller.bearer_token;
    return AuthorizeWith(server_.tokens().get(), token, method, name);
  }

  Server& server_;
  const WatchOpener watches_;
};

}  // namespace

std::unique_ptr<Backend> NewLocalBackend(Server& server, WatchOpener watches) {
  return std::make_unique<LocalBackend>(server, std::move(watches));
}

}  // namespace etagd
