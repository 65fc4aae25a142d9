#include "service/store/caching_store.h"

#include <functional>
#include <map>
#include <memory>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace etagd {
namespace {

// An in-memory Store that counts reads and can run a hook in the middle of
// a read (after it has read, before it returns) or of a write (after it has
// written, before it returns), to stage races.
class FakeStore : public Store {
 public:
  absl::StatusOr<std::optional<Record>> ReadCurrent(absl::string_view name,
                                                    bool with_content) override {
    ++reads;
    std::optional<Record> found;
    auto it = records.find(std::string(name));
    if (it != records.end()) found = it->second;
    if (during_read) {
      auto hook = std::move(during_read);
      during_read = nullptr;
      hook();
    }
    if (found.has_value() && !with_content) found->content.clear();
    return found;
  }
  absl::StatusOr<Record> ReadRevision(absl::string_view, int64_t) override {
    return absl::UnimplementedError("unused");
  }
  absl::StatusOr<Record> Write(const WriteRequest& request) override {
    Record& r = records[std::string(request.name)];
    r.name = std::string(request.name);
    r.content = std::string(request.content);
    r.content_length = static_cast<int64_t>(r.content.size());
    r.revision = ++revision;
    r.etag = "\"" + std::to_string(r.revision) + "\"";
    Record result = r;
    result.content.clear();
    if (during_write) {
      auto hook = std::move(during_write);
      during_write = nullptr;
      hook();
    }
    return result;
  }
  using Store::List;
  absl::StatusOr<ListPage> List(absl::string_view, absl::string_view, int,
                                bool, int64_t) override {
    return ListPage{};
  }
  absl::StatusOr<ListPage> ListVersions(absl::string_view, int64_t, int) override {
    return ListPage{};
  }
  absl::StatusOr<int64_t> Checkpoint(const std::string&) override { return 0; }

  std::map<std::string, Record> records;
  int reads = 0;
  int64_t revision = 0;
  std::function<void()> during_read;
  std::function<void()> during_write;
};

class CachingStoreTest : public testing::Test {
 protected:
  void Build(CachingStoreOptions options = {}) {
    auto fake = std::make_unique<FakeStore>();
    fake_ = fake.get();
    cache_ = NewCachingStore(std::move(fake), options);
  }

  void Put(const std::string& name, const std::string& content) {
    WriteRequest w;
    w.name = name;
    w.content = content;
    ASSERT_THAT(cache_->Write(w), IsOk());
  }

  // Writes to the store behind the cache's back, as if before it started.
  void StoreDirectly(const std::string& name, const std::string& content) {
    Record& r = fake_->records[name];
    r.name = name;
    r.content = content;
    r.content_length = static_cast<int64_t>(content.size());
    r.revision = ++fake_->revision;
  }

  std::string Content(const std::string& name) {
    absl::StatusOr<std::optional<Record>> r = cache_->ReadCurrent(name, true);
    EXPECT_THAT(r, IsOk());
    return r.ok() && r->has_value() ? (*r)->content : "<absent>";
  }

  FakeStore* fake_ = nullptr;
  std::unique_ptr<Store> cache_;
};

TEST_F(CachingStoreTest, RepeatedReadsAreServedFromMemory) {
  Build();
  StoreDirectly("a", "one");
  EXPECT_EQ(Content("a"), "one");
  EXPECT_EQ(Content("a"), "one");
  EXPECT_EQ(fake_->reads, 1);
}

TEST_F(CachingStoreTest, AWrittenRecordIsServedWithoutAskingTheStore) {
  Build();
  Put("a", "one");
  EXPECT_EQ(Content("a"), "one");
  absl::StatusOr<std::optional<Record>> meta = cache_->ReadCurrent("a", false);
  ASSERT_THAT(meta, IsOk());
  EXPECT_EQ((*meta)->revision, fake_->records["a"].revision);
  EXPECT_EQ(fake_->reads, 0);
}

TEST_F(CachingStoreTest, OverlappingWritesLeaveOnlyTheLatestCached) {
  Build();
  // "late" commits after "early" but finishes first; "early" finishes last
  // and must not cache itself over the newer record.
  fake_->during_write = [this] { Put("a", "late"); };
  Put("a", "early");
  EXPECT_EQ(Content("a"), "late");
  EXPECT_EQ(fake_->reads, 1);
}

TEST_F(CachingStoreTest, ADeletionIsCachedWithoutContent) {
  Build();
  Put("a", "one");
  WriteRequest del;
  del.name = "a";
  del.is_delete = true;
  absl::StatusOr<Record> written = cache_->Write(del);
  ASSERT_THAT(written, IsOk());
  absl::StatusOr<std::optional<Record>> r = cache_->ReadCurrent("a", true);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ((*r)->revision, written->revision);
  EXPECT_EQ((*r)->content, "");
}

TEST_F(CachingStoreTest, MetadataOnlyReadsFromTheCacheOmitContent) {
  Build();
  StoreDirectly("a", "one");
  Content("a");
  absl::StatusOr<std::optional<Record>> r = cache_->ReadCurrent("a", false);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ((*r)->content, "");
  EXPECT_EQ((*r)->content_length, 3);
  EXPECT_EQ(fake_->reads, 1);
}

TEST_F(CachingStoreTest, AWriteMakesTheNextReadSeeIt) {
  Build();
  Put("a", "one");
  EXPECT_EQ(Content("a"), "one");
  Put("a", "two");
  EXPECT_EQ(Content("a"), "two");
}

TEST_F(CachingStoreTest, AReadRacingAWriteNeverLeavesTheOlderVersionCached) {
  Build();
  StoreDirectly("a", "old");
  // The read fetches "old"; before it returns, a write of "new" completes.
  fake_->during_read = [this] { Put("a", "new"); };
  EXPECT_EQ(Content("a"), "old");  // Concurrent with the write: either is fine.
  EXPECT_EQ(Content("a"), "new");  // After the write's ack: only "new".
}

TEST_F(CachingStoreTest, LeastRecentlyUsedEntriesAreEvictedAtCapacity) {
  CachingStoreOptions options;
  options.shards = 1;
  options.capacity_bytes = 2 * (256 + 1 + 1000) + 100;  // Two entries.
  Build(options);
  for (const char* name : {"a", "b", "c"}) Put(name, std::string(1000, 'x'));
  Content("a");
  Content("b");
  Content("a");  // "a" is now more recent than "b".
  Content("c");  // Evicts "b".
  const int reads = fake_->reads;
  Content("a");
  EXPECT_EQ(fake_->reads, reads) << "a should still be cached";
  Content("b");
  EXPECT_EQ(fake_->reads, reads + 1) << "b should have been evicted";
}

TEST_F(CachingStoreTest, AbsentNamesAreAskedEveryTime) {
  Build();
  EXPECT_EQ(Content("missing"), "<absent>");
  EXPECT_EQ(Content("missing"), "<absent>");
  EXPECT_EQ(fake_->reads, 2);
}

}  // namespace
}  // namespace etagd
