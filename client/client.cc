#include "client/client.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <utility>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "service/grpc_status.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

absl::BitGen& ThreadBitGen() {
  thread_local absl::BitGen bitgen;
  return bitgen;
}

template <typename Request, typename Response, typename Stub, typename Method>
absl::StatusOr<Response> Call(Stub& stub, Method method,
                              const ClientOptions& options, const Request& request) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       absl::ToChronoMilliseconds(options.timeout));
  if (!options.bearer_token.empty()) {
    context.AddMetadata("authorization",
                        absl::StrCat("Bearer ", options.bearer_token));
  }
  Response response;
  grpc::Status status = (stub.*method)(&context, request, &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

bool MayHaveHappened(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status);
}

}  // namespace

std::string NewRequestId() {
  absl::BitGen& bitgen = ThreadBitGen();
  return absl::StrFormat("%016x%016x", absl::Uniform<uint64_t>(bitgen),
                         absl::Uniform<uint64_t>(bitgen));
}

Client::Client(std::shared_ptr<grpc::ChannelInterface> channel,
               ClientOptions options)
    : stub_(v1::Resources::NewStub(channel)),
      admin_(v1::Admin::NewStub(channel)),
      options_(options) {}

std::unique_ptr<Client> Client::Connect(const std::string& target,
                                        ClientOptions options) {
  return std::make_unique<Client>(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()), options);
}

absl::StatusOr<std::unique_ptr<Client>> Client::Open(const std::string& target,
                                                     ClientOptions options) {
  grpc::ChannelArguments args;
  // Responses as large as the content the server stores (gRPC's default
  // receive limit, 4 MiB, is below etagd's largest --max_content_bytes).
  args.SetMaxReceiveMessageSize(-1);
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      GrpcChannelCredentials(options.tls, args);
  if (!credentials.ok()) return credentials.status();
  return std::make_unique<Client>(
      grpc::CreateCustomChannel(target, *credentials, args), std::move(options));
}

absl::Status Client::Watch(const v1::WatchRequest& request,
                           const WatchHandler& on_response) {
  grpc::ClientContext context;
  if (!options_.bearer_token.empty()) {
    context.AddMetadata("authorization",
                        absl::StrCat("Bearer ", options_.bearer_token));
  }
  std::unique_ptr<grpc::ClientReader<v1::WatchResponse>> reader =
      stub_->Watch(&context, request);
  v1::WatchResponse response;
  bool stopped = false;
  while (reader->Read(&response)) {
    if (!on_response(response)) {
      stopped = true;
      context.TryCancel();
      // Drain what is in flight, so that Finish() does not wait.
      while (reader->Read(&response)) {
      }
      break;
    }
  }
  grpc::Status status = reader->Finish();
  if (stopped) return absl::OkStatus();
  return FromGrpcStatus(status);
}

absl::StatusOr<v1::GetResourceResponse> Client::Get(
    const v1::GetResourceRequest& request) {
  return Call<v1::GetResourceRequest, v1::GetResourceResponse>(
      *stub_, &v1::Resources::Stub::GetResource, options_, request);
}

absl::StatusOr<v1::PutResourceResponse> Client::Put(
    const v1::PutResourceRequest& request) {
  return Call<v1::PutResourceRequest, v1::PutResourceResponse>(
      *stub_, &v1::Resources::Stub::PutResource, options_, request);
}

absl::StatusOr<v1::DeleteResourceResponse> Client::Delete(
    const v1::DeleteResourceRequest& request) {
  return Call<v1::DeleteResourceRequest, v1::DeleteResourceResponse>(
      *stub_, &v1::Resources::Stub::DeleteResource, options_, request);
}

absl::StatusOr<v1::ListResourcesResponse> Client::List(
    const v1::ListResourcesRequest& request) {
  return Call<v1::ListResourcesRequest, v1::ListResourcesResponse>(
      *stub_, &v1::Resources::Stub::ListResources, options_, request);
}

absl::StatusOr<v1::ListVersionsResponse> Client::ListVersions(
    const v1::ListVersionsRequest& request) {
  return Call<v1::ListVersionsRequest, v1::ListVersionsResponse>(
      *stub_, &v1::Resources::Stub::ListVersions, options_, request);
}

absl::StatusOr<v1::CreateCheckpointResponse> Client::CreateCheckpoint(
    const v1::CreateCheckpointRequest& request) {
  return Call<v1::CreateCheckpointRequest, v1::CreateCheckpointResponse>(
      *admin_, &v1::Admin::Stub::CreateCheckpoint, options_, request);
}

absl::StatusOr<v1::ImportVersionResponse> Client::ImportVersion(
    const v1::ImportVersionRequest& request) {
  return Call<v1::ImportVersionRequest, v1::ImportVersionResponse>(
      *admin_, &v1::Admin::Stub::ImportVersion, options_, request);
}

absl::StatusOr<v1::PutResourceResponse> Client::Update(
    absl::string_view name, const Mutation& mutate,
    const UpdateOptions& options) {
  absl::Duration backoff = options.initial_backoff;
  absl::Status last = absl::OkStatus();
  for (int attempt = 0; attempt < options.max_attempts; ++attempt) {
    if (attempt > 0) {
      absl::SleepFor(absl::Microseconds(absl::Uniform<int64_t>(
          ThreadBitGen(), 0, absl::ToInt64Microseconds(backoff) + 1)));
      backoff = std::min(backoff * 2, options.max_backoff);
    }

    v1::GetResourceRequest get;
    get.set_name(std::string(name));
    absl::StatusOr<v1::GetResourceResponse> read = Get(get);
    const v1::Resource* current = nullptr;
    if (read.ok()) {
      current = &read->resource();
    } else if (!absl::IsNotFound(read.status())) {
      if (MayHaveHappened(read.status())) {
        last = read.status();
        continue;
      }
      return read.status();
    }

    absl::StatusOr<std::string> content = mutate(current);
    if (!content.ok()) return content.status();

    v1::PutResourceRequest put;
    put.set_name(std::string(name));
    put.set_content(*std::move(content));
    put.set_content_type(!options.content_type.empty() || current == nullptr
                             ? options.content_type
                             : current->content_type());
    put.set_request_id(NewRequestId());
    if (current != nullptr) {
      put.mutable_preconditions()->add_if_match(current->etag());
    } else {
      put.mutable_preconditions()->add_if_none_match("*");
    }

    absl::StatusOr<v1::PutResourceResponse> written = Put(put);
    // The reply was lost, not necessarily the write: ask again with the same
    // request id, which the server answers with the first attempt's result
    // if that attempt was applied.
    for (int resend = 0;
         resend < 3 && !written.ok() && MayHaveHappened(written.status());
         ++resend) {
      absl::SleepFor(backoff);
      written = Put(put);
    }
    if (written.ok()) return written;
    last = written.status();
    if (!absl::IsFailedPrecondition(last) && !absl::IsAborted(last) &&
        !MayHaveHappened(last)) {
      return last;
    }
  }
  return absl::AbortedError(absl::StrCat(
      "update of \"", name, "\" gave up after ", options.max_attempts,
      " attempts; last error: ", last.ToString()));
}

}  // namespace etagd
