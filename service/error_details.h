// Typed error details carried on absl::Status as payloads, keyed by the type
// URL a google.protobuf.Any would carry, so that grpc_status.h can move them
// to and from google.rpc.Status.details unchanged.
#ifndef ETAGD_SERVICE_ERROR_DETAILS_H_
#define ETAGD_SERVICE_ERROR_DETAILS_H_

#include <optional>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "etagd/v1/etagd.pb.h"

namespace etagd {

inline constexpr char kPreconditionFailureTypeUrl[] =
    "type.googleapis.com/etagd.v1.PreconditionFailure";

inline constexpr char kStorageFullTypeUrl[] =
    "type.googleapis.com/etagd.v1.StorageFull";

inline constexpr char kRetryInfoTypeUrl[] =
    "type.googleapis.com/google.rpc.RetryInfo";

// A FAILED_PRECONDITION status with `message` and `detail` attached.
absl::Status PreconditionFailedError(
    absl::string_view message, const etagd::v1::PreconditionFailure& detail);

// The PreconditionFailure attached to `status`, if any.
std::optional<etagd::v1::PreconditionFailure> GetPreconditionFailure(
    const absl::Status& status);

// A RESOURCE_EXHAUSTED status with `message` and `detail` attached: a write
// refused for lack of space. The detail tells it apart from the other
// RESOURCE_EXHAUSTED errors (content too large, too many writes in flight).
absl::Status StorageFullError(absl::string_view message,
                              const etagd::v1::StorageFull& detail);

// The StorageFull attached to `status`, if any.
std::optional<etagd::v1::StorageFull> GetStorageFull(
    const absl::Status& status);

// A RESOURCE_EXHAUSTED status with `message` and a google.rpc.RetryInfo of
// `retry_after` attached: the server is overloaded (too much memory taken
// by calls in flight) and the same call may succeed after that delay. The
// detail tells it apart from a request over a limit, which retrying cannot
// fix.
absl::Status OverloadedError(absl::string_view message, absl::Duration retry_after);

// How long an overloaded server asks clients to wait: memory held by calls
// in flight is usually returned within milliseconds, and a second keeps a
// crowd of retrying clients from making the overload last.
inline constexpr absl::Duration kOverloadRetryDelay = absl::Seconds(1);

// The RetryInfo's delay attached to `status`, if any.
std::optional<absl::Duration> GetRetryDelay(const absl::Status& status);

}  // namespace etagd

#endif  // ETAGD_SERVICE_ERROR_DETAILS_H_
