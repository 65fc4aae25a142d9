#include "service/feed/change_feed.h"

#include <pthread.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <deque>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "service/feed/recent_changes.h"
#include "service/feed/watch_event.h"
#include "service/feed/watch_window.h"
#include "service/log.h"
#include "service/memory_budget.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

enum class Mode {
  // Listing the initial state from a view.
  kInitial,
  // Behind the shared window: read from the log by the catch-up thread.
  kCatchUp,
  // A cursor into the shared window (RecentChanges).
  kWindow,
  // Ended (status_ says why).
  kDone,
};

// Takes a watcher's next response, in whichever form its consumer asked.
using Deliver = std::function<void(absl::StatusOr<WatchBatch>)>;

// A Deliver and what to call it with, run once no lock is held (which is
// also where the response takes its API form).
struct Completion {
  Deliver deliver;
  absl::StatusOr<WatchBatch> result;
  void Run() { deliver(std::move(result)); }
};

void RunAll(std::vector<Completion>& completions) {
  for (Completion& completion : completions) completion.Run();
  completions.clear();
}

// The feed's own threads yield to the rest of the server when the CPU is
// short: writers first, then watchers (which catch up from the window or
// the log). Lowering a thread's priority needs no privilege; the result is
// deliberately ignored, since a thread it fails for just runs at the
// normal priority.
void YieldToWriters() {
  constexpr int kNiceness = 5;
  (void)setpriority(PRIO_PROCESS, static_cast<id_t>(syscall(SYS_gettid)),
                    kNiceness);
}

// Names the calling thread (at most 15 characters), for top -H, perf and
// /proc; a name it cannot set is no loss.
void NameThread(const char* name) {
  (void)pthread_setname_np(pthread_self(), name);
}

}  // namespace

// One watcher's state. Guarded by mu; fields written only at construction
// are const.
struct Watcher {
  Watcher(v1::WatchRequest request_in, std::string peer_in,
          EventQueueLimits limits)
      : request(std::move(request_in)), peer(std::move(peer_in)), queue(limits) {}

  const v1::WatchRequest request;
  const std::string peer;

  absl::Mutex mu;
  Mode mode ABSL_GUARDED_BY(mu) = Mode::kCatchUp;
  absl::Status status ABSL_GUARDED_BY(mu);
  // The next revision this watcher needs: its cursor into the window, or
  // where catch-up reads on.
  int64_t next_revision ABSL_GUARDED_BY(mu) = 1;
  // Every matching change up to this revision is queued or sent.
  int64_t covered ABSL_GUARDED_BY(mu) = 0;
  EventQueue queue ABSL_GUARDED_BY(mu);
  Deliver pending ABSL_GUARDED_BY(mu);
  bool sent_any ABSL_GUARDED_BY(mu) = false;
  // The first response (but with initial_state) is a progress response at
  // this revision, so that a watch from now learns where "now" was: every
  // event it gets is above it.
  int64_t first_revision ABSL_GUARDED_BY(mu) = 0;
  absl::Time last_sent ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  // Bytes of events in the response given and not yet followed by a Next
  // (the consumer still holds or sends it).
  int64_t in_flight_bytes ABSL_GUARDED_BY(mu) = 0;
  // Bytes drawn from the feed's pool for one event larger than the
  // watcher's share: the one queued, and the one in flight.
  int64_t large_queued ABSL_GUARDED_BY(mu) = 0;
  int64_t large_in_flight ABSL_GUARDED_BY(mu) = 0;
  // The initial state being listed (touched by the catch-up thread only),
  // and the last name listed.
  std::unique_ptr<StoreView> view;
  std::string listed_after ABSL_GUARDED_BY(mu);
};

struct ChangeFeed::Hub {
  Hub(Store& store_in, ChangeFeedOptions options_in)
      : store(store_in),
        options(Normalized(std::move(options_in))),
        watcher_bytes(WatcherBytes(options)),
        large_events(LargeEventBytes(options)),
        response_limits{options.response.max_events,
                        std::min(options.response.max_bytes, watcher_bytes)},
        queue_limits{options.queue.max_events,
                     std::min(options.queue.max_bytes, watcher_bytes)} {}

  static ChangeFeedOptions Normalized(ChangeFeedOptions options) {
    options.page_size = std::max(1, options.page_size);
    options.response.max_events = std::max(1, options.response.max_events);
    options.queue.max_events = std::max(1, options.queue.max_events);
    return options;
  }
  static bool Bounded(const ChangeFeedOptions& options) {
    return options.buffer_bytes > 0 && options.max_watchers > 0;
  }
  static int64_t WatcherBytes(const ChangeFeedOptions& options) {
    int64_t share = std::max(options.queue.max_bytes, options.response.max_bytes);
    if (Bounded(options)) {
      share = std::min(share, options.buffer_bytes /
                                  (int64_t{4} * options.max_watchers));
    }
    return std::max<int64_t>(1, share);
  }
  static int64_t LargeEventBytes(const ChangeFeedOptions& options) {
    return Bounded(options) ? std::max<int64_t>(1, options.buffer_bytes / 2)
                            : 0;  // MemoryBudget: unbounded.
  }

