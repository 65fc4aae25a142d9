// A unary gRPC call whose request arrives as bytes and is parsed by etagd,
// so that bytes which do not parse as the method's message answer
// INVALID_ARGUMENT with a message that says so. gRPC's typed handlers answer
// them without a message, UNIMPLEMENTED (callback API) or INTERNAL (sync
// API), and protobuf logs a line for each string field that is not UTF-8
// (service/protobuf_log.h keeps that from becoming a line per request).
//
// Parsing and serializing use gRPC's own SerializationTraits, the code its
// typed handlers run, so a call costs what it did.
#ifndef ETAGD_SERVICE_GRPC_RAW_CALL_H_
#define ETAGD_SERVICE_GRPC_RAW_CALL_H_

#include <atomic>
#include <utility>

#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/server_callback.h"
#include "service/grpc_status.h"
#include "service/memory_budget.h"

namespace etagd {

// One call: owns its request and response, and deletes itself when gRPC is
// done with it. Reply() or Fail() exactly once, from any thread.
template <typename Request, typename Response>
class RawUnaryCall final : public grpc::ServerUnaryReactor {
 public:
  // A call answering into `reply` (gRPC's response buffer of the call). If
  // `request_bytes` do not parse, the call is already answered
  // INVALID_ARGUMENT and parsed() is false.
  static RawUnaryCall* Start(const grpc::ByteBuffer& request_bytes,
                             grpc::ByteBuffer* reply) {
    auto* call = new RawUnaryCall(reply);
    grpc::ByteBuffer bytes(request_bytes);  // Parsing consumes it; shares slices.
    call->parsed_ =
        grpc::SerializationTraits<Request>::Deserialize(&bytes, &call->request_)
            .ok();
    if (!call->parsed_) {
      call->Finish(grpc::Status(
          grpc::StatusCode::INVALID_ARGUMENT,
          absl::StrCat("the request is not a valid ",
                       Request::descriptor()->full_name(),
                       " (malformed protobuf, or a string field that is not "
                       "UTF-8)")));
    }
    return call;
  }

  bool parsed() const { return parsed_; }
  const Request& request() const { return request_; }

  // Answers with `result`: the serialized response, or its status through
  // grpc_status.h's table.
  void Reply(absl::StatusOr<Response> result) {
    if (!result.ok()) return Fail(result.status());
    bool own_buffer = false;
    grpc::Status serialized = grpc::SerializationTraits<Response>::Serialize(
        *result, reply_, &own_buffer);
    Finish(serialized);
  }

  void Fail(const absl::Status& status) { Finish(ToGrpcStatus(status)); }

  // True once the client cancelled or the deadline passed.
  const std::atomic<bool>& cancelled() const { return cancelled_; }

  // Holds `bytes` of `budget` (already acquired) until gRPC is done with
  // the call: its response has been sent, or the call has ended.
  void HoldUntilDone(MemoryBudget& budget, int64_t bytes) {
    held_budget_ = &budget;
    held_bytes_ = bytes;
  }

  void OnCancel() override { cancelled_.store(true, std::memory_order_release); }
  void OnDone() override {
    if (held_budget_ != nullptr) held_budget_->Release(held_bytes_);
    delete this;
  }

 private:
  explicit RawUnaryCall(grpc::ByteBuffer* reply) : reply_(reply) {}

  grpc::ByteBuffer* const reply_;
  Request request_;
  bool parsed_ = false;
  std::atomic<bool> cancelled_{false};
  MemoryBudget* held_budget_ = nullptr;
  int64_t held_bytes_ = 0;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_GRPC_RAW_CALL_H_
