// The change feed hub: serves every Watch (etagd.v1.Resources.Watch) from
// the store's change log (Store::ReadChanges), for every transport.
//
// How it keeps its promises:
// - One dispatcher thread reads each page of newly committed changes from
//   the log once (up to the store's committed_revision, so never a
//   revision that is still committing) and offers each change to every
//   live watcher whose prefix it matches, into that watcher's bounded
//   queue. It never blocks on a watcher and never holds a lock the store's
//   writers take: commits only wake it.
// - A watcher whose queue is full is dropped from the live set at the
//   first change it could not take and caught up from the log later, a
//   bounded page at a time, by the catch-up thread, when its consumer has
//   taken half of its queue; once it reaches the dispatcher it is live
//   again. Memory per watcher is its queue; a watcher that never reads
//   costs that and nothing more.
// - A watch from a past revision starts in catch-up; one from a revision
//   not written yet waits for it (etcd's behaviour); one below the log's
//   window ends with OUT_OF_RANGE and a WatchWindow detail, as does a
//   watcher the window passed while it was behind: errors go out in place
//   of whatever is queued, so a full queue never holds them back.
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

  struct Hub;

 private:
  const std::shared_ptr<Hub> hub_;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_FEED_CHANGE_FEED_H_
