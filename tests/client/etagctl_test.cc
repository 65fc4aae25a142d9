// Runs the real etagctl binary against a real etagd: output and exit codes.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "absl/types/optional.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::MatchesRegex;
using ::testing::Not;
using ::testing::SizeIs;
using ::testing::StartsWith;

// Bounds a hang; not an expected duration.
constexpr absl::Duration kTimeout = absl::Seconds(60);

// etagctl's exit codes (see its --help).
constexpr int kExitOk = 0;
constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitNotFound = 3;
constexpr int kExitNotModified = 4;
constexpr int kExitPreconditionFailed = 5;
constexpr int kExitUnavailable = 6;

// Runs etagctl with `args` (flags and command), expecting it to exit.
CommandResult RunEtagctl(
    const std::vector<std::string>& args,
    absl::optional<std::string> stdin_content = absl::nullopt) {
  absl::StatusOr<CommandResult> result =
      RunCommand(DataBinaryPath("client/etagctl"), args,
                 std::move(stdin_content), kTimeout);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *std::move(result) : CommandResult{};
}

// The value of the "key: value" line in `text`, or "" if there is none.
std::string Field(absl::string_view text, absl::string_view key) {
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (absl::ConsumePrefix(&line, key) && absl::ConsumePrefix(&line, ": ")) {
      return std::string(line);
    }
  }
  return "";
}

// The first tab-separated column of each line of `text`.
std::vector<std::string> FirstColumn(absl::string_view text) {
  std::vector<std::string> column;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    column.emplace_back(line.substr(0, line.find('\t')));
  }
  return column;
}

std::vector<std::vector<std::string>> Rows(absl::string_view text) {
  std::vector<std::vector<std::string>> rows;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    rows.push_back(absl::StrSplit(line, '\t'));
  }
  return rows;
}

// Each test gets its own etagd on a fresh data directory.
class EtagctlTest : public testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<EtagdProcess> etagd = StartEtagd(TestPath("data"));
    ASSERT_TRUE(etagd.ok()) << etagd.status();
    etagd_ = *std::move(etagd);
  }

  // Runs etagctl against this test's etagd.
  CommandResult Etagctl(
      std::vector<std::string> args,
      absl::optional<std::string> stdin_content = absl::nullopt) {
    args.insert(args.begin(), "--target=" + etagd_.target());
    return RunEtagctl(args, std::move(stdin_content));
  }

  // Puts `value` under `name`, expecting success; returns the new ETag.
  std::string Put(const std::string& name, const std::string& value) {
    CommandResult put = Etagctl({"--value=" + value, "put", name});
    EXPECT_EQ(put.exit_code, kExitOk) << put.stderr_text;
    return Field(put.stdout_text, "etag");
  }

  EtagdProcess etagd_;
};

TEST_F(EtagctlTest, PutPrintsCreatedThenReplaced) {
  CommandResult first = Etagctl({"--value=one", "put", "doc"});
  ASSERT_EQ(first.exit_code, kExitOk) << first.stderr_text;
  EXPECT_THAT(first.stdout_text, StartsWith("created\n"));
  const std::string first_etag = Field(first.stdout_text, "etag");
  EXPECT_THAT(first_etag, MatchesRegex("\"[^\"]+\""));
  EXPECT_EQ(Field(first.stdout_text, "version"), "1");
  EXPECT_EQ(Field(first.stdout_text, "content-length"), "3");

  CommandResult second = Etagctl({"--value=two!", "put", "doc"});
  ASSERT_EQ(second.exit_code, kExitOk) << second.stderr_text;
  EXPECT_THAT(second.stdout_text, StartsWith("replaced\n"));
  const std::string second_etag = Field(second.stdout_text, "etag");
  EXPECT_THAT(second_etag, MatchesRegex("\"[^\"]+\""));
  EXPECT_NE(second_etag, first_etag);
  EXPECT_EQ(Field(second.stdout_text, "version"), "2");
  EXPECT_EQ(Field(second.stdout_text, "content-length"), "4");
}