  Store& store;
  const ChangeFeedOptions options;
  // Each watcher's share of buffer_bytes, for its queue and again for a
  // response in flight.
  const int64_t watcher_bytes;
  // Events larger than watcher_bytes draw on this.
  MemoryBudget large_events;
  const ResponseLimits response_limits;
  const EventQueueLimits queue_limits;

  // Writers' commits only take this one (never mu, which the dispatcher
  // holds while it fans out).
  absl::Mutex notify_mu;
  // A commit was reported (or pool memory freed) since the dispatcher last
  // looked.
  bool notified ABSL_GUARDED_BY(notify_mu) = false;
  bool stop_dispatcher ABSL_GUARDED_BY(notify_mu) = false;

  mutable absl::Mutex mu ABSL_ACQUIRED_BEFORE(Watcher::mu);
  bool stopping ABSL_GUARDED_BY(mu) = false;
  // The dispatcher has read every change up to this revision into window.
  int64_t dispatched ABSL_GUARDED_BY(mu) = 0;
  // Whether the store keeps a change log (else every Watch is UNIMPLEMENTED).
  absl::Status supported ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<Watcher*, std::shared_ptr<Watcher>> all ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<std::string, int> per_peer ABSL_GUARDED_BY(mu);
  // Watchers that asked for content: the dispatcher reads it while any do.
  int content_watchers ABSL_GUARDED_BY(mu) = 0;
  // Watchers with catch-up (or initial-state) work, each at most once
  // (`scheduled`); the one being stepped may be queued again.
  std::deque<std::shared_ptr<Watcher>> catch_up ABSL_GUARDED_BY(mu);
  absl::flat_hash_set<Watcher*> scheduled ABSL_GUARDED_BY(mu);

  std::unique_ptr<RecentChanges> window;

  // The catch-up thread's last pages of the log, shared by every watcher
  // behind the window whose cursor falls inside one (laggards tend to be
  // behind together): each change's event is built once per form.
  struct LogPage {
    int64_t from = 0;
    // One past the last revision covered; 0: no page.
    int64_t next = 0;
    bool content = false;
    std::vector<Record> changes;
    // About what the records hold (names and content).
    int64_t bytes = 0;
    // Built on first use: [0] without content, [1] with it.
    std::vector<std::optional<SharedEvent>> events[2];

    bool Covers(int64_t revision, bool with_content) const {
      return next > 0 && from <= revision && revision < next &&
             (content || !with_content);
    }
    const SharedEvent& Event(size_t i, bool with_content) {
      std::optional<SharedEvent>& event = events[with_content][i];
      if (!event.has_value()) {
        event.emplace(ToWatchEvent(changes[i], with_content, false));
      }
      return *event;
    }
  };
  // Touched by the catch-up thread only; the most recently read first. At
  // most kLogPages, and beyond the latest at most kLogPageBytes of them
  // (pages read with content can be large).
  static constexpr size_t kLogPages = 4;
  static constexpr int64_t kLogPageBytes = int64_t{16} << 20;
  std::deque<LogPage> log_pages;

  // Window watchers with a Next pending and nothing to send yet, and
  // watchers waiting for pool memory: the dispatcher answers them when a
  // page comes in (or memory is freed). Innermost lock.
  absl::Mutex waiting_mu ABSL_ACQUIRED_AFTER(Watcher::mu);
  absl::flat_hash_map<Watcher*, std::shared_ptr<Watcher>> waiting
      ABSL_GUARDED_BY(waiting_mu);
  // When a watcher last found the pool for large events full.
  absl::Time last_starved ABSL_GUARDED_BY(waiting_mu) = absl::InfinitePast();

  std::thread dispatcher;
  std::thread catcher;

  void Notify() {
    absl::MutexLock lock(&notify_mu);
    notified = true;
  }

  absl::Duration Tick() const {
    if (options.progress_interval <= absl::ZeroDuration()) {
      return absl::Milliseconds(200);
    }
    return std::clamp(options.progress_interval / 4, absl::Milliseconds(1),
                      absl::Milliseconds(500));
  }

