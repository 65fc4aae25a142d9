#include "service/feed/watch_window.h"

#include "absl/strings/str_cat.h"
#include "service/error_details.h"

namespace etagd {

absl::Status ValidateWatchRequest(const etagd::v1::WatchRequest& request) {
  if (request.start_revision() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "start_revision must not be negative (got ", request.start_revision(),
        ")"));
  }
  if (request.initial_state() && request.start_revision() != 0) {
    return absl::InvalidArgumentError(
        "initial_state starts at the current revision: it takes no "
        "start_revision");
  }
  return absl::OkStatus();
}

absl::Status OutOfWindowError(absl::string_view message,
                              const ChangeWindow& window) {
  etagd::v1::WatchWindow detail;
  detail.set_oldest_revision(window.oldest_revision);
  detail.set_current_revision(window.committed_revision);
  return WatchWindowError(
      absl::StrCat(message, "; the oldest revision a watch can start from is ",
                   window.oldest_revision, ", the current revision is ",
                   window.committed_revision),
      detail);
}

absl::Status CheckWatchStart(int64_t start_revision,
                             const ChangeWindow& window) {
  if (start_revision >= window.oldest_revision) return absl::OkStatus();
  return OutOfWindowError(
      absl::StrCat("start_revision ", start_revision,
                   " is older than the changes the server keeps"),
      window);
}

}  // namespace etagd
