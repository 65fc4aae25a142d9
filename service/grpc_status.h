// The one translation between absl::Status and grpc::Status, used by the
// server adapter and by clients. Payloads travel as google.rpc.Status details
// (the grpc-status-details-bin trailer), each payload an Any whose type URL
// is the payload's key.
#ifndef ETAGD_SERVICE_GRPC_STATUS_H_
#define ETAGD_SERVICE_GRPC_STATUS_H_

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace etagd {

grpc::Status ToGrpcStatus(const absl::Status& status);

absl::Status FromGrpcStatus(const grpc::Status& status);

}  // namespace etagd

#endif  // ETAGD_SERVICE_GRPC_STATUS_H_
