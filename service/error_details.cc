#include "service/error_details.h"

#include <string>

#include "absl/strings/cord.h"
#include "google/rpc/error_details.pb.h"

namespace etagd {

absl::Status PreconditionFailedError(
    absl::string_view message, const etagd::v1::PreconditionFailure& detail) {
  absl::Status status = absl::FailedPreconditionError(message);
  status.SetPayload(kPreconditionFailureTypeUrl,
                    absl::Cord(detail.SerializeAsString()));
  return status;
}

std::optional<etagd::v1::PreconditionFailure> GetPreconditionFailure(
    const absl::Status& status) {
  auto payload =
      status.GetPayload(kPreconditionFailureTypeUrl);
  if (!payload.has_value()) return std::nullopt;
  etagd::v1::PreconditionFailure detail;
  if (!detail.ParseFromString(std::string(*payload))) return std::nullopt;
  return detail;
}

absl::Status StorageFullError(absl::string_view message,
                              const etagd::v1::StorageFull& detail) {
  absl::Status status = absl::ResourceExhaustedError(message);
  status.SetPayload(kStorageFullTypeUrl,
                    absl::Cord(detail.SerializeAsString()));
  return status;
}

std::optional<etagd::v1::StorageFull> GetStorageFull(
    const absl::Status& status) {
  auto payload = status.GetPayload(kStorageFullTypeUrl);
  if (!payload.has_value()) return std::nullopt;
  etagd::v1::StorageFull detail;
  if (!detail.ParseFromString(std::string(*payload))) return std::nullopt;
  return detail;
}

absl::Status OverloadedError(absl::string_view message, absl::Duration retry_after) {
  absl::Status status = absl::ResourceExhaustedError(message);
  google::rpc::RetryInfo detail;
  const int64_t nanos = absl::ToInt64Nanoseconds(retry_after);
  detail.mutable_retry_delay()->set_seconds(nanos / 1000000000);
  detail.mutable_retry_delay()->set_nanos(static_cast<int32_t>(nanos % 1000000000));
  status.SetPayload(kRetryInfoTypeUrl, absl::Cord(detail.SerializeAsString()));
  return status;
}

std::optional<absl::Duration> GetRetryDelay(const absl::Status& status) {
  auto payload = status.GetPayload(kRetryInfoTypeUrl);
  if (!payload.has_value()) return std::nullopt;
  google::rpc::RetryInfo detail;
  if (!detail.ParseFromString(std::string(*payload))) return std::nullopt;
  return absl::Seconds(detail.retry_delay().seconds()) +
         absl::Nanoseconds(detail.retry_delay().nanos());
}

}  // namespace etagd
