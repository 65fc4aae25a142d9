// The change feed's in-memory window of the latest changes, shared by every
// watcher: each change's event is built once, and a watcher that is behind
// by less than the window takes its events from here (by reference) rather
// than reading the change log again. Bounded in bytes; the oldest changes
// leave first.
#ifndef ETAGD_SERVICE_FEED_RECENT_CHANGES_H_
#define ETAGD_SERVICE_FEED_RECENT_CHANGES_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "etagd/v1/etagd.pb.h"
#include "service/feed/event_queue.h"
#include "service/store/store.h"

namespace etagd {

// Thread-safe: one writer (the feed's dispatcher) appends while any number
// of readers collect.
class RecentChanges {
 public:
  // Holds at most `max_bytes` of events (at least the latest page's
  // changes are kept only while they fit). Covers nothing yet; the first
  // Append must start at `next_revision`.
  RecentChanges(int64_t max_bytes, int64_t next_revision);

  RecentChanges(const RecentChanges&) = delete;
  RecentChanges& operator=(const RecentChanges&) = delete;

  // Adds the changes of `page`, which must start where the last page
  // ended (revisions up to end() are covered). `with_content`: the page was
  // read with content, and its events carry it for watchers that ask.
  void Append(const ChangePage& page, bool with_content);

  // Forgets everything and starts over at `next_revision` (the log moved
  // on past the feed).
  void Reset(int64_t next_revision);

  // The window: every change with a revision in [begin(), end()] is held
  // (begin() == end() + 1 when it is empty).
  int64_t begin() const ABSL_LOCKS_EXCLUDED(mu_);
  // Every change up to end() has been appended. Readable without the lock
  // (Collect's callers use it to learn whether more came since).
  int64_t end() const { return end_.load(std::memory_order_acquire); }
  // The first revision from which every held change carries its content
  // (end() + 1 if the latest page was read without content).
  int64_t content_begin() const ABSL_LOCKS_EXCLUDED(mu_);

  // The result of Collect.
  struct Collected {
    // The window did not reach back to `from` (content: with content): the
    // caller must read the change log instead. Nothing else is set.
    bool behind = false;
    // Matching events, in revision order.
    std::vector<SharedEvent> events;
    // Where the next Collect starts: one past the last revision looked at.
    int64_t next_revision = 0;
  };
  // The events of changes from revision `from` on that `request` matches
  // (with content if it asks), until `max_events` or `max_bytes` are
  // reached (the first event always fits) or the window ends.
  Collected Collect(const etagd::v1::WatchRequest& request, int64_t from,
                    int max_events, int64_t max_bytes) const
      ABSL_LOCKS_EXCLUDED(mu_);

  // Bytes of events held now.
  int64_t bytes() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  struct Change {
    int64_t revision;
    SharedEvent plain;
    std::optional<SharedEvent> with_content;
  };

  void EvictLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const int64_t max_bytes_;
  mutable absl::Mutex mu_;
  std::deque<Change> changes_ ABSL_GUARDED_BY(mu_);
  int64_t begin_ ABSL_GUARDED_BY(mu_);
  int64_t content_begin_ ABSL_GUARDED_BY(mu_);
  int64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  // Written under mu_.
  std::atomic<int64_t> end_;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_FEED_RECENT_CHANGES_H_
