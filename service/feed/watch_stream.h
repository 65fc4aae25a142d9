// One watcher's end of a change feed (etagd.v1.Resources.Watch), shared by
// the gRPC stream, the HTTP gateway's long-polls and event streams, and
// etagd-gateway's client of a remote etagd. It is pull-based: the consumer
// asks for the next response only when it can send it on, so a slow client
// leaves its backlog in the feed's bounded queue (or the change log), never
// in a transport buffer.
#ifndef ETAGD_SERVICE_FEED_WATCH_STREAM_H_
#define ETAGD_SERVICE_FEED_WATCH_STREAM_H_

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "etagd/v1/etagd.pb.h"

namespace etagd {

// Thread-safe.
class WatchStream {
 public:
  using Ready = std::function<void(absl::StatusOr<etagd::v1::WatchResponse>)>;

  // Cancels the stream: a pending Next's `ready` is called with CANCELLED
  // before the destructor returns, if it was not called before.
  virtual ~WatchStream() = default;

  // Asks for the next response (events, a progress notification or the
  // initial_state_end marker). `ready` is called exactly once, on any thread
  // and possibly before Next returns, with that response or with the status
  // that ends the stream: OUT_OF_RANGE (details: WatchWindow) when the
  // watcher fell out of the retained window, UNAVAILABLE when the server
  // shuts down, CANCELLED after Cancel. After an error every later Next gets
  // the same error. At most one Next may be pending.
  virtual void Next(Ready ready) = 0;

  // As Next, with the response in etagd.v1.WatchResponse's wire format, for
  // a transport that sends it as it is: the feed builds it from each
  // event's bytes, serialized once for all watchers. The default
  // serializes Next's response.
  using ReadySerialized = std::function<void(absl::StatusOr<std::string>)>;
  virtual void NextSerialized(ReadySerialized ready) {
    Next([ready = std::move(ready)](
             absl::StatusOr<etagd::v1::WatchResponse> response) {
      if (!response.ok()) return ready(response.status());
      ready(response->SerializeAsString());
    });
  }

  // Ends the stream early: a pending Next completes with CANCELLED.
  virtual void Cancel() = 0;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_FEED_WATCH_STREAM_H_
