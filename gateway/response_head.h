// The bytes of an HTTP/1.1 response's head (RFC 9112 §4 status line, §5
// field lines, the empty line), written straight from the message instead
// of through Beast's generic serializer.
#ifndef ETAGD_GATEWAY_RESPONSE_HEAD_H_
#define ETAGD_GATEWAY_RESPONSE_HEAD_H_

#include <string>

#include "gateway/gateway.h"

namespace etagd {

// Appends to `out` what Beast's serializer writes before the body of
// `response`: "HTTP/1.x NNN reason\r\n", each field as "Name: value\r\n" in
// order, and "\r\n". Framing fields (Content-Length, Connection) are
// written as they are set, never added: the caller frames the message. The
// body is not written; it follows the head unchanged (no chunked coding).
void AppendResponseHead(const HttpResponse& response, std::string* out);

}  // namespace etagd

#endif  // ETAGD_GATEWAY_RESPONSE_HEAD_H_
