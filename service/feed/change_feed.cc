#include "service/feed/change_feed.h"

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
#include "service/feed/watch_event.h"
#include "service/feed/watch_window.h"
#include "service/log.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

enum class Mode {
  // Listing the initial state from a view.
  kInitial,
  // Behind the dispatcher: read from the log by the catch-up thread.
  kCatchUp,
  // Fed by the dispatcher.
  kLive,
  // Ended (status_ says why).
  kDone,
};

// A Ready and what to call it with, run once no lock is held.
struct Completion {
  WatchStream::Ready ready;
  absl::StatusOr<v1::WatchResponse> result;
  void Run() { ready(std::move(result)); }
};

void RunAll(std::vector<Completion>& completions) {
  for (Completion& completion : completions) completion.Run();
  completions.clear();
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
  // The next revision this watcher needs: where catch-up reads on, and
  // below which a live watcher takes nothing.
  int64_t next_revision ABSL_GUARDED_BY(mu) = 1;
  // Every matching change up to this revision is queued or sent.
  int64_t covered ABSL_GUARDED_BY(mu) = 0;
  EventQueue queue ABSL_GUARDED_BY(mu);
  WatchStream::Ready pending ABSL_GUARDED_BY(mu);
  bool sent_any ABSL_GUARDED_BY(mu) = false;
  // The first response (but with initial_state) is a progress response at
  // this revision, so that a watch from now learns where "now" was: every
  // event it gets is above it.
  int64_t first_revision ABSL_GUARDED_BY(mu) = 0;
  absl::Time last_sent ABSL_GUARDED_BY(mu) = absl::InfinitePast();
  // The initial state being listed (touched by the catch-up thread only),
  // and the last name listed.
  std::unique_ptr<StoreView> view;
  std::string listed_after ABSL_GUARDED_BY(mu);

  // Ends the watcher with `error` (unless it has ended) and completes a
  // pending Next with it.
  std::optional<Completion> FailLocked(absl::Status error)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (mode != Mode::kDone) {
      mode = Mode::kDone;
      status = std::move(error);
      queue.Clear();
    }
    return CompleteLocked(absl::InfiniteFuture(), absl::ZeroDuration());
  }

  // The response a pending Next can have now: the error, queued events or
  // the marker, the first progress response, or a progress response once
  // `progress_every` has passed since the last one (as of `now`).
  std::optional<Completion> CompleteLocked(absl::Time now,
                                           absl::Duration progress_every)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (!pending) return std::nullopt;
    std::optional<Completion> completion;
    if (mode == Mode::kDone) {
      completion.emplace(Completion{std::move(pending), status});
    } else if (!sent_any && !request.initial_state()) {
      v1::WatchResponse progress;
      progress.set_revision(first_revision);
      completion.emplace(Completion{std::move(pending), std::move(progress)});
    } else if (!queue.empty()) {
      completion.emplace(
          Completion{std::move(pending), TakeLocked(ResponseLimits())});
    } else if (mode != Mode::kInitial && progress_every > absl::ZeroDuration() &&
               now - last_sent >= progress_every) {
      v1::WatchResponse progress;
      progress.set_revision(covered);
      completion.emplace(Completion{std::move(pending), std::move(progress)});
    } else {
      return std::nullopt;
    }
    pending = nullptr;
    sent_any = true;
    last_sent = absl::Now();
    return completion;
  }

  v1::WatchResponse TakeLocked(const ResponseLimits& limits)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    v1::WatchResponse response = queue.Take(limits);
    if (response.initial_state_end()) return response;
    if (response.events_size() > 0 && response.events(0).initial()) {
      // Initial-state events come in name order: nothing to promise yet.
      response.set_revision(0);
    } else if (queue.empty()) {
      response.set_revision(std::max(
          covered,
          response.events(response.events_size() - 1).resource().revision()));
    } else {
      response.set_revision(
          response.events(response.events_size() - 1).resource().revision());
    }
    return response;
  }
};

