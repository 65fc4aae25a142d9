#include "service/grpc_service.h"

#include <atomic>
#include <iterator>
#include <memory>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"
#include "service/auth.h"
#include "service/error_details.h"
#include "service/grpc_raw_call.h"
#include "service/grpc_status.h"
#include "service/status_macros.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

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

// Whether `call` parsed and its caller may make it (`name_of` its request:
// the name or prefix authorization looks at). If not, it is answered.
template <typename Call, typename NameOf>
bool Admitted(Call& call, const TokenStore* tokens,
              const grpc::ServerContextBase& context, Rpc rpc, NameOf name_of) {
  if (!call.parsed()) return false;
  absl::Status access = CheckAccess(tokens, context, rpc, name_of(call.request()));
  if (!access.ok()) {
    call.Fail(access);
    return false;
  }
  return true;
}

// A write is committed only while its call still wants it: before the
// call's deadline, and not cancelled.
template <typename Call>
WriteControl ControlOf(const grpc::ServerContextBase& context, const Call& call) {
  WriteControl control;
  control.deadline = absl::FromChrono(context.deadline());
  control.cancelled = &call.cancelled();
  return control;
}

constexpr auto kName = [](const auto& request) -> absl::string_view {
  return request.name();
};

}  // namespace

// Holds `content` bytes of the response budget until `call` is done; an
// error if the budget cannot.
template <typename Call>
absl::Status GrpcResourcesService::HoldContent(Call& call, size_t content) {
  if (response_budget_ == nullptr ||
      content <= static_cast<size_t>(kUncountedContentBytes)) {
    return absl::OkStatus();
  }
  const int64_t bytes = static_cast<int64_t>(content);
  if (!response_budget_->TryAcquire(bytes)) {
    return OverloadedError(
        "too many bytes of responses are waiting for slow readers "
        "(--response_memory_mb); retry with backoff",
        kOverloadRetryDelay);
  }
  call.HoldUntilDone(*response_budget_, bytes);
  return absl::OkStatus();
}

namespace {

using GetCall = RawUnaryCall<v1::GetResourceRequest, v1::GetResourceResponse>;
using PutCall = RawUnaryCall<v1::PutResourceRequest, v1::PutResourceResponse>;
using DeleteCall =
    RawUnaryCall<v1::DeleteResourceRequest, v1::DeleteResourceResponse>;
using ListCall =
    RawUnaryCall<v1::ListResourcesRequest, v1::ListResourcesResponse>;
using ListVersionsCall =
    RawUnaryCall<v1::ListVersionsRequest, v1::ListVersionsResponse>;
using CheckpointCall =
    RawUnaryCall<v1::CreateCheckpointRequest, v1::CreateCheckpointResponse>;
using ImportCall =
    RawUnaryCall<v1::ImportVersionRequest, v1::ImportVersionResponse>;

}  // namespace

grpc::ServerUnaryReactor* GrpcResourcesService::GetResource(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  GetCall* call = GetCall::Start(*request, response);
  if (!Admitted(*call, tokens_.get(), *context, Rpc::kGetResource,
                kName)) {
    return call;
  }
  auto reply = [this, call](absl::StatusOr<v1::GetResourceResponse> got) {
    if (got.ok() && got->has_resource()) {
      if (absl::Status held =
              HoldContent(*call, got->resource().content().size());
          !held.ok()) {
        call->Fail(held);
        return;
      }
    }
    call->Reply(std::move(got));
  };
  // A read that waits without a thread (the etcd engine's consistent
  // cache: every read waiting shares one revision query) starts here.
  if (core_.GetsWithoutBlocking(call->request())) {
    core_.GetAsync(call->request(), std::move(reply));
    return call;
  }
  OnReader([this, call, reply = std::move(reply)]() mutable {
    reply(core_.Get(call->request()));
  });
  return call;
}

grpc::ServerUnaryReactor* GrpcResourcesService::PutResource(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  PutCall* call = PutCall::Start(*request, response);
  if (!Admitted(*call, tokens_.get(), *context, Rpc::kPutResource,
                kName)) {
    return call;
  }
  const int64_t bytes = static_cast<int64_t>(request->Length());
  if (!write_budget_.TryAcquire(bytes)) {
    call->Fail(OverloadedError(
        "too many bytes of writes in flight (--grpc_memory_quota_mb); "
        "retry with backoff",
        kOverloadRetryDelay));
    return call;
  }
  // The call, and with it the request, lives until it is answered.
  writes_.Put(call->request(),
              [this, call, bytes](absl::StatusOr<v1::PutResourceResponse> result) {
                // Before the answer: after it the server may be shut down
                // and this service destroyed.
                write_budget_.Release(bytes);
                call->Reply(std::move(result));
              },
              ControlOf(*context, *call));
  return call;
}

grpc::ServerUnaryReactor* GrpcResourcesService::DeleteResource(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  DeleteCall* call = DeleteCall::Start(*request, response);
  if (!Admitted(*call, tokens_.get(), *context, Rpc::kDeleteResource,
                kName)) {
    return call;
  }
  writes_.Delete(call->request(),
                 [call](absl::StatusOr<v1::DeleteResourceResponse> result) {
                   call->Reply(std::move(result));
                 },
                 ControlOf(*context, *call));
  return call;
}

