#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "etagd/v1/etagd.grpc.pb.h"
#include "gateway/api_preconditions.h"
#include "gateway/backend.h"
#include "gateway/watch_channel_pool.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/support/client_callback.h"
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

absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

// The store's form of a response's metadata, whose strings are moved out.
HttpMetadata ToMetadata(v1::HttpMetadata& api) {
  HttpMetadata metadata;
  metadata.cache_control = std::move(*api.mutable_cache_control());
  metadata.content_disposition = std::move(*api.mutable_content_disposition());
  metadata.content_encoding = std::move(*api.mutable_content_encoding());
  metadata.content_language = std::move(*api.mutable_content_language());
  if (api.has_expires()) metadata.expires = ToTime(api.expires());
  for (auto& [key, value] : *api.mutable_user_metadata()) {
    metadata.user.emplace(key, std::move(value));
  }
  return metadata;
}

// GetQuery's answer to the request the remote etagd answered with
// `response`, whose strings are moved out: what it says of the version, in
// the record's fields.
GetAnswer ToAnswer(v1::GetResourceResponse& response) {
  GetAnswer answer;
  Record& version = answer.version;
  if (response.has_not_modified()) {
    v1::NotModified& not_modified = *response.mutable_not_modified();
    answer.not_modified = true;
    version.etag = std::move(*not_modified.mutable_etag());
    version.revision = not_modified.revision();
    version.update_time = ToTime(not_modified.update_time());
    version.metadata = ToMetadata(*not_modified.mutable_http_metadata());
    version.content_type = std::move(*not_modified.mutable_content_type());
    version.content_length = not_modified.content_length();
    return answer;
  }
  v1::Resource& resource = *response.mutable_resource();
  version.name = std::move(*resource.mutable_name());
  version.content = std::move(*resource.mutable_content());
  version.content_length = resource.content_length();
  version.content_type = std::move(*resource.mutable_content_type());
  version.metadata = ToMetadata(*resource.mutable_http_metadata());
  version.revision = resource.revision();
  version.create_revision = resource.create_revision();
  version.version = resource.version();
  version.create_time = ToTime(resource.create_time());
  version.update_time = ToTime(resource.update_time());
  version.etag = std::move(*resource.mutable_etag());
  return answer;
}

void AddBearerToken(const Caller& caller, grpc::ClientContext& context) {
  if (!caller.bearer_token.empty()) {
    context.AddMetadata("authorization", absl::StrCat("Bearer ", caller.bearer_token));
  }
}

// One Resources.Watch call as a client read reactor: a read is started only
// by Next, so gRPC's flow control holds back the server while the consumer
// does not ask. A hold keeps OnDone from running before the stream was read
// to its end (or cancelled), so no response is lost to it. Thread-safe; it
// keeps itself alive until OnDone.
class WatchCall final : public grpc::ClientReadReactor<v1::WatchResponse> {
 public:
  // The call holds `lease` (its channel's place) until it is done.
  static std::shared_ptr<WatchCall> Start(WatchChannelPool::Lease lease,
                                          const Caller& caller,
                                          const v1::WatchRequest& request) {
    auto call = std::shared_ptr<WatchCall>(new WatchCall(std::move(lease)));
    call->self_ = call;
    AddBearerToken(caller, call->context_);
    call->request_ = request;
    call->lease_->stub().async()->Watch(&call->context_, &call->request_,
                                        call.get());
    call->AddHold();
    call->StartCall();
    return call;
  }

  void Next(WatchStream::Ready ready) {
    std::optional<absl::Status> failed;
    {
      absl::MutexLock lock(&mu_);
      if (final_.has_value()) {
        failed = *final_;
      } else if (cancelled_) {
        failed = absl::CancelledError("the watch was cancelled");
      } else {
        ready_ = std::move(ready);
        // Once the stream is over, OnDone answers with its status.
        if (stream_over_) return;
        reading_ = true;
      }
    }
    if (failed.has_value()) return ready(*std::move(failed));
    StartRead(&response_);
  }

  // Completes a pending Next with CANCELLED and ends the call.
  void Cancel() {
    WatchStream::Ready pending;
    bool release = false;
    {
      absl::MutexLock lock(&mu_);
      if (cancelled_) return;
      cancelled_ = true;
      pending = std::move(ready_);
      ready_ = nullptr;
      release = !reading_ && !stream_over_;
      if (release) stream_over_ = true;
    }
    context_.TryCancel();
    if (release) RemoveHold();
    if (pending) pending(absl::CancelledError("the watch was cancelled"));
  }

