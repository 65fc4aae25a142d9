#include "service/feed/recent_changes.h"

#include <algorithm>
#include <utility>

#include "service/feed/watch_event.h"

namespace etagd {

RecentChanges::RecentChanges(int64_t max_bytes, int64_t next_revision)
    : max_bytes_(std::max<int64_t>(0, max_bytes)),
      begin_(next_revision),
      content_begin_(next_revision),
      end_(next_revision - 1) {}

void RecentChanges::Append(const ChangePage& page, bool with_content) {
  absl::MutexLock lock(&mu_);
  for (const Record& record : page.changes) {
    Change change{record.revision, SharedEvent(ToWatchEvent(record, false, false)),
                  std::nullopt};
    bytes_ += change.plain.bytes;
    if (with_content) {
      change.with_content.emplace(ToWatchEvent(record, true, false));
      bytes_ += change.with_content->bytes;
    }
    changes_.push_back(std::move(change));
  }
  const int64_t end = std::max(end_.load(std::memory_order_relaxed),
                               page.next_revision - 1);
  if (!with_content) content_begin_ = end + 1;
  EvictLocked();
  end_.store(end, std::memory_order_release);
  if (changes_.empty()) begin_ = end + 1;
  content_begin_ = std::max(content_begin_, begin_);
}

void RecentChanges::Reset(int64_t next_revision) {
  absl::MutexLock lock(&mu_);
  changes_.clear();
  bytes_ = 0;
  begin_ = next_revision;
  content_begin_ = next_revision;
  end_.store(next_revision - 1, std::memory_order_release);
}

void RecentChanges::EvictLocked() {
  while (!changes_.empty() && bytes_ > max_bytes_) {
    Change& oldest = changes_.front();
    bytes_ -= oldest.plain.bytes;
    if (oldest.with_content.has_value()) bytes_ -= oldest.with_content->bytes;
    // Revisions between the evicted change and the next held one had no
    // change: the window starts right after it.
    begin_ = oldest.revision + 1;
    changes_.pop_front();
  }
}

int64_t RecentChanges::begin() const {
  absl::ReaderMutexLock lock(&mu_);
  return begin_;
}

int64_t RecentChanges::content_begin() const {
  absl::ReaderMutexLock lock(&mu_);
  return content_begin_;
}

int64_t RecentChanges::bytes() const {
  absl::ReaderMutexLock lock(&mu_);
  return bytes_;
}

RecentChanges::Collected RecentChanges::Collect(
    const etagd::v1::WatchRequest& request, int64_t from, int max_events,
    int64_t max_bytes) const {
  absl::ReaderMutexLock lock(&mu_);
  Collected collected;
  const bool content = request.include_content();
  if (from < begin_ || (content && from < content_begin_)) {
    collected.behind = true;
    return collected;
  }
  const int64_t end = end_.load(std::memory_order_relaxed);
  auto it = std::lower_bound(
      changes_.begin(), changes_.end(), from,
      [](const Change& change, int64_t revision) {
        return change.revision < revision;
      });
  int64_t bytes = 0;
  collected.next_revision = std::max(from, end + 1);
  for (; it != changes_.end(); ++it) {
    if (!WatchMatches(request, it->plain.event().resource().name())) continue;
    const SharedEvent& event = content ? *it->with_content : it->plain;
    if (!collected.events.empty() &&
        (static_cast<int>(collected.events.size()) >= max_events ||
         bytes + event.bytes > max_bytes)) {
      collected.next_revision = it->revision;
      break;
    }
    bytes += event.bytes;
    collected.events.push_back(event);
  }
  return collected;
}

}  // namespace etagd
