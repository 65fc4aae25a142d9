// gtest matchers for absl::Status and absl::StatusOr, which Debian's Abseil
// does not ship.
#ifndef ETAGD_TESTS_TESTING_STATUS_MATCHERS_H_
#define ETAGD_TESTS_TESTING_STATUS_MATCHERS_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "gmock/gmock.h"

namespace etagd {
namespace testing_internal {

inline const absl::Status& GetStatus(const absl::Status& status) {
  return status;
}
template <typename T>
const absl::Status& GetStatus(const absl::StatusOr<T>& status_or) {
  return status_or.status();
}

}  // namespace testing_internal

// Matches an OK absl::Status or absl::StatusOr.
MATCHER(IsOk, "is OK") {
  const absl::Status& status = testing_internal::GetStatus(arg);
  if (!status.ok()) *result_listener << "status: " << status;
  return status.ok();
}

// Matches a status (or StatusOr) with `code`.
MATCHER_P(StatusIs, code,
          "has code " + absl::StatusCodeToString(static_cast<absl::StatusCode>(code))) {
  const absl::Status& status = testing_internal::GetStatus(arg);
  *result_listener << "status: " << status;
  return status.code() == code;
}

// Matches a status (or StatusOr) with `code` whose message contains
// `substring`.
MATCHER_P2(StatusIs, code, substring,
           "has code " +
               absl::StatusCodeToString(static_cast<absl::StatusCode>(code)) +
               " and a message containing \"" + std::string(substring) + "\"") {
  const absl::Status& status = testing_internal::GetStatus(arg);
  *result_listener << "status: " << status;
  return status.code() == code &&
         std::string(status.message()).find(substring) != std::string::npos;
}

}  // namespace etagd

#endif  // ETAGD_TESTS_TESTING_STATUS_MATCHERS_H_
