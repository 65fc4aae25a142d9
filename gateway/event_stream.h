// A watch as a text/event-stream body (WHATWG HTML §9.2): what
// GET /v1/watch streams. The events, documented in the README:
//
//   event: change        one per change, `id:` its revision; data is the
//   id: <revision>       proto3 JSON of the etagd.v1.WatchEvent (the
//   data: {...}          resource's metadata as in listings, "deleted")
//
//   id: <revision>       a progress notification: moves the browser's last
//                        event ID forward without an event, so a reconnect
//                        resumes after it
//
//   event: watch_error   the watch failed for good (too old a resume
//   data: {"error":...}  point, not allowed, a bad Last-Event-ID): the JSON
//                        error shape of every other response, plus
//                        "oldest_revision" and "current_revision" for
//                        OUT_OF_RANGE; the stream ends after it, and the
//                        page should close its EventSource (a reconnect
//                        would meet the same error)
//
//   (the end, no event)  the server going away, too many watchers, and other
//                        errors a retry may cure (UNAVAILABLE, CANCELLED,
//                        DEADLINE_EXCEEDED, ABORTED, RESOURCE_EXHAUSTED):
//                        EventSource reconnects by itself and resumes
//
//   : heartbeat          a comment when nothing else was sent for the
//                        heartbeat interval
//
// ("error" is not used as an event type: EventSource fires its own "error"
// events at connection failures.)
#ifndef ETAGD_GATEWAY_EVENT_STREAM_H_
#define ETAGD_GATEWAY_EVENT_STREAM_H_

#include <atomic>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "etagd/v1/etagd.pb.h"
#include "gateway/body_stream.h"
#include "gateway/timer_queue.h"
#include "service/feed/watch_stream.h"

namespace etagd {

// The `change` event of one WatchEvent.
std::string FormatChangeEvent(const etagd::v1::WatchEvent& event);

// The `watch_error` event of the status that ended a watch.
std::string FormatWatchErrorEvent(const absl::Status& status);

struct EventStreamOptions {
  // A comment goes out when nothing else did for this long.
  absl::Duration heartbeat = absl::Seconds(15);
  // Sent first as `retry:`: how long a browser waits before it reconnects.
  absl::Duration retry = absl::Seconds(1);
};

// The body of an event stream over `watch`: `retry:`, then the events
// above, one piece per event; the watch is pulled only when the HTTP
// server asks for a piece. Once `draining` is true the body ends at the
// next piece asked for. The work is done on `timers`' thread (which must
// outlive the body's pending work); the returned BodyStream may be used
// from any thread.
std::unique_ptr<BodyStream> NewEventStream(TimerQueue& timers,
                                           std::unique_ptr<WatchStream> watch,
                                           EventStreamOptions options,
                                           const std::atomic<bool>& draining);

}  // namespace etagd

#endif  // ETAGD_GATEWAY_EVENT_STREAM_H_
