#include "service/store/shared_revision_query.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace etagd {
namespace {

TEST(SharedRevisionQueryTest, AReaderAloneRunsItsOwnQuery) {
  int64_t revision = 7;
  SharedRevisionQuery query([&] { return absl::StatusOr<int64_t>(revision); });
  EXPECT_EQ(*query.Latest(), 7);
  revision = 9;
  EXPECT_EQ(*query.Latest(), 9);
  EXPECT_EQ(query.queries(), 2);
}

TEST(SharedRevisionQueryTest, AReaderArrivingDuringAQueryWaitsForTheNext) {
  // The first query is held until the second reader has arrived; that
  // reader must get the answer of a query started after it, not the first.
  absl::Notification first_started;
  absl::Notification release_first;
  std::atomic<int> calls{0};
  SharedRevisionQuery query([&]() -> absl::StatusOr<int64_t> {
    const int call = ++calls;
    if (call == 1) {
      first_started.Notify();
      release_first.WaitForNotification();
    }
    return call * 100;
  });
  absl::StatusOr<int64_t> first_answer;
  std::thread first([&] { first_answer = query.Latest(); });
  first_started.WaitForNotification();
  absl::StatusOr<int64_t> second_answer;
  std::thread second([&] { second_answer = query.Latest(); });
  // The second reader is waiting (it cannot start a query while one runs).
  while (query.queries() != 1) std::this_thread::yield();
  release_first.Notify();
  first.join();
  second.join();
  EXPECT_EQ(*first_answer, 100);
  EXPECT_EQ(*second_answer, 200);
}

TEST(SharedRevisionQueryTest, ConcurrentReadersShareQueries) {
  // Each query answers its own number, taken as it starts.
  std::atomic<int64_t> started{0};
  SharedRevisionQuery query([&]() -> absl::StatusOr<int64_t> {
    const int64_t number = ++started;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
    return number;
  });
  constexpr int kThreads = 16;
  constexpr int kReads = 50;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < kReads; ++i) {
        const int64_t before = started.load();
        absl::StatusOr<int64_t> answer = query.Latest();
        // Every answer comes from a query that began after the call did.
        ASSERT_GT(*answer, before);
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_LT(query.queries(), kThreads * kReads / 4);
}

TEST(SharedRevisionQueryTest, AFailedQueryFailsItsReaders) {
  SharedRevisionQuery query(
      [] { return absl::StatusOr<int64_t>(absl::UnavailableError("no leader")); });
  EXPECT_EQ(query.Latest().status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace etagd