TEST_F(EtagctlTest, GetPrintsContentOnStdoutAndMetadataOnStderr) {
  const std::string etag = Put("doc", "hello, world");

  CommandResult get = Etagctl({"get", "doc"});
  ASSERT_EQ(get.exit_code, kExitOk) << get.stderr_text;
  EXPECT_EQ(get.stdout_text, "hello, world");
  EXPECT_EQ(Field(get.stderr_text, "etag"), etag);
}

TEST_F(EtagctlTest, HeadPrintsMetadataOnly) {
  CommandResult put =
      Etagctl({"--value=hello", "--content-type=text/plain", "put", "doc"});
  ASSERT_EQ(put.exit_code, kExitOk) << put.stderr_text;

  CommandResult head = Etagctl({"head", "doc"});
  ASSERT_EQ(head.exit_code, kExitOk) << head.stderr_text;
  EXPECT_EQ(Field(head.stdout_text, "etag"), Field(put.stdout_text, "etag"));
  EXPECT_EQ(Field(head.stdout_text, "revision"),
            Field(put.stdout_text, "revision"));
  EXPECT_EQ(Field(head.stdout_text, "version"), "1");
  EXPECT_EQ(Field(head.stdout_text, "content-type"), "text/plain");
  EXPECT_EQ(Field(head.stdout_text, "content-length"), "5");
  EXPECT_THAT(Field(head.stdout_text, "update-time"), Not(IsEmpty()));
  EXPECT_THAT(head.stdout_text, Not(HasSubstr("hello")));
}

TEST_F(EtagctlTest, PutStoresHttpMetadataAndHeadShowsIt) {
  CommandResult put = Etagctl(
      {"--value=hello", "--cache-control=public, max-age=60",
       "--content-disposition=attachment", "--content-encoding=gzip",
       "--content-language=en", "--expires=2037-01-01T00:00:00Z",
       "--meta=owner=alice,build=42", "put", "doc"});
  ASSERT_EQ(put.exit_code, kExitOk) << put.stderr_text;

  CommandResult head = Etagctl({"head", "doc"});
  ASSERT_EQ(head.exit_code, kExitOk) << head.stderr_text;
  EXPECT_EQ(Field(head.stdout_text, "cache-control"), "public, max-age=60");
  EXPECT_EQ(Field(head.stdout_text, "content-disposition"), "attachment");
  EXPECT_EQ(Field(head.stdout_text, "content-encoding"), "gzip");
  EXPECT_EQ(Field(head.stdout_text, "content-language"), "en");
  EXPECT_EQ(Field(head.stdout_text, "expires"), "2037-01-01T00:00:00+00:00");
  EXPECT_EQ(Field(head.stdout_text, "meta-owner"), "alice");
  EXPECT_EQ(Field(head.stdout_text, "meta-build"), "42");
}

TEST_F(EtagctlTest, PutWithBadMetadataExitsWithTheServersReason) {
  CommandResult put =
      Etagctl({"--value=hello", "--meta=Owner=alice", "put", "doc"});
  EXPECT_EQ(put.exit_code, kExitError);
  EXPECT_THAT(put.stderr_text, HasSubstr("lowercase"));
}

TEST_F(EtagctlTest, GetIfNoneMatchCurrentEtagExitsNotModified) {
  const std::string etag = Put("doc", "hello");

  CommandResult get = Etagctl({"--if-none-match=" + etag, "get", "doc"});
  EXPECT_EQ(get.exit_code, kExitNotModified) << get.stderr_text;
  EXPECT_EQ(get.stdout_text, "");
  EXPECT_THAT(get.stderr_text, HasSubstr("not modified"));
  EXPECT_EQ(Field(get.stderr_text, "etag"), etag);
}

TEST_F(EtagctlTest, PutIfMatchStaleEtagExitsPreconditionFailedShowingCurrent) {
  const std::string etag = Put("doc", "original");

  CommandResult put =
      Etagctl({"--if-match=\"stale\"", "--value=lost update", "put", "doc"});
  EXPECT_EQ(put.exit_code, kExitPreconditionFailed) << put.stderr_text;
  EXPECT_THAT(put.stderr_text, HasSubstr("current ETag: " + etag));

  CommandResult get = Etagctl({"get", "doc"});
  ASSERT_EQ(get.exit_code, kExitOk) << get.stderr_text;
  EXPECT_EQ(get.stdout_text, "original");
}

