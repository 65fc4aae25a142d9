// A response of the change feed before it takes its API form: events
// shared between every watcher that gets them (each built and serialized
// once per change), so that fanning a change out to many watchers copies
// bytes, not messages.
#ifndef ETAGD_SERVICE_FEED_WATCH_BATCH_H_
#define ETAGD_SERVICE_FEED_WATCH_BATCH_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "etagd/v1/etagd.pb.h"

namespace etagd {

// One change's event in one form (with or without content), with its
// serialized bytes. Immutable; shared by every queue, window and batch it
// is in.
struct SharedEvent {
  explicit SharedEvent(etagd::v1::WatchEvent event_in);

  struct Form {
    etagd::v1::WatchEvent event;
    // event's wire format.
    std::string wire;
  };
  std::shared_ptr<const Form> form;
  // The size of the serialized event.
  int64_t bytes;

  const etagd::v1::WatchEvent& event() const { return form->event; }
};

// An etagd.v1.WatchResponse whose events are shared.
struct WatchBatch {
  std::vector<SharedEvent> events;
  int64_t revision = 0;
  bool initial_state_end = false;

  // The response as a message (events copied).
  etagd::v1::WatchResponse ToProto() const;
  // The response's wire format, built from each event's bytes: what
  // ToProto().SerializeAsString() would give, without a message.
  std::string ToWire() const;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_FEED_WATCH_BATCH_H_
