#include "service/protobuf_log.h"

#include <string>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "google/protobuf/stubs/logging.h"
#include "service/log.h"

namespace etagd {
namespace {

struct RoutedLog {
  explicit RoutedLog(absl::Duration interval) : limiter(interval) {}
  absl::Mutex mu;
  LogRateLimiter limiter ABSL_GUARDED_BY(mu);
};

RoutedLog* routed = nullptr;  // Set once by RouteProtobufLogs().

void Handle(google::protobuf::LogLevel level, const char* filename, int line,
            const std::string& message) {
  const bool fatal = level == google::protobuf::LOGLEVEL_FATAL;
  std::optional<int64_t> left_out;
  {
    absl::MutexLock lock(&routed->mu);
    left_out = routed->limiter.Admit(absl::Now());
  }
  if (!left_out.has_value() && !fatal) return;
  Log(level >= google::protobuf::LOGLEVEL_ERROR ? LogLevel::kError
                                                : LogLevel::kWarning,
      absl::StrCat("protobuf: ", message, " (", filename, ":", line, ")",
                   left_out.value_or(0) > 0
                       ? absl::StrCat("; ", *left_out,
                                      " more protobuf messages left out")
                       : ""));
}

}  // namespace

std::optional<int64_t> LogRateLimiter::Admit(absl::Time now) {
  if (now - last_ < interval_) {
    ++refused_;
    return std::nullopt;
  }
  last_ = now;
  const int64_t refused = refused_;
  refused_ = 0;
  return refused;
}

void RouteProtobufLogs(absl::Duration interval) {
  if (routed == nullptr) routed = new RoutedLog(interval);
  google::protobuf::SetLogHandler(&Handle);
}

}  // namespace etagd
