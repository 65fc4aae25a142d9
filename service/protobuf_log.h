// Protobuf's own log messages, routed into etagd's log (log.h) at a bounded
// rate. Protobuf logs from the request path: parsing a message whose string
// field is not UTF-8 writes "String field ... contains invalid UTF-8 data",
// once per request, so a client could otherwise turn a flood of bad
// requests into a flood of log lines.
#ifndef ETAGD_SERVICE_PROTOBUF_LOG_H_
#define ETAGD_SERVICE_PROTOBUF_LOG_H_

#include <cstdint>
#include <optional>

#include "absl/time/time.h"

namespace etagd {

// Admits at most one event per interval. Not thread-safe.
class LogRateLimiter {
 public:
  explicit LogRateLimiter(absl::Duration interval) : interval_(interval) {}

  // If an event at `now` may be logged: how many were refused since the
  // last admitted one. nullopt: refused (and counted).
  std::optional<int64_t> Admit(absl::Time now);

 private:
  const absl::Duration interval_;
  absl::Time last_ = absl::InfinitePast();
  int64_t refused_ = 0;
};

// Installs the handler for the whole process: one record per `interval` at
// most (saying how many were left out), except fatal messages, which are
// always logged. Call once at startup.
void RouteProtobufLogs(absl::Duration interval = absl::Minutes(1));

}  // namespace etagd

#endif  // ETAGD_SERVICE_PROTOBUF_LOG_H_
