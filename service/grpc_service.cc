#include "service/grpc_service.h"

#include <utility>

#include "absl/status/statusor.h"

#include "service/grpc_status.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

template <typename Response>
grpc::Status Reply(absl::StatusOr<Response> result, Response* response) {
  if (!result.ok()) return ToGrpcStatus(result.status());
  *response = *std::move(result);
  return grpc::Status::OK;
}

}  // namespace

// Answers on the calling thread.
template <typename Response>
grpc::ServerUnaryReactor* Inline(grpc::CallbackServerContext* context,
                                 absl::StatusOr<Response> result,
                                 Response* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(Reply(std::move(result), response));
  return reactor;
}

grpc::ServerUnaryReactor* GrpcResourcesService::GetResource(
    grpc::CallbackServerContext* context, const v1::GetResourceRequest* request,
    v1::GetResourceResponse* response) {
  return Inline(context, core_.Get(*request), response);
}

grpc::ServerUnaryReactor* GrpcResourcesService::PutResource(
    grpc::CallbackServerContext* context, const v1::PutResourceRequest* request,
    v1::PutResourceResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // The request and response stay valid until Finish().
  writers_.Schedule([this, request, response, reactor] {
    reactor->Finish(Reply(core_.Put(*request), response));
  });
  return reactor;
}

grpc::ServerUnaryReactor* GrpcResourcesService::DeleteResource(
    grpc::CallbackServerContext* context,
    const v1::DeleteResourceRequest* request,
    v1::DeleteResourceResponse* response) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  writers_.Schedule([this, request, response, reactor] {
    reactor->Finish(Reply(core_.Delete(*request), response));
  });
  return reactor;
}

grpc::ServerUnaryReactor* GrpcResourcesService::ListResources(
    grpc::CallbackServerContext* context,
    const v1::ListResourcesRequest* request,
    v1::ListResourcesResponse* response) {
  return Inline(context, core_.List(*request), response);
}

grpc::ServerUnaryReactor* GrpcResourcesService::ListVersions(
    grpc::CallbackServerContext* context, const v1::ListVersionsRequest* request,
    v1::ListVersionsResponse* response) {
  return Inline(context, core_.ListVersions(*request), response);
}

grpc::Status GrpcAdminService::CreateCheckpoint(
    grpc::ServerContext*, const v1::CreateCheckpointRequest* request,
    v1::CreateCheckpointResponse* response) {
  return Reply(core_.CreateCheckpoint(*request), response);
}

}  // namespace etagd
