// Where a Watch may start (etcd's model): the decision on a
// request's start revision against the change log's window. Pure.
#ifndef ETAGD_SERVICE_FEED_WATCH_WINDOW_H_
#define ETAGD_SERVICE_FEED_WATCH_WINDOW_H_

#include <cstdint>

#include "absl/status/status.h"
#include "etagd/v1/etagd.pb.h"
#include "service/store/store.h"

namespace etagd {

// Checks `request` on its own: INVALID_ARGUMENT for a negative
// start_revision, or initial_state with a start_revision.
absl::Status ValidateWatchRequest(const etagd::v1::WatchRequest& request);

// Whether a watch can start at `start_revision` (> 0) in `window`: OK from
// window.oldest_revision on, including revisions not written yet (the watch
// waits for them); below it OUT_OF_RANGE with a WatchWindow detail
// (error_details.h) giving the oldest and the current revision.
absl::Status CheckWatchStart(int64_t start_revision,
                             const ChangeWindow& window);

// OUT_OF_RANGE with the WatchWindow of `window`, for a watcher that fell
// out of it: `message` says what happened.
absl::Status OutOfWindowError(absl::string_view message,
                              const ChangeWindow& window);

}  // namespace etagd

#endif  // ETAGD_SERVICE_FEED_WATCH_WINDOW_H_