TEST_F(EtagctlTest, PutIfMatchCurrentEtagSucceeds) {
  const std::string etag = Put("doc", "original");

  CommandResult put =
      Etagctl({"--if-match=" + etag, "--value=next", "put", "doc"});
  EXPECT_EQ(put.exit_code, kExitOk) << put.stderr_text;
  EXPECT_THAT(put.stdout_text, StartsWith("replaced\n"));
}

TEST_F(EtagctlTest, GetMissingExitsNotFound) {
  CommandResult get = Etagctl({"get", "missing"});
  EXPECT_EQ(get.exit_code, kExitNotFound) << get.stderr_text;
  EXPECT_EQ(get.stdout_text, "");
  EXPECT_THAT(get.stderr_text, HasSubstr("NOT_FOUND"));
}

TEST_F(EtagctlTest, GetAfterDeleteExitsNotFound) {
  const std::string etag = Put("doc", "hello");

  CommandResult deleted = Etagctl({"delete", "doc"});
  ASSERT_EQ(deleted.exit_code, kExitOk) << deleted.stderr_text;
  EXPECT_THAT(deleted.stdout_text, StartsWith("deleted\n"));
  EXPECT_EQ(Field(deleted.stdout_text, "deleted-etag"), etag);

  CommandResult get = Etagctl({"get", "doc"});
  EXPECT_EQ(get.exit_code, kExitNotFound) << get.stderr_text;
}

TEST_F(EtagctlTest, PutIfNoneMatchStarOnExistingExitsPreconditionFailed) {
  const std::string etag = Put("doc", "first");

  CommandResult put =
      Etagctl({"--if-none-match=*", "--value=second", "put", "doc"});
  EXPECT_EQ(put.exit_code, kExitPreconditionFailed) << put.stderr_text;
  EXPECT_THAT(put.stderr_text, HasSubstr("current ETag: " + etag));
}

TEST_F(EtagctlTest, PutIfNoneMatchStarOnMissingCreates) {
  CommandResult put =
      Etagctl({"--if-none-match=*", "--value=first", "put", "doc"});
  EXPECT_EQ(put.exit_code, kExitOk) << put.stderr_text;
  EXPECT_THAT(put.stdout_text, StartsWith("created\n"));
}

TEST_F(EtagctlTest, PutReadsContentFromStdin) {
  const std::string content = "line one\nline two\n\ttabbed\n";
  CommandResult put = Etagctl({"put", "doc"}, content);
  ASSERT_EQ(put.exit_code, kExitOk) << put.stderr_text;
  EXPECT_EQ(Field(put.stdout_text, "content-length"),
            absl::StrCat(content.size()));

  CommandResult get = Etagctl({"get", "doc"});
  ASSERT_EQ(get.exit_code, kExitOk) << get.stderr_text;
  EXPECT_EQ(get.stdout_text, content);
}

TEST_F(EtagctlTest, ListPrintsNamesInOrder) {
  Put("b", "2");
  Put("a/2", "22");
  Put("a/1", "1");

  CommandResult all = Etagctl({"list"});
  ASSERT_EQ(all.exit_code, kExitOk) << all.stderr_text;
  EXPECT_THAT(FirstColumn(all.stdout_text), ElementsAre("a/1", "a/2", "b"));

  CommandResult prefixed = Etagctl({"list", "a/"});
  ASSERT_EQ(prefixed.exit_code, kExitOk) << prefixed.stderr_text;
  EXPECT_THAT(FirstColumn(prefixed.stdout_text), ElementsAre("a/1", "a/2"));
}

TEST_F(EtagctlTest, ListFollowsPages) {
  Put("a", "1");
  Put("b", "2");
  Put("c", "3");

  CommandResult list = Etagctl({"--page-size=1", "list"});
  ASSERT_EQ(list.exit_code, kExitOk) << list.stderr_text;
  EXPECT_THAT(FirstColumn(list.stdout_text), ElementsAre("a", "b", "c"));
}

