// One unary gRPC call whose request is raw bytes, for tests of what a server
// answers to bytes that no generated client would send.
#ifndef ETAGD_TESTS_TESTING_RAW_GRPC_CALL_H_
#define ETAGD_TESTS_TESTING_RAW_GRPC_CALL_H_

#include <memory>
#include <string>

#include "absl/time/time.h"
#include "grpcpp/channel.h"
#include "grpcpp/support/status.h"

namespace etagd {

// Calls `method` ("/package.Service/Method") on `channel` with `bytes` as
// the request message and waits for its status, at most `timeout`.
grpc::Status RawGrpcCall(const std::shared_ptr<grpc::Channel>& channel,
                         const std::string& method, const std::string& bytes,
                         absl::Duration timeout);

}  // namespace etagd

#endif  // ETAGD_TESTS_TESTING_RAW_GRPC_CALL_H_
