// One watcher's bounded queue of responses-to-be: events, and the
// initial_state_end marker. Thread-compatible (the feed holds the watcher's
// lock around it).
#ifndef ETAGD_SERVICE_FEED_EVENT_QUEUE_H_
#define ETAGD_SERVICE_FEED_EVENT_QUEUE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>

#include "etagd/v1/etagd.pb.h"

namespace etagd {

struct EventQueueLimits {
  // Most entries held.
  int max_events = 128;
  // Most bytes of events held; one event is always admitted into an empty
  // queue, whatever its size.
  int64_t max_bytes = int64_t{256} << 10;
};

struct ResponseLimits {
  // Most events in one response, and their most bytes (a response holds at
  // least one event).
  int max_events = 256;
  int64_t max_bytes = int64_t{1} << 20;
};

// An event shared by every queue it is offered to (built once per change).
struct SharedEvent {
  explicit SharedEvent(etagd::v1::WatchEvent event_in)
      : event(std::make_shared<const etagd::v1::WatchEvent>(std::move(event_in))),
        bytes(static_cast<int64_t>(event->ByteSizeLong())) {}
  std::shared_ptr<const etagd::v1::WatchEvent> event;
  int64_t bytes;
};

class EventQueue {
 public:
  explicit EventQueue(EventQueueLimits limits) : limits_(limits) {}

  // Adds `event` (change events: revision order; initial ones: name order)
  // unless the queue is full; false if it is.
  bool TryPush(const SharedEvent& event);
  bool TryPush(etagd::v1::WatchEvent&& event) {
    return TryPush(SharedEvent(std::move(event)));
  }

  // Adds the initial_state_end marker for `revision`; it is always admitted.
  void PushInitialStateEnd(int64_t revision);

  // Takes the next response: the marker alone if it is first, otherwise
  // the leading events up to `limits` (of one kind: initial or changes).
  // Sets revision only for the marker; the caller sets it otherwise.
  // Precondition: !empty().
  etagd::v1::WatchResponse Take(const ResponseLimits& limits);

  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  // Bytes of the events held.
  int64_t bytes() const { return bytes_; }
  // Whether at most half of the limits is taken (the feed refills then).
  bool HalfEmpty() const;
  void Clear();

 private:
  struct Entry {
    std::shared_ptr<const etagd::v1::WatchEvent> event;
    bool initial = false;
    int64_t bytes = 0;
    // The initial_state_end marker (event unused) at this revision.
    bool initial_state_end = false;
    int64_t revision = 0;
  };

  const EventQueueLimits limits_;
  std::deque<Entry> entries_;
  int64_t bytes_ = 0;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_FEED_EVENT_QUEUE_H_
