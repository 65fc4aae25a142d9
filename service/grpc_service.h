// The gRPC adapter: each handler calls the core and translates its status
// through grpc_status.h, and does nothing else.
//
// It uses gRPC's callback API. Reads run inline on gRPC's threads: they are
// short (RocksDB's block cache or the page cache) and a thread hand-off
// would cost more than the read. Writes wait for their WAL sync, so they
// run on a pool of `writers` threads, enough for RocksDB to gather many
// concurrent writes into one sync.
#ifndef ETAGD_SERVICE_GRPC_SERVICE_H_
#define ETAGD_SERVICE_GRPC_SERVICE_H_

#include "etagd/v1/etagd.grpc.pb.h"
#include "service/admin_service.h"
#include "service/resource_service.h"
#include "service/thread_pool.h"

namespace etagd {

// Thread-safe; `core` and `writers` must outlive it.
class GrpcResourcesService final : public etagd::v1::Resources::CallbackService {
 public:
  GrpcResourcesService(ResourceService& core, ThreadPool& writers)
      : core_(core), writers_(writers) {}

  grpc::ServerUnaryReactor* GetResource(
      grpc::CallbackServerContext* context,
      const etagd::v1::GetResourceRequest* request,
      etagd::v1::GetResourceResponse* response) override;
  grpc::ServerUnaryReactor* PutResource(
      grpc::CallbackServerContext* context,
      const etagd::v1::PutResourceRequest* request,
      etagd::v1::PutResourceResponse* response) override;
  grpc::ServerUnaryReactor* DeleteResource(
      grpc::CallbackServerContext* context,
      const etagd::v1::DeleteResourceRequest* request,
      etagd::v1::DeleteResourceResponse* response) override;
  grpc::ServerUnaryReactor* ListResources(
      grpc::CallbackServerContext* context,
      const etagd::v1::ListResourcesRequest* request,
      etagd::v1::ListResourcesResponse* response) override;
  grpc::ServerUnaryReactor* ListVersions(
      grpc::CallbackServerContext* context,
      const etagd::v1::ListVersionsRequest* request,
      etagd::v1::ListVersionsResponse* response) override;

 private:
  ResourceService& core_;
  ThreadPool& writers_;
};

// Thread-safe; `core` must outlive it. Rare and slow: the sync API.
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
