// Operator calls (etagd.v1.Admin), transport-free like resource_service.h.
#ifndef ETAGD_SERVICE_ADMIN_SERVICE_H_
#define ETAGD_SERVICE_ADMIN_SERVICE_H_

#include <string>

#include "absl/status/statusor.h"
#include "etagd/v1/etagd.pb.h"
#include "service/import_service.h"
#include "service/store/store.h"

namespace etagd {

struct AdminServiceOptions {
  // Directory checkpoints are written under; empty disables them.
  std::string checkpoint_dir;
  // For ImportVersion.
  ImportServiceOptions import;
};

// Safe for concurrent use; `store` must outlive it.
class AdminService {
 public:
  AdminService(Store& store, AdminServiceOptions options)
      : store_(store), options_(std::move(options)),
        import_(store, options_.import) {}

  absl::StatusOr<etagd::v1::CreateCheckpointResponse> CreateCheckpoint(
      const etagd::v1::CreateCheckpointRequest& request);

  // See import_service.h.
  absl::StatusOr<etagd::v1::ImportVersionResponse> ImportVersion(
      const etagd::v1::ImportVersionRequest& request) {
    return import_.ImportVersion(request);
  }

 private:
  Store& store_;
  const AdminServiceOptions options_;
  ImportService import_;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_ADMIN_SERVICE_H_
