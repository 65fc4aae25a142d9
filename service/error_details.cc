#include "service/error_details.h"

#include <string>

#include "absl/strings/cord.h"

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

absl::Status WatchWindowError(absl::string_view message,
                              const etagd::v1::WatchWindow& detail) {
  absl::Status status = absl::OutOfRangeError(message);
  status.SetPayload(kWatchWindowTypeUrl, absl::Cord(detail.SerializeAsString()));
  return status;
}

std::optional<etagd::v1::WatchWindow> GetWatchWindow(const absl::Status& status) {
  auto payload = status.GetPayload(kWatchWindowTypeUrl);
  if (!payload.has_value()) return std::nullopt;
  etagd::v1::WatchWindow detail;
  if (!detail.ParseFromString(std::string(*payload))) return std::nullopt;
  return detail;
}

}  // namespace etagd
