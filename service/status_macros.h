// Early-return helpers for absl::Status and absl::StatusOr, which Debian's
// Abseil (20220623) does not ship.
#ifndef ETAGD_SERVICE_STATUS_MACROS_H_
#define ETAGD_SERVICE_STATUS_MACROS_H_

#include "absl/status/status.h"
#include "absl/status/statusor.h"

// Returns the status of `expr` from the enclosing function if it is not OK.
#define ETAGD_RETURN_IF_ERROR(expr)                \
  do {                                             \
    ::absl::Status etagd_status_ = (expr);         \
    if (!etagd_status_.ok()) return etagd_status_; \
  } while (false)

#define ETAGD_CONCAT_INNER_(a, b) a##b
#define ETAGD_CONCAT_(a, b) ETAGD_CONCAT_INNER_(a, b)

// Evaluates `rexpr` (an absl::StatusOr<T>); returns its status if not OK,
// otherwise moves its value into `lhs` (a declaration or an lvalue).
#define ETAGD_ASSIGN_OR_RETURN(lhs, rexpr) \
  ETAGD_ASSIGN_OR_RETURN_IMPL_(ETAGD_CONCAT_(etagd_statusor_, __LINE__), lhs, rexpr)

#define ETAGD_ASSIGN_OR_RETURN_IMPL_(statusor, lhs, rexpr) \
  auto statusor = (rexpr);                                 \
  if (!statusor.ok()) return std::move(statusor).status(); \
  lhs = *std::move(statusor)

#endif  // ETAGD_SERVICE_STATUS_MACROS_H_
