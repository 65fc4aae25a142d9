// The bytes of an HTTP/1.1 response's head (RFC 9112 §4 status line, §5
// field lines, the empty line), written straight from the message instead
// of through Beast's generic serializer.
#ifndef ETAGD_GATEWAY_RESPONSE_HEAD_H_
#define ETAGD_GATEWAY_RESPONSE_HEAD_H_

#include <string>

#include "absl/types/span.h"

#include "gateway/gateway.h"

namespace etagd {

// Appends to `out` what Beast's serializer writes before the body of
// `response`: "HTTP/1.x NNN reason\r\n", each field as "Name: value\r\n" in
// order, and "\r\n"; the lines of `more_fields` (HttpAnswer's) come as they
// are after the response's own. Framing fields (Content-Length,
// Connection) are written as they are set, never added: the caller frames
// the message. The body is not written; it follows the head unchanged (no
// chunked coding).
void AppendResponseHead(const HttpResponse& response, std::string* out,
                        absl::Span<const HeadLines> more_fields = {});

// `answer`'s response with its more_fields as fields of its own, after
// them: the message the server writes, for tests that look at fields.
HttpResponse WholeResponse(HttpAnswer answer);

}  // namespace etagd

#endif  // ETAGD_GATEWAY_RESPONSE_HEAD_H_
