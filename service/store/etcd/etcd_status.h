// What an error from etcd's gRPC API means for etagd: the one table the etcd
// engine translates etcd's errors through (etcd 3.4's v3rpc/rpctypes
// error.go and the gRPC codes its client library sees). Pure.
#ifndef ETAGD_SERVICE_STORE_ETCD_ETCD_STATUS_H_
#define ETAGD_SERVICE_STORE_ETCD_ETCD_STATUS_H_

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace etagd {

struct EtcdError {
  // Whether a write that failed this way may have been applied all the
  // same (etcd's "the client may be uncertain", learning/api_guarantees.md).
  // When false, etcd refused the request before proposing it.
  bool maybe_applied = false;
  // Whether trying again (on another member, after a backoff) may succeed:
  // always allowed for reads; for writes only if !maybe_applied.
  bool transient = false;
  // A revision given in the request is older than etcd's compaction: a
  // pinned read must start over at a current revision.
  bool compacted = false;
  // The auth token expired or was revoked: authenticate again, then retry.
  bool token_invalid = false;
  // What etagd answers if it gives up: the status etagd's clients see.
  absl::Status status;
};

// Classifies an etcd call that ended with `code` (a gRPC code, numerically
// an absl::StatusCode) and `message`, for a call that `is_write`. `what`
// names the operation in the status message ("reading", "writing").
// `code` must not be kOk.
EtcdError ClassifyEtcdError(absl::StatusCode code, absl::string_view message,
                            bool is_write, absl::string_view what);

}  // namespace etagd

#endif  // ETAGD_SERVICE_STORE_ETCD_ETCD_STATUS_H_
