#include <chrono>
#include <memory>
#include <utility>

#include "absl/strings/str_cat.h"
#include "etagd/v1/etagd.grpc.pb.h"
#include "gateway/backend.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "service/grpc_status.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

// The state of one call; it owns itself until gRPC reports completion.
template <typename Request, typename Response>
struct Call {
  grpc::ClientContext context;
  Request request;
  Response response;
  Backend::Callback<Response> done;
};

class GrpcBackend final : public Backend {
 public:
  GrpcBackend(std::shared_ptr<grpc::Channel> channel, absl::Duration timeout)
      : stub_(v1::Resources::NewStub(channel)),
        health_(grpc::health::v1::Health::NewStub(channel)),
        timeout_(timeout) {}

  void Get(const Caller& caller, const v1::GetResourceRequest& request,
           Callback<v1::GetResourceResponse> done) override {
    Start(caller, request, std::move(done), [this](auto* c, auto callback) {
      stub_->async()->GetResource(&c->context, &c->request, &c->response,
                                  std::move(callback));
    });
  }
  void Put(const Caller& caller, const v1::PutResourceRequest& request,
           Callback<v1::PutResourceResponse> done) override {
    Start(caller, request, std::move(done), [this](auto* c, auto callback) {
      stub_->async()->PutResource(&c->context, &c->request, &c->response,
                                  std::move(callback));
    });
  }
  void Delete(const Caller& caller, const v1::DeleteResourceRequest& request,
              Callback<v1::DeleteResourceResponse> done) override {
    Start(caller, request, std::move(done), [this](auto* c, auto callback) {
      stub_->async()->DeleteResource(&c->context, &c->request, &c->response,
                                     std::move(callback));
    });
  }
  void List(const Caller& caller, const v1::ListResourcesRequest& request,
            Callback<v1::ListResourcesResponse> done) override {
    Start(caller, request, std::move(done), [this](auto* c, auto callback) {
      stub_->async()->ListResources(&c->context, &c->request, &c->response,
                                    std::move(callback));
    });
  }
  void ListVersions(const Caller& caller, const v1::ListVersionsRequest& request,
                    Callback<v1::ListVersionsResponse> done) override {
    Start(caller, request, std::move(done), [this](auto* c, auto callback) {
      stub_->async()->ListVersions(&c->context, &c->request, &c->response,
                                   std::move(callback));
    });
  }

  void CheckHealth(std::function<void(absl::Status)> done) override {
    grpc::health::v1::HealthCheckRequest request;
    request.set_service(v1::Resources::service_full_name());
    Start(Caller(), request,
          Callback<grpc::health::v1::HealthCheckResponse>(
              [done = std::move(done)](
                  absl::StatusOr<grpc::health::v1::HealthCheckResponse> r) {
                if (!r.ok()) return done(r.status());
                if (r->status() != grpc::health::v1::HealthCheckResponse::SERVING) {
                  return done(absl::UnavailableError("etagd is not serving"));
                }
                done(absl::OkStatus());
              }),
          [this](auto* c, auto callback) {
            health_->async()->Check(&c->context, &c->request, &c->response,
                                    std::move(callback));
          });
  }

 private:
  template <typename Request, typename Response, typename Invoke>
  void Start(const Caller& caller, const Request& request,
             Callback<Response> done, Invoke invoke) {
    auto* call = new Call<Request, Response>();
    if (!caller.bearer_token.empty()) {
      call->context.AddMetadata("authorization",
                                absl::StrCat("Bearer ", caller.bearer_token));
    }
    call->request = request;
    call->done = std::move(done);
    call->context.set_deadline(std::chrono::system_clock::now() +
                               absl::ToChronoMilliseconds(timeout_));
    invoke(call, [call](grpc::Status status) {
      std::unique_ptr<Call<Request, Response>> owned(call);
      if (status.ok()) {
        owned->done(std::move(owned->response));
      } else {
        owned->done(FromGrpcStatus(status));
      }
    });
  }

  std::unique_ptr<v1::Resources::Stub> stub_;
  std::unique_ptr<grpc::health::v1::Health::Stub> health_;
  const absl::Duration timeout_;
};

}  // namespace

std::unique_ptr<Backend> NewGrpcBackend(std::shared_ptr<grpc::Channel> channel,
                                        absl::Duration timeout) {
  return std::make_unique<GrpcBackend>(std::move(channel), timeout);
}

}  // namespace etagd
