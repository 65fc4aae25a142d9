// Which changes a watcher gets, and the API form of a change. Pure.
#ifndef ETAGD_SERVICE_FEED_WATCH_EVENT_H_
#define ETAGD_SERVICE_FEED_WATCH_EVENT_H_

#include "absl/strings/string_view.h"
#include "etagd/v1/etagd.pb.h"
#include "service/store/record.h"

namespace etagd {

// Whether a change to `name` is for the watcher of `request`: its name
// starts with request.prefix (equals it, with request.exact).
bool WatchMatches(const etagd::v1::WatchRequest& request,
                  absl::string_view name);

// The event for `record` (a version, or a deletion with deleted == true).
// A version's event carries the record's metadata, and its content only
// with `include_content`; a deletion's its name, revision and update time.
etagd::v1::WatchEvent ToWatchEvent(const Record& record, bool include_content,
                                   bool initial);

}  // namespace etagd

#endif  // ETAGD_SERVICE_FEED_WATCH_EVENT_H_