grpc::ServerUnaryReactor* GrpcResourcesService::ListResources(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  ListCall* call = ListCall::Start(*request, response);
  if (!Admitted(*call, tokens_.get(), *context, Rpc::kListResources,
                [](const auto& r) -> absl::string_view { return r.prefix(); })) {
    return call;
  }
  OnReader([this, call] {
    absl::StatusOr<v1::ListResourcesResponse> listed =
        core_.List(call->request());
    if (listed.ok()) {
      size_t content = 0;
      for (const v1::Resource& resource : listed->resources()) {
        content += resource.content().size();
      }
      if (absl::Status held = HoldContent(*call, content); !held.ok()) {
        call->Fail(held);
        return;
      }
    }
    call->Reply(std::move(listed));
  });
  return call;
}

grpc::ServerUnaryReactor* GrpcResourcesService::ListVersions(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  ListVersionsCall* call = ListVersionsCall::Start(*request, response);
  if (!Admitted(*call, tokens_.get(), *context, Rpc::kListVersions,
                kName)) {
    return call;
  }
  OnReader([this, call] { call->Reply(core_.ListVersions(call->request())); });
  return call;
}

namespace {

// One Watch stream: pulls a response from the feed, writes it, and pulls
// the next only when gRPC is done writing (one write in flight per stream).
// Ends with the feed's error, or when the client goes away. Deletes itself
// in OnDone.
class WatchCall final : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  // Starts the call; `admit` returns the feed's stream, or an error that
  // ends the call at once.
  template <typename Admit>
  static WatchCall* Start(const grpc::ByteBuffer& request_bytes, Admit admit) {
    auto* call = new WatchCall();
    grpc::ByteBuffer bytes(request_bytes);  // Parsing consumes it.
    v1::WatchRequest request;
    if (!grpc::SerializationTraits<v1::WatchRequest>::Deserialize(&bytes,
                                                                  &request)
             .ok()) {
      call->FinishOnce(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          "the request is not a valid etagd.v1.WatchRequest (malformed "
          "protobuf, or a string field that is not UTF-8)"));
      return call;
    }
    absl::StatusOr<std::unique_ptr<WatchStream>> stream = admit(request);
    if (!stream.ok()) {
      call->FinishOnce(ToGrpcStatus(stream.status()));
      return call;
    }
    call->stream_ = *std::move(stream);
    call->Pull();
    return call;
  }

  void OnWriteDone(bool ok) override {
    if (!ok) {
      // The client is gone (or the server is cancelling the call).
      FinishOnce(grpc::Status(grpc::StatusCode::CANCELLED,
                              "the stream could not be written"));
      return;
    }
    Pull();
  }

  void OnCancel() override {
    // A pending Next completes with CANCELLED, which finishes the call.
    if (stream_ != nullptr) stream_->Cancel();
  }

  void OnDone() override { delete this; }

 private:
  WatchCall() = default;

  void Pull() {
    // Serialized by the feed from each event's bytes (built once for every
    // watcher); gRPC gets a copy in one slice.
    stream_->NextSerialized([this](absl::StatusOr<std::string> response) {
      if (!response.ok()) {
        FinishOnce(ToGrpcStatus(response.status()));
        return;
      }
      // The previous response's bytes are written (OnWriteDone).
      grpc::Slice slice(*response);
      buffer_ = grpc::ByteBuffer(&slice, 1);
      StartWrite(&buffer_);
    });
  }

  void FinishOnce(const grpc::Status& status) {
    if (finished_.exchange(true)) return;
    Finish(status);
  }

  std::unique_ptr<WatchStream> stream_;
  grpc::ByteBuffer buffer_;
  std::atomic<bool> finished_{false};
};

}  // namespace

grpc::ServerWriteReactor<grpc::ByteBuffer>* GrpcResourcesService::Watch(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  return WatchCall::Start(
      *request,
      [&](const v1::WatchRequest& watch)
          -> absl::StatusOr<std::unique_ptr<WatchStream>> {
        ETAGD_RETURN_IF_ERROR(
            CheckAccess(tokens_.get(), *context, Rpc::kWatch, watch.prefix()));
        if (feed_ == nullptr) {
          return absl::UnimplementedError("this server has no change feed");
        }
        return feed_->Watch(watch, context->peer());
      });
}

grpc::ServerUnaryReactor* GrpcAdminService::CreateCheckpoint(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  CheckpointCall* call = CheckpointCall::Start(*request, response);
  if (!call->parsed()) return call;
  if (absl::Status access =
          CheckAccess(tokens_.get(), *context, Rpc::kCreateCheckpoint, "");
      !access.ok()) {
    call->Fail(access);
    return call;
  }
  pool_.Schedule(
      [this, call] { call->Reply(core_.CreateCheckpoint(call->request())); });
  return call;
}

grpc::ServerUnaryReactor* GrpcAdminService::ImportVersion(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  ImportCall* call = ImportCall::Start(*request, response);
  if (!call->parsed()) return call;
  if (absl::Status access =
          CheckAccess(tokens_.get(), *context, Rpc::kImportVersion, "");
      !access.ok()) {
    call->Fail(access);
    return call;
  }
  pool_.Schedule(
      [this, call] { call->Reply(core_.ImportVersion(call->request())); });
  return call;
}

}  // namespace etagd
