// A change feed for tests, until the service has its own: the test appends
// changes, and watchers get them under WatchStream's contract (in revision
// order from start_revision, filtered by prefix or exact name, OUT_OF_RANGE
// with a WatchWindow below the oldest retained revision, one event per
// response, pulled one Next at a time).
#ifndef ETAGD_TESTS_TESTING_FAKE_FEED_H_
#define ETAGD_TESTS_TESTING_FAKE_FEED_H_

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "etagd/v1/etagd.pb.h"
#include "service/feed/watch_stream.h"

namespace etagd {

// Thread-safe. Must outlive its watchers.
class FakeFeed {
 public:
  FakeFeed() = default;
  FakeFeed(const FakeFeed&) = delete;
  FakeFeed& operator=(const FakeFeed&) = delete;

  // A watcher of `request`'s changes.
  std::unique_ptr<WatchStream> Watch(const etagd::v1::WatchRequest& request);

  // Appends a change at the next revision (current_revision() + 1, or
  // `revision` if larger) to `name` and returns its revision.
  int64_t Change(const std::string& name, bool deleted = false, int64_t revision = 0);

  // A progress notification (revision: the current one) to every watcher
  // that waits.
  void Progress();

  // Forgets the changes below `oldest`: starting there is OUT_OF_RANGE.
  void Compact(int64_t oldest);

  // Ends every open watcher with `status` (a server going away: UNAVAILABLE).
  void EndAll(absl::Status status);

  int64_t current_revision();
  // Watchers not yet destroyed.
  int open_watchers();
  // Responses with events handed to watchers so far.
  int64_t delivered();

  class Watcher;

 private:
  void Wake();

  absl::Mutex mu_;
  std::vector<etagd::v1::WatchEvent> log_ ABSL_GUARDED_BY(mu_);
  int64_t revision_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t oldest_ ABSL_GUARDED_BY(mu_) = 1;
  int64_t delivered_ ABSL_GUARDED_BY(mu_) = 0;
  std::set<Watcher*> watchers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace etagd

#endif  // ETAGD_TESTS_TESTING_FAKE_FEED_H_
