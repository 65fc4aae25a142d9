// One linearizable "what is the latest revision?" query shared by every
// reader waiting for it, as etcd's ReadIndex loop shares one quorum round
// among the reads that wait.
#ifndef ETAGD_SERVICE_STORE_SHARED_REVISION_QUERY_H_
#define ETAGD_SERVICE_STORE_SHARED_REVISION_QUERY_H_

#include <cstdint>
#include <functional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace etagd {

// Thread-safe. At most one query is in flight; readers that arrive while it
// is share the next one, which starts when it ends.
class SharedRevisionQuery {
 public:
  // `query` returns the engine's latest committed revision, linearizably:
  // at least that of every write acknowledged before it was called.
  explicit SharedRevisionQuery(std::function<absl::StatusOr<int64_t>()> query)
      : query_(std::move(query)) {}

  SharedRevisionQuery(const SharedRevisionQuery&) = delete;
  SharedRevisionQuery& operator=(const SharedRevisionQuery&) = delete;

  // The answer of a query that started after this call began (one started
  // before could miss a write acknowledged just before the call), or its
  // error.
  absl::StatusOr<int64_t> Latest() ABSL_LOCKS_EXCLUDED(mu_);

  // Queries started so far.
  int64_t queries() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  const std::function<absl::StatusOr<int64_t>()> query_;
  mutable absl::Mutex mu_;
  // Queries are numbered from 1: the latest started and the latest ended.
  int64_t started_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t finished_ ABSL_GUARDED_BY(mu_) = 0;
  bool in_flight_ ABSL_GUARDED_BY(mu_) = false;
  // The answer of query number finished_.
  absl::StatusOr<int64_t> answer_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_STORE_SHARED_REVISION_QUERY_H_
