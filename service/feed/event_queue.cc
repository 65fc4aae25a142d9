#include "service/feed/event_queue.h"

#include <utility>

namespace etagd {

bool EventQueue::TryPush(const SharedEvent& event) {
  const int64_t bytes = event.bytes;
  if (!entries_.empty() &&
      (static_cast<int64_t>(entries_.size()) >= limits_.max_events ||
       bytes_ + bytes > limits_.max_bytes)) {
    return false;
  }
  Entry entry;
  entry.event = event;
  entry.initial = event.event().initial();
  entry.bytes = bytes;
  entry.revision = event.event().resource().revision();
  bytes_ += bytes;
  entries_.push_back(std::move(entry));
  return true;
}

void EventQueue::PushInitialStateEnd(int64_t revision) {
  Entry entry;
  entry.initial_state_end = true;
  entry.revision = revision;
  entries_.push_back(std::move(entry));
}

WatchBatch EventQueue::Take(const ResponseLimits& limits) {
  WatchBatch response;
  if (entries_.front().initial_state_end) {
    response.initial_state_end = true;
    response.revision = entries_.front().revision;
    entries_.pop_front();
    return response;
  }
  const bool initial = entries_.front().initial;
  int64_t bytes = 0;
  while (!entries_.empty()) {
    Entry& entry = entries_.front();
    if (entry.initial_state_end || entry.initial != initial) break;
    if (!response.events.empty() &&
        (static_cast<int>(response.events.size()) >= limits.max_events ||
         bytes + entry.bytes > limits.max_bytes)) {
      break;
    }
    bytes += entry.bytes;
    bytes_ -= entry.bytes;
    response.events.push_back(*std::move(entry.event));
    entries_.pop_front();
  }
  return response;
}

bool EventQueue::HalfEmpty() const {
  return static_cast<int64_t>(entries_.size()) * 2 <= limits_.max_events &&
         bytes_ * 2 <= limits_.max_bytes;
}

void EventQueue::Clear() {
  entries_.clear();
  bytes_ = 0;
}

}  // namespace etagd
