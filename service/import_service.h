// Admin.ImportVersion: writes one version copied from another etagd (etagctl
// import) with its source times and metadata, transport-free like
// resource_service.h.
//
// Each imported write carries the request id "etagd-import/<import_id>/
// <source_revision>" (ImportRequestId). A resource whose current record has
// one from the same import at the same or a later source revision already
// holds the version, so re-running an import after an interruption writes
// each version at most once (the import is resumable: versions are imported
// oldest first, and it picks up after the last one written).
#ifndef ETAGD_SERVICE_IMPORT_SERVICE_H_
#define ETAGD_SERVICE_IMPORT_SERVICE_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "etagd/v1/etagd.pb.h"
#include "service/store/store.h"

namespace etagd {

// Where an imported record came from, as its request id records it.
struct ImportMark {
  std::string import_id;
  int64_t source_revision = 0;
};

// The request id of the write importing `source_revision` under `import_id`.
std::string ImportRequestId(absl::string_view import_id,
                            int64_t source_revision);

// The mark in `request_id`, or nullopt if it is not an import's.
std::optional<ImportMark> ParseImportRequestId(absl::string_view request_id);

// INVALID_ARGUMENT unless `import_id` is 16 lowercase hex digits.
absl::Status ValidateImportId(absl::string_view import_id);

struct ImportServiceOptions {
  // Largest content accepted, as for a Put (--max_content_bytes).
  int64_t max_content_bytes = int64_t{4} << 20;
};

// Safe for concurrent use; `store` must outlive it. Writes of one name
// racing with other writers are decided again (up to a bound, then ABORTED).
class ImportService {
 public:
  ImportService(Store& store, ImportServiceOptions options)
      : store_(store), options_(options) {}

  absl::StatusOr<etagd::v1::ImportVersionResponse> ImportVersion(
      const etagd::v1::ImportVersionRequest& request);

 private:
  Store& store_;
  const ImportServiceOptions options_;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_IMPORT_SERVICE_H_