  // Queues `watcher` for the catch-up thread unless it already is.
  void ScheduleLocked(const std::shared_ptr<Watcher>& watcher)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (stopping || !all.contains(watcher.get())) return;
    if (!scheduled.insert(watcher.get()).second) return;
    catch_up.push_back(watcher);
  }

  void Schedule(const std::shared_ptr<Watcher>& watcher) {
    absl::MutexLock lock(&mu);
    ScheduleLocked(watcher);
  }

  void AddWaiting(const std::shared_ptr<Watcher>& watcher) {
    absl::MutexLock lock(&waiting_mu);
    waiting.emplace(watcher.get(), watcher);
  }

  bool TryAcquireLarge(int64_t bytes) {
    if (large_events.TryAcquire(bytes)) return true;
    absl::MutexLock lock(&waiting_mu);
    last_starved = absl::Now();
    return false;
  }

  // The error for a read of the log that found `from` pruned.
  absl::Status WindowError(const absl::Status& status, absl::string_view what) {
    if (!absl::IsOutOfRange(status)) return status;
    absl::StatusOr<ChangeWindow> window = store.Changes();
    if (!window.ok()) return status;
    return OutOfWindowError(what, *window);
  }

  // Frees what the response the consumer had is holding (a Next means it
  // is done with it); true if pool memory came free.
  bool ReleaseInFlightLocked(Watcher& watcher)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(watcher.mu) {
    watcher.in_flight_bytes = 0;
    if (watcher.large_in_flight == 0) return false;
    large_events.Release(watcher.large_in_flight);
    watcher.large_in_flight = 0;
    return true;
  }

  // Ends the watcher with `error` (unless it has ended) and completes a
  // pending Next with it.
  std::optional<Completion> FailLocked(Watcher& watcher, absl::Status error)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(watcher.mu) {
    if (watcher.mode != Mode::kDone) {
      watcher.mode = Mode::kDone;
      watcher.status = std::move(error);
      watcher.queue.Clear();
      if (watcher.large_queued > 0) large_events.Release(watcher.large_queued);
      watcher.large_queued = 0;
      ReleaseInFlightLocked(watcher);
    }
    return CompleteLocked(watcher, absl::InfiniteFuture(),
                          absl::ZeroDuration());
  }

  // Adds `event` to the watcher's queue unless it is full; an event larger
  // than its share is admitted into an empty queue if the pool has room
  // (`starved` otherwise).
  bool PushLocked(Watcher& watcher, const SharedEvent& event, bool& starved)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(watcher.mu) {
    if (watcher.queue.empty() && event.bytes > queue_limits.max_bytes) {
      if (!TryAcquireLarge(event.bytes)) {
        starved = true;
        return false;
      }
      watcher.large_queued = event.bytes;
    }
    return watcher.queue.TryPush(event);
  }

  // The response a pending Next can have now: the error, queued events or
  // the marker, the first progress response, events from the window, or a
  // progress response once `progress_every` has passed since the last one
  // (as of `now`); events from the window only with `from_window`. Sets
  // `behind` if the window has moved past a window watcher (it is now in
  // catch-up: schedule it), `starved` if its next event waits for pool
  // memory.
  std::optional<Completion> CompleteLocked(Watcher& watcher, absl::Time now,
                                           absl::Duration progress_every,
                                           bool* behind = nullptr,
                                           bool* starved = nullptr,
                                           bool from_window = true)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(watcher.mu) {
    if (!watcher.pending) return std::nullopt;
    std::optional<absl::StatusOr<WatchBatch>> result;
    if (watcher.mode == Mode::kDone) {
      result.emplace(watcher.status);
    } else if (!watcher.sent_any && !watcher.request.initial_state()) {
      WatchBatch progress;
      progress.revision = watcher.first_revision;
      result.emplace(std::move(progress));
    } else if (!watcher.queue.empty()) {
      result.emplace(TakeLocked(watcher));
    } else if (watcher.mode == Mode::kWindow && from_window) {
      if (std::optional<WatchBatch> events =
              FromWindowLocked(watcher, behind, starved)) {
        result.emplace(*std::move(events));
      }
    }
    if (!result.has_value() && watcher.mode != Mode::kInitial &&
        watcher.mode != Mode::kDone && progress_every > absl::ZeroDuration() &&
        now - watcher.last_sent >= progress_every) {
      WatchBatch progress;
      progress.revision = watcher.covered;
      result.emplace(std::move(progress));
    }
    if (!result.has_value()) return std::nullopt;
    Completion completion{std::move(watcher.pending), *std::move(result)};
    watcher.pending = nullptr;
    watcher.sent_any = true;
    watcher.last_sent = absl::Now();
    return completion;
  }

  WatchBatch TakeLocked(Watcher& watcher)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(watcher.mu) {
    const int64_t before = watcher.queue.bytes();
    WatchBatch response = watcher.queue.Take(response_limits);
    watcher.in_flight_bytes = before - watcher.queue.bytes();
    // A large event is alone at the front of its queue: it was taken.
    if (watcher.large_queued > 0 && watcher.in_flight_bytes > 0) {
      watcher.large_in_flight = watcher.large_queued;
      watcher.large_queued = 0;
    }
    if (response.initial_state_end) return response;
    const int64_t last = response.events.back().event().resource().revision();
    if (response.events.front().event().initial()) {
      // Initial-state events come in name order: nothing to promise yet.
      response.revision = 0;
    } else if (watcher.queue.empty()) {
      response.revision = std::max(watcher.covered, last);
    } else {
      response.revision = last;
    }
    return response;
  }

  // The watcher's next events from the shared window, as a response; none
  // if nothing new matches (the cursor moves past what did not match), or
  // if the window has moved past the cursor (`behind`: the watcher is now
  // in catch-up) or the next event waits for pool memory (`starved`).
  std::optional<WatchBatch> FromWindowLocked(Watcher& watcher, bool* behind,
                                             bool* starved)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(watcher.mu) {
    RecentChanges::Collected collected =
        window->Collect(watcher.request, watcher.next_revision,
                        response_limits.max_events, response_limits.max_bytes);
    if (collected.behind) {
      watcher.mode = Mode::kCatchUp;
      if (behind != nullptr) *behind = true;
      return std::nullopt;
    }
    int64_t large = 0;
    if (collected.events.size() == 1 &&
        collected.events.front().bytes > response_limits.max_bytes) {
      large = collected.events.front().bytes;
      if (!TryAcquireLarge(large)) {
        if (starved != nullptr) *starved = true;
        return std::nullopt;
      }
    }
    watcher.next_revision = collected.next_revision;
    watcher.covered = std::max(watcher.covered, collected.next_revision - 1);
    if (collected.events.empty()) return std::nullopt;
    WatchBatch response;
    int64_t bytes = 0;
    for (const SharedEvent& event : collected.events) bytes += event.bytes;
    response.events = std::move(collected.events);
    // Every matching change below the next revision is in it.
    response.revision = collected.next_revision - 1;
    watcher.in_flight_bytes = bytes;
    watcher.large_in_flight = large;
    return response;
  }

  void Dispatch() {
    std::vector<Completion> completions;
    absl::Time last_progress = absl::InfinitePast();
    while (true) {
      {
        absl::MutexLock lock(&notify_mu);
        notify_mu.AwaitWithTimeout(
            absl::Condition(
                +[](Hub* hub) { return hub->stop_dispatcher || hub->notified; },
                this),
            Tick());
        if (stop_dispatcher) return;
        notified = false;
      }
      int64_t from;
      bool content = false;
      {
        absl::MutexLock lock(&mu);
        from = dispatched + 1;
        content = content_watchers > 0;
      }
      absl::StatusOr<ChangeWindow> log = store.Changes();
      std::optional<absl::StatusOr<ChangePage>> page;
      if (log.ok() && log->committed_revision >= from) {
        page = store.ReadChanges(from, log->committed_revision,
                                 options.page_size, content);
      }
      bool again = false;
      {
        absl::MutexLock lock(&mu);
        if (stopping) return;
        if (page.has_value() && page->ok()) {
          window->Append(**page, content);
          dispatched = (*page)->next_revision - 1;
          // More may be there already: look again at once.
          again = dispatched < log->committed_revision;
        } else if (page.has_value() && absl::IsOutOfRange(page->status())) {
          // Pruning passed the dispatcher (it fell behind by more than the
          // retention, or the revisions were pruned before it started): it
          // goes on from the oldest revision kept. Window watchers that
          // needed revisions below it find themselves behind, and the log
          // tells them they fell out of its window.
          absl::StatusOr<ChangeWindow> now = store.Changes();
          if (now.ok()) {
            dispatched = std::max(dispatched, now->oldest_revision - 1);
            window->Reset(dispatched + 1);
            again = true;
          }
        } else if (page.has_value()) {
          // The next tick reads again.
          Log(LogLevel::kWarning,
              absl::StrCat("change feed: cannot read the change log: ",
                           page->status().message()));
        }
      }
      ServeWaiting(completions);
      // Progress is due per watcher in whole ticks: one pass over every
      // watcher per tick, not per page.
      if (const absl::Time now = absl::Now(); now - last_progress >= Tick()) {
        last_progress = now;
        bool stop;
        {
          absl::MutexLock lock(&mu);
          stop = stopping;
          if (!stop) Progress(completions);
        }
        // What ServeWaiting took from its watchers is answered even when
        // the feed is shutting down: Shutdown finds those watchers without
        // a pending Next, so nothing else would answer them.
        if (stop) return RunAll(completions);
      }
      if (again) Notify();
      RunAll(completions);
    }
  }

  // Answers the waiting watchers that can be answered now; those that
  // cannot wait on (or, behind the window, move to catch-up).
  void ServeWaiting(std::vector<Completion>& completions)
      ABSL_LOCKS_EXCLUDED(mu, waiting_mu) {
    absl::flat_hash_map<Watcher*, std::shared_ptr<Watcher>> serve;
    {
      absl::MutexLock lock(&waiting_mu);
      serve.swap(waiting);
    }
    std::vector<std::shared_ptr<Watcher>> to_schedule;
    const absl::Time now = absl::Now();
    for (auto& [raw, watcher] : serve) {
      absl::MutexLock watcher_lock(&watcher->mu);
      if (watcher->mode == Mode::kDone) continue;
      if (watcher->mode != Mode::kWindow) {
        to_schedule.push_back(watcher);
        continue;
      }
      bool behind = false;
      bool starved = false;
      if (auto done = CompleteLocked(*watcher, now, options.progress_interval,
                                     &behind, &starved)) {
        completions.push_back(std::move(*done));
      } else if (behind) {
        to_schedule.push_back(watcher);
      } else if (watcher->pending) {
        AddWaiting(watcher);
      }
    }
    if (to_schedule.empty()) return;
    absl::MutexLock lock(&mu);
    for (const auto& watcher : to_schedule) ScheduleLocked(watcher);
  }

  // Ends the watchers that have held a large event unsent for
  // slow_watcher_timeout while others wait for that memory.
  void EndSlowHolders(std::vector<Completion>& completions)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (options.slow_watcher_timeout <= absl::ZeroDuration()) return;
    const absl::Time now = absl::Now();
    {
      absl::MutexLock lock(&waiting_mu);
      if (now - last_starved > 2 * Tick()) return;
    }
    bool freed = false;
    for (auto& [raw, watcher] : all) {
      absl::MutexLock watcher_lock(&watcher->mu);
      if (watcher->large_in_flight == 0 ||
          now - watcher->last_sent < options.slow_watcher_timeout) {
        continue;
      }
      freed = true;
      if (auto done = FailLocked(
              *watcher,
              absl::ResourceExhaustedError(absl::StrCat(
                  "the watcher held a large event unsent for more than ",
                  absl::FormatDuration(options.slow_watcher_timeout),
                  " while others waited for that memory; watch again from "
                  "the last revision received plus one")))) {
        completions.push_back(std::move(*done));
      }
    }
    if (freed) Notify();
  }

  // Progress responses for every watcher due one.
  void Progress(std::vector<Completion>& completions)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    EndSlowHolders(completions);
    if (options.progress_interval <= absl::ZeroDuration()) return;
    const absl::Time now = absl::Now();
    const absl::Duration due = options.progress_interval - Tick();
    for (auto& [raw, watcher] : all) {
      absl::MutexLock watcher_lock(&watcher->mu);
      bool behind = false;
      // Events from the window are ServeWaiting's: this pass only looks
      // at what is due anyway.
      if (auto done = CompleteLocked(*watcher, now, due, &behind, nullptr,
                                     /*from_window=*/false)) {
        completions.push_back(std::move(*done));
      }
      if (behind) ScheduleLocked(watcher);
    }
  }

  void CatchUp() {
    absl::MutexLock lock(&mu);
    while (true) {
      mu.Await(absl::Condition(
          +[](Hub* hub) ABSL_EXCLUSIVE_LOCKS_REQUIRED(hub->mu) {
            return hub->stopping || !hub->catch_up.empty();
          },
          this));
      if (stopping) return;
      std::shared_ptr<Watcher> watcher = std::move(catch_up.front());
      catch_up.pop_front();
      // Unmarked before the step: a consumer that makes room meanwhile
      // queues it again rather than finding it marked.
      scheduled.erase(watcher.get());
      mu.Unlock();
      // One page for this watcher, then the next watcher's turn.
      const bool more = Step(watcher);
      mu.Lock();
      if (more) ScheduleLocked(watcher);
    }
  }

  // One bounded step of `watcher`'s catch-up or initial state; true if it
  // can take more now.
  bool Step(const std::shared_ptr<Watcher>& watcher) ABSL_LOCKS_EXCLUDED(mu) {
    std::vector<Completion> completions;
    bool more = false;
    {
      Mode mode;
      {
        absl::MutexLock watcher_lock(&watcher->mu);
        mode = watcher->mode;
      }
      if (mode == Mode::kInitial) {
        more = ListInitial(watcher, completions);
      } else if (mode == Mode::kCatchUp) {
        more = ReadBehind(watcher, completions);
      }
    }
    RunAll(completions);
    return more;
  }

  bool ListInitial(const std::shared_ptr<Watcher>& shared,
                   std::vector<Completion>& completions) {
    Watcher& watcher = *shared;
    std::string after;
    {
      absl::MutexLock watcher_lock(&watcher.mu);
      if (watcher.mode != Mode::kInitial || !watcher.queue.HalfEmpty()) {
        return false;
      }
      after = watcher.listed_after;
    }
    const v1::WatchRequest& request = watcher.request;
    absl::Status failed;
    absl::StatusOr<ListPage> page = ListPage();
    if (watcher.view == nullptr) {
      // Brief: it waits for the commit in flight.
      absl::StatusOr<std::unique_ptr<StoreView>> view = store.View();
      if (view.ok()) {
        watcher.view = *std::move(view);
      } else {
        failed = view.status();
      }
    }
    if (failed.ok()) {
      page = watcher.view->List(request.prefix(), after, options.page_size,
                                request.include_content());
      failed = page.status();
    }
    absl::MutexLock watcher_lock(&watcher.mu);
    if (!failed.ok()) {
      watcher.view.reset();
      if (auto done = FailLocked(watcher, failed)) {
        completions.push_back(std::move(*done));
      }
      return false;
    }
    if (watcher.mode != Mode::kInitial) {
      watcher.view.reset();
      return false;
    }
    bool full = false;
    bool starved = false;
    for (const Record& record : page->records) {
      if (WatchMatches(request, record.name) &&
          !PushLocked(watcher,
                      SharedEvent(ToWatchEvent(record, request.include_content(),
                                               true)),
                      starved)) {
        full = true;
        break;
      }
      watcher.listed_after = record.name;
    }
    if (!full && !page->more) {
      const int64_t revision = watcher.view->revision();
      watcher.queue.PushInitialStateEnd(revision);
      watcher.view.reset();
      watcher.mode = Mode::kCatchUp;
      watcher.next_revision = revision + 1;
      watcher.covered = revision;
    }
    if (auto done = CompleteLocked(watcher, absl::Now(),
                                   options.progress_interval)) {
      completions.push_back(std::move(*done));
    }
    if (starved) {
      // Tried again when pool memory comes free.
      AddWaiting(shared);
      return false;
    }
    return watcher.queue.HalfEmpty();
  }

  bool ReadBehind(const std::shared_ptr<Watcher>& shared,
                  std::vector<Completion>& completions)
      ABSL_LOCKS_EXCLUDED(mu) {
    Watcher& watcher = *shared;
    int64_t from;
    int64_t to;
    {
      absl::MutexLock lock(&mu);
      absl::MutexLock watcher_lock(&watcher.mu);
      if (watcher.mode != Mode::kCatchUp) return false;
      if (watcher.next_revision >= window->begin() &&
          (!watcher.request.include_content() ||
           watcher.next_revision >= window->content_begin())) {
        // Inside the shared window: it takes its events from there now
        // (after what is queued).
        watcher.mode = Mode::kWindow;
        bool behind = false;
        bool starved = false;
        if (auto done = CompleteLocked(watcher, absl::Now(),
                                       options.progress_interval, &behind,
                                       &starved)) {
          completions.push_back(std::move(*done));
        } else if (behind) {
          ScheduleLocked(shared);
        } else if (watcher.pending) {
          AddWaiting(shared);
        }
        return false;
      }
      if (!watcher.queue.HalfEmpty()) return false;
      from = watcher.next_revision;
      to = dispatched;
    }
    const bool content = watcher.request.include_content();
    absl::StatusOr<LogPage*> read = ReadLog(from, to, content);
    absl::MutexLock watcher_lock(&watcher.mu);
    if (watcher.mode != Mode::kCatchUp) return false;
    if (!read.ok()) {
      if (auto done = FailLocked(
              watcher,
              WindowError(read.status(),
                          absl::StrCat("the watcher fell behind the changes "
                                       "the server keeps (it was at revision ",
                                       from, ")")))) {
        completions.push_back(std::move(*done));
      }
      return false;
    }
    LogPage& page = **read;
    bool full = false;
    bool starved = false;
    auto first = std::lower_bound(
        page.changes.begin(), page.changes.end(), from,
        [](const Record& change, int64_t revision) {
          return change.revision < revision;
        });
    for (size_t i = first - page.changes.begin(); i < page.changes.size(); ++i) {
      const Record& change = page.changes[i];
      if (!WatchMatches(watcher.request, change.name)) continue;
      if (!PushLocked(watcher, page.Event(i, content), starved)) {
        watcher.next_revision = change.revision;
        watcher.covered = change.revision - 1;
        full = true;
        break;
      }
    }
    if (!full) {
      watcher.next_revision = page.next;
      watcher.covered = page.next - 1;
    }
    if (auto done = CompleteLocked(watcher, absl::Now(),
                                   options.progress_interval)) {
      completions.push_back(std::move(*done));
    }
    if (starved) {
      AddWaiting(shared);
      return false;
    }
    // Full: the consumer reschedules it once it has taken half. Otherwise
    // go on (the next step may find it caught up).
    return !full;
  }

  // A page of the log that covers `from` (with content if asked): one
  // already read, or one read from there up to `to`.
  absl::StatusOr<LogPage*> ReadLog(int64_t from, int64_t to, bool content) {
    for (LogPage& page : log_pages) {
      if (page.Covers(from, content)) return &page;
    }
    absl::StatusOr<ChangePage> read =
        store.ReadChanges(from, to, options.page_size, content);
    if (!read.ok()) return read.status();
    LogPage& page = log_pages.emplace_front();
    page.from = from;
    page.next = read->next_revision;
    page.content = content;
    page.changes = std::move(read->changes);
    for (const Record& change : page.changes) {
      page.bytes += static_cast<int64_t>(change.name.size() + change.content.size());
    }
    for (auto& events : page.events) events.resize(page.changes.size());
    int64_t kept = 0;
    for (size_t i = 1; i < log_pages.size(); ++i) {
      kept += log_pages[i].bytes;
      if (i >= kLogPages || kept > kLogPageBytes) {
        log_pages.resize(i);
        break;
      }
    }
    return &log_pages.front();
  }

  // Removes `watcher` (its stream is going) and ends it with `error`.
  void Remove(Watcher* watcher, const absl::Status& error) {
    std::optional<Completion> done;
    bool freed = false;
    {
      absl::MutexLock lock(&mu);
      auto it = all.find(watcher);
      if (it != all.end()) {
        auto peer = per_peer.find(watcher->peer);
        if (peer != per_peer.end() && --peer->second <= 0) per_peer.erase(peer);
        if (watcher->request.include_content()) --content_watchers;
        all.erase(it);
      }
      absl::MutexLock watcher_lock(&watcher->mu);
      freed = watcher->large_queued > 0 || watcher->large_in_flight > 0;
      done = FailLocked(*watcher, error);
      absl::MutexLock waiting_lock(&waiting_mu);
      waiting.erase(watcher);
    }
    if (freed) Notify();
    if (done.has_value()) done->Run();
  }
};

