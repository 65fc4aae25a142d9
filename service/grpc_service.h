// The gRPC adapter: each handler calls the core and translates its status
// through grpc_status.h, and does nothing else.
#ifndef ETAGD_SERVICE_GRPC_SERVICE_H_
#define ETAGD_SERVICE_GRPC_SERVICE_H_

#include "etagd/v1/etagd.grpc.pb.h"
#include "service/admin_service.h"
#include "service/resource_service.h"

namespace etagd {

// Thread-safe; `core` must outlive it.
class GrpcResourcesService final : public etagd::v1::Resources::Service {
 public:
  explicit GrpcResourcesService(ResourceService& core) : core_(core) {}

  grpc::Status GetResource(grpc::ServerContext* context,
                           const etagd::v1::GetResourceRequest* request,
                           etagd::v1::GetResourceResponse* response) override;
  grpc::Status PutResource(grpc::ServerContext* context,
                           const etagd::v1::PutResourceRequest* request,
                           etagd::v1::PutResourceResponse* response) override;
  grpc::Status DeleteResource(
      grpc::ServerContext* context,
      const etagd::v1::DeleteResourceRequest* request,
      etagd::v1::DeleteResourceResponse* response) override;
  grpc::Status ListResources(
      grpc::ServerContext* context,
      const etagd::v1::ListResourcesRequest* request,
      etagd::v1::ListResourcesResponse* response) override;
  grpc::Status ListVersions(grpc::ServerContext* context,
                            const etagd::v1::ListVersionsRequest* request,
                            etagd::v1::ListVersionsResponse* response) override;

 private:
  ResourceService& core_;
};

// Thread-safe; `core` must outlive it.
class GrpcAdminService final : public etagd::v1::Admin::Service {
 public:
  explicit GrpcAdminService(AdminService& core) : core_(core) {}

  grpc::Status CreateCheckpoint(
      grpc::ServerContext* context,
      const etagd::v1::CreateCheckpointRequest* request,
      etagd::v1::CreateCheckpointResponse* response) override;

 private:
  AdminService& core_;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_GRPC_SERVICE_H_
