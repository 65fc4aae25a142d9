#include "tests/feed/change_log_conformance.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "tests/testing/status_matchers.h"

namespace etagd {

void ChangeLogConformanceTest::SetUp() {
  engine_ = GetParam().make();
  Open();
}

void ChangeLogConformanceTest::TearDown() { store_.reset(); }

void ChangeLogConformanceTest::AwaitLogged(int64_t revision) {
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while (absl::Now() < deadline) {
    absl::StatusOr<ChangeWindow> window = store_->Changes();
    ASSERT_THAT(window, IsOk());
    if (window->committed_revision >= revision) return;
    absl::SleepFor(absl::Milliseconds(1));
  }
  ADD_FAILURE() << "the change log did not reach revision " << revision;
}

void ChangeLogConformanceTest::Open(int64_t retention_revisions) {
  store_.reset();
  absl::StatusOr<std::unique_ptr<Store>> store =
      engine_->Open(retention_revisions);
  ASSERT_THAT(store, IsOk());
  store_ = *std::move(store);
}

Record ChangeLogConformanceTest::Write(const std::string& name,
                                       const std::string& content,
                                       bool is_delete) {
  absl::StatusOr<std::optional<Record>> current =
      store_->ReadCurrent(name, false);
  EXPECT_THAT(current, IsOk());
  WriteRequest request;
  request.name = name;
  request.expected_revision =
      current.ok() && current->has_value() ? (*current)->revision : 0;
  request.is_delete = is_delete;
  if (!is_delete) {
    request.content = content;
    request.content_type = "text/plain";
  }
  absl::StatusOr<Record> written = store_->Write(request);
  EXPECT_THAT(written, IsOk());
  return written.ok() ? *written : Record();
}

Record ChangeLogConformanceTest::Put(const std::string& name,
                                     const std::string& content) {
  const Record written = Write(name, content);
  AwaitLogged(written.revision);
  return written;
}

Record ChangeLogConformanceTest::Delete(const std::string& name) {
  const Record written = Write(name, "", /*is_delete=*/true);
  AwaitLogged(written.revision);
  return written;
}

namespace {

using ::testing::ElementsAre;
using ::testing::Field;
using ::testing::IsEmpty;

int64_t Committed(Store& store) {
  absl::StatusOr<ChangeWindow> window = store.Changes();
  EXPECT_THAT(window, IsOk());
  return window.ok() ? window->committed_revision : -1;
}

std::vector<int64_t> Revisions(const ChangePage& page) {
  std::vector<int64_t> revisions;
  for (const Record& change : page.changes) revisions.push_back(change.revision);
  return revisions;
}

TEST_P(ChangeLogConformanceTest, ANewStoreServesFromItsFirstRevision) {
  absl::StatusOr<ChangeWindow> window = store_->Changes();
  ASSERT_THAT(window, IsOk());
  const int64_t first = window->committed_revision + 1;
  EXPECT_LE(window->oldest_revision, first);
  const Record written = Put("a", "1");
  absl::StatusOr<ChangePage> page =
      store_->ReadChanges(window->oldest_revision, Committed(*store_), 10, false);
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Revisions(*page), ElementsAre(written.revision));
}

TEST_P(ChangeLogConformanceTest, ReadChangesGivesEveryWriteInRevisionOrder) {
  const int64_t from = Committed(*store_) + 1;
  const Record a = Put("a", "1");
  const Record b = Put("b", "2");
  const Record a2 = Put("a", "3");
  const Record deleted = Delete("b");
  absl::StatusOr<ChangePage> page =
      store_->ReadChanges(from, Committed(*store_), 100, false);
  ASSERT_THAT(page, IsOk());
  ASSERT_THAT(Revisions(*page), ElementsAre(a.revision, b.revision,
                                            a2.revision, deleted.revision));
  EXPECT_EQ(page->next_revision, deleted.revision + 1);
  const Record& put = page->changes[2];
  EXPECT_EQ(put.name, "a");
  EXPECT_FALSE(put.deleted);
  EXPECT_EQ(put.etag, a2.etag);
  EXPECT_EQ(put.version, 2);
  EXPECT_EQ(put.create_revision, a.revision);
  EXPECT_EQ(put.content_type, "text/plain");
  EXPECT_EQ(put.content_length, 1);
  EXPECT_EQ(put.update_time, a2.update_time);
  EXPECT_TRUE(put.content.empty());
  EXPECT_EQ(page->changes[3].name, "b");
  EXPECT_TRUE(page->changes[3].deleted);
}

TEST_P(ChangeLogConformanceTest, ReadChangesWithContentCarriesEachVersions) {
  const int64_t from = Committed(*store_) + 1;
  Put("a", "first");
  Put("a", "second");
  absl::StatusOr<ChangePage> page =
      store_->ReadChanges(from, Committed(*store_), 100, true);
  ASSERT_THAT(page, IsOk());
  ASSERT_EQ(page->changes.size(), 2u);
  EXPECT_EQ(page->changes[0].content, "first");
  EXPECT_EQ(page->changes[1].content, "second");
}

TEST_P(ChangeLogConformanceTest, ReadChangesStopsAtTheLimitAndSaysWhereToGoOn) {
  const int64_t from = Committed(*store_) + 1;
  std::vector<int64_t> written;
  for (int i = 0; i < 5; ++i) written.push_back(Put("n", "x").revision);
  absl::StatusOr<ChangePage> first =
      store_->ReadChanges(from, Committed(*store_), 2, false);
  ASSERT_THAT(first, IsOk());
  EXPECT_THAT(Revisions(*first), ElementsAre(written[0], written[1]));
  EXPECT_EQ(first->next_revision, written[1] + 1);
  absl::StatusOr<ChangePage> rest = store_->ReadChanges(
      first->next_revision, Committed(*store_), 10, false);
  ASSERT_THAT(rest, IsOk());
  EXPECT_THAT(Revisions(*rest), ElementsAre(written[2], written[3], written[4]));
}

TEST_P(ChangeLogConformanceTest, ReadChangesBeyondTheLastCommitIsEmpty) {
  const int64_t committed = Committed(*store_);
  absl::StatusOr<ChangePage> page =
      store_->ReadChanges(committed + 1, committed + 10, 10, false);
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(page->changes, IsEmpty());
}

TEST_P(ChangeLogConformanceTest, PruningMovesTheWindowAndOlderReadsAreOutOfRange) {
  Open(/*retention_revisions=*/2);
  std::vector<int64_t> written;
  for (int i = 0; i < 5; ++i) written.push_back(Put("n", "x").revision);
  ASSERT_THAT(engine_->Prune(*store_), IsOk());
  absl::StatusOr<ChangeWindow> window = store_->Changes();
  ASSERT_THAT(window, IsOk());
  EXPECT_GT(window->oldest_revision, written[0]);
  EXPECT_LE(window->oldest_revision, written[3]);
  EXPECT_THAT(store_->ReadChanges(window->oldest_revision - 1, written[4], 10,
                                  false),
              StatusIs(absl::StatusCode::kOutOfRange));
  absl::StatusOr<ChangePage> page =
      store_->ReadChanges(window->oldest_revision, written[4], 10, false);
  ASSERT_THAT(page, IsOk());
  ASSERT_FALSE(page->changes.empty());
  EXPECT_EQ(page->changes.back().revision, written[4]);
}

TEST_P(ChangeLogConformanceTest, TheChangeLogSurvivesARestart) {
  const int64_t from = Committed(*store_) + 1;
  const Record a = Put("a", "1");
  const Record b = Put("b", "2");
  Open();
  EXPECT_GE(Committed(*store_), b.revision);
  absl::StatusOr<ChangePage> page =
      store_->ReadChanges(from, Committed(*store_), 10, false);
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Revisions(*page), ElementsAre(a.revision, b.revision));
}

