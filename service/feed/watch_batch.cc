#include "service/feed/watch_batch.h"

#include <utility>

#include "google/protobuf/io/coded_stream.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;
using ::google::protobuf::io::CodedOutputStream;

// Protocol Buffers encoding: a field's key is (number << 3) | wire type.
constexpr uint32_t kEventsKey = (v1::WatchResponse::kEventsFieldNumber << 3) | 2;
constexpr uint32_t kRevisionKey = (v1::WatchResponse::kRevisionFieldNumber << 3) | 0;
constexpr uint32_t kInitialStateEndKey =
    (v1::WatchResponse::kInitialStateEndFieldNumber << 3) | 0;

void AppendVarint(uint64_t value, std::string& out) {
  uint8_t buffer[10];
  uint8_t* end = CodedOutputStream::WriteVarint64ToArray(value, buffer);
  out.append(reinterpret_cast<const char*>(buffer), end - buffer);
}

std::shared_ptr<const SharedEvent::Form> MakeForm(v1::WatchEvent event) {
  auto form = std::make_shared<SharedEvent::Form>();
  form->event = std::move(event);
  form->wire = form->event.SerializeAsString();
  return form;
}

}  // namespace

SharedEvent::SharedEvent(v1::WatchEvent event_in)
    : form(MakeForm(std::move(event_in))),
      bytes(static_cast<int64_t>(form->wire.size())) {}

v1::WatchResponse WatchBatch::ToProto() const {
  v1::WatchResponse response;
  response.mutable_events()->Reserve(static_cast<int>(events.size()));
  for (const SharedEvent& event : events) *response.add_events() = event.event();
  response.set_revision(revision);
  response.set_initial_state_end(initial_state_end);
  return response;
}

std::string WatchBatch::ToWire() const {
  size_t size = 24;
  for (const SharedEvent& event : events) size += event.form->wire.size() + 6;
  std::string wire;
  wire.reserve(size);
  // Fields in number order, as the message's own serializer writes them;
  // fields at their default are left out.
  for (const SharedEvent& event : events) {
    AppendVarint(kEventsKey, wire);
    AppendVarint(event.form->wire.size(), wire);
    wire.append(event.form->wire);
  }
  if (revision != 0) {
    AppendVarint(kRevisionKey, wire);
    AppendVarint(static_cast<uint64_t>(revision), wire);
  }
  if (initial_state_end) {
    AppendVarint(kInitialStateEndKey, wire);
    AppendVarint(1, wire);
  }
  return wire;
}

}  // namespace etagd
