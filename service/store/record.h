// The unit of storage: one version of one resource, or the record of its
// deletion.
#ifndef ETAGD_SERVICE_STORE_RECORD_H_
#define ETAGD_SERVICE_STORE_RECORD_H_

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"

namespace etagd {

// The HTTP metadata a writer stores with a version and every read returns
// (RFC 9110 representation metadata and caching fields, and user pairs, as
// GCS and S3 keep them with an object). Empty strings are absent fields.
struct HttpMetadata {
  std::string cache_control;
  std::string content_disposition;
  // The stored bytes' own content coding (e.g. "gzip" for a pre-gzipped
  // file): they are sent as they are, never coded again.
  std::string content_encoding;
  std::string content_language;
  std::optional<absl::Time> expires;
  // User metadata, key to value (HTTP: X-Etagd-Meta-<key>).
  std::map<std::string, std::string> user;

  bool empty() const {
    return cache_control.empty() && content_disposition.empty() &&
           content_encoding.empty() && content_language.empty() &&
           !expires.has_value() && user.empty();
  }
  friend bool operator==(const HttpMetadata& a, const HttpMetadata& b) {
    return a.cache_control == b.cache_control &&
           a.content_disposition == b.content_disposition &&
           a.content_encoding == b.content_encoding &&
           a.content_language == b.content_language && a.expires == b.expires &&
           a.user == b.user;
  }
};

struct Record {
  std::string name;
  // Empty when read without content; content_length still holds its size.
  std::string content;
  int64_t content_length = 0;
  std::string content_type;
  // What the put stored with the content; empty for a deletion.
  HttpMetadata metadata;
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

// Makes `copy`, a default Record, a copy of `record` without its content
// (content_length still says its size): what a read without content gets
// from a cache that holds it.
inline void CopyWithoutContent(const Record& record, Record& copy) {
  copy.name = record.name;
  copy.content_length = record.content_length;
  copy.content_type = record.content_type;
  copy.metadata = record.metadata;
  copy.revision = record.revision;
  copy.create_revision = record.create_revision;
  copy.version = record.version;
  copy.create_time = record.create_time;
  copy.update_time = record.update_time;
  copy.etag = record.etag;
  copy.deleted = record.deleted;
  copy.request_id = record.request_id;
  copy.created = record.created;
  copy.past_request_ids = record.past_request_ids;
}

}  // namespace etagd

#endif  // ETAGD_SERVICE_STORE_RECORD_H_
