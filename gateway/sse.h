// The text/event-stream format (WHATWG HTML §9.2, "Server-sent events"):
// pure formatting of what etagd sends, and parsing of the Last-Event-ID a
// reconnecting EventSource sends back.
#ifndef ETAGD_GATEWAY_SSE_H_
#define ETAGD_GATEWAY_SSE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace etagd {

// One event: `event: <type>`, `id: <id>`, then one `data:` line per line of
// `data` (§9.2.6 joins them back with LF; CR, LF and CRLF all end a line),
// then the blank line that dispatches it. An empty `type` or `id` omits its
// field. CR, LF and NUL are dropped from `type` and `id`, which cannot carry
// them (§9.2.6: a line ends there; an id with NUL is ignored).
std::string FormatSseEvent(absl::string_view type, absl::string_view id,
                           absl::string_view data);

// A field-less id line and its blank line: sets the stream's last event ID
// (§9.2.6, "dispatch the event", step 1) without dispatching an event
// (step 2: the data buffer is empty), so a reconnect resumes after it.
std::string FormatSseIdOnly(absl::string_view id);

// A comment line (§9.2.5: a line starting with ':' is ignored), as a
// heartbeat that keeps proxies from closing an idle stream. Line breaks in
// `text` are dropped.
std::string FormatSseComment(absl::string_view text);

// `retry: <milliseconds>` (§9.2.6): the reconnection time the browser uses.
std::string FormatSseRetry(absl::Duration delay);

// The revision in a Last-Event-ID field: decimal digits only (as etagd's ids
// are), positive, at most int64's maximum. Anything else is nullopt: an
// unknown id is not ours and cannot be resumed from.
std::optional<int64_t> ParseLastEventId(absl::string_view value);

}  // namespace etagd

#endif  // ETAGD_GATEWAY_SSE_H_
