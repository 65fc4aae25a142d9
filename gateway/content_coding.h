// Content codings (RFC 9110 §8.4) the gateway compresses with, and the
// proactive negotiation of one by Accept-Encoding (§12.5.3). Pure
// functions, apart from the coders themselves.
#ifndef ETAGD_GATEWAY_CONTENT_CODING_H_
#define ETAGD_GATEWAY_CONTENT_CODING_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace etagd {

// §12.5.3: the coding to send, from the Accept-Encoding field lines
// `lines`, among `available` (the server's codings, most preferred first);
// "" for identity. No field at all means identity (§12.5.3 allows any
// coding then, but clients that send none, such as curl without
// --compressed, mostly decode none). A coding is acceptable if listed, or
// covered by "*", with a qvalue above 0; the highest qvalue wins, the
// server's preference breaks ties, and identity wins over codings with a
// lower qvalue than its own. "x-gzip" is "gzip" (§8.4.1.3). Members that do
// not parse are ignored.
std::string NegotiateContentCoding(absl::Span<const absl::string_view> lines,
                                   const std::vector<std::string>& available);

// Whether a media type (a Content-Type value, parameters allowed) is worth
// compressing: text/*, JSON, XML, JavaScript, SVG and the like. Images,
// audio, video, archives and octet streams are usually compressed already.
bool IsCompressibleMediaType(absl::string_view content_type);

// `content` in `coding` ("gzip" or "br"). Deterministic: the same input
// gives the same bytes, as a strong entity-tag requires (§8.8.3).
// INVALID_ARGUMENT for other codings.
absl::StatusOr<std::string> EncodeContent(absl::string_view coding,
                                          absl::string_view content);

}  // namespace etagd

#endif  // ETAGD_GATEWAY_CONTENT_CODING_H_
