// Resources.Get without the API's messages, for a caller in etagd's own
// process (the HTTP gateway it hosts): the request with its preconditions
// already parsed, and the answer as the store's record. ResourceService
// answers the API's GetResourceRequest through these same types, so both
// forms are validated and evaluated (precondition.h) in one place.
#ifndef ETAGD_SERVICE_GET_QUERY_H_
#define ETAGD_SERVICE_GET_QUERY_H_

#include <cstdint>

#include "absl/strings/string_view.h"
#include "service/precondition.h"
#include "service/store/record.h"

namespace etagd {

// GetResourceRequest's fields (etagd.proto), its preconditions parsed.
struct GetQuery {
  // Borrowed: it must stay valid until the query is answered.
  absl::string_view name;
  // A retained revision; 0 reads the current version.
  int64_t revision = 0;
  // Read without content (HEAD): content_length still tells its size.
  bool metadata_only = false;
  Preconditions preconditions;
};

// GetResourceResponse's two outcomes. A failed precondition, an absent
// resource and every other failure are errors instead (as for the API).
struct GetAnswer {
  // If-None-Match or If-Modified-Since matched (RFC 9110 §13.2.2 steps 3-4,
  // 304): `version` carries what a NotModified does (etag, revision,
  // update_time, http metadata, content_type, content_length), no content.
  bool not_modified = false;
  // The selected version (a live one, never a deletion), with its content
  // unless not_modified or metadata_only.
  Record version;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_GET_QUERY_H_
