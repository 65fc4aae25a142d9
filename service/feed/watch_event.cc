#include "service/feed/watch_event.h"

#include <cstdint>

#include "absl/time/time.h"

namespace etagd {
namespace {

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t micros = absl::ToUnixMicros(t);
  int64_t seconds = micros / 1000000;
  int64_t rest = micros % 1000000;
  if (rest < 0) {
    rest += 1000000;
    --seconds;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(rest * 1000));
}

}  // namespace

bool WatchMatches(const etagd::v1::WatchRequest& request,
                  absl::string_view name) {
  const absl::string_view prefix = request.prefix();
  if (request.exact()) return name == prefix;
  return name.substr(0, prefix.size()) == prefix;
}

etagd::v1::WatchEvent ToWatchEvent(const Record& record, bool include_content,
                                   bool initial) {
  etagd::v1::WatchEvent event;
  event.set_initial(initial);
  etagd::v1::Resource* resource = event.mutable_resource();
  resource->set_name(record.name);
  resource->set_revision(record.revision);
  SetTimestamp(record.update_time, resource->mutable_update_time());
  if (record.deleted) {
    event.set_deleted(true);
    return event;
  }
  if (include_content) resource->set_content(record.content);
  resource->set_content_type(record.content_type);
  resource->set_etag(record.etag);
  resource->set_create_revision(record.create_revision);
  resource->set_version(record.version);
  SetTimestamp(record.create_time, resource->mutable_create_time());
  resource->set_content_length(record.content_length);
  return event;
}

}  // namespace etagd
