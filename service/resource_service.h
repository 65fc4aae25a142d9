// The core of the API: validates requests, evaluates preconditions
// (precondition.h) against the store, and answers with the API's messages.
// Transport-free: the gRPC adapter and tests call it directly.
#ifndef ETAGD_SERVICE_RESOURCE_SERVICE_H_
#define ETAGD_SERVICE_RESOURCE_SERVICE_H_

#include <cstdint>
#include <functional>
#include <optional>

#include "absl/status/statusor.h"
#include "etagd/v1/etagd.pb.h"
#include "service/get_query.h"
#include "service/precondition.h"
#include "service/store/store.h"

namespace etagd {

struct ResourceServiceOptions {
  // Largest content a Put may store; larger is RESOURCE_EXHAUSTED.
  int64_t max_content_bytes = int64_t{4} << 20;
  // How often a write is retried when another writer changed the resource
  // between its read and its compare-and-write; then ABORTED.
  int max_write_attempts = 100;
};

// Safe for concurrent use; `store` must outlive it.
class ResourceService {
 public:
  ResourceService(Store& store, ResourceServiceOptions options);

  // NOT_FOUND if the resource (or revision) is absent, whatever the
  // preconditions say (RFC 9110 §13.2.1).
  absl::StatusOr<etagd::v1::GetResourceResponse> Get(
      const etagd::v1::GetResourceRequest& request);
  // Get's answer, given to `done` (on any thread, perhaps before this
  // returns); `request` must stay valid until then. It does not block if
  // GetsWithoutBlocking(request) (a read of the current record from a store
  // that reads without blocking), and `done` must not block then either.
  void GetAsync(
      const etagd::v1::GetResourceRequest& request,
      std::function<void(absl::StatusOr<etagd::v1::GetResourceResponse>)> done);
  bool GetsWithoutBlocking(const etagd::v1::GetResourceRequest& request) const;

  // The same three for a GetQuery (get_query.h): the same checks, the same
  // evaluation and the same errors as for the request it stands for, the
  // answer as the record instead of messages. The Get of a request is
  // answered through these. GetAsync's `query` (not only the name it
  // borrows) must stay valid until `done` runs.
  absl::StatusOr<GetAnswer> Get(const GetQuery& query);
  void GetAsync(const GetQuery& query,
                std::function<void(absl::StatusOr<GetAnswer>)> done);
  bool GetsWithoutBlocking(const GetQuery& query) const;

  absl::StatusOr<etagd::v1::PutResourceResponse> Put(
      const etagd::v1::PutResourceRequest& request);

  // NOT_FOUND if the resource is absent, whatever the preconditions say.
  absl::StatusOr<etagd::v1::DeleteResourceResponse> Delete(
      const etagd::v1::DeleteResourceRequest& request);

  // Put and Delete in two steps around the store write, for callers that
  // gather many writes into one commit (write_pipeline.h); Put() and
  // Delete() are the same steps around Store::Write. Plan*() validates the
  // request, reads the current record and evaluates the preconditions: the
  // plan holds either the answer already (an error, or the first answer of
  // a retried write that happened) or the store write to make, which
  // borrows from `request`. Complete*() turns the store's result into the
  // answer; for ABORTED (the record changed since the plan) plan again.
  template <typename Response>
  struct Plan {
    std::optional<absl::StatusOr<Response>> answer;
    WriteRequest write;
    bool answered() const { return answer.has_value(); }
  };
  using PutPlan = Plan<etagd::v1::PutResourceResponse>;
  using DeletePlan = Plan<etagd::v1::DeleteResourceResponse>;

  PutPlan PlanPut(const etagd::v1::PutResourceRequest& request);
  absl::StatusOr<etagd::v1::PutResourceResponse> CompletePut(
      absl::StatusOr<Record> written);
  DeletePlan PlanDelete(const etagd::v1::DeleteResourceRequest& request);
  absl::StatusOr<etagd::v1::DeleteResourceResponse> CompleteDelete(
      absl::StatusOr<Record> written);

  // The answer to a write that lost max_write_attempts races.
  absl::Status GaveUp(absl::string_view what, absl::string_view name) const;

  const ResourceServiceOptions& options() const { return options_; }

  absl::StatusOr<etagd::v1::ListResourcesResponse> List(
      const etagd::v1::ListResourcesRequest& request);

  absl::StatusOr<etagd::v1::ListVersionsResponse> ListVersions(
      const etagd::v1::ListVersionsRequest& request);

 private:
  // The query `request` stands for (borrowing its name), once its fields
  // are checked; CheckQuery's checks, in the same order.
  absl::StatusOr<GetQuery> ParseGet(
      const etagd::v1::GetResourceRequest& request) const;
  absl::Status CheckQuery(const GetQuery& query) const;
  // Get and GetAsync of a checked query.
  absl::StatusOr<GetAnswer> GetChecked(const GetQuery& query);
  void GetCheckedAsync(const GetQuery& query,
                       std::function<void(absl::StatusOr<GetAnswer>)> done);
  // Get's answer on the record selected (nullopt: none), which it moves
  // into the answer, or on the current one as Store::ReadCurrent answered it.
  absl::StatusOr<GetAnswer> AnswerGet(const GetQuery& query,
                                      std::optional<Record>& selected) const;
  absl::StatusOr<GetAnswer> AnswerGetOfCurrent(
      const GetQuery& query, absl::StatusOr<std::optional<Record>>&& current) const;
  // Plan*() on the current record (Store::ReadCurrent), or on one that may
  // be stale (Store::ReadForWritePlan): Plan*() keeps such a plan only if
  // it writes, for the write's compare-and-set then checks the record.
  PutPlan PlanPutOn(const etagd::v1::PutResourceRequest& request,
                    bool current_record);
  DeletePlan PlanDeleteOn(const etagd::v1::DeleteResourceRequest& request,
                          bool current_record);

  // The retained write of `name` (current or past, per `current`) that was
  // made with `request_id`, if any: a retry of it must not be applied again.
  absl::StatusOr<std::optional<Record>> PriorWrite(
      const std::optional<Record>& current, absl::string_view name,
      absl::string_view request_id);

  Store& store_;
  const ResourceServiceOptions options_;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_RESOURCE_SERVICE_H_
