// The field lines of a resource version's GET and HEAD responses that change
// only when the resource is written, formatted once as the bytes the head
// carries (RFC 9112 §5: "Name: value\r\n" each), instead of as a message's
// fields per request.
#ifndef ETAGD_GATEWAY_VERSION_HEAD_H_
#define ETAGD_GATEWAY_VERSION_HEAD_H_

#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "service/store/record.h"

namespace etagd {

// One representation of a version (RFC 9110 §3.2), as the gateway sends it.
struct VersionRepresentation {
  // Its entity-tag: the version's, or the coded form's (CodedEntityTag).
  absl::string_view etag;
  // The version's update time (Last-Modified, §8.8.2).
  absl::Time last_modified;
  // The stored media type; empty sends application/octet-stream.
  absl::string_view content_type;
  // The version's stored HTTP metadata; null for none.
  const HttpMetadata* metadata = nullptr;
  // Cache-Control when the metadata has none; empty sends none.
  absl::string_view default_cache_control;
  // The content coding the gateway applied ("" for the stored bytes).
  absl::string_view coding;
  // Whether the choice of representation depended on Accept-Encoding.
  bool varies = false;
  // The representation's length in bytes (Content-Length of a 200).
  uint64_t content_length = 0;
};

// A version's field lines, a 304's first: lines[0, not_modified_size) are
// what a 304 carries besides Date (§15.4.5: ETag, Cache-Control, Expires,
// Vary), and, when `complete`, the rest is what a 200 adds (Last-Modified,
// Content-Type, Content-Disposition, Content-Encoding, Content-Language,
// X-Etagd-Meta-* in key order, Accept-Ranges, Content-Length), Content-Length
// last, so that a 206 takes the rest without it.
struct VersionHead {
  std::string lines;
  size_t not_modified_size = 0;
  // Where the Content-Length line starts, when complete.
  size_t unframed_size = 0;
  bool complete = false;

  absl::string_view not_modified() const {
    return absl::string_view(lines).substr(0, not_modified_size);
  }
  // A 200's lines but Content-Length (a 206 has its own).
  absl::string_view unframed() const {
    return absl::string_view(lines).substr(0, unframed_size);
  }
};

// The lines of `representation`: a 304's only, or with `complete` a 200's
// after them.
VersionHead FormatVersionHead(const VersionRepresentation& representation,
                              bool complete);

}  // namespace etagd

#endif  // ETAGD_GATEWAY_VERSION_HEAD_H_
