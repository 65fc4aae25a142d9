// The unit of storage: one version of one resource, or the record of its
// deletion.
#ifndef ETAGD_SERVICE_STORE_RECORD_H_
#define ETAGD_SERVICE_STORE_RECORD_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace etagd {

struct Record {
  std::string name;
  // Empty when read without content; content_length still holds its size.
  std::string content;
  int64_t content_length = 0;
  std::string content_type;
  // Revision of the write that produced this record (a put or a delete).
  int64_t revision = 0;
  // Revision of the put that created the resource; 0 for a deletion.
  int64_t create_revision = 0;
  // Writes since creation, 1 for the creating put; 0 for a deletion.
  int64_t version = 0;
  absl::Time create_time = absl::UnixEpoch();
  // When the write happened; never earlier than any update_time before it.
  absl::Time update_time = absl::UnixEpoch();
  // The strong entity-tag, in field-value form with quotes. For a deletion:
  // the entity-tag of the version it deleted.
  std::string etag;
  // This record is a deletion (a tombstone): the resource is absent.
  bool deleted = false;
  // The client request id of the write (AIP-155), empty if none was given.
  std::string request_id;
  // The put that produced this record created the resource.
  bool created = false;
  // Revision and request id of each retained past record of this name that
  // was written with a request id. Set by ReadCurrent only.
  std::vector<std::pair<int64_t, std::string>> past_request_ids;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_STORE_RECORD_H_