struct ChangeFeed::Hub {
  Hub(Store& store_in, ChangeFeedOptions options_in)
      : store(store_in), options(std::move(options_in)) {
    options.page_size = std::max(1, options.page_size);
  }

  Store& store;
  ChangeFeedOptions options;

  // Writers' commits only take this one (never mu, which the dispatcher
  // holds while it fans out).
  absl::Mutex notify_mu;
  // A commit was reported since the dispatcher last looked.
  bool notified ABSL_GUARDED_BY(notify_mu) = false;
  bool stop_dispatcher ABSL_GUARDED_BY(notify_mu) = false;

  mutable absl::Mutex mu ABSL_ACQUIRED_BEFORE(Watcher::mu);
  bool stopping ABSL_GUARDED_BY(mu) = false;
  // The dispatcher has offered every change up to this revision.
  int64_t dispatched ABSL_GUARDED_BY(mu) = 0;
  // Whether the store keeps a change log (else every Watch is UNIMPLEMENTED).
  absl::Status supported ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<Watcher*, std::shared_ptr<Watcher>> all ABSL_GUARDED_BY(mu);
  absl::flat_hash_set<Watcher*> live ABSL_GUARDED_BY(mu);
  absl::flat_hash_map<std::string, int> per_peer ABSL_GUARDED_BY(mu);
  // Watchers with catch-up (or initial-state) work, each at most once
  // (`scheduled`); the one being stepped may be queued again.
  std::deque<std::shared_ptr<Watcher>> catch_up ABSL_GUARDED_BY(mu);
  absl::flat_hash_set<Watcher*> scheduled ABSL_GUARDED_BY(mu);

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

  // The error for a read of the log that found `from` pruned.
  absl::Status WindowError(const absl::Status& status, absl::string_view what) {
    if (!absl::IsOutOfRange(status)) return status;
    absl::StatusOr<ChangeWindow> window = store.Changes();
    if (!window.ok()) return status;
    return OutOfWindowError(what, *window);
  }

