// Operator calls (etagd.v1.Admin), transport-free like resource_service.h.
#ifndef ETAGD_SERVICE_ADMIN_SERVICE_H_
#define ETAGD_SERVICE_ADMIN_SERVICE_H_

#include <string>

#include "absl/status/statusor.h"
#include "etagd/v1/etagd.pb.h"
#include "service/store/store.h"

namespace etagd {

struct AdminServiceOptions {
  // Directory checkpoints are written under; empty disables them.
  std::string checkpoint_dir;
};

// Safe for concurrent use; `store` must outlive it.
class AdminService {
 public:
  AdminService(Store& store, AdminServiceOptions options)
      : store_(store), options_(std::move(options)) {}

  absl::StatusOr<etagd::v1::CreateCheckpointResponse> CreateCheckpoint(
      const etagd::v1::CreateCheckpointRequest& request);

 private:
  Store& store_;
  const AdminServiceOptions options_;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_ADMIN_SERVICE_H_
