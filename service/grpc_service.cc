#include "service/grpc_service.h"

#include <utility>

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

grpc::Status GrpcResourcesService::GetResource(
    grpc::ServerContext*, const v1::GetResourceRequest* request,
    v1::GetResourceResponse* response) {
  return Reply(core_.Get(*request), response);
}

grpc::Status GrpcResourcesService::PutResource(
    grpc::ServerContext*, const v1::PutResourceRequest* request,
    v1::PutResourceResponse* response) {
  return Reply(core_.Put(*request), response);
}

grpc::Status GrpcResourcesService::DeleteResource(
    grpc::ServerContext*, const v1::DeleteResourceRequest* request,
    v1::DeleteResourceResponse* response) {
  return Reply(core_.Delete(*request), response);
}

grpc::Status GrpcResourcesService::ListResources(
    grpc::ServerContext*, const v1::ListResourcesRequest* request,
    v1::ListResourcesResponse* response) {
  return Reply(core_.List(*request), response);
}

grpc::Status GrpcResourcesService::ListVersions(
    grpc::ServerContext*, const v1::ListVersionsRequest* request,
    v1::ListVersionsResponse* response) {
  return Reply(core_.ListVersions(*request), response);
}

grpc::Status GrpcAdminService::CreateCheckpoint(
    grpc::ServerContext*, const v1::CreateCheckpointRequest* request,
    v1::CreateCheckpointResponse* response) {
  return Reply(core_.CreateCheckpoint(*request), response);
}

}  // namespace etagd
