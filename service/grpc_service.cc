#include "service/grpc_service.h"

#include <iterator>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "service/auth.h"
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

// The one authorization check of every call (auth.h). `tokens` null: off.
absl::Status CheckAccess(const TokenStore* tokens,
                         const grpc::ServerContextBase& context, Rpc method,
                         absl::string_view name) {
  if (tokens == nullptr) return absl::OkStatus();  // No metadata to read.
  // One "authorization: Bearer <token>" entry; none, several or another
  // scheme count as no token.
  absl::optional<absl::string_view> token;
  auto [first, last] = context.client_metadata().equal_range("authorization");
  if (first != last && std::next(first) == last) {
    token = ParseBearerAuthorization(
        absl::string_view(first->second.data(), first->second.size()));
  }
  return AuthorizeWith(tokens, token, method, name);
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
  if (absl::Status access = CheckAccess(tokens_.get(), *context,
                                        Rpc::kGetResource, request->name());
      !access.ok()) {
    return Inline<v1::GetResourceResponse>(context, access, response);
  }
  return Inline(context, core_.Get(*request), response);
}

grpc::ServerUnaryReactor* GrpcResourcesService::PutResource(
    grpc::CallbackServerContext* context, const v1::PutResourceRequest* request,
    v1::PutResourceResponse* response) {
  if (absl::Status access = CheckAccess(tokens_.get(), *context,
                                        Rpc::kPutResource, request->name());
      !access.ok()) {
    return Inline<v1::PutResourceResponse>(context, access, response);
  }
  const int64_t bytes = static_cast<int64_t>(request->ByteSizeLong());
  if (!write_budget_.TryAcquire(bytes)) {
    return Inline<v1::PutResourceResponse>(
        context,
        absl::ResourceExhaustedError(
            "too many bytes of writes in flight (--grpc_memory_quota_mb); "
            "retry with backoff"),
        response);
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  // The request and response stay valid until Finish().
  writes_.Put(*request, [this, response, reactor, bytes](
                            absl::StatusOr<v1::PutResourceResponse> result) {
    grpc::Status status = Reply(std::move(result), response);
    // Before Finish(): after it the server may be shut down and this
    // service destroyed. The request itself is freed soon after.
    write_budget_.Release(bytes);
    reactor->Finish(status);
  });
  return reactor;
}

grpc::ServerUnaryReactor* GrpcResourcesService::DeleteResource(
    grpc::CallbackServerContext* context,
    const v1::DeleteResourceRequest* request,
    v1::DeleteResourceResponse* response) {
  if (absl::Status access = CheckAccess(tokens_.get(), *context,
                                        Rpc::kDeleteResource, request->name());
      !access.ok()) {
    return Inline<v1::DeleteResourceResponse>(context, access, response);
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  writes_.Delete(*request, [response, reactor](
                               absl::StatusOr<v1::DeleteResourceResponse> result) {
    reactor->Finish(Reply(std::move(result), response));
  });
  return reactor;
}

grpc::ServerUnaryReactor* GrpcResourcesService::ListResources(
    grpc::CallbackServerContext* context,
    const v1::ListResourcesRequest* request,
    v1::ListResourcesResponse* response) {
  if (absl::Status access = CheckAccess(tokens_.get(), *context,
                                        Rpc::kListResources, request->prefix());
      !access.ok()) {
    return Inline<v1::ListResourcesResponse>(context, access, response);
  }
  return Inline(context, core_.List(*request), response);
}

grpc::ServerUnaryReactor* GrpcResourcesService::ListVersions(
    grpc::CallbackServerContext* context, const v1::ListVersionsRequest* request,
    v1::ListVersionsResponse* response) {
  if (absl::Status access = CheckAccess(tokens_.get(), *context,
                                        Rpc::kListVersions, request->name());
      !access.ok()) {
    return Inline<v1::ListVersionsResponse>(context, access, response);
  }
  return Inline(context, core_.ListVersions(*request), response);
}

grpc::Status GrpcAdminService::CreateCheckpoint(
    grpc::ServerContext* context, const v1::CreateCheckpointRequest* request,
    v1::CreateCheckpointResponse* response) {
  if (absl::Status access = CheckAccess(tokens_.get(), *context,
                                        Rpc::kCreateCheckpoint, "");
      !access.ok()) {
    return ToGrpcStatus(access);
  }
  return Reply(core_.CreateCheckpoint(*request), response);
}

}  // namespace etagd
