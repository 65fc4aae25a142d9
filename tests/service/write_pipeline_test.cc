// The write pipeline over a real RocksDB store: batching, per-name order,
// re-planning, and no lost update under concurrent compare-and-set.
#include "service/write_pipeline.h"

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/store/rocksdb/rocksdb_store.h"
#include "tests/testing/forwarding_store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

// Delegates to a real store; records the size of every WriteMany and can
// hold the next one until released, so that writes pile up behind it.
class GatedStore : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;

  std::vector<absl::StatusOr<Record>> WriteMany(
      absl::Span<const WriteRequest> requests) override {
    if (armed_.exchange(false)) {
      entered_.Notify();
      release_.WaitForNotification();
    }
    std::vector<absl::StatusOr<Record>> results =
        ForwardingStore::WriteMany(requests);
    absl::MutexLock lock(&mu_);
    batch_sizes_.push_back(requests.size());
    for (const auto& result : results) {
      if (absl::IsAborted(result.status())) ++aborted_;
    }
    return results;
  }

  // The next WriteMany waits for release().
  void Arm() { armed_ = true; }
  absl::Notification& entered() { return entered_; }
  absl::Notification& release() { return release_; }
  std::vector<size_t> batch_sizes() {
    absl::MutexLock lock(&mu_);
    return batch_sizes_;
  }
  // Writes the store refused because their plan was stale.
  int aborted() {
    absl::MutexLock lock(&mu_);
    return aborted_;
  }

 private:
  std::atomic<bool> armed_{false};
  absl::Notification entered_;
  absl::Notification release_;
  absl::Mutex mu_;
  std::vector<size_t> batch_sizes_ ABSL_GUARDED_BY(mu_);
  int aborted_ ABSL_GUARDED_BY(mu_) = 0;
};

// A Put's answer, waited for. (absl::Mutex rather than absl::Notification:
// TSan sees the former's annotations, not the latter's fast path.)
struct PutOutcome {
  v1::PutResourceRequest request;

  void Set(absl::StatusOr<v1::PutResourceResponse> r) {
    absl::MutexLock lock(&mu);
    result = std::move(r);
    done = true;
  }
  bool Done() {
    absl::MutexLock lock(&mu);
    return done;
  }
  absl::StatusOr<v1::PutResourceResponse> Wait() {
    absl::MutexLock lock(&mu);
    mu.Await(absl::Condition(&done));
    return result;
  }

 private:
  absl::Mutex mu;
  bool done ABSL_GUARDED_BY(mu) = false;
  absl::StatusOr<v1::PutResourceResponse> result ABSL_GUARDED_BY(mu) =
      absl::UnknownError("none");
};

class WritePipelineTest : public testing::Test {
 protected:
  void SetUp() override {
    RocksDbStoreOptions options;
    options.path = TestPath("db");
    absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(options);
    ASSERT_THAT(store, IsOk());
    store_ = std::make_unique<GatedStore>(*std::move(store));
    core_ = std::make_unique<ResourceService>(*store_, ResourceServiceOptions());
    answerers_ = std::make_unique<ThreadPool>(4);
    pipeline_ = std::make_unique<WritePipeline>(*core_, *store_, *answerers_);
  }

  void TearDown() override {
    if (!store_->release().HasBeenNotified()) store_->release().Notify();
    pipeline_.reset();
    answerers_.reset();
  }

  // Hands a Put in and returns without waiting for its answer.
  std::unique_ptr<PutOutcome> StartPut(const std::string& name,
                                       const std::string& content,
                                       const std::string& if_match = "",
                                       bool create_only = false,
                                       WriteControl control = {}) {
    auto outcome = std::make_unique<PutOutcome>();
    outcome->request.set_name(name);
    outcome->request.set_content(content);
    if (!if_match.empty()) {
      outcome->request.mutable_preconditions()->add_if_match(if_match);
    }
    if (create_only) outcome->request.mutable_preconditions()->add_if_none_match("*");
    PutOutcome* raw = outcome.get();
    pipeline_->Put(raw->request,
                   [raw](absl::StatusOr<v1::PutResourceResponse> result) {
                     raw->Set(std::move(result));
                   },
                   control);
    return outcome;
  }

