#include "tests/service/store_conformance.h"

#include <algorithm>
#include <atomic>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "gmock/gmock.h"
#include "service/entity_tag.h"
#include "tests/testing/status_matchers.h"

namespace etagd {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::testing::Pair;
using ::testing::SizeIs;
using ::testing::UnorderedElementsAre;

void StoreConformanceTest::SetUp() {
  engine_ = GetParam().make();
  ASSERT_NE(engine_, nullptr);
  Reopen();
}

void StoreConformanceTest::TearDown() {
  store_.reset();
  engine_.reset();
}

void StoreConformanceTest::Reopen() {
  store_.reset();
  absl::StatusOr<std::unique_ptr<Store>> store = engine_->Open(options_);
  ASSERT_THAT(store, IsOk());
  store_ = *std::move(store);
}

Record StoreConformanceTest::Put(const std::string& name,
                                 const std::string& content,
                                 const std::string& request_id) {
  absl::StatusOr<std::optional<Record>> current = store_->ReadCurrent(name, false);
  EXPECT_THAT(current, IsOk());
  if (!current.ok()) return Record{};
  WriteRequest request;
  request.name = name;
  request.expected_revision = current->has_value() ? (*current)->revision : 0;
  request.content = content;
  request.content_type = "text/plain";
  request.request_id = request_id;
  absl::StatusOr<Record> record = store_->Write(request);
  EXPECT_THAT(record, IsOk());
  return record.ok() ? *record : Record{};
}

Record StoreConformanceTest::Delete(const std::string& name,
                                    const std::string& request_id) {
  absl::StatusOr<std::optional<Record>> current = store_->ReadCurrent(name, false);
  EXPECT_THAT(current, IsOk());
  if (!current.ok()) return Record{};
  WriteRequest request;
  request.name = name;
  request.expected_revision = current->has_value() ? (*current)->revision : 0;
  request.is_delete = true;
  request.request_id = request_id;
  absl::StatusOr<Record> record = store_->Write(request);
  EXPECT_THAT(record, IsOk());
  return record.ok() ? *record : Record{};
}

Record StoreConformanceTest::Current(const std::string& name, bool with_content) {
  absl::StatusOr<std::optional<Record>> current =
      store_->ReadCurrent(name, with_content);
  EXPECT_THAT(current, IsOk());
  if (!current.ok() || !current->has_value()) {
    ADD_FAILURE() << "no current record of " << name;
    return Record{};
  }
  return **current;
}

namespace {

std::vector<std::string> Names(const ListPage& page) {
  std::vector<std::string> names;
  for (const Record& r : page.records) names.push_back(r.name);
  return names;
}

std::vector<int64_t> Revisions(const ListPage& page) {
  std::vector<int64_t> revisions;
  for (const Record& r : page.records) revisions.push_back(r.revision);
  return revisions;
}

// --- Creating and replacing ---------------------------------------------

TEST_P(StoreConformanceTest, FirstPutCreatesVersionOne) {
  Record r = Put("a", "hello");
  EXPECT_EQ(r.name, "a");
  EXPECT_GT(r.revision, 0);
  EXPECT_EQ(r.create_revision, r.revision);
  EXPECT_EQ(r.version, 1);
  EXPECT_TRUE(r.created);
  EXPECT_FALSE(r.deleted);
  EXPECT_EQ(r.content_length, 5);
  EXPECT_EQ(r.create_time, r.update_time);
}

TEST_P(StoreConformanceTest, EtagIsTheRevisionInHexAndSixtyFourRandomBits) {
  Record r = Put("a", "hello");
  std::optional<EntityTag> tag = ParseEntityTag(r.etag);
  ASSERT_TRUE(tag.has_value()) << r.etag;
  EXPECT_FALSE(tag->weak);
  EXPECT_TRUE(std::regex_match(
      r.etag, std::regex(absl::StrFormat("\"%x-[0-9a-f]{16}\"", r.revision))))
      << r.etag;
}

TEST_P(StoreConformanceTest, WriteResultMatchesWhatIsRead) {
  Record written = Put("a", "hello");
  Record read = Current("a", false);
  EXPECT_EQ(read.revision, written.revision);
  EXPECT_EQ(read.etag, written.etag);
  EXPECT_EQ(read.create_revision, written.create_revision);
  EXPECT_EQ(read.version, written.version);
  EXPECT_EQ(read.update_time, written.update_time);
  EXPECT_EQ(read.create_time, written.create_time);
  EXPECT_EQ(read.created, written.created);
}

TEST_P(StoreConformanceTest, ReadCurrentReturnsContentAndType) {
  Put("a", "hello");
  Record r = Current("a");
  EXPECT_EQ(r.content, "hello");
  EXPECT_EQ(r.content_type, "text/plain");
}

TEST_P(StoreConformanceTest, ReadCurrentWithoutContentKeepsLength) {
  Put("a", "hello");
  Record r = Current("a", false);
  EXPECT_EQ(r.content, "");
  EXPECT_EQ(r.content_length, 5);
}

TEST_P(StoreConformanceTest, EmptyContentIsStored) {
  Put("a", "");
  Record r = Current("a");
  EXPECT_EQ(r.content, "");
  EXPECT_EQ(r.content_length, 0);
  EXPECT_FALSE(r.deleted);
}

TEST_P(StoreConformanceTest, BinaryContentRoundTrips) {
  const std::string content("\0\x01\xff binary\r\n", 13);
  Put("a", content);
  EXPECT_EQ(Current("a").content, content);
}

TEST_P(StoreConformanceTest, ReadCurrentOfUnknownNameIsEmpty) {
  absl::StatusOr<std::optional<Record>> r = store_->ReadCurrent("nope", true);
  ASSERT_THAT(r, IsOk());
  EXPECT_FALSE(r->has_value());
}

TEST_P(StoreConformanceTest, ReplaceKeepsCreateRevisionAndCountsVersions) {
  Record first = Put("a", "1");
  Record second = Put("a", "2");
  EXPECT_GT(second.revision, first.revision);
  EXPECT_EQ(second.create_revision, first.revision);
  EXPECT_EQ(second.version, 2);
  EXPECT_FALSE(second.created);
  EXPECT_NE(second.etag, first.etag);
  EXPECT_EQ(second.create_time, first.create_time);
  EXPECT_EQ(Current("a").content, "2");
}

TEST_P(StoreConformanceTest, RevisionsIncreaseAcrossNames) {
  int64_t a = Put("a", "1").revision;
  int64_t b = Put("b", "1").revision;
  int64_t c = Put("a", "2").revision;
  EXPECT_LT(a, b);
  EXPECT_LT(b, c);
}

// --- Compare-and-set ----------------------------------------------------

TEST_P(StoreConformanceTest, StaleExpectedRevisionIsAbortedAndWritesNothing) {
  Record first = Put("a", "1");
  Record second = Put("a", "2");
  WriteRequest stale;
  stale.name = "a";
  stale.expected_revision = first.revision;
  stale.content = "3";
  EXPECT_THAT(store_->Write(stale), StatusIs(absl::StatusCode::kAborted));
  Record current = Current("a");
  EXPECT_EQ(current.content, "2");
  EXPECT_EQ(current.revision, second.revision);
}

TEST_P(StoreConformanceTest, CreateExpectingNoRecordIsAbortedIfOneExists) {
  Put("a", "1");
  WriteRequest create;
  create.name = "a";
  create.expected_revision = 0;
  create.content = "x";
  EXPECT_THAT(store_->Write(create), StatusIs(absl::StatusCode::kAborted));
  EXPECT_EQ(Current("a").content, "1");
}

TEST_P(StoreConformanceTest, WriteExpectingARecordOfAnUnknownNameIsAborted) {
  WriteRequest update;
  update.name = "never-written";
  update.expected_revision = 12345;
  update.content = "x";
  EXPECT_THAT(store_->Write(update), StatusIs(absl::StatusCode::kAborted));
  absl::StatusOr<std::optional<Record>> r = store_->ReadCurrent("never-written", false);
  ASSERT_THAT(r, IsOk());
  EXPECT_FALSE(r->has_value());
}

// --- Deletion -------------------------------------------------------------

TEST_P(StoreConformanceTest, DeleteLeavesADeletionRecordNamingTheDeletedTag) {
  Record live = Put("a", "1");
  Record deletion = Delete("a");
  EXPECT_TRUE(deletion.deleted);
  EXPECT_GT(deletion.revision, live.revision);
  EXPECT_EQ(deletion.etag, live.etag);
  EXPECT_EQ(deletion.version, 0);
  EXPECT_EQ(deletion.create_revision, 0);
  Record current = Current("a");
  EXPECT_TRUE(current.deleted);
  EXPECT_EQ(current.revision, deletion.revision);
  EXPECT_EQ(current.content, "");
}

TEST_P(StoreConformanceTest, DeleteOfDeletedResourceIsNotFound) {
  Put("a", "1");
  Record deletion = Delete("a");
  WriteRequest again;
  again.name = "a";
  again.expected_revision = deletion.revision;
  again.is_delete = true;
  EXPECT_THAT(store_->Write(again), StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(StoreConformanceTest, DeleteOfUnknownNameIsNotFound) {
  WriteRequest request;
  request.name = "nope";
  request.is_delete = true;
  EXPECT_THAT(store_->Write(request), StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(StoreConformanceTest, RecreateStartsANewLifeWithAnEtagNeverSeenBefore) {
  std::set<std::string> etags;
  for (int life = 0; life < 3; ++life) {
    Record created = Put("a", "same");
    EXPECT_TRUE(created.created);
    EXPECT_EQ(created.version, 1);
    EXPECT_EQ(created.create_revision, created.revision);
    EXPECT_TRUE(etags.insert(created.etag).second) << "reused " << created.etag;
    Record replaced = Put("a", "same");
    EXPECT_TRUE(etags.insert(replaced.etag).second) << "reused " << replaced.etag;
    Delete("a");
  }
}

TEST_P(StoreConformanceTest, ReopenKeepsDataRevisionsAndEtags) {
  std::set<std::string> etags;
  int64_t last = 0;
  Record kept;
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 4; ++i) {
      Record r = Put("k" + std::to_string(i % 2), "v" + std::to_string(i));
      EXPECT_GT(r.revision, last);
      last = r.revision;
      EXPECT_TRUE(etags.insert(r.etag).second) << "reused " << r.etag;
      kept = r;
    }
    Reopen();
    Record current = Current(kept.name);
    EXPECT_EQ(current.etag, kept.etag);
    EXPECT_EQ(current.update_time, kept.update_time);
    EXPECT_EQ(current.content, "v3");
  }
}

// --- Update times ---------------------------------------------------------

TEST_P(StoreConformanceTest, UpdateTimeNeverGoesBackWhenTheClockDoes) {
  absl::Time now = absl::FromUnixSeconds(2000000000);
  options_.clock = [&now] { return now; };
  Reopen();
  Record first = Put("a", "1");
  now -= absl::Hours(1);
  Record second = Put("a", "2");
  EXPECT_GE(second.update_time, first.update_time);
  Record deletion = Delete("a");
  EXPECT_GE(deletion.update_time, second.update_time);
  Record again = Put("a", "3");
  EXPECT_GE(again.update_time, deletion.update_time);
}

// A store opened with a clock an hour behind: another replica whose clock
// disagrees, or the same process after the clock stepped back.
TEST_P(StoreConformanceTest, UpdateTimeNeverGoesBackUnderAClockBehind) {
  absl::Time now = absl::FromUnixSeconds(2000000000);
  options_.clock = [&now] { return now; };
  Reopen();
  Record first = Put("a", "1");
  now -= absl::Hours(1);
  Reopen();
  Record second = Put("a", "2");
  EXPECT_GE(second.update_time, first.update_time);
}

TEST_P(StoreConformanceTest, UpdateTimesAreMicrosecondsOfTheClock) {
  const absl::Time fixed = absl::FromUnixMicros(int64_t{2000000000123456});
  options_.clock = [fixed] { return fixed + absl::Nanoseconds(789); };
  Reopen();
  Record r = Put("a", "1");
  EXPECT_EQ(r.update_time, fixed);
  EXPECT_EQ(Current("a").update_time, fixed);
}

// --- Past versions --------------------------------------------------------

TEST_P(StoreConformanceTest, ReadRevisionReturnsPastVersionWithContent) {
  Record v1 = Put("a", "one");
  Put("a", "two");
  absl::StatusOr<Record> past = store_->ReadRevision("a", v1.revision);
  ASSERT_THAT(past, IsOk());
  EXPECT_EQ(past->content, "one");
  EXPECT_EQ(past->etag, v1.etag);
  EXPECT_EQ(past->revision, v1.revision);
  EXPECT_EQ(past->version, 1);
  EXPECT_EQ(past->create_revision, v1.revision);
  EXPECT_EQ(past->update_time, v1.update_time);
}

TEST_P(StoreConformanceTest, ReadRevisionOfTheCurrentRevisionReturnsIt) {
  Put("a", "one");
  Record v2 = Put("a", "two");
  absl::StatusOr<Record> r = store_->ReadRevision("a", v2.revision);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->content, "two");
  EXPECT_EQ(r->etag, v2.etag);
}

TEST_P(StoreConformanceTest, ReadRevisionOfAPastDeletionHasNoContent) {
  Put("a", "one");
  Record deletion = Delete("a");
  Put("a", "two");
  absl::StatusOr<Record> r = store_->ReadRevision("a", deletion.revision);
  ASSERT_THAT(r, IsOk());
  EXPECT_TRUE(r->deleted);
  EXPECT_EQ(r->content, "");
}

TEST_P(StoreConformanceTest, ReadRevisionOfUnknownRevisionIsNotFound) {
  Record a = Put("a", "one");
  Record b = Put("b", "other");
  EXPECT_THAT(store_->ReadRevision("a", b.revision),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->ReadRevision("a", a.revision + 1000),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_THAT(store_->ReadRevision("nope", a.revision),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(StoreConformanceTest, HistoryKeepsOnlyTheConfiguredDepth) {
  options_.history_depth = 2;
  Reopen();
  std::vector<Record> written;
  for (int i = 0; i < 5; ++i) written.push_back(Put("a", std::to_string(i)));
  absl::StatusOr<ListPage> versions = store_->ListVersions("a", 0, 100);
  ASSERT_THAT(versions, IsOk());
  EXPECT_THAT(Revisions(*versions),
              ElementsAre(written[4].revision, written[3].revision,
                          written[2].revision));
  EXPECT_THAT(store_->ReadRevision("a", written[1].revision),
              StatusIs(absl::StatusCode::kNotFound));
  absl::StatusOr<Record> oldest = store_->ReadRevision("a", written[2].revision);
  ASSERT_THAT(oldest, IsOk());
  EXPECT_EQ(oldest->content, "2");
}

TEST_P(StoreConformanceTest, HistoryDepthZeroKeepsNoPastVersions) {
  options_.history_depth = 0;
  Reopen();
  Record first = Put("a", "1");
  Put("a", "2");
  absl::StatusOr<ListPage> versions = store_->ListVersions("a", 0, 100);
  ASSERT_THAT(versions, IsOk());
  EXPECT_THAT(versions->records, SizeIs(1));
  EXPECT_THAT(store_->ReadRevision("a", first.revision),
              StatusIs(absl::StatusCode::kNotFound));
  EXPECT_EQ(Current("a").content, "2");
}

TEST_P(StoreConformanceTest, ShrunkHistoryDepthPrunesOnTheNextWrite) {
  options_.history_depth = 4;
  Reopen();
  std::vector<Record> written;
  for (int i = 0; i < 5; ++i) written.push_back(Put("a", std::to_string(i)));
  options_.history_depth = 1;
  Reopen();
  Record last = Put("a", "5");
  absl::StatusOr<ListPage> versions = store_->ListVersions("a", 0, 100);
  ASSERT_THAT(versions, IsOk());
  EXPECT_THAT(Revisions(*versions), ElementsAre(last.revision, written[4].revision));
  EXPECT_THAT(store_->ReadRevision("a", written[3].revision),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST_P(StoreConformanceTest, HistoryRecordsDeletions) {
  Record v1 = Put("a", "1");
  Record deletion = Delete("a");
  Record v2 = Put("a", "2");
  absl::StatusOr<ListPage> versions = store_->ListVersions("a", 0, 100);
  ASSERT_THAT(versions, IsOk());
  ASSERT_THAT(versions->records, SizeIs(3));
  EXPECT_EQ(versions->records[0].revision, v2.revision);
  EXPECT_EQ(versions->records[1].revision, deletion.revision);
  EXPECT_TRUE(versions->records[1].deleted);
  EXPECT_EQ(versions->records[1].etag, v1.etag);
  EXPECT_EQ(versions->records[2].revision, v1.revision);
  EXPECT_EQ(versions->records[2].etag, v1.etag);
}

TEST_P(StoreConformanceTest, ListVersionsPagesBackwardsByRevision) {
  std::vector<int64_t> revisions;
  for (int i = 0; i < 5; ++i) revisions.push_back(Put("a", "x").revision);
  Put("ab", "other name sharing a prefix");
  Put("a/b", "another");
  absl::StatusOr<ListPage> first = store_->ListVersions("a", 0, 2);
  ASSERT_THAT(first, IsOk());
  EXPECT_THAT(Revisions(*first), ElementsAre(revisions[4], revisions[3]));
  EXPECT_TRUE(first->more);
  absl::StatusOr<ListPage> rest =
      store_->ListVersions("a", first->records.back().revision, 10);
  ASSERT_THAT(rest, IsOk());
  EXPECT_THAT(Revisions(*rest),
              ElementsAre(revisions[2], revisions[1], revisions[0]));
  EXPECT_FALSE(rest->more);
  for (const Record& r : rest->records) EXPECT_EQ(r.content, "");
}

TEST_P(StoreConformanceTest, ListVersionsOfUnknownNameIsEmpty) {
  absl::StatusOr<ListPage> versions = store_->ListVersions("nope", 0, 10);
  ASSERT_THAT(versions, IsOk());
  EXPECT_THAT(versions->records, IsEmpty());
  EXPECT_FALSE(versions->more);
}

// --- Listing --------------------------------------------------------------

TEST_P(StoreConformanceTest, ListFiltersByPrefixAndSkipsDeleted) {
  Put("x/1", "a");
  Put("x/2", "b");
  Put("x/3", "c");
  Put("y/1", "d");
  Put("x", "the prefix itself");
  Delete("x/2");
  absl::StatusOr<ListPage> page = store_->List("x/", "", 10, false);
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Names(*page), ElementsAre("x/1", "x/3"));
  EXPECT_FALSE(page->more);
  absl::StatusOr<ListPage> all = store_->List("", "", 10, false);
  ASSERT_THAT(all, IsOk());
  EXPECT_THAT(Names(*all), ElementsAre("x", "x/1", "x/3", "y/1"));
}

TEST_P(StoreConformanceTest, ListPagesAfterTheLastName) {
  for (const char* name : {"a", "b", "c", "d"}) Put(name, "v");
  absl::StatusOr<ListPage> first = store_->List("", "", 2, false);
  ASSERT_THAT(first, IsOk());
  EXPECT_THAT(Names(*first), ElementsAre("a", "b"));
  EXPECT_TRUE(first->more);
  absl::StatusOr<ListPage> second = store_->List("", "b", 2, false);
  ASSERT_THAT(second, IsOk());
  EXPECT_THAT(Names(*second), ElementsAre("c", "d"));
  absl::StatusOr<ListPage> after = store_->List("", "d", 2, false);
  ASSERT_THAT(after, IsOk());
  EXPECT_THAT(after->records, IsEmpty());
  EXPECT_FALSE(after->more);
}

TEST_P(StoreConformanceTest, ListOrdersNamesByBytes) {
  for (const char* name : {"b", "a/z", "a", "a0", "\xc3\xa9"}) Put(name, "v");
  absl::StatusOr<ListPage> page = store_->List("", "", 10, false);
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Names(*page), ElementsAre("a", "a/z", "a0", "b", "\xc3\xa9"));
}

TEST_P(StoreConformanceTest, ListReadsPastManyDeletedNames) {
  for (int i = 0; i < 100; ++i) {
    Put(absl::StrFormat("d/%03d", i), "v");
    Delete(absl::StrFormat("d/%03d", i));
  }
  Put("d/live1", "v");
  Put("d/live2", "v");
  absl::StatusOr<ListPage> page = store_->List("d/", "", 1, false);
  ASSERT_THAT(page, IsOk());
  EXPECT_THAT(Names(*page), ElementsAre("d/live1"));
  EXPECT_TRUE(page->more);
}

TEST_P(StoreConformanceTest, ListWithContentReturnsEachRecordsContent) {
  Put("a", "body a");
  Put("b", "body b");
  Put("b", "body b2");
  absl::StatusOr<ListPage> page = store_->List("", "", 10, true);
  ASSERT_THAT(page, IsOk());
  ASSERT_THAT(page->records, SizeIs(2));
  EXPECT_EQ(page->records[0].content, "body a");
  EXPECT_EQ(page->records[1].content, "body b2");
  absl::StatusOr<ListPage> bare = store_->List("", "", 10, false);
  ASSERT_THAT(bare, IsOk());
  EXPECT_EQ(bare->records[1].content, "");
  EXPECT_EQ(bare->records[1].content_length, 7);
  EXPECT_EQ(bare->records[1].etag, page->records[1].etag);
}

// --- Listings across pages -------------------------------------------------
// A listing's later pages pass the revision of its first page (Store::List):
// engines that pin listings show the store as it was then, the others as it
// is; both return each name once, in order, and what stayed live.

TEST_P(StoreConformanceTest, ListReportsARevisionCoveringEveryRecordListed) {
  Put("a", "1");
  const Record last = Put("b", "2");
  absl::StatusOr<ListPage> page = store_->List("", "", 10, false);
  ASSERT_THAT(page, IsOk());
  EXPECT_GE(page->revision, last.revision);
  for (const Record& record : page->records) {
    EXPECT_LE(record.revision, page->revision) << record.name;
  }
}

TEST_P(StoreConformanceTest, ListingAtItsFirstRevisionReturnsEachLiveNameOnce) {
  for (const char* name : {"a", "b", "c", "d", "e"}) Put(name, "v");
  absl::StatusOr<ListPage> first = store_->List("", "", 2, false);
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(Names(*first), ElementsAre("a", "b"));
  // Writes between pages, to names listed already and to names not yet.
  Put("a", "v2");
  Put("c", "v2");
  std::vector<std::string> names = Names(*first);
  std::string after = "b";
  for (int pages = 0; pages < 10; ++pages) {
    absl::StatusOr<ListPage> next =
        store_->List("", after, 2, false, first->revision);
    ASSERT_THAT(next, IsOk());
    for (const Record& record : next->records) names.push_back(record.name);
    if (!next->more || next->records.empty()) break;
    after = next->records.back().name;
  }
  EXPECT_THAT(names, ElementsAre("a", "b", "c", "d", "e"));
}

TEST_P(StoreConformanceTest, ListingAtARevisionShowsWhatTheEngineSaysItShows) {
  for (const char* name : {"a", "b", "c"}) Put(name, "old");
  absl::StatusOr<ListPage> first = store_->List("", "", 1, false);
  ASSERT_THAT(first, IsOk());
  ASSERT_THAT(Names(*first), ElementsAre("a"));
  const Record b_before = Current("b", false);
  Put("b", "new");
  Delete("c");
  Put("d", "created");
  absl::StatusOr<ListPage> rest = store_->List("", "a", 10, true, first->revision);
  ASSERT_THAT(rest, IsOk());
  if (store_->PinsListings()) {
    // The store as it was at the first page.
    EXPECT_EQ(rest->revision, first->revision);
    EXPECT_THAT(Names(*rest), ElementsAre("b", "c"));
    ASSERT_THAT(rest->records, SizeIs(2));
    EXPECT_EQ(rest->records[0].content, "old");
    EXPECT_EQ(rest->records[0].revision, b_before.revision);
    EXPECT_EQ(rest->records[0].etag, b_before.etag);
  } else {
    // The store as it is now.
    EXPECT_GT(rest->revision, first->revision);
    EXPECT_THAT(Names(*rest), ElementsAre("b", "d"));
    ASSERT_THAT(rest->records, SizeIs(2));
    EXPECT_EQ(rest->records[0].content, "new");
  }
}

TEST_P(StoreConformanceTest, ListingAtARevisionBeyondTheStoreIsInvalid) {
  const Record last = Put("a", "v");
  EXPECT_THAT(store_->List("", "", 10, false, last.revision + 1000),
              StatusIs(absl::StatusCode::kInvalidArgument, "another store"));
}

// --- Request ids ------------------------------------------------------------

TEST_P(StoreConformanceTest, RequestIdIsKeptWithItsRecord) {
  Record r = Put("a", "1", "req-1");
  EXPECT_EQ(r.request_id, "req-1");
  EXPECT_EQ(Current("a").request_id, "req-1");
  Record d = Delete("a", "req-2");
  EXPECT_EQ(d.request_id, "req-2");
  absl::StatusOr<Record> past = store_->ReadRevision("a", r.revision);
  ASSERT_THAT(past, IsOk());
  EXPECT_EQ(past->request_id, "req-1");
}

TEST_P(StoreConformanceTest, PastRequestIdsNameTheRetainedPastWritesWithIds) {
  options_.history_depth = 3;
  Reopen();
  Record a = Put("a", "1", "id-a");
  Put("a", "2");
  Record c = Put("a", "3", "id-c");
  Record d = Delete("a", "id-d");
  Put("a", "5", "id-e");
  // Retained past: 2 (no id), 3 (id-c), 4 (id-d); 1 (id-a) pruned.
  Record current = Current("a", false);
  EXPECT_EQ(current.request_id, "id-e");
  EXPECT_THAT(current.past_request_ids,
              UnorderedElementsAre(Pair(c.revision, "id-c"),
                                   Pair(d.revision, "id-d")));
  EXPECT_THAT(store_->ReadRevision("a", a.revision),
              StatusIs(absl::StatusCode::kNotFound));
}

// --- Batches ----------------------------------------------------------------

TEST_P(StoreConformanceTest, WriteManyWritesEachNameWithItsOwnRevision) {
  std::vector<WriteRequest> requests(3);
  const std::string names[] = {"m1", "m2", "m3"};
  for (int i = 0; i < 3; ++i) {
    requests[i].name = names[i];
    requests[i].content = names[i];
  }
  std::vector<absl::StatusOr<Record>> results = store_->WriteMany(requests);
  ASSERT_THAT(results, SizeIs(3));
  std::set<int64_t> revisions;
  for (int i = 0; i < 3; ++i) {
    ASSERT_THAT(results[i], IsOk());
    EXPECT_EQ(results[i]->name, names[i]);
    revisions.insert(results[i]->revision);
    EXPECT_EQ(Current(names[i]).content, names[i]);
  }
  EXPECT_THAT(revisions, SizeIs(3));
}

TEST_P(StoreConformanceTest, WriteManyFailsAStaleWriteAloneAndKeepsTheOthers) {
  Put("s1", "old");
  std::vector<WriteRequest> requests(2);
  requests[0].name = "s1";
  requests[0].expected_revision = 0;  // stale: s1 exists
  requests[0].content = "x";
  requests[1].name = "s2";
  requests[1].content = "new";
  std::vector<absl::StatusOr<Record>> results = store_->WriteMany(requests);
  ASSERT_THAT(results, SizeIs(2));
  EXPECT_THAT(results[0], StatusIs(absl::StatusCode::kAborted));
  EXPECT_THAT(results[1], IsOk());
  EXPECT_EQ(Current("s1").content, "old");
  EXPECT_EQ(Current("s2").content, "new");
}

TEST_P(StoreConformanceTest, WriteManyRefusesASecondWriteOfANameInOneBatch) {
  std::vector<WriteRequest> requests(2);
  requests[0].name = "dup";
  requests[0].content = "1";
  requests[1].name = "dup";
  requests[1].content = "2";
  std::vector<absl::StatusOr<Record>> results = store_->WriteMany(requests);
  ASSERT_THAT(results, SizeIs(2));
  EXPECT_THAT(results[0], IsOk());
  EXPECT_THAT(results[1], StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_EQ(Current("dup").content, "1");
}

// --- Concurrency --------------------------------------------------------------

// Increments "counter" `increments` times through `store`, retrying on
// ABORTED; returns how many attempts were aborted.
int Increment(Store& store, int increments) {
  int aborted = 0;
  for (int done = 0; done < increments;) {
    absl::StatusOr<std::optional<Record>> current =
        store.ReadCurrent("counter", true);
    EXPECT_THAT(current, IsOk());
    if (!current.ok() || !current->has_value()) return aborted;
    WriteRequest request;
    request.name = "counter";
    request.expected_revision = (*current)->revision;
    const std::string next = std::to_string(std::stoi((*current)->content) + 1);
    request.content = next;
    absl::StatusOr<Record> written = store.Write(request);
    if (written.ok()) {
      ++done;
    } else {
      EXPECT_THAT(written, StatusIs(absl::StatusCode::kAborted));
      if (!absl::IsAborted(written.status())) return aborted;
      ++aborted;
    }
  }
  return aborted;
}

TEST_P(StoreConformanceTest, ConcurrentCompareAndWriteLosesNoUpdate) {
  Put("counter", "0");
  constexpr int kThreads = 6;
  constexpr int kIncrements = 25;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] { Increment(*store_, kIncrements); });
  }
  for (std::thread& t : threads) t.join();
  Record last = Current("counter");
  EXPECT_EQ(last.content, std::to_string(kThreads * kIncrements));
  EXPECT_EQ(last.version, 1 + kThreads * kIncrements);
}

TEST_P(StoreConformanceTest, TwoReplicasCompareAndWriteLosingNoUpdate) {
  if (!engine_->SupportsReplicas()) {
    GTEST_SKIP() << "the engine has no replicas";
  }
  absl::StatusOr<std::unique_ptr<Store>> other = engine_->Open(options_);
  ASSERT_THAT(other, IsOk());
  Put("counter", "0");
  constexpr int kThreadsPerReplica = 3;
  constexpr int kIncrements = 25;
  std::atomic<int> aborted{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 2 * kThreadsPerReplica; ++t) {
    Store& store = t % 2 == 0 ? *store_ : **other;
    threads.emplace_back([&store, &aborted] { aborted += Increment(store, kIncrements); });
  }
  for (std::thread& t : threads) t.join();
  Record last = Current("counter");
  EXPECT_EQ(last.content, std::to_string(2 * kThreadsPerReplica * kIncrements));
  // Contention across replicas is real: some attempts lost their race.
  EXPECT_GT(aborted.load(), 0);
}

TEST_P(StoreConformanceTest, AReplicaSeesAnotherReplicasWriteAtOnce) {
  if (!engine_->SupportsReplicas()) {
    GTEST_SKIP() << "the engine has no replicas";
  }
  absl::StatusOr<std::unique_ptr<Store>> other = engine_->Open(options_);
  ASSERT_THAT(other, IsOk());
  Record first = Put("shared", "from A");
  absl::StatusOr<std::optional<Record>> seen = (*other)->ReadCurrent("shared", true);
  ASSERT_THAT(seen, IsOk());
  ASSERT_TRUE(seen->has_value());
  EXPECT_EQ((*seen)->content, "from A");
  EXPECT_EQ((*seen)->etag, first.etag);
  Put("shared", "A again");
  WriteRequest stale;
  stale.name = "shared";
  stale.expected_revision = first.revision;
  stale.content = "from B, stale";
  EXPECT_THAT((*other)->Write(stale), StatusIs(absl::StatusCode::kAborted));
}

}  // namespace
}  // namespace etagd
