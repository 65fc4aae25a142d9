#include "tests/testing/fake_feed.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace etagd {

namespace v1 = ::etagd::v1;

class FakeFeed::Watcher final : public WatchStream {
 public:
  Watcher(FakeFeed& feed, v1::WatchRequest request, int64_t next)
      : feed_(feed), request_(std::move(request)), next_(next) {}

  ~Watcher() override {
    Cancel();
    absl::MutexLock lock(&feed_.mu_);
    feed_.watchers_.erase(this);
  }

  void Next(Ready ready) override {
    {
      absl::MutexLock lock(&feed_.mu_);
      pending_ = std::move(ready);
    }
    feed_.Wake();
  }

  void Cancel() override {
    Ready pending;
    absl::Status status;
    {
      absl::MutexLock lock(&feed_.mu_);
      if (!final_.has_value()) final_ = absl::CancelledError("cancelled");
      status = *final_;
      pending = std::move(pending_);
      pending_ = nullptr;
    }
    if (pending) pending(status);
  }

  // Under the feed's lock: what a pending Next gets now, if anything.
  std::optional<absl::StatusOr<v1::WatchResponse>> Answer(Ready& ready)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(feed_.mu_) {
    if (!pending_) return std::nullopt;
    if (!final_.has_value() && next_ < feed_.oldest_) {
      v1::WatchWindow window;
      window.set_oldest_revision(feed_.oldest_);
      window.set_current_revision(feed_.revision_);
      absl::Status status = absl::OutOfRangeError("start_revision is too old");
      status.SetPayload("type.googleapis.com/etagd.v1.WatchWindow",
                        absl::Cord(window.SerializeAsString()));
      final_ = status;
    }
    if (final_.has_value()) {
      ready = std::move(pending_);
      pending_ = nullptr;
      return absl::StatusOr<v1::WatchResponse>(*final_);
    }
    for (const v1::WatchEvent& event : feed_.log_) {
      const v1::Resource& r = event.resource();
      if (r.revision() < next_) continue;
      const bool match = request_.exact() ? r.name() == request_.prefix()
                                          : absl::StartsWith(r.name(), request_.prefix());
      if (!match) continue;
      v1::WatchResponse response;
      *response.add_events() = event;
      response.set_revision(r.revision());
      next_ = r.revision() + 1;
      ready = std::move(pending_);
      pending_ = nullptr;
      ++feed_.delivered_;
      return absl::StatusOr<v1::WatchResponse>(std::move(response));
    }
    if (progress_ && next_ <= feed_.revision_) {
      progress_ = false;
      v1::WatchResponse response;
      response.set_revision(feed_.revision_);
      next_ = feed_.revision_ + 1;
      ready = std::move(pending_);
      pending_ = nullptr;
      return absl::StatusOr<v1::WatchResponse>(std::move(response));
    }
    return std::nullopt;
  }

  FakeFeed& feed_;
  const v1::WatchRequest request_;
  int64_t next_ ABSL_GUARDED_BY(feed_.mu_);
  bool progress_ ABSL_GUARDED_BY(feed_.mu_) = false;
  Ready pending_ ABSL_GUARDED_BY(feed_.mu_);
  std::optional<absl::Status> final_ ABSL_GUARDED_BY(feed_.mu_);
};

std::unique_ptr<WatchStream> FakeFeed::Watch(const v1::WatchRequest& request) {
  absl::MutexLock lock(&mu_);
  const int64_t next =
      request.start_revision() > 0 ? request.start_revision() : revision_ + 1;
  auto watcher = std::make_unique<Watcher>(*this, request, next);
  watchers_.insert(watcher.get());
  return watcher;
}

void FakeFeed::Wake() {
  // Answers are handed out outside the lock, one round at a time, until no
  // watcher has one.
  while (true) {
    std::vector<std::pair<WatchStream::Ready, absl::StatusOr<v1::WatchResponse>>> answers;
    {
      absl::MutexLock lock(&mu_);
      for (Watcher* w : watchers_) {
        WatchStream::Ready ready;
        if (auto answer = w->Answer(ready)) {
          answers.emplace_back(std::move(ready), *std::move(answer));
        }
      }
    }
    if (answers.empty()) return;
    for (auto& [ready, answer] : answers) ready(std::move(answer));
  }
}

int64_t FakeFeed::Change(const std::string& name, bool deleted, int64_t revision) {
  int64_t assigned;
  {
    absl::MutexLock lock(&mu_);
    revision_ = std::max(revision_ + 1, revision);
    assigned = revision_;
    v1::WatchEvent event;
    event.set_deleted(deleted);
    v1::Resource& r = *event.mutable_resource();
    r.set_name(name);
    r.set_revision(assigned);
    r.set_etag(absl::StrCat("\"", absl::Hex(assigned), "-fake\""));
    r.mutable_update_time()->set_seconds(absl::ToUnixSeconds(absl::Now()));
    log_.push_back(std::move(event));
  }
  Wake();
  return assigned;
}

void FakeFeed::Progress() {
  {
    absl::MutexLock lock(&mu_);
    for (Watcher* w : watchers_) w->progress_ = true;
  }
  Wake();
}

void FakeFeed::Compact(int64_t oldest) {
  absl::MutexLock lock(&mu_);
  oldest_ = oldest;
  log_.erase(std::remove_if(log_.begin(), log_.end(),
                            [oldest](const v1::WatchEvent& e) {
                              return e.resource().revision() < oldest;
                            }),
             log_.end());
}

void FakeFeed::EndAll(absl::Status status) {
  {
    absl::MutexLock lock(&mu_);
    for (Watcher* w : watchers_) {
      if (!w->final_.has_value()) w->final_ = status;
    }
  }
  Wake();
}

int64_t FakeFeed::current_revision() {
  absl::MutexLock lock(&mu_);
  return revision_;
}

int FakeFeed::open_watchers() {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(watchers_.size());
}

int64_t FakeFeed::delivered() {
  absl::MutexLock lock(&mu_);
  return delivered_;
}

}  // namespace etagd