  void Dispatch() {
    std::vector<Completion> completions;
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
        for (Watcher* watcher : live) {
          content = content || watcher->request.include_content();
        }
      }
      absl::StatusOr<ChangeWindow> window = store.Changes();
      std::optional<absl::StatusOr<ChangePage>> page;
      if (window.ok() && window->committed_revision >= from) {
        page = store.ReadChanges(from, window->committed_revision,
                                 options.page_size, content);
      }
      bool again = false;
      {
        absl::MutexLock lock(&mu);
        if (stopping) return;
        if (page.has_value() && page->ok()) {
          Offer(**page, completions);
          dispatched = (*page)->next_revision - 1;
          // More may be there already: look again at once.
          again = dispatched < window->committed_revision;
        } else if (page.has_value() && absl::IsOutOfRange(page->status())) {
          // Pruning passed the dispatcher (it fell behind by more than the
          // retention, or the revisions were pruned before it started): it
          // goes on from the oldest revision kept, and the live watchers
          // that needed revisions below it fell out of the window.
          absl::StatusOr<ChangeWindow> now = store.Changes();
          const absl::Status error = WindowError(
              page->status(), "the server fell behind its change log");
          std::vector<Watcher*> out;
          for (Watcher* watcher : live) {
            absl::MutexLock watcher_lock(&watcher->mu);
            if (!now.ok() || watcher->next_revision < now->oldest_revision) {
              if (auto done = watcher->FailLocked(error)) {
                completions.push_back(std::move(*done));
              }
              out.push_back(watcher);
            }
          }
          for (Watcher* watcher : out) live.erase(watcher);
          if (now.ok()) {
            dispatched = std::max(dispatched, now->oldest_revision - 1);
            again = true;
          }
        } else if (page.has_value()) {
          // The next tick reads again.
          Log(LogLevel::kWarning,
              absl::StrCat("change feed: cannot read the change log: ",
                           page->status().message()));
        }
        Progress(completions);
      }
      if (again) Notify();
      RunAll(completions);
    }
  }

  // Offers `page` to every live watcher; those that cannot take a change
  // move to catch-up from it.
  void Offer(ChangePage& page, std::vector<Completion>& completions)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    // Each change's event, with and without content, built once for all.
    std::vector<std::optional<SharedEvent>> events[2];
    events[0].resize(page.changes.size());
    events[1].resize(page.changes.size());
    std::vector<Watcher*> fell_behind;
    for (Watcher* watcher : live) {
      absl::MutexLock watcher_lock(&watcher->mu);
      bool behind = false;
      const bool content = watcher->request.include_content();
      for (size_t i = 0; i < page.changes.size(); ++i) {
        const Record& change = page.changes[i];
        if (change.revision < watcher->next_revision ||
            !WatchMatches(watcher->request, change.name)) {
          continue;
        }
        std::optional<SharedEvent>& event = events[content][i];
        if (!event.has_value()) event.emplace(ToWatchEvent(change, content, false));
        if (!watcher->queue.TryPush(*event)) {
          watcher->mode = Mode::kCatchUp;
          watcher->next_revision = change.revision;
          watcher->covered = change.revision - 1;
          behind = true;
          break;
        }
      }
      if (!behind) {
        watcher->next_revision =
            std::max(watcher->next_revision, page.next_revision);
        watcher->covered = std::max(
            watcher->covered,
            std::min(page.next_revision, watcher->next_revision) - 1);
      } else {
        fell_behind.push_back(watcher);
      }
      if (auto done =
              watcher->CompleteLocked(absl::Now(), options.progress_interval)) {
        completions.push_back(std::move(*done));
      }
    }
    for (Watcher* watcher : fell_behind) {
      live.erase(watcher);
      ScheduleLocked(all[watcher]);
    }
  }

  // Progress responses for every watcher due one.
  void Progress(std::vector<Completion>& completions)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu) {
    if (options.progress_interval <= absl::ZeroDuration()) return;
    const absl::Time now = absl::Now();
    const absl::Duration due = options.progress_interval - Tick();
    for (auto& [raw, watcher] : all) {
      absl::MutexLock watcher_lock(&watcher->mu);
      if (auto done = watcher->CompleteLocked(now, due)) {
        completions.push_back(std::move(*done));
      }
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
      const bool more = Step(*watcher);
      mu.Lock();
      if (more) ScheduleLocked(watcher);
    }
  }

  // One bounded step of `watcher`'s catch-up or initial state; true if it
  // can take more now.
  bool Step(Watcher& watcher) ABSL_LOCKS_EXCLUDED(mu) {
    std::vector<Completion> completions;
    bool more = false;
    {
      Mode mode;
      {
        absl::MutexLock watcher_lock(&watcher.mu);
        mode = watcher.mode;
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

  bool ListInitial(Watcher& watcher, std::vector<Completion>& completions) {
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
      if (auto done = watcher.FailLocked(failed)) {
        completions.push_back(std::move(*done));
      }
      return false;
    }
    if (watcher.mode != Mode::kInitial) {
      watcher.view.reset();
      return false;
    }
    bool full = false;
    for (const Record& record : page->records) {
      if (WatchMatches(request, record.name) &&
          !watcher.queue.TryPush(
              ToWatchEvent(record, request.include_content(), true))) {
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
    if (auto done =
            watcher.CompleteLocked(absl::Now(), options.progress_interval)) {
      completions.push_back(std::move(*done));
    }
    return watcher.queue.HalfEmpty();
  }

  bool ReadBehind(Watcher& watcher, std::vector<Completion>& completions)
      ABSL_LOCKS_EXCLUDED(mu) {
    int64_t from;
    int64_t to;
    {
      absl::MutexLock lock(&mu);
      absl::MutexLock watcher_lock(&watcher.mu);
      if (watcher.mode != Mode::kCatchUp) return false;
      if (watcher.next_revision > dispatched) {
        // Caught up: the dispatcher's next page starts at or before
        // next_revision, and it takes nothing below it.
        watcher.mode = Mode::kLive;
        watcher.covered = std::max(
            watcher.covered, std::min(watcher.next_revision - 1, dispatched));
        live.insert(&watcher);
        if (auto done =
                watcher.CompleteLocked(absl::Now(), options.progress_interval)) {
          completions.push_back(std::move(*done));
        }
        return false;
      }
      if (!watcher.queue.HalfEmpty()) return false;
      from = watcher.next_revision;
      to = dispatched;
    }
    absl::StatusOr<ChangePage> page = store.ReadChanges(
        from, to, options.page_size, watcher.request.include_content());
    absl::MutexLock watcher_lock(&watcher.mu);
    if (watcher.mode != Mode::kCatchUp) return false;
    if (!page.ok()) {
      if (auto done = watcher.FailLocked(WindowError(
              page.status(),
              absl::StrCat("the watcher fell behind the changes the server "
                           "keeps (it was at revision ",
                           from, ")")))) {
        completions.push_back(std::move(*done));
      }
      return false;
    }
    bool full = false;
    for (const Record& change : page->changes) {
      if (!WatchMatches(watcher.request, change.name)) continue;
      if (!watcher.queue.TryPush(ToWatchEvent(
              change, watcher.request.include_content(), false))) {
        watcher.next_revision = change.revision;
        watcher.covered = change.revision - 1;
        full = true;
        break;
      }
    }
    if (!full) {
      watcher.next_revision = page->next_revision;
      watcher.covered = page->next_revision - 1;
    }
    if (auto done =
            watcher.CompleteLocked(absl::Now(), options.progress_interval)) {
      completions.push_back(std::move(*done));
    }
    // Full: the consumer reschedules it once it has taken half. Otherwise
    // go on (the next step may find it caught up).
    return !full;
  }

  // Removes `watcher` (its stream is going) and ends it with `error`.
  void Remove(Watcher* watcher, const absl::Status& error) {
    std::optional<Completion> done;
    {
      absl::MutexLock lock(&mu);
      auto it = all.find(watcher);
      if (it != all.end()) {
        live.erase(watcher);
        auto peer = per_peer.find(watcher->peer);
        if (peer != per_peer.end() && --peer->second <= 0) per_peer.erase(peer);
        all.erase(it);
      }
      absl::MutexLock watcher_lock(&watcher->mu);
      done = watcher->FailLocked(error);
    }
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
    std::optional<Completion> done;
    bool refill = false;
    {
      absl::MutexLock lock(&watcher_->mu);
      watcher_->pending = std::move(ready);
      done = watcher_->CompleteLocked(absl::Now(),
                                      hub_->options.progress_interval);
      refill = (watcher_->mode == Mode::kCatchUp ||
                watcher_->mode == Mode::kInitial) &&
               watcher_->queue.HalfEmpty();
    }
    if (refill) hub_->Schedule(watcher_);
    if (done.has_value()) done->Run();
  }

  void Cancel() override {
    hub_->Remove(watcher_.get(), absl::CancelledError("the watch was cancelled"));
  }

 private:
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
    } else {
      hub_->supported = window.status();
    }
  }
  if (!window.ok()) return;
  Hub* hub = hub_.get();
  store.SetCommitListener([hub] { hub->Notify(); });
  hub_->dispatcher = std::thread([hub] { hub->Dispatch(); });
  hub_->catcher = std::thread([hub] { hub->CatchUp(); });
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
      if (auto done = watcher->FailLocked(error)) {
        completions.push_back(std::move(*done));
      }
    }
    hub_->live.clear();
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
                                           hub_->options.queue);
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
  {
    absl::MutexLock watcher_lock(&watcher->mu);
    if (request.initial_state()) {
      watcher->mode = Mode::kInitial;
      hub.ScheduleLocked(watcher);
    } else if (request.start_revision() == 0) {
      // From the store's revision now, which the dispatcher may not have
      // reached yet: it offers this watcher nothing below next_revision.
      const int64_t now = std::max(hub.dispatched, window.committed_revision);
      watcher->mode = Mode::kLive;
      watcher->next_revision = now + 1;
      watcher->covered = now;
      watcher->first_revision = now;
      hub.live.insert(watcher.get());
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
