#include "client/watch_format.h"

#include "absl/strings/str_cat.h"

namespace etagd {

std::string FormatWatchResponse(const etagd::v1::WatchResponse& response) {
  std::string out;
  for (const etagd::v1::WatchEvent& event : response.events()) {
    const etagd::v1::Resource& r = event.resource();
    absl::StrAppend(&out, r.revision(), "\t",
                    event.initial()   ? "initial"
                    : event.deleted() ? "delete"
                                      : "put",
                    "\t", r.name(), "\t", r.etag(), "\n");
  }
  if (response.initial_state_end()) {
    absl::StrAppend(&out, response.revision(), "\tinitial-state-end\n");
  }
  return out;
}

}  // namespace etagd