TEST_F(EtagctlTest, HistoryListsVersionsNewestFirst) {
  const std::string first = Put("doc", "v1");
  ASSERT_EQ(Etagctl({"delete", "doc"}).exit_code, kExitOk);
  const std::string third = Put("doc", "v3");

  CommandResult history = Etagctl({"--page-size=1", "history", "doc"});
  ASSERT_EQ(history.exit_code, kExitOk) << history.stderr_text;
  std::vector<std::vector<std::string>> rows = Rows(history.stdout_text);
  ASSERT_THAT(rows, SizeIs(3)) << history.stdout_text;
  // revision, etag (or "deleted"), update time, content length.
  ASSERT_THAT(rows[0], SizeIs(4));
  ASSERT_THAT(rows[1], SizeIs(4));
  ASSERT_THAT(rows[2], SizeIs(4));
  EXPECT_EQ(rows[0][1], third);
  EXPECT_EQ(rows[1][1], "deleted");
  EXPECT_EQ(rows[2][1], first);
  EXPECT_GT(std::stoll(rows[0][0]), std::stoll(rows[1][0]));
  EXPECT_GT(std::stoll(rows[1][0]), std::stoll(rows[2][0]));
}

TEST_F(EtagctlTest, RetriedPutWithSameRequestIdAppliesOnce) {
  CommandResult first =
      Etagctl({"--request-id=retry-1", "--value=once", "put", "doc"});
  ASSERT_EQ(first.exit_code, kExitOk) << first.stderr_text;
  CommandResult retry =
      Etagctl({"--request-id=retry-1", "--value=once", "put", "doc"});
  ASSERT_EQ(retry.exit_code, kExitOk) << retry.stderr_text;

  EXPECT_EQ(Field(retry.stdout_text, "etag"), Field(first.stdout_text, "etag"));
  EXPECT_EQ(Field(retry.stdout_text, "revision"),
            Field(first.stdout_text, "revision"));

  CommandResult history = Etagctl({"history", "doc"});
  ASSERT_EQ(history.exit_code, kExitOk) << history.stderr_text;
  EXPECT_THAT(Rows(history.stdout_text), SizeIs(1)) << history.stdout_text;
}

TEST_F(EtagctlTest, UnknownCommandExitsUsage) {
  CommandResult result = Etagctl({"frobnicate", "doc"});
  EXPECT_EQ(result.exit_code, kExitUsage);
  EXPECT_THAT(result.stderr_text, HasSubstr("unknown command 'frobnicate'"));
}

TEST_F(EtagctlTest, MissingNameExitsUsage) {
  CommandResult result = Etagctl({"get"});
  EXPECT_EQ(result.exit_code, kExitUsage);
  EXPECT_THAT(result.stderr_text, HasSubstr("get needs a NAME"));
}

TEST_F(EtagctlTest, InvalidEntityTagExitsUsage) {
  CommandResult result = Etagctl({"--if-match=\"unterminated", "get", "doc"});
  EXPECT_EQ(result.exit_code, kExitUsage);
  EXPECT_THAT(result.stderr_text, HasSubstr("not an entity-tag"));
}

// Starts `etagctl watch` with `args` and waits until it watches.
std::unique_ptr<Subprocess> StartWatch(const std::string& target,
                                       std::vector<std::string> args) {
  args.insert(args.begin(), {"--target=" + target, "watch"});
  absl::StatusOr<std::unique_ptr<Subprocess>> watch =
      Subprocess::Start(DataBinaryPath("client/etagctl"), args);
  EXPECT_TRUE(watch.ok()) << watch.status();
  if (!watch.ok()) return nullptr;
  absl::StatusOr<std::string> line =
      (*watch)->WaitForStderrLine("watching", kTimeout);
  EXPECT_TRUE(line.ok()) << line.status();
  return *std::move(watch);
}