  void OnReadDone(bool ok) override {
    WatchStream::Ready ready;
    bool over;
    {
      absl::MutexLock lock(&mu_);
      reading_ = false;
      // A read that completed as Cancel ran (which answered the pending
      // Next) ends the stream too: no Next will start another.
      over = !ok || cancelled_;
      if (over) {
        stream_over_ = true;
      } else {
        ready = std::move(ready_);
        ready_ = nullptr;
      }
    }
    if (over) return RemoveHold();  // OnDone follows with the status.
    if (ready) ready(std::move(response_));
  }

  void OnDone(const grpc::Status& status) override {
    // A watch never ends on its own: an OK end is the server going away.
    absl::Status error = status.ok()
                             ? absl::UnavailableError("the watch stream ended")
                             : FromGrpcStatus(status);
    WatchStream::Ready ready;
    {
      absl::MutexLock lock(&mu_);
      if (cancelled_) error = absl::CancelledError("the watch was cancelled");
      final_ = error;
      ready = std::move(ready_);
      ready_ = nullptr;
    }
    lease_.reset();
    if (ready) ready(error);
    std::shared_ptr<WatchCall> last = std::move(self_);  // May delete this.
  }

 private:
  explicit WatchCall(WatchChannelPool::Lease lease) : lease_(std::move(lease)) {}

  std::optional<WatchChannelPool::Lease> lease_;
  grpc::ClientContext context_;
  v1::WatchRequest request_;
  // Written by gRPC between StartRead and OnReadDone.
  v1::WatchResponse response_;
  std::shared_ptr<WatchCall> self_;

  absl::Mutex mu_;
  WatchStream::Ready ready_ ABSL_GUARDED_BY(mu_);
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  // No more reads may start: the hold is released (or about to be).
  bool stream_over_ ABSL_GUARDED_BY(mu_) = false;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<absl::Status> final_ ABSL_GUARDED_BY(mu_);
};

// The consumer's end of a WatchCall: destroying it cancels the call.
class GrpcWatchStream final : public WatchStream {
 public:
  explicit GrpcWatchStream(std::shared_ptr<WatchCall> call) : call_(std::move(call)) {}
  ~GrpcWatchStream() override { call_->Cancel(); }

  void Next(Ready ready) override { call_->Next(std::move(ready)); }
  void Cancel() override { call_->Cancel(); }

 private:
  const std::shared_ptr<WatchCall> call_;
};

class GrpcBackend final : public Backend {
 public:
  GrpcBackend(std::shared_ptr<grpc::Channel> channel, absl::Duration timeout,
              std::vector<std::shared_ptr<grpc::Channel>> watch_channels)
      : stub_(v1::Resources::NewStub(channel)),
        health_(grpc::health::v1::Health::NewStub(channel)),
        timeout_(timeout),
        watches_(watch_channels.empty()
                     ? std::vector<std::shared_ptr<grpc::Channel>>{channel}
                     : std::move(watch_channels)) {}

  void Get(const Caller& caller, const GetQuery& query,
           Callback<GetAnswer> done) override {
    v1::GetResourceRequest request;
    request.set_name(std::string(query.name));
    request.set_revision(query.revision);
    request.set_metadata_only(query.metadata_only);
    *request.mutable_preconditions() = ToApiPreconditions(query.preconditions);
    Start(caller, request,
          Callback<v1::GetResourceResponse>(
              [done = std::move(done)](absl::StatusOr<v1::GetResourceResponse> got) {
                if (!got.ok()) return done(got.status());
                done(ToAnswer(*got));
              }),
          [this](auto* c, auto callback) {
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

  std::unique_ptr<WatchStream> Watch(const Caller& caller,
                                     const v1::WatchRequest& request) override {
    return std::make_unique<GrpcWatchStream>(
        WatchCall::Start(watches_.Acquire(), caller, request));
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
    AddBearerToken(caller, call->context);
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
  WatchChannelPool watches_;
};

}  // namespace

std::unique_ptr<Backend> NewGrpcBackend(
    std::shared_ptr<grpc::Channel> channel, absl::Duration timeout,
    std::vector<std::shared_ptr<grpc::Channel>> watch_channels) {
  return std::make_unique<GrpcBackend>(std::move(channel), timeout,
                                       std::move(watch_channels));
}

}  // namespace etagd
