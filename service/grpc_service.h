// The gRPC adapter: each handler calls the core and translates its status
// through grpc_status.h, and does nothing else.
//
// It uses gRPC's callback API with raw (byte) methods: each call parses its
// own request (grpc_raw_call.h), so a request that does not parse answers
// INVALID_ARGUMENT. Reads run inline on gRPC's threads: they are
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

#include <functional>
#include <memory>

#include "etagd/v1/etagd.grpc.pb.h"
#include "grpcpp/support/byte_buffer.h"
#include "service/admin_service.h"
#include "service/feed/change_feed.h"
#include "service/resource_service.h"
#include "service/thread_pool.h"
#include "service/token_file.h"
#include "service/memory_budget.h"
#include "service/write_pipeline.h"

namespace etagd {

namespace internal {
namespace v1 = ::etagd::v1;
using RawResourcesService = v1::Resources::WithRawCallbackMethod_GetResource<
    v1::Resources::WithRawCallbackMethod_PutResource<
        v1::Resources::WithRawCallbackMethod_DeleteResource<
            v1::Resources::WithRawCallbackMethod_ListResources<
                v1::Resources::WithRawCallbackMethod_ListVersions<
                    v1::Resources::WithRawCallbackMethod_Watch<
                        v1::Resources::Service>>>>>>;
using RawAdminService = v1::Admin::WithRawCallbackMethod_CreateCheckpoint<
    v1::Admin::WithRawCallbackMethod_ImportVersion<v1::Admin::Service>>;
}  // namespace internal

// Thread-safe; `core`, `writes` and the budgets must outlive it.
// `tokens` null: no authorization. A Put holds its request's size of
// `write_budget` while in `writes`; a Put the budget cannot admit fails at
// once with RESOURCE_EXHAUSTED. A Get or listing whose content is over
// kUncountedContentBytes holds its size of `response_budget` (if set) until
// its response is sent; one the budget cannot admit fails with
// RESOURCE_EXHAUSTED, so slow readers cannot grow the server.
//
// Watch streams `feed` (null: UNIMPLEMENTED). Each stream asks the feed for
// its next response only once the one before is written (OnWriteDone), so
// a slow client's backlog stays in the feed's bounded queue; watchers are
// counted per connection (the call's peer).
//
// Get and the listings run on `readers` if set (it must outlive the
// server's calls), else on gRPC's thread: a store whose reads wait on the
// network must not hold gRPC's threads meanwhile.
class GrpcResourcesService final : public internal::RawResourcesService {
 public:
  GrpcResourcesService(ResourceService& core, WritePipeline& writes,
                       MemoryBudget& write_budget,
                       std::shared_ptr<const TokenStore> tokens = nullptr,
                       MemoryBudget* response_budget = nullptr,
                       ChangeFeed* feed = nullptr,
                       ThreadPool* readers = nullptr)
      : core_(core),
        writes_(writes),
        write_budget_(write_budget),
        response_budget_(response_budget),
        tokens_(std::move(tokens)),
        feed_(feed),
        readers_(readers) {}

  // Each takes an etagd.v1.<Method>Request and answers its response.
  grpc::ServerUnaryReactor* GetResource(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* PutResource(grpc::CallbackServerContext* context,
                                        const grpc::ByteBuffer* request,
                                        grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* DeleteResource(grpc::CallbackServerContext* context,
                                           const grpc::ByteBuffer* request,
                                           grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListResources(grpc::CallbackServerContext* context,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListVersions(grpc::CallbackServerContext* context,
                                         const grpc::ByteBuffer* request,
                                         grpc::ByteBuffer* response) override;
  // Takes an etagd.v1.WatchRequest; streams WatchResponses.
  grpc::ServerWriteReactor<grpc::ByteBuffer>* Watch(
      grpc::CallbackServerContext* context,
      const grpc::ByteBuffer* request) override;

 private:
  template <typename Call>
  absl::Status HoldContent(Call& call, size_t content);
  // Runs `read` on readers_ if set, else here.
  void OnReader(std::function<void()> read) {
    if (readers_ == nullptr) return read();
    readers_->Schedule(std::move(read));
  }

  ResourceService& core_;
  WritePipeline& writes_;
  MemoryBudget& write_budget_;
  MemoryBudget* const response_budget_;
  const std::shared_ptr<const TokenStore> tokens_;
  ChangeFeed* const feed_;
  ThreadPool* const readers_;
};

// Content up to this size is not held against the response budget (as
// gateway/http_server.h's kUncountedBodyBytes).
inline constexpr int64_t kUncountedContentBytes = 64 << 10;

// Thread-safe; `core` and `pool` must outlive it. Checkpoints are rare and
// slow (a memtable flush and a directory of hard links): they run on
// `pool`, never on gRPC's threads. `tokens` null: no authorization.
class GrpcAdminService final : public internal::RawAdminService {
 public:
  GrpcAdminService(AdminService& core, ThreadPool& pool,
                   std::shared_ptr<const TokenStore> tokens = nullptr)
      : core_(core), pool_(pool), tokens_(std::move(tokens)) {}

  grpc::ServerUnaryReactor* CreateCheckpoint(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
      grpc::ByteBuffer* response) override;
  // Imports write to the store and wait for it: they run on `pool` too.
  grpc::ServerUnaryReactor* ImportVersion(
      grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
      grpc::ByteBuffer* response) override;

 private:
  AdminService& core_;
  ThreadPool& pool_;
  const std::shared_ptr<const TokenStore> tokens_;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_GRPC_SERVICE_H_