TEST_F(EtagctlTest, WatchPrintsALinePerChangeUnderThePrefix) {
  std::unique_ptr<Subprocess> watch =
      StartWatch(etagd_.target(), {"--max-events=2", "docs/"});
  ASSERT_NE(watch, nullptr);
  const std::string etag = Put("docs/a", "1");
  Put("other", "x");
  ASSERT_EQ(Etagctl({"delete", "docs/a"}).exit_code, kExitOk);
  absl::StatusOr<int> exit_code = watch->Wait(kTimeout);
  ASSERT_TRUE(exit_code.ok()) << exit_code.status();
  EXPECT_EQ(*exit_code, kExitOk) << watch->stderr_text();
  const std::vector<std::vector<std::string>> rows = Rows(watch->stdout_text());
  ASSERT_THAT(rows, SizeIs(2));
  EXPECT_THAT(rows[0], ElementsAre(testing::_, "put", "docs/a", etag));
  EXPECT_EQ(rows[1][1], "delete");
  EXPECT_EQ(rows[1][2], "docs/a");
  EXPECT_LT(std::stoll(rows[0][0]), std::stoll(rows[1][0]));
}

TEST_F(EtagctlTest, WatchFromAStartRevisionReplaysThePast) {
  Put("a", "1");
  CommandResult second = Etagctl({"--value=2", "put", "a"});
  ASSERT_EQ(second.exit_code, kExitOk);
  const std::string revision = Field(second.stdout_text, "revision");
  CommandResult watch = Etagctl(
      {"watch", "--start-revision=" + revision, "--max-events=1", "a"});
  EXPECT_EQ(watch.exit_code, kExitOk) << watch.stderr_text;
  EXPECT_THAT(FirstColumn(watch.stdout_text), ElementsAre(revision));
}

TEST_F(EtagctlTest, WatchBelowTheWindowSaysWhichRevisionsAreKept) {
  // A fresh store's change log starts at its first revision: 0 is "now",
  // and no revision is below 1, so take a store that has pruned.
  EtagdProcess pruning;
  {
    absl::StatusOr<EtagdProcess> started = StartEtagd(
        TestPath("pruning"), {"--watch_retention_revisions=1"});
    ASSERT_TRUE(started.ok()) << started.status();
    pruning = *std::move(started);
  }
  for (int i = 0; i < 3; ++i) {
    CommandResult put = RunEtagctl(
        {"--target=" + pruning.target(), "--value=x", "put", "n"});
    ASSERT_EQ(put.exit_code, kExitOk) << put.stderr_text;
  }
  // Pruning runs every second.
  CommandResult watch;
  for (int i = 0; i < 50; ++i) {
    watch = RunEtagctl({"--target=" + pruning.target(), "watch",
                        "--start-revision=1", "--max-events=1"});
    if (watch.exit_code != kExitOk) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(watch.exit_code, 1) << watch.stderr_text;
  EXPECT_THAT(watch.stderr_text, HasSubstr("OUT_OF_RANGE"));
  EXPECT_THAT(watch.stderr_text, HasSubstr("oldest revision: 3"));
}


// A TCP port on 127.0.0.1 that is bound (so nobody else takes it) but not
// listening, so connections to it are refused.
class RefusingPort {
 public:
  RefusingPort() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (fd_ < 0 ||
        bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      return;
    }
    port_ = ntohs(address.sin_port);
  }
  RefusingPort(const RefusingPort&) = delete;
  RefusingPort& operator=(const RefusingPort&) = delete;
  ~RefusingPort() {
    if (fd_ >= 0) close(fd_);
  }

  // 0 if the socket could not be set up.
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(EtagctlWithoutServerTest, NothingListeningExitsUnavailable) {
  RefusingPort refusing;
  ASSERT_NE(refusing.port(), 0);

  CommandResult result =
      RunEtagctl({absl::StrCat("--target=127.0.0.1:", refusing.port()),
                  "--timeout=1s", "get", "doc"});
  EXPECT_EQ(result.exit_code, kExitUnavailable) << result.stderr_text;
  EXPECT_THAT(
      result.stderr_text,
      testing::AnyOf(HasSubstr("UNAVAILABLE"), HasSubstr("DEADLINE_EXCEEDED")));
}

}  // namespace
}  // namespace etagd
