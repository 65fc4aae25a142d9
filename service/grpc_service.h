// The gRPC adapter: each handler calls the core and translates its status
// through grpc_status.h, and does nothing else.
//
// It uses gRPC's callback API. Reads run inline on gRPC's threads: they are
// short (RocksDB's block cache or the page cache) and a thread hand-off
// would cost more than the read. Writes go to the WritePipeline, which
// commits them in batches (one WAL sync each) and answers them from its
// answer threads; no thread waits for a write.
//
// With a TokenStore, every handler first authorizes the call (auth.h's
// Authorize, on the "authorization: Bearer <token>" metadata): remote
// clients and the in-process HTTP gateway go through the same check.
#ifndef ETAGD_SERVICE_GRPC_SERVICE_H_
#define ETAGD_SERVICE_GRPC_SERVICE_H_

#include <memory>

#include "etagd/v1/etagd.grpc.pb.h"
#include "service/admin_service.h"
#include "service/resource_service.h"
#include "service/write_pipeline.h"
#include "service/token_file.h"
#include "service/write_budget.h"

namespace etagd {

// Thread-safe; `core`, `writes` and `write_budget` must outlive it.
// `tokens` null: no authorization. A Put holds its request's size of
// `write_budget` while in `writes`; a Put the budget cannot admit fails at
// once with RESOURCE_EXHAUSTED.
class GrpcResourcesService final : public etagd::v1::Resources::CallbackService {
 public:
  GrpcResourcesService(ResourceService& core, WritePipeline& writes,
                       WriteBudget& write_budget,
                       std::shared_ptr<const TokenStore> tokens = nullptr)
      : core_(core),
        writes_(writes),
        write_budget_(write_budget),
        tokens_(std::move(tokens)) {}

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
  WritePipeline& writes_;
  WriteBudget& write_budget_;
  const std::shared_ptr<const TokenStore> tokens_;
};

// Thread-safe; `core` must outlive it. Rare and slow: the sync API.
// `tokens` null: no authorization.
class GrpcAdminService final : public etagd::v1::Admin::Service {
 public:
  explicit GrpcAdminService(AdminService& core,
                            std::shared_ptr<const TokenStore> tokens = nullptr)
      : core_(core), tokens_(std::move(tokens)) {}

  grpc::Status CreateCheckpoint(
      grpc::ServerContext* context,
      const etagd::v1::CreateCheckpointRequest* request,
      etagd::v1::CreateCheckpointResponse* response) override;

 private:
  AdminService& core_;
  const std::shared_ptr<const TokenStore> tokens_;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_GRPC_SERVICE_H_