namespace {

// The stream a watcher's consumer holds.
class FeedStream final : public WatchStream {
 public:
  FeedStream(std::shared_ptr<ChangeFeed::Hub> hub,
             std::shared_ptr<Watcher> watcher)
      : hub_(std::move(hub)), watcher_(std::move(watcher)) {}

  ~FeedStream() override { Cancel(); }

  void Next(Ready ready) override {
    Ask([ready = std::move(ready)](absl::StatusOr<WatchBatch> batch) {
      if (!batch.ok()) return ready(batch.status());
      ready(batch->ToProto());
    });
  }

  void NextSerialized(ReadySerialized ready) override {
    Ask([ready = std::move(ready)](absl::StatusOr<WatchBatch> batch) {
      if (!batch.ok()) return ready(batch.status());
      ready(batch->ToWire());
    });
  }

  void Cancel() override {
    hub_->Remove(watcher_.get(), absl::CancelledError("the watch was cancelled"));
  }

 private:
  void Ask(Deliver ready) {
    std::optional<Completion> done;
    bool schedule = false;
    bool freed = false;
    {
      absl::MutexLock lock(&watcher_->mu);
      freed = hub_->ReleaseInFlightLocked(*watcher_);
      watcher_->pending = std::move(ready);
      const int64_t seen = hub_->window->end();
      bool behind = false;
      bool starved = false;
      done = hub_->CompleteLocked(*watcher_, absl::Now(),
                                  hub_->options.progress_interval, &behind,
                                  &starved);
      if (!done.has_value() && watcher_->mode == Mode::kWindow && !behind) {
        hub_->AddWaiting(watcher_);
        // A page that came in after the look above may have been served
        // before this watcher was waiting: look again.
        if (hub_->window->end() != seen) {
          done = hub_->CompleteLocked(*watcher_, absl::Now(),
                                      hub_->options.progress_interval, &behind,
                                      &starved);
        }
      }
      schedule = behind || ((watcher_->mode == Mode::kCatchUp ||
                             watcher_->mode == Mode::kInitial) &&
                            watcher_->queue.HalfEmpty());
    }
    if (schedule) hub_->Schedule(watcher_);
    if (freed) hub_->Notify();
    if (done.has_value()) done->Run();
  }

