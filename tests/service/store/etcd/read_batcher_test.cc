#include "service/store/etcd/read_batcher.h"

#include <thread>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace etagd {
namespace {

// Answers each read with twice its request and records the batches sent;
// the first batch waits for `release` if one is set.
class Recorder {
 public:
  ReadBatcher<int, int>::Send Send() {
    return [this](absl::Span<const int* const> requests,
                  absl::Span<int* const> results) {
      bool first;
      {
        absl::MutexLock lock(&mu_);
        std::vector<int> batch;
        for (const int* request : requests) batch.push_back(*request);
        batches_.push_back(batch);
        first = batches_.size() == 1;
      }
      if (first && release_ != nullptr) release_->WaitForNotification();
      for (size_t i = 0; i < requests.size(); ++i) *results[i] = 2 * *requests[i];
    };
  }

  void HoldFirstBatchUntil(absl::Notification* release) { release_ = release; }

  std::vector<std::vector<int>> batches() {
    absl::MutexLock lock(&mu_);
    return batches_;
  }

  // Until `n` batches have been sent (the last may still be out).
  void AwaitBatches(size_t n) {
    absl::MutexLock lock(&mu_);
    auto sent = [this, n]() ABSL_NO_THREAD_SAFETY_ANALYSIS {
      return batches_.size() >= n;
    };
    mu_.Await(absl::Condition(&sent));
  }

 private:
  absl::Mutex mu_;
  std::vector<std::vector<int>> batches_ ABSL_GUARDED_BY(mu_);
  absl::Notification* release_ = nullptr;
};

// Waits (polling: the batcher has no event for it) until `n` reads wait.
void AwaitWaiting(ReadBatcher<int, int>& batcher, size_t n) {
  while (batcher.WaitingForTest() < n) absl::SleepFor(absl::Milliseconds(1));
}

TEST(ReadBatcherTest, ALoneReadIsSentAtOnceByItself) {
  Recorder recorder;
  ReadBatcher<int, int> batcher(recorder.Send(), 64, 1);
  EXPECT_EQ(batcher.Read(21), 42);
  EXPECT_EQ(recorder.batches(), (std::vector<std::vector<int>>{{21}}));
}

TEST(ReadBatcherTest, ReadsArrivingWhileABatchIsOutGoTogetherInTheNext) {
  Recorder recorder;
  absl::Notification release;
  recorder.HoldFirstBatchUntil(&release);
  ReadBatcher<int, int> batcher(recorder.Send(), 64, 1);
  std::vector<int> results(4);
  std::vector<std::thread> threads;
  threads.emplace_back([&] { results[0] = batcher.Read(0); });
  recorder.AwaitBatches(1);
  for (int i = 1; i < 4; ++i) {
    threads.emplace_back([&, i] { results[i] = batcher.Read(i); });
  }
  AwaitWaiting(batcher, 3);
  release.Notify();
  for (std::thread& thread : threads) thread.join();

  std::vector<std::vector<int>> batches = recorder.batches();
  ASSERT_EQ(batches.size(), 2u);
  EXPECT_EQ(batches[0], std::vector<int>{0});
  EXPECT_EQ(batches[1].size(), 3u);
  EXPECT_EQ(results, (std::vector<int>{0, 2, 4, 6}));
}

TEST(ReadBatcherTest, ABatchHoldsAtMostMaxBatchReads) {
  Recorder recorder;
  absl::Notification release;
  recorder.HoldFirstBatchUntil(&release);
  ReadBatcher<int, int> batcher(recorder.Send(), 2, 1);
  std::vector<int> results(6);
  std::vector<std::thread> threads;
  threads.emplace_back([&] { results[0] = batcher.Read(0); });
  recorder.AwaitBatches(1);
  for (int i = 1; i < 6; ++i) {
    threads.emplace_back([&, i] { results[i] = batcher.Read(i); });
  }
  AwaitWaiting(batcher, 5);
  release.Notify();
  for (std::thread& thread : threads) thread.join();

  std::vector<std::vector<int>> batches = recorder.batches();
  ASSERT_EQ(batches.size(), 4u);
  for (const std::vector<int>& batch : batches) EXPECT_LE(batch.size(), 2u);
  EXPECT_EQ(results, (std::vector<int>{0, 2, 4, 6, 8, 10}));
}

TEST(ReadBatcherTest, UpToMaxInFlightBatchesAreOutAtOnce) {
  Recorder recorder;
  absl::Notification release;
  recorder.HoldFirstBatchUntil(&release);
  ReadBatcher<int, int> batcher(recorder.Send(), 64, 2);
  std::vector<int> results(2);
  std::thread first([&] { results[0] = batcher.Read(1); });
  recorder.AwaitBatches(1);
  // The first batch is still out: a second one goes all the same.
  results[1] = batcher.Read(2);
  EXPECT_EQ(results[1], 4);
  release.Notify();
  first.join();
  EXPECT_EQ(results[0], 2);
  EXPECT_EQ(recorder.batches().size(), 2u);
}

}  // namespace
}  // namespace etagd
