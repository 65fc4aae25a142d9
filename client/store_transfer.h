// etagctl export / import: copies a store's current resources, with their
// retained history, content, HTTP metadata and times, from one etagd to
// another through the public API (export) and Admin.ImportVersion (import),
// whatever the engines. Revisions and ETags are not carried over: the
// target hands out its own, so an ETag a client got from the source never
// matches on the target (If-None-Match gets a 200, If-Match a 412).
#ifndef ETAGD_CLIENT_STORE_TRANSFER_H_
#define ETAGD_CLIENT_STORE_TRANSFER_H_

#include <cstdint>
#include <functional>
#include <istream>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/client.h"

namespace etagd {

// Called with a one-line progress report (no newline), at most every
// `TransferOptions::progress_interval` and once at the end.
using ProgressReporter = std::function<void(absl::string_view line)>;

struct TransferOptions {
  absl::Duration progress_interval = absl::Seconds(2);
  ProgressReporter progress;
  // Import: also import resources the target already has that this import
  // did not write (their versions then follow the target's own).
  bool overwrite = false;
  // Attempts of one call that fails with UNAVAILABLE, DEADLINE_EXCEEDED or
  // ABORTED (every call is safe to repeat: reads, and imports, which write
  // a version at most once).
  int max_attempts = 5;
  // Import: calls in flight at once (each resource's versions stay in
  // order, one at a time).
  int parallelism = 8;
  // Import: most content bytes read ahead of the calls.
  int64_t max_bytes_in_flight = int64_t{64} << 20;
};

struct TransferStats {
  int64_t resources = 0;
  int64_t versions = 0;
  // Versions the target already had from an earlier run of the import.
  int64_t already_imported = 0;
  // Deletions at the start of a resource's history, which the target cannot
  // hold (nothing to delete there).
  int64_t skipped = 0;
  int64_t bytes = 0;
};

// Writes every current resource whose name starts with `prefix`, with its
// retained versions oldest first, to `out`. Each resource's versions are
// those retained when it is read: for an exact copy of a store that is being
// written, export from an etagd started on a checkpoint of it.
absl::StatusOr<TransferStats> ExportStore(Client& source,
                                          absl::string_view prefix,
                                          std::ostream& out,
                                          const TransferOptions& options);

// Imports an export read from `in` into `target`. Resumable: after an
// interruption (or an error), running it again with the same file writes
// only what is missing. Stops at the first error: a damaged file
// (DATA_LOSS, with what was imported before it kept), a resource the target
// already has (ALREADY_EXISTS, unless options.overwrite), the target
// refusing a version.
absl::StatusOr<TransferStats> ImportStore(Client& target, std::istream& in,
                                          const TransferOptions& options);

}  // namespace etagd

#endif  // ETAGD_CLIENT_STORE_TRANSFER_H_
