// The C++ client library for etagd's gRPC API: typed calls that return
// absl::StatusOr, and Update(), the optimistic-concurrency read-modify-write
// loop.
#ifndef ETAGD_CLIENT_CLIENT_H_
#define ETAGD_CLIENT_CLIENT_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "etagd/v1/etagd.grpc.pb.h"
#include "grpcpp/channel.h"
#include "service/tls.h"

namespace etagd {

struct ClientOptions {
  // Deadline of each call.
  absl::Duration timeout = absl::Seconds(10);
  // TLS (with tls.ca_file), and a client certificate for servers that ask
  // for one. Used by Open(); Connect() is always plaintext.
  ClientTlsFiles tls;
  // Sent with every call as "authorization: Bearer <token>" (for a server
  // with --tokens_file); empty sends none. Prefer TLS: over plaintext the
  // token can be read off the network.
  std::string bearer_token;
};

struct UpdateOptions {
  // Attempts before giving up with ABORTED.
  int max_attempts = 20;
  // Backoff between attempts that lost a race: a random wait up to
  // min(max_backoff, initial_backoff * 2^attempt) ("full jitter").
  absl::Duration initial_backoff = absl::Milliseconds(2);
  absl::Duration max_backoff = absl::Milliseconds(200);
  // Content type of the new version; empty keeps the current one's.
  std::string content_type;
};

// Safe for concurrent use. Errors are the server's status with its details
// as payloads (see service/error_details.h for GetPreconditionFailure).
class Client {
 public:
  explicit Client(std::shared_ptr<grpc::ChannelInterface> channel,
                  ClientOptions options = {});

  // Connects (lazily) to HOST:PORT without TLS (options.tls is ignored).
  static std::unique_ptr<Client> Connect(const std::string& target,
                                         ClientOptions options = {});

  // Connects (lazily) to HOST:PORT, over TLS if options.tls.ca_file is set.
  // INVALID_ARGUMENT if the TLS files cannot be read or do not fit.
  static absl::StatusOr<std::unique_ptr<Client>> Open(const std::string& target,
                                                      ClientOptions options = {});

  absl::StatusOr<etagd::v1::GetResourceResponse> Get(
      const etagd::v1::GetResourceRequest& request);
  absl::StatusOr<etagd::v1::PutResourceResponse> Put(
      const etagd::v1::PutResourceRequest& request);
  absl::StatusOr<etagd::v1::DeleteResourceResponse> Delete(
      const etagd::v1::DeleteResourceRequest& request);
  absl::StatusOr<etagd::v1::ListResourcesResponse> List(
      const etagd::v1::ListResourcesRequest& request);
  absl::StatusOr<etagd::v1::ListVersionsResponse> ListVersions(
      const etagd::v1::ListVersionsRequest& request);

  // Streams the changes `request` asks for (Resources.Watch), calling
  // `on_response` with each response in order (events, progress
  // notifications, the initial_state_end marker) until it returns false:
  // then the stream is cancelled and Watch returns OK. Otherwise it returns
  // the status the stream ended with: OUT_OF_RANGE with a WatchWindow
  // detail (error_details.h's GetWatchWindow) when start_revision is no
  // longer kept, UNAVAILABLE when the server goes away (resume from the
  // last event's revision plus one). options.timeout does not apply.
  using WatchHandler =
      std::function<bool(const etagd::v1::WatchResponse& response)>;
  absl::Status Watch(const etagd::v1::WatchRequest& request,
                     const WatchHandler& on_response);

  absl::StatusOr<etagd::v1::CreateCheckpointResponse> CreateCheckpoint(
      const etagd::v1::CreateCheckpointRequest& request);

  // Admin.ImportVersion (etagctl import; see client/store_transfer.h).
  absl::StatusOr<etagd::v1::ImportVersionResponse> ImportVersion(
      const etagd::v1::ImportVersionRequest& request);

  // Computes the new content from the current version (nullptr if the
  // resource does not exist). An error aborts the update and is returned.
  using Mutation = std::function<absl::StatusOr<std::string>(
      const etagd::v1::Resource* current)>;

  // Read-modify-write without lost updates: reads `name`, applies `mutate`,
  // and writes the result conditionally (If-Match on the version read, or
  // If-None-Match: * if there was none). If another writer got there first
  // it backs off and starts over; ABORTED after options.max_attempts. A
  // write whose reply was lost (UNAVAILABLE, DEADLINE_EXCEEDED) is retried
  // with the same request id, so a write that did happen is not repeated.
  absl::StatusOr<etagd::v1::PutResourceResponse> Update(
      absl::string_view name, const Mutation& mutate,
      const UpdateOptions& options = {});

 private:
  std::unique_ptr<etagd::v1::Resources::Stub> stub_;
  std::unique_ptr<etagd::v1::Admin::Stub> admin_;
  const ClientOptions options_;
};

// A fresh random request id (AIP-155) for Put and Delete.
std::string NewRequestId();

}  // namespace etagd

#endif  // ETAGD_CLIENT_CLIENT_H_
