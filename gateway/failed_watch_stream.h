// A WatchStream that is over before it starts: every Next gets one error.
#ifndef ETAGD_GATEWAY_FAILED_WATCH_STREAM_H_
#define ETAGD_GATEWAY_FAILED_WATCH_STREAM_H_

#include <memory>

#include "absl/status/status.h"
#include "service/feed/watch_stream.h"

namespace etagd {

// Every Next is answered at once with `error` (not OK), or CANCELLED after
// Cancel. Thread-safe.
std::unique_ptr<WatchStream> NewFailedWatchStream(absl::Status error);

}  // namespace etagd

#endif  // ETAGD_GATEWAY_FAILED_WATCH_STREAM_H_
