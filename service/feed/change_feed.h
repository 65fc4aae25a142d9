// The change feed hub: serves every Watch (etagd.v1.Resources.Watch) from
// the store's change log (Store::ReadChanges), for every transport.
//
// How it keeps its promises:
// - One dispatcher thread reads each page of newly committed changes from
//   the log once (up to the store's committed_revision, so never a
//   revision that is still committing) into RecentChanges, the window of
//   the latest changes that every watcher shares: each change's event is
//   built once, whatever the number of watchers. It never blocks on a
//   watcher and never holds a lock the store's writers take: commits only
//   wake it.
// - A watcher is a cursor into that window. Its consumer's Next takes the
//   matching events from its cursor on, by reference, as one response; a
//   watcher waiting for changes is answered by the dispatcher as soon as a
//   page comes in. A watcher that does not read holds its cursor and the
//   one response it has not sent on, nothing more; it falls behind only
//   when the window has moved past its cursor, and is then caught up from
//   the log a bounded page at a time, by the catch-up thread, into a
//   bounded queue, until it is inside the window again.
// - Memory is bounded for the feed as a whole: the window by cache_bytes,
//   and what watchers hold (their queues and the responses they have not
//   sent on) by buffer_bytes, split evenly between max_watchers; an event
//   larger than a watcher's share goes out alone, drawing on half of
//   buffer_bytes, and waits while that is in use; a watcher that keeps such
//   an event unsent for slow_watcher_timeout while others wait is ended.
// - A watch from a past revision starts in the window if it is still
//   there, else from the log; one from a revision not written yet waits
//   for it (etcd's behaviour); one below the log's window ends with
//   OUT_OF_RANGE and a WatchWindow detail, as does a watcher the log's
//   window passed while it was behind: errors go out in place of whatever
//   is queued, so a full queue never holds them back.
// - initial_state lists a consistent view (Store::View) at revision R in
//   bounded pages, then queues the marker, then catches up from R + 1.
// - A watch's first response is a progress response (but with
//   initial_state): every event it will get is above its revision, so a
//   watch "from now" learns where now was. Every watcher with a Next
//   pending and nothing to send gets a progress response at least every
//   progress_interval, carrying the revision up to which it has everything.
#ifndef ETAGD_SERVICE_FEED_CHANGE_FEED_H_
#define ETAGD_SERVICE_FEED_CHANGE_FEED_H_

#include <cstdint>
#include <memory>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "etagd/v1/etagd.pb.h"
#include "service/feed/event_queue.h"
#include "service/feed/watch_stream.h"
#include "service/store/store.h"

namespace etagd {

struct ChangeFeedOptions {
  // A watcher waiting for changes gets a progress response at least this
  // often. Zero: none (other than the first).
  absl::Duration progress_interval = absl::Seconds(10);
  // Most open watchers, in total and per peer (Watch's `peer`);
  // RESOURCE_EXHAUSTED beyond. 0: no limit.
  int max_watchers = 10000;
  int max_watchers_per_peer = 1000;
  // Each watcher's queue.
  EventQueueLimits queue;
  // The largest response.
  ResponseLimits response;
  // Revisions with a change read from the log in one page (dispatch,
  // catch-up, and names per page of an initial state).
  int page_size = 512;
  // Bytes of the latest changes' events kept in memory for every watcher
  // to share (RecentChanges).
  int64_t cache_bytes = int64_t{64} << 20;
  // Bytes all watchers together may hold: their queues and the responses
  // they have not sent on. Each watcher gets buffer_bytes / (4 *
  // max_watchers) for each (at most queue.max_bytes and response.max_bytes)
  // and larger events share buffer_bytes / 2, one at a time per watcher.
  // 0 (or max_watchers 0): only queue and response limits, no bound for the
  // feed as a whole.
  int64_t buffer_bytes = int64_t{256} << 20;
  // A watcher that has held a large event (from buffer_bytes / 2) without
  // asking for its next response for this long, while another watcher
  // waits for that memory, is ended with RESOURCE_EXHAUSTED (it resumes
  // from its last revision + 1). Zero: never.
  absl::Duration slow_watcher_timeout = absl::Seconds(30);
};

// What the feed holds now (ChangeFeed::Usage).
struct ChangeFeedUsage {
  int watchers = 0;
  // Bytes of events in the shared window.
  int64_t cache_bytes = 0;
  // Bytes of events in watchers' queues and in responses not yet sent on.
  int64_t held_bytes = 0;
  // Each watcher's share of buffer_bytes (for its queue, and again for a
  // response in flight).
  int64_t watcher_bytes = 0;
};

// Thread-safe. `store` must outlive it; streams it returned may outlive it
// (they end with UNAVAILABLE when it shuts down).
class ChangeFeed {
 public:
  // Starts the feed's two threads and listens to the store's commits.
  ChangeFeed(Store& store, ChangeFeedOptions options);
  // Shutdown().
  ~ChangeFeed();

  ChangeFeed(const ChangeFeed&) = delete;
  ChangeFeed& operator=(const ChangeFeed&) = delete;

  // A watcher of `request`. Errors come through the stream's Next:
  // INVALID_ARGUMENT (a negative start_revision, initial_state with one),
  // OUT_OF_RANGE with a WatchWindow (start_revision below the window, or
  // the watcher fell out of it), RESOURCE_EXHAUSTED (too many watchers),
  // UNAVAILABLE (shut down), UNIMPLEMENTED (an engine with no change log).
  std::unique_ptr<WatchStream> Watch(const etagd::v1::WatchRequest& request);
  // The same, counted against max_watchers_per_peer for `peer` (a
  // connection, as the transport names it).
  std::unique_ptr<WatchStream> Watch(const etagd::v1::WatchRequest& request,
                                     absl::string_view peer);

  // Ends every stream with UNAVAILABLE (pending Nexts complete before this
  // returns), refuses new ones the same way, and stops the threads. Later
  // calls do nothing.
  void Shutdown();

  // Open watchers (streams not yet destroyed or cancelled).
  int watchers() const;
  // The memory the feed holds now, as its limits count it.
  ChangeFeedUsage Usage() const;

  struct Hub;

 private:
  const std::shared_ptr<Hub> hub_;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_FEED_CHANGE_FEED_H_