  const std::shared_ptr<ChangeFeed::Hub> hub_;
  const std::shared_ptr<Watcher> watcher_;
};

// A stream that only ever answers `status`.
class FailedStream final : public WatchStream {
 public:
  explicit FailedStream(absl::Status status) : status_(std::move(status)) {}

  void Next(Ready ready) override { ready(status_); }

  // The stream has ended already: later Nexts keep its error.
  void Cancel() override {}

 private:
  const absl::Status status_;
};

}  // namespace

ChangeFeed::ChangeFeed(Store& store, ChangeFeedOptions options)
    : hub_(std::make_shared<Hub>(store, std::move(options))) {
  absl::StatusOr<ChangeWindow> window = store.Changes();
  {
    absl::MutexLock lock(&hub_->mu);
    if (window.ok()) {
      hub_->dispatched = window->committed_revision;
      hub_->window = std::make_unique<RecentChanges>(
          hub_->options.cache_bytes, window->committed_revision + 1);
    } else {
      hub_->supported = window.status();
    }
  }
  if (!window.ok()) return;
  Hub* hub = hub_.get();
  store.SetCommitListener([hub] { hub->Notify(); });
  hub_->dispatcher = std::thread([hub] {
    NameThread("feed-dispatch");
    YieldToWriters();
    hub->Dispatch();
  });
  hub_->catcher = std::thread([hub] {
    NameThread("feed-catch-up");
    YieldToWriters();
    hub->CatchUp();
  });
}