  absl::StatusOr<v1::PutResourceResponse> Put(const std::string& name,
                                              const std::string& content,
                                              const std::string& if_match = "") {
    return StartPut(name, content, if_match)->Wait();
  }

  // Replaces the pipeline with one of `committers` committer threads.
  void UseCommitters(int committers) {
    pipeline_.reset();
    WritePipelineOptions options;
    options.committers = committers;
    pipeline_ = std::make_unique<WritePipeline>(*core_, *store_, *answerers_,
                                                options);
  }

  // Increments "counter" by read and If-Match write from `threads` threads,
  // `increments` successful writes each, retrying on a failed precondition.
  // Writes of five names wait behind a held commit; destroying the
  // pipeline then answers every one of them.
  void ExpectDestroyingAnswersEveryWriteHandedIn() {
    HoldTheCommitter();
    std::vector<std::unique_ptr<PutOutcome>> puts;
    for (int i = 0; i < 20; ++i) {
      puts.push_back(StartPut("doc" + std::to_string(i % 5), "x"));
    }
    store_->release().Notify();
    pipeline_.reset();
    answerers_.reset();
    for (auto& put : puts) EXPECT_TRUE(put->Done());
  }

  // The counter IncrementConcurrently increments holds `expected`.
  void ExpectCounterAt(int expected) {
    absl::StatusOr<std::optional<Record>> final_value =
        store_->ReadCurrent("counter", true);
    ASSERT_THAT(final_value, IsOk());
    ASSERT_TRUE(final_value->has_value());
    EXPECT_EQ((*final_value)->content, std::to_string(expected));
  }

  void IncrementConcurrently(int threads, int increments) {
    ASSERT_THAT(Put("counter", "0"), IsOk());
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([this, increments] {
        for (int done = 0; done < increments;) {
          absl::StatusOr<std::optional<Record>> current =
              store_->ReadCurrent("counter", true);
          ASSERT_THAT(current, IsOk());
          int value = 0;
          ASSERT_TRUE(absl::SimpleAtoi((*current)->content, &value));
          absl::StatusOr<v1::PutResourceResponse> put =
              Put("counter", std::to_string(value + 1), (*current)->etag);
          if (put.ok()) {
            ++done;
          } else {
            ASSERT_THAT(put, StatusIs(absl::StatusCode::kFailedPrecondition));
          }
        }
      });
    }
    for (std::thread& worker : workers) worker.join();
  }

  // Holds the committer in its next commit, which the write "gate" makes.
  void HoldTheCommitter() {
    store_->Arm();
    gate_ = StartPut("gate", "x");
    store_->entered().WaitForNotification();
  }

  std::unique_ptr<GatedStore> store_;
  std::unique_ptr<ResourceService> core_;
  std::unique_ptr<ThreadPool> answerers_;
  std::unique_ptr<WritePipeline> pipeline_;
  std::unique_ptr<PutOutcome> gate_;
};

TEST_F(WritePipelineTest, WritesWaitingTogetherShareOneCommit) {
  HoldTheCommitter();
  std::vector<std::unique_ptr<PutOutcome>> puts;
  for (int i = 0; i < 10; ++i) puts.push_back(StartPut("doc" + std::to_string(i), "x"));
  store_->release().Notify();
  for (auto& put : puts) EXPECT_THAT(put->Wait(), IsOk());
  EXPECT_THAT(store_->batch_sizes(), testing::ElementsAre(1, 10));
}

