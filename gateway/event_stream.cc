#include "gateway/event_stream.h"

#include <deque>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/cord.h"
#include "absl/types/optional.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "gateway/http_errors.h"
#include "gateway/sse.h"
#include "google/protobuf/util/json_util.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

constexpr char kWatchWindowTypeUrl[] = "type.googleapis.com/etagd.v1.WatchWindow";

std::optional<v1::WatchWindow> GetWatchWindow(const absl::Status& status) {
  absl::optional<absl::Cord> payload = status.GetPayload(kWatchWindowTypeUrl);
  if (!payload.has_value()) return std::nullopt;
  v1::WatchWindow window;
  if (!window.ParseFromString(std::string(*payload))) return std::nullopt;
  return window;
}

// Whether a watch that ended with `status` ends its stream without a
// watch_error event: errors that a reconnect (EventSource's own, after
// `retry:`) may not meet again, the server going away above all.
bool EndsQuietly(const absl::Status& status) {
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kCancelled:
    case absl::StatusCode::kDeadlineExceeded:
    case absl::StatusCode::kAborted:
    case absl::StatusCode::kResourceExhausted:
      return true;
    default:
      return false;
  }
}

// The shared state of one event stream. The watch and the queue of pieces
// are the timer thread's alone; the HTTP side's pending Next and the close
// flag are under mu_.
class EventStreamCore : public std::enable_shared_from_this<EventStreamCore> {
 public:
  EventStreamCore(TimerQueue& timers, std::unique_ptr<WatchStream> watch,
                  EventStreamOptions options, const std::atomic<bool>& draining)
      : timers_(timers),
        watch_(std::move(watch)),
        options_(options),
        draining_(draining) {
    pieces_.push_back(FormatSseRetry(options_.retry));
  }

  // From the HTTP side.
  void Next(BodyStream::Ready ready) {
    {
      absl::MutexLock lock(&mu_);
      ready_ = std::move(ready);
    }
    timers_.Schedule(absl::ZeroDuration(), [self = shared_from_this()] { self->Serve(); });
  }

  // From the HTTP side: completes a pending Next, then releases the watch
  // on the timer thread.
  void Close() {
    BodyStream::Ready pending;
    {
      absl::MutexLock lock(&mu_);
      closed_ = true;
      pending = std::move(ready_);
      ready_ = nullptr;
    }
    if (pending) pending(std::nullopt);
    timers_.Schedule(absl::ZeroDuration(), [self = shared_from_this()] {
      if (self->heartbeat_ != 0) self->timers_.Cancel(self->heartbeat_);
      self->heartbeat_ = 0;
      self->watch_.reset();
    });
  }

 private:
  bool Closed() {
    absl::MutexLock lock(&mu_);
    return closed_;
  }

  // On the timer thread: answers the pending Next if there is something to
  // answer, else waits for the watch or the heartbeat.
  void Serve() {
    if (Closed() || watch_ == nullptr) return;
    if (!pieces_.empty()) {
      std::string piece = std::move(pieces_.front());
      pieces_.pop_front();
      return Deliver(std::move(piece));
    }
    if (ended_ || draining_.load()) return Deliver(std::nullopt);
    if (!watching_) {
      watching_ = true;
      watch_->Next([self = shared_from_this()](absl::StatusOr<v1::WatchResponse> r) {
        self->timers_.Schedule(absl::ZeroDuration(),
                               [self, r = std::move(r)]() mutable {
                                 self->OnWatch(std::move(r));
                               });
      });
    }
    if (heartbeat_ == 0) {
      heartbeat_ = timers_.Schedule(options_.heartbeat, [self = shared_from_this()] {
        self->heartbeat_ = 0;
        if (!self->Closed()) self->Deliver(FormatSseComment("heartbeat"));
      });
    }
  }

  void OnWatch(absl::StatusOr<v1::WatchResponse> response) {
    watching_ = false;
    if (Closed() || watch_ == nullptr) return;
    if (!response.ok()) {
      if (!EndsQuietly(response.status())) {
        pieces_.push_back(FormatWatchErrorEvent(response.status()));
      }
      ended_ = true;
    } else if (response->events_size() == 0) {
      // Progress, also "0" on an empty store: a reconnect then resumes
      // from revision 1 instead of "from now", which could skip a change.
      pieces_.push_back(FormatSseIdOnly(absl::StrCat(response->revision())));
    } else {
      for (const v1::WatchEvent& event : response->events()) {
        pieces_.push_back(FormatChangeEvent(event));
      }
    }
    bool asked;
    {
      absl::MutexLock lock(&mu_);
      asked = ready_ != nullptr;
    }
    if (asked) Serve();
  }

  // Answers the pending Next (if any) with `piece`.
  void Deliver(std::optional<std::string> piece) {
    if (heartbeat_ != 0) timers_.Cancel(heartbeat_);
    heartbeat_ = 0;
    BodyStream::Ready ready;
    {
      absl::MutexLock lock(&mu_);
      ready = std::move(ready_);
      ready_ = nullptr;
    }
    if (ready) {
      ready(std::move(piece));
    } else if (piece.has_value()) {
      pieces_.push_front(*std::move(piece));  // Keep it for the next Next.
    }
  }

  TimerQueue& timers_;
  std::unique_ptr<WatchStream> watch_;
  const EventStreamOptions options_;
  const std::atomic<bool>& draining_;
  // Formatted pieces not yet asked for: at most one watch response's worth.
  std::deque<std::string> pieces_;
  bool watching_ = false;
  bool ended_ = false;
  TimerQueue::Id heartbeat_ = 0;

  absl::Mutex mu_;
  BodyStream::Ready ready_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

class EventStreamBody final : public BodyStream {
 public:
  explicit EventStreamBody(std::shared_ptr<EventStreamCore> core)
      : core_(std::move(core)) {}
  ~EventStreamBody() override { core_->Close(); }

  void Next(Ready ready) override { core_->Next(std::move(ready)); }

 private:
  const std::shared_ptr<EventStreamCore> core_;
};

}  // namespace

std::string FormatChangeEvent(const v1::WatchEvent& event) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string json;
  if (!google::protobuf::util::MessageToJsonString(event, &json, options).ok()) {
    json = "{}";  // Only unknown Any types fail; a WatchEvent has none.
  }
  return FormatSseEvent("change", absl::StrCat(event.resource().revision()), json);
}

std::string FormatWatchErrorEvent(const absl::Status& status) {
  const int http_status = HttpStatusFor(status);
  std::string json =
      ErrorJson(http_status, absl::StatusCodeToString(status.code()), status.message());
  if (!json.empty() && json.back() == '\n') json.pop_back();  // One data line.
  if (std::optional<v1::WatchWindow> window = GetWatchWindow(status)) {
    // ErrorJson ends with "}}" (and maybe a newline): add the window's
    // fields inside the error object.
    const size_t end = json.rfind("}}");
    if (end != std::string::npos) {
      json.insert(end, absl::StrCat(", \"oldest_revision\": ", window->oldest_revision(),
                                    ", \"current_revision\": ",
                                    window->current_revision()));
    }
  }
  return FormatSseEvent("watch_error", "", json);
}

std::unique_ptr<BodyStream> NewEventStream(TimerQueue& timers,
                                           std::unique_ptr<WatchStream> watch,
                                           EventStreamOptions options,
                                           const std::atomic<bool>& draining) {
  return std::make_unique<EventStreamBody>(std::make_shared<EventStreamCore>(
      timers, std::move(watch), options, draining));
}

}  // namespace etagd
