#include "service/admin_service.h"

#include <filesystem>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "service/status_macros.h"

namespace etagd {
namespace {

constexpr size_t kMaxCheckpointName = 128;

// A single path component that cannot climb out of the checkpoint directory.
absl::Status ValidateCheckpointName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxCheckpointName || name.front() == '.') {
    return absl::InvalidArgumentError(absl::StrCat(
        "checkpoint name must be 1 to ", kMaxCheckpointName,
        " characters of [A-Za-z0-9._-] not starting with '.'"));
  }
  for (char c : name) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '.' &&
        c != '_' && c != '-') {
      return absl::InvalidArgumentError(
          "checkpoint name may contain only [A-Za-z0-9._-]");
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<etagd::v1::CreateCheckpointResponse> AdminService::CreateCheckpoint(
    const etagd::v1::CreateCheckpointRequest& request) {
  // An engine without checkpoints says how to back it up instead.
  if (!store_.SupportsCheckpoint()) {
    absl::Status refused = store_.Checkpoint("").status();
    if (refused.ok()) return absl::InternalError("the store has no checkpoints");
    return refused;
  }
  if (options_.checkpoint_dir.empty()) {
    return absl::FailedPreconditionError(
        "checkpoints are disabled: start etagd with --checkpoint_dir");
  }
  ETAGD_RETURN_IF_ERROR(ValidateCheckpointName(request.name()));
  std::error_code error;
  std::filesystem::create_directories(options_.checkpoint_dir, error);
  if (error) {
    return absl::UnavailableError(absl::StrCat("cannot create ",
                                               options_.checkpoint_dir, ": ",
                                               error.message()));
  }
  const std::string path =
      (std::filesystem::path(options_.checkpoint_dir) / request.name()).string();
  if (std::filesystem::exists(path, error)) {
    return absl::AlreadyExistsError(absl::StrCat("checkpoint ", path, " exists"));
  }
  ETAGD_ASSIGN_OR_RETURN(int64_t revision, store_.Checkpoint(path));
  etagd::v1::CreateCheckpointResponse response;
  response.set_path(path);
  response.set_revision(revision);
  return response;
}

}  // namespace etagd