TEST_F(WritePipelineTest, TwoCreatesOfOneNameInOneBatchCreateOnce) {
  HoldTheCommitter();
  std::unique_ptr<PutOutcome> first = StartPut("doc", "first", "", true);
  std::unique_ptr<PutOutcome> second = StartPut("doc", "second", "", true);
  store_->release().Notify();
  EXPECT_THAT(first->Wait(), IsOk());
  // Re-planned after the first committed: If-None-Match: * now fails.
  EXPECT_THAT(second->Wait(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(WritePipelineTest, AWriteItsPlanAnswersDoesNotWaitForTheCommitter) {
  absl::StatusOr<v1::PutResourceResponse> created = Put("doc", "one");
  ASSERT_THAT(created, IsOk());
  HoldTheCommitter();
  std::unique_ptr<PutOutcome> stale = StartPut("doc", "two", "\"stale\"");
  // Answered before StartPut returned, while the committer is held.
  EXPECT_TRUE(stale->Done());
  EXPECT_THAT(stale->Wait(), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(WritePipelineTest, ConcurrentIfMatchIncrementsLoseNoUpdate) {
  IncrementConcurrently(8, 50);
  ExpectCounterAt(8 * 50);
}

TEST_F(WritePipelineTest, WithTwoCommittersConcurrentIfMatchIncrementsLoseNoUpdate) {
  UseCommitters(2);
  IncrementConcurrently(8, 50);
  ExpectCounterAt(8 * 50);
}

TEST_F(WritePipelineTest, WithTwoCommittersOtherNamesCommitWhileABatchWaits) {
  UseCommitters(2);
  HoldTheCommitter();
  // Committed by the other committer while the gate's batch is held.
  EXPECT_THAT(Put("doc", "x"), IsOk());
  store_->release().Notify();
  EXPECT_THAT(gate_->Wait(), IsOk());
}

TEST_F(WritePipelineTest, WithTwoCommittersAWriteOfANameBeingCommittedWaitsForIt) {
  UseCommitters(2);
  HoldTheCommitter();
  std::unique_ptr<PutOutcome> second = StartPut("gate", "second");
  // Handed in after the second write of "gate": once it is answered, the
  // free committer has formed a batch from both arrivals.
  EXPECT_THAT(Put("doc", "x"), IsOk());
  EXPECT_FALSE(second->Done());
  store_->release().Notify();
  EXPECT_THAT(gate_->Wait(), IsOk());
  EXPECT_THAT(second->Wait(), IsOk());
  // Sent once, after the gate's write, planned against it: none refused.
  EXPECT_EQ(store_->aborted(), 0);
  absl::StatusOr<std::optional<Record>> last = store_->ReadCurrent("gate", true);
  ASSERT_THAT(last, IsOk());
  EXPECT_EQ((*last)->content, "second");
  EXPECT_EQ((*last)->version, 2);
}

TEST_F(WritePipelineTest, WritesHeldBackBehindTheirNameArePlannedAgainNotSentStale) {
  HoldTheCommitter();
  std::vector<std::unique_ptr<PutOutcome>> puts;
  for (int i = 0; i < 10; ++i) puts.push_back(StartPut("hot", std::to_string(i)));
  store_->release().Notify();
  for (auto& put : puts) EXPECT_THAT(put->Wait(), IsOk());
  // One commit per write of the name, none spent on a stale plan.
  EXPECT_EQ(store_->aborted(), 0);
  EXPECT_THAT(store_->batch_sizes(), testing::ElementsAre(1, 1, 1, 1, 1, 1, 1, 1,
                                                          1, 1, 1));
  absl::StatusOr<std::optional<Record>> last = store_->ReadCurrent("hot", true);
  ASSERT_THAT(last, IsOk());
  EXPECT_EQ((*last)->content, "9");
}

TEST_F(WritePipelineTest, AHeldBackIfMatchWriteIsDecidedOnTheRecordBeforeIt) {
  absl::StatusOr<v1::PutResourceResponse> created = Put("doc", "one");
  ASSERT_THAT(created, IsOk());
  HoldTheCommitter();
  const std::string etag = created->resource().etag();
  std::unique_ptr<PutOutcome> first = StartPut("doc", "two", etag);
  std::unique_ptr<PutOutcome> second = StartPut("doc", "three", etag);
  store_->release().Notify();
  EXPECT_THAT(first->Wait(), IsOk());
  EXPECT_THAT(second->Wait(), StatusIs(absl::StatusCode::kFailedPrecondition));
  EXPECT_EQ(store_->aborted(), 0);
}

TEST_F(WritePipelineTest, OtherNamesDoNotWaitBehindAHotName) {
  HoldTheCommitter();
  std::vector<std::unique_ptr<PutOutcome>> puts;
  for (int i = 0; i < 50; ++i) puts.push_back(StartPut("hot", std::to_string(i)));
  for (int i = 0; i < 10; ++i) puts.push_back(StartPut("cold" + std::to_string(i), "x"));
  store_->release().Notify();
  for (auto& put : puts) EXPECT_THAT(put->Wait(), IsOk());
  std::vector<size_t> sizes = store_->batch_sizes();
  ASSERT_GE(sizes.size(), 2u);
  // The batch after the gate: one write of the hot name and every cold one.
  EXPECT_EQ(sizes[1], 11u);
  EXPECT_EQ(sizes.size(), 51u);
}

TEST_F(WritePipelineTest, AWriteWhoseDeadlinePassedBeforeItsBatchIsNotApplied) {
  HoldTheCommitter();
  WriteControl expired;
  expired.deadline = absl::Now() - absl::Seconds(1);
  std::unique_ptr<PutOutcome> put = StartPut("doc", "x", "", false, expired);
  store_->release().Notify();
  EXPECT_THAT(put->Wait(), StatusIs(absl::StatusCode::kDeadlineExceeded,
                                    "was not applied"));
  absl::StatusOr<std::optional<Record>> stored = store_->ReadCurrent("doc", false);
  ASSERT_THAT(stored, IsOk());
  EXPECT_FALSE(stored->has_value());
}

TEST_F(WritePipelineTest, ACancelledWriteIsNotApplied) {
  HoldTheCommitter();
  std::atomic<bool> cancelled{false};
  WriteControl control;
  control.cancelled = &cancelled;
  std::unique_ptr<PutOutcome> put = StartPut("doc", "x", "", false, control);
  cancelled = true;
  store_->release().Notify();
  EXPECT_THAT(put->Wait(),
              StatusIs(absl::StatusCode::kCancelled, "was not applied"));
  absl::StatusOr<std::optional<Record>> stored = store_->ReadCurrent("doc", false);
  ASSERT_THAT(stored, IsOk());
  EXPECT_FALSE(stored->has_value());
}

TEST_F(WritePipelineTest, AWriteCommittedBeforeItsDeadlineReportsItsResult) {
  // The deadline passes while the write's batch is being committed.
  store_->Arm();
  WriteControl control;
  control.deadline = absl::Now() + absl::Milliseconds(100);
  std::unique_ptr<PutOutcome> put = StartPut("doc", "x", "", false, control);
  store_->entered().WaitForNotification();
  absl::SleepFor(control.deadline - absl::Now() + absl::Milliseconds(1));
  store_->release().Notify();
  EXPECT_THAT(put->Wait(), IsOk());
  absl::StatusOr<std::optional<Record>> stored = store_->ReadCurrent("doc", false);
  ASSERT_THAT(stored, IsOk());
  EXPECT_TRUE(stored->has_value());
}

TEST_F(WritePipelineTest, DestroyingItAnswersEveryWriteHandedIn) {
  ExpectDestroyingAnswersEveryWriteHandedIn();
}

TEST_F(WritePipelineTest, WithTwoCommittersDestroyingItAnswersEveryWriteHandedIn) {
  UseCommitters(2);
  ExpectDestroyingAnswersEveryWriteHandedIn();
}

}  // namespace
}  // namespace etagd
