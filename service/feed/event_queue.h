// One watcher's bounded queue of responses-to-be: events, and the
// initial_state_end marker. Thread-compatible (the feed holds the watcher's
// lock around it).
#ifndef ETAGD_SERVICE_FEED_EVENT_QUEUE_H_
#define ETAGD_SERVICE_FEED_EVENT_QUEUE_H_

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>

#include "etagd/v1/etagd.pb.h"
#include "service/feed/watch_batch.h"

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
  WatchBatch Take(const ResponseLimits& limits);

  bool empty() const { return entries_.empty(); }
  size_t size() const { return entries_.size(); }
  // Bytes of the events held.
  int64_t bytes() const { return bytes_; }
  // Whether at most half of the limits is taken (the feed refills then).
  bool HalfEmpty() const;
  void Clear();

 private:
  struct Entry {
    std::optional<SharedEvent> event;
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