ChangeFeed::~ChangeFeed() { Shutdown(); }

void ChangeFeed::Shutdown() {
  std::vector<Completion> completions;
  {
    absl::MutexLock lock(&hub_->mu);
    if (hub_->stopping) return;
    hub_->stopping = true;
    const absl::Status error =
        absl::UnavailableError("the server is shutting down; watch again "
                               "from the last revision received plus one");
    for (auto& [raw, watcher] : hub_->all) {
      absl::MutexLock watcher_lock(&watcher->mu);
      if (auto done = hub_->FailLocked(*watcher, error)) {
        completions.push_back(std::move(*done));
      }
    }
    hub_->catch_up.clear();
    hub_->scheduled.clear();
  }
  {
    absl::MutexLock lock(&hub_->notify_mu);
    hub_->stop_dispatcher = true;
  }
  RunAll(completions);
  if (hub_->dispatcher.joinable()) {
    hub_->store.SetCommitListener(nullptr);
    hub_->dispatcher.join();
  }
  if (hub_->catcher.joinable()) hub_->catcher.join();
}

int ChangeFeed::watchers() const {
  absl::MutexLock lock(&hub_->mu);
  return static_cast<int>(hub_->all.size());
}

ChangeFeedUsage ChangeFeed::Usage() const {
  ChangeFeedUsage usage;
  usage.watcher_bytes = hub_->watcher_bytes;
  if (hub_->window != nullptr) usage.cache_bytes = hub_->window->bytes();
  absl::MutexLock lock(&hub_->mu);
  usage.watchers = static_cast<int>(hub_->all.size());
  for (auto& [raw, watcher] : hub_->all) {
    absl::MutexLock watcher_lock(&watcher->mu);
    usage.held_bytes += watcher->queue.bytes() + watcher->in_flight_bytes;
  }
  return usage;
}

