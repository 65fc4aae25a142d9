// One linearizable "what is the latest revision?" query shared by every
// reader waiting for it, as etcd's ReadIndex loop shares one quorum round
// among the reads that wait.
#ifndef ETAGD_SERVICE_STORE_SHARED_REVISION_QUERY_H_
#define ETAGD_SERVICE_STORE_SHARED_REVISION_QUERY_H_

#include <cstdint>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace etagd {

// Thread-safe. One thread of its own runs the queries, one at a time: each
// answers every reader that arrived while the one before was in flight (or
// the thread was idle), so N concurrent readers cost one query, not N, and
// none holds a thread while it waits (LatestAsync).
class SharedRevisionQuery {
 public:
  using Done = std::function<void(absl::StatusOr<int64_t>)>;

  // `query` returns the engine's latest committed revision, linearizably:
  // at least that of every write acknowledged before it was called.
  explicit SharedRevisionQuery(std::function<absl::StatusOr<int64_t>()> query);
  // Readers still waiting are answered CANCELLED.
  ~SharedRevisionQuery();

  SharedRevisionQuery(const SharedRevisionQuery&) = delete;
  SharedRevisionQuery& operator=(const SharedRevisionQuery&) = delete;

  // Calls `done`, on the query thread, with the answer of a query that
  // started after this call began (one started before could miss a write
  // acknowledged just before the call), or its error. `done` must not block:
  // the next query waits for it.
  void LatestAsync(Done done) ABSL_LOCKS_EXCLUDED(mu_);

  // LatestAsync's answer, waited for.
  absl::StatusOr<int64_t> Latest() ABSL_LOCKS_EXCLUDED(mu_);

  // Queries started so far.
  int64_t queries() const ABSL_LOCKS_EXCLUDED(mu_);
  // Readers answered so far (readers() / queries(): how many share one).
  int64_t readers() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  void Run() ABSL_LOCKS_EXCLUDED(mu_);

  const std::function<absl::StatusOr<int64_t>()> query_;
  mutable absl::Mutex mu_;
  // Readers for the next query, which has not started.
  std::vector<Done> waiting_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  int64_t queries_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t readers_ ABSL_GUARDED_BY(mu_) = 0;
  std::thread thread_;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_STORE_SHARED_REVISION_QUERY_H_
