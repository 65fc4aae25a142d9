#include "service/store/shared_revision_query.h"

#include <atomic>
#include <chrono>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
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

// A query that answers its own number (1, 2, ...) and holds the first until
// released.
class HeldFirstQuery {
 public:
  absl::StatusOr<int64_t> operator()() {
    const int call = ++calls_;
    if (call == 1) {
      started_.Notify();
      release_.WaitForNotification();
    }
    return call;
  }
  void AwaitFirst() { started_.WaitForNotification(); }
  void ReleaseFirst() { release_.Notify(); }

 private:
  std::atomic<int> calls_{0};
  absl::Notification started_;
  absl::Notification release_;
};

TEST(SharedRevisionQueryTest, AllAsynchronousReadersArrivingDuringAQueryShareTheNext) {
  HeldFirstQuery held;
  SharedRevisionQuery query([&held] { return held(); });
  absl::Notification first_answered;
  query.LatestAsync([&](absl::StatusOr<int64_t> answer) {
    EXPECT_EQ(*answer, 1);
    first_answered.Notify();
  });
  held.AwaitFirst();
  // Hundreds of readers arrive while the first query is in flight; none
  // holds a thread meanwhile.
  constexpr int kReaders = 300;
  absl::Mutex mu;
  std::vector<int64_t> answers;
  for (int i = 0; i < kReaders; ++i) {
    query.LatestAsync([&](absl::StatusOr<int64_t> answer) {
      absl::MutexLock lock(&mu);
      answers.push_back(*answer);
    });
  }
  held.ReleaseFirst();
  first_answered.WaitForNotification();
  {
    absl::MutexLock lock(&mu);
    auto all = [&]() { return answers.size() == kReaders; };
    mu.Await(absl::Condition(&all));
  }
  // Each got the second query's answer (one started after it arrived), and
  // that query was the only other one.
  EXPECT_EQ(answers, std::vector<int64_t>(kReaders, 2));
  EXPECT_EQ(query.queries(), 2);
  EXPECT_EQ(query.readers(), kReaders + 1);
}

TEST(SharedRevisionQueryTest, DestroyingItAnswersEveryReader) {
  HeldFirstQuery held;
  auto query = std::make_unique<SharedRevisionQuery>([&held] { return held(); });
  query->LatestAsync([](absl::StatusOr<int64_t>) {});
  held.AwaitFirst();
  absl::Notification answered;
  absl::StatusOr<int64_t> waiting_answer;
  query->LatestAsync([&](absl::StatusOr<int64_t> answer) {
    waiting_answer = answer;
    answered.Notify();
  });
  std::thread destroy([&] { query.reset(); });
  held.ReleaseFirst();
  destroy.join();
  // By the second query if it started before the destructor stopped the
  // thread, else CANCELLED; never left waiting.
  ASSERT_TRUE(answered.HasBeenNotified());
  if (waiting_answer.ok()) {
    EXPECT_EQ(*waiting_answer, 2);
  } else {
    EXPECT_EQ(waiting_answer.status().code(), absl::StatusCode::kCancelled);
  }
}

}  // namespace
}  // namespace etagd