TEST_P(ChangeLogConformanceTest, AnAcknowledgedWriteIsCoveredAtOnceAndLoggedSoon) {
  const Record written = Write("a", "1");
  absl::StatusOr<ChangeWindow> window = store_->Changes();
  ASSERT_THAT(window, IsOk());
  EXPECT_GE(std::max(window->committed_revision, window->acknowledged_revision),
            written.revision);
  AwaitLogged(written.revision);
  absl::StatusOr<ChangePage> page = store_->ReadChanges(
      written.revision, written.revision, 10, false);
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Revisions(*page), ElementsAre(written.revision));
}

TEST_P(ChangeLogConformanceTest, TheListenerHearsOfEveryCommit) {
  absl::Mutex mu;
  int calls = 0;
  store_->SetCommitListener([&] {
    absl::MutexLock lock(&mu);
    ++calls;
  });
  Put("a", "1");
  {
    absl::MutexLock lock(&mu);
    EXPECT_TRUE(mu.AwaitWithTimeout(
        absl::Condition(+[](int* n) { return *n >= 1; }, &calls),
        absl::Seconds(20)));
  }
  store_->SetCommitListener(nullptr);
  int before;
  {
    absl::MutexLock lock(&mu);
    before = calls;
  }
  Put("a", "2");
  absl::MutexLock lock(&mu);
  EXPECT_EQ(calls, before);
}

TEST_P(ChangeLogConformanceTest, AViewHoldsTheStateAtItsRevisionOnly) {
  const Record a = Put("p/a", "1");
  const Record b = Put("p/b", "2");
  absl::StatusOr<std::unique_ptr<StoreView>> view = store_->View();
  ASSERT_THAT(view, IsOk());
  EXPECT_EQ((*view)->revision(), b.revision);
  Put("p/a", "changed");
  Put("p/c", "new");
  Delete("p/b");
  absl::StatusOr<ListPage> listed = (*view)->List("p/", "", 10, true);
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->records.size(), 2u);
  EXPECT_EQ(listed->records[0].revision, a.revision);
  EXPECT_EQ(listed->records[0].content, "1");
  EXPECT_EQ(listed->records[1].revision, b.revision);
}

}  // namespace
}  // namespace etagd