std::unique_ptr<WatchStream> ChangeFeed::Watch(
    const etagd::v1::WatchRequest& request) {
  return Watch(request, "");
}

std::unique_ptr<WatchStream> ChangeFeed::Watch(
    const etagd::v1::WatchRequest& request, absl::string_view peer) {
  if (absl::Status valid = ValidateWatchRequest(request); !valid.ok()) {
    return std::make_unique<FailedStream>(valid);
  }
  absl::StatusOr<ChangeWindow> now = hub_->store.Changes();
  if (!now.ok()) return std::make_unique<FailedStream>(now.status());
  const ChangeWindow window = *now;
  if (request.start_revision() > 0) {
    if (absl::Status start = CheckWatchStart(request.start_revision(), window);
        !start.ok()) {
      return std::make_unique<FailedStream>(start);
    }
  }
  auto watcher = std::make_shared<Watcher>(request, std::string(peer),
                                           hub_->queue_limits);
  Hub& hub = *hub_;
  absl::MutexLock lock(&hub.mu);
  if (!hub.supported.ok()) return std::make_unique<FailedStream>(hub.supported);
  if (hub.stopping) {
    return std::make_unique<FailedStream>(
        absl::UnavailableError("the server is shutting down"));
  }
  if (hub.options.max_watchers > 0 &&
      static_cast<int>(hub.all.size()) >= hub.options.max_watchers) {
    return std::make_unique<FailedStream>(absl::ResourceExhaustedError(
        absl::StrCat("the server has its most watchers open (",
                     hub.options.max_watchers,
                     ", --watch_max_watchers); retry with backoff")));
  }
  if (!peer.empty()) {
    int& of_peer = hub.per_peer[std::string(peer)];
    if (hub.options.max_watchers_per_peer > 0 &&
        of_peer >= hub.options.max_watchers_per_peer) {
      return std::make_unique<FailedStream>(absl::ResourceExhaustedError(
          absl::StrCat("this connection has its most watchers open (",
                       hub.options.max_watchers_per_peer,
                       ", --watch_max_watchers_per_connection)")));
    }
    ++of_peer;
  }
  hub.all.emplace(watcher.get(), watcher);
  if (request.include_content()) ++hub.content_watchers;
  {
    absl::MutexLock watcher_lock(&watcher->mu);
    if (request.initial_state()) {
      watcher->mode = Mode::kInitial;
      hub.ScheduleLocked(watcher);
    } else if (request.start_revision() == 0) {
      // From the store's revision now (its log's, or its last acknowledged
      // write's if the log has not caught up with that yet), which the
      // dispatcher may not have reached: the cursor starts after it. A
      // watcher of content whose cursor the window cannot serve yet (it was
      // read without content) finds itself behind and catches up from the log.
      const int64_t now = std::max({hub.dispatched, window.committed_revision,
                                    window.acknowledged_revision});
      watcher->mode = Mode::kWindow;
      watcher->next_revision = now + 1;
      watcher->covered = now;
      watcher->first_revision = now;
    } else {
      watcher->mode = Mode::kCatchUp;
      watcher->next_revision = request.start_revision();
      watcher->covered =
          std::min(request.start_revision() - 1, hub.dispatched);
      watcher->first_revision = watcher->covered;
      hub.ScheduleLocked(watcher);
    }
  }
  return std::make_unique<FeedStream>(hub_, watcher);
}

}  // namespace etagd
