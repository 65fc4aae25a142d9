// etagctl watch's output: one line per event. Pure.
#ifndef ETAGD_CLIENT_WATCH_FORMAT_H_
#define ETAGD_CLIENT_WATCH_FORMAT_H_

#include <string>

#include "etagd/v1/etagd.pb.h"

namespace etagd {

// "<revision>\t<kind>\t<name>\t<etag>\n" for each event of `response`
// (kind: put, delete, or initial for initial-state events; a deletion has
// no etag), "<revision>\tinitial-state-end\n" for the marker, and nothing
// for a progress notification.
std::string FormatWatchResponse(const etagd::v1::WatchResponse& response);

}  // namespace etagd

#endif  // ETAGD_CLIENT_WATCH_FORMAT_H_
