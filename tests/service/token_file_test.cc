#include "service/token_file.h"

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/files.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kFirst[] = "first-0123456789abcdef";
constexpr char kSecond[] = "second-0123456789abcdef";

bool Knows(const TokenFileWatcher& watcher, const char* token) {
  return watcher.store()->Current()->Find(token) != nullptr;
}

TEST(TokenFileWatcherTest, LoadsTheFileAtStart) {
  const std::string path = TestPath("tokens");
  WriteAtomically(path, std::string(kFirst) + " read\n");
  absl::StatusOr<std::unique_ptr<TokenFileWatcher>> watcher =
      TokenFileWatcher::Start(path, absl::ZeroDuration());
  ASSERT_THAT(watcher, IsOk());
  EXPECT_TRUE(Knows(**watcher, kFirst));
  EXPECT_FALSE(Knows(**watcher, kSecond));
}

TEST(TokenFileWatcherTest, RefusesToStartOnABrokenFileWithoutQuotingIt) {
  const std::string path = TestPath("tokens");
  WriteAtomically(path, std::string("# header\n") + kFirst + " admin\n");
  absl::StatusOr<std::unique_ptr<TokenFileWatcher>> watcher =
      TokenFileWatcher::Start(path, absl::ZeroDuration());
  ASSERT_THAT(watcher, StatusIs(absl::StatusCode::kInvalidArgument, "line 2"));
  EXPECT_THAT(std::string(watcher.status().message()), HasSubstr(path));
  EXPECT_THAT(std::string(watcher.status().message()), Not(HasSubstr(kFirst)));
}

TEST(TokenFileWatcherTest, RefusesToStartWithoutTheFile) {
  EXPECT_THAT(TokenFileWatcher::Start(TestPath("missing"), absl::ZeroDuration()),
              StatusIs(absl::StatusCode::kNotFound));
}

TEST(TokenFileWatcherTest, ReloadsAChangedFile) {
  const std::string path = TestPath("tokens");
  WriteAtomically(path, std::string(kFirst) + " read\n");
  absl::StatusOr<std::unique_ptr<TokenFileWatcher>> watcher =
      TokenFileWatcher::Start(path, absl::ZeroDuration());
  ASSERT_THAT(watcher, IsOk());
  WriteAtomically(path, std::string(kSecond) + " read-write\n");
  (*watcher)->ReloadIfChanged();
  EXPECT_FALSE(Knows(**watcher, kFirst));
  EXPECT_TRUE(Knows(**watcher, kSecond));
}

TEST(TokenFileWatcherTest, ABrokenReloadKeepsTheTokensLoadedBefore) {
  const std::string path = TestPath("tokens");
  WriteAtomically(path, std::string(kFirst) + " read\n");
  absl::StatusOr<std::unique_ptr<TokenFileWatcher>> watcher =
      TokenFileWatcher::Start(path, absl::ZeroDuration());
  ASSERT_THAT(watcher, IsOk());
  WriteAtomically(path, std::string(kSecond) + " read-write extra fields\n");
  (*watcher)->ReloadIfChanged();
  EXPECT_TRUE(Knows(**watcher, kFirst));
  EXPECT_FALSE(Knows(**watcher, kSecond));
}

TEST(TokenFileWatcherTest, AVanishedFileKeepsTheTokensLoadedBefore) {
  const std::string path = TestPath("tokens");
  WriteAtomically(path, std::string(kFirst) + " read\n");
  absl::StatusOr<std::unique_ptr<TokenFileWatcher>> watcher =
      TokenFileWatcher::Start(path, absl::ZeroDuration());
  ASSERT_THAT(watcher, IsOk());
  std::filesystem::remove(path);
  (*watcher)->Reload();
  EXPECT_TRUE(Knows(**watcher, kFirst));
}

TEST(TokenFileWatcherTest, TheTableInUseOutlivesAReload) {
  const std::string path = TestPath("tokens");
  WriteAtomically(path, std::string(kFirst) + " read\n");
  absl::StatusOr<std::unique_ptr<TokenFileWatcher>> watcher =
      TokenFileWatcher::Start(path, absl::ZeroDuration());
  ASSERT_THAT(watcher, IsOk());
  std::shared_ptr<const TokenTable> in_use = (*watcher)->store()->Current();
  WriteAtomically(path, std::string(kSecond) + " read\n");
  (*watcher)->Reload();
  EXPECT_NE(in_use->Find(kFirst), nullptr);
}

TEST(TokenFileWatcherTest, PollingPicksUpAChangeWithoutBeingAsked) {
  const std::string path = TestPath("tokens");
  WriteAtomically(path, std::string(kFirst) + " read\n");
  absl::StatusOr<std::unique_ptr<TokenFileWatcher>> watcher =
      TokenFileWatcher::Start(path, absl::Milliseconds(5));
  ASSERT_THAT(watcher, IsOk());
  WriteAtomically(path, std::string(kSecond) + " read\n");
  // Bounds a hang; the poller normally sees the change within 5 ms.
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (!Knows(**watcher, kSecond) && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_TRUE(Knows(**watcher, kSecond));
  EXPECT_FALSE(Knows(**watcher, kFirst));
}

}  // namespace
}  // namespace etagd
