// Runs the real etagd binary: its startup line, signals, exit codes and
// fatal-error lines.
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/http_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

using ::testing::HasSubstr;
using ::testing::Not;

// Generous: these bound a hang, they are not expected durations.
constexpr absl::Duration kTimeout = absl::Seconds(60);

// A TCP socket on 127.0.0.1 bound to a free port (without SO_REUSEPORT) and
// listening, so nobody else can bind that port while it is open.
class HeldPort {
 public:
  HeldPort() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address = {};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    address.sin_port = 0;
    socklen_t length = sizeof address;
    if (fd_ < 0 ||
        bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
        listen(fd_, 1) != 0 ||
        getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
      return;
    }
    port_ = ntohs(address.sin_port);
  }
  HeldPort(const HeldPort&) = delete;
  HeldPort& operator=(const HeldPort&) = delete;
  ~HeldPort() {
    if (fd_ >= 0) close(fd_);
  }

  // 0 if the socket could not be set up.
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

// Runs etagd with `args` (no defaults added), expecting it to exit by itself.
// Runs etagd with `args`, HTTP on a free port unless `args` say otherwise.
CommandResult RunEtagd(const std::vector<std::string>& args) {
  std::vector<std::string> all = {"--http_listen=127.0.0.1:0"};
  all.insert(all.end(), args.begin(), args.end());
  absl::StatusOr<CommandResult> result = RunCommand(
      DataBinaryPath("service/etagd"), all, absl::nullopt, kTimeout);
  EXPECT_THAT(result, IsOk());
  return result.ok() ? *std::move(result) : CommandResult{};
}

absl::StatusOr<v1::PutResourceResponse> PutContent(Client& client,
                                                   const std::string& name,
                                                   const std::string& content) {
  v1::PutResourceRequest request;
  request.set_name(name);
  request.set_content(content);
  return client.Put(request);
}

absl::StatusOr<v1::GetResourceResponse> GetResource(Client& client,
                                                    const std::string& name) {
  v1::GetResourceRequest request;
  request.set_name(name);
  return client.Get(request);
}

// Sends `signal` and expects a clean exit: status 0 and the "stopped" line.
void StopWith(EtagdProcess& etagd, int signal) {
  ASSERT_THAT(etagd.process->Signal(signal), IsOk());
  absl::StatusOr<int> exit_code = etagd.process->Wait(kTimeout);
  ASSERT_THAT(exit_code, IsOk());
  EXPECT_EQ(*exit_code, 0) << etagd.process->stderr_text();
  EXPECT_THAT(etagd.process->stderr_text(), HasSubstr("level=info program=etagd msg=\"stopped"));
}

TEST(EtagdMainTest, StartupLineNamesPortAndDataDirAndServesThere) {
  const std::string data_dir = TestPath("data");
  absl::StatusOr<EtagdProcess> etagd = StartEtagd(data_dir);
  ASSERT_THAT(etagd, IsOk());

  EXPECT_THAT(
      etagd->startup_line,
      HasSubstr(absl::StrCat("serving gRPC on 127.0.0.1:", etagd->port,
                             " and HTTP on 127.0.0.1:", etagd->http_port, ";")));
  EXPECT_THAT(
      etagd->startup_line,
      HasSubstr(absl::StrCat(
          "data in ",
          std::filesystem::path(data_dir).lexically_normal().string(), " (")));
  EXPECT_TRUE(std::filesystem::is_directory(data_dir));

  std::unique_ptr<Client> client = Client::Connect(etagd->target());
  absl::StatusOr<v1::PutResourceResponse> put =
      PutContent(*client, "greeting", "hello");
  ASSERT_THAT(put, IsOk());
  EXPECT_TRUE(put->created());
  absl::StatusOr<v1::GetResourceResponse> got =
      GetResource(*client, "greeting");
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->resource().content(), "hello");
  EXPECT_EQ(got->resource().etag(), put->resource().etag());
}

TEST(EtagdMainTest, SigtermExitsCleanlyAndDataSurvivesRestart) {
  const std::string data_dir = TestPath("data");
  int64_t first_revision = 0;
  std::string first_etag;
  {
    absl::StatusOr<EtagdProcess> etagd = StartEtagd(data_dir);
    ASSERT_THAT(etagd, IsOk());
    std::unique_ptr<Client> client = Client::Connect(etagd->target());
    absl::StatusOr<v1::PutResourceResponse> put =
        PutContent(*client, "kept", "before restart");
    ASSERT_THAT(put, IsOk());
    first_revision = put->resource().revision();
    first_etag = put->resource().etag();
    // An idle channel in this process would answer the server's GOAWAY only
    // on gRPC's backup poll (every 5 s), holding up the drain; close it.
    client.reset();
    StopWith(*etagd, SIGTERM);
    EXPECT_THAT(etagd->process->stderr_text(), HasSubstr("received SIGTERM"));
  }

  absl::StatusOr<EtagdProcess> etagd = StartEtagd(data_dir);
  ASSERT_THAT(etagd, IsOk());
  std::unique_ptr<Client> client = Client::Connect(etagd->target());
  absl::StatusOr<v1::GetResourceResponse> got = GetResource(*client, "kept");
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->resource().content(), "before restart");
  EXPECT_EQ(got->resource().etag(), first_etag);
  EXPECT_EQ(got->resource().revision(), first_revision);

  absl::StatusOr<v1::PutResourceResponse> put =
      PutContent(*client, "after", "after restart");
  ASSERT_THAT(put, IsOk());
  EXPECT_GT(put->resource().revision(), first_revision);
  client.reset();
  StopWith(*etagd, SIGTERM);
}

TEST(EtagdMainTest, SigintExitsCleanly) {
  absl::StatusOr<EtagdProcess> etagd = StartEtagd(TestPath("data"));
  ASSERT_THAT(etagd, IsOk());
  StopWith(*etagd, SIGINT);
  EXPECT_THAT(etagd->process->stderr_text(), HasSubstr("received SIGINT"));
}

TEST(EtagdMainTest, SecondServerOnSameDataDirFailsWithLocked) {
  const std::string data_dir = TestPath("data");
  absl::StatusOr<EtagdProcess> first = StartEtagd(data_dir);
  ASSERT_THAT(first, IsOk());

  CommandResult second =
      RunEtagd({"--grpc_listen=127.0.0.1:0", "--data_dir=" + data_dir});
  EXPECT_NE(second.exit_code, 0);
  EXPECT_THAT(second.stderr_text, HasSubstr("cannot start"));
  EXPECT_THAT(second.stderr_text, HasSubstr("locked"));
  EXPECT_THAT(second.stderr_text, Not(HasSubstr("serving gRPC")));

  // The first one is unaffected.
  std::unique_ptr<Client> client = Client::Connect(first->target());
  EXPECT_THAT(PutContent(*client, "still", "serving"), IsOk());
}

TEST(EtagdMainTest, UnusableDataDirFailsWithCannotStart) {
  const std::string file = TestPath("file");
  std::ofstream(file) << "not a directory";
  ASSERT_TRUE(std::filesystem::is_regular_file(file));

  CommandResult result =
      RunEtagd({"--grpc_listen=127.0.0.1:0", "--data_dir=" + file + "/db"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.stderr_text, HasSubstr("level=error program=etagd msg=\"cannot start"));
  EXPECT_THAT(result.stderr_text, HasSubstr(file + "/db"));
  EXPECT_THAT(result.stderr_text, Not(HasSubstr("serving gRPC")));
}

// An invalid flag value and the flag name its error line must mention.
struct InvalidFlagCase {
  std::string arg;
  std::string flag;
};

class EtagdInvalidFlagTest : public testing::TestWithParam<InvalidFlagCase> {};

TEST_P(EtagdInvalidFlagTest, ExitsNonZeroNamingTheFlag) {
  CommandResult result =
      RunEtagd({"--grpc_listen=127.0.0.1:0", "--data_dir=" + TestPath("data"),
                GetParam().arg});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.stderr_text, HasSubstr(GetParam().flag));
  EXPECT_THAT(result.stderr_text, Not(HasSubstr("serving gRPC")));
}

INSTANTIATE_TEST_SUITE_P(
    Flags, EtagdInvalidFlagTest,
    testing::Values(
        // Rejected by etagd's own checks.
        InvalidFlagCase{"--history_depth=-1", "--history_depth"},
        InvalidFlagCase{"--max_content_bytes=0", "--max_content_bytes"},
        InvalidFlagCase{"--max_content_bytes=1073741825",
                        "--max_content_bytes"},
        InvalidFlagCase{"--write_threads=0", "--write_threads"},
        InvalidFlagCase{"--write_committers=33", "--write_committers"},
        InvalidFlagCase{"--drain_timeout=-1s", "--drain_timeout"},
        InvalidFlagCase{"--block_cache_mb=-1", "--block_cache_mb"},
        InvalidFlagCase{"--grpc_memory_quota_mb=-1", "--grpc_memory_quota_mb"},
        // Rejected by flag parsing.
        InvalidFlagCase{"--history_depth=many", "history_depth"},
        InvalidFlagCase{"--drain_timeout=10", "drain_timeout"}));

// Checked before etagd dials etcd (nothing listens on port 1).
TEST(EtagdMainTest, ANegativeEtcdRecentRecordsBudgetIsRefusedNamingTheFlag) {
  CommandResult result = RunEtagd(
      {"--grpc_listen=127.0.0.1:0", "--engine=etcd",
       "--etcd_endpoints=127.0.0.1:1", "--etcd_dial_timeout=1s",
       "--etcd_recent_records_mb=-1"});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.stderr_text, HasSubstr("--etcd_recent_records_mb"));
  EXPECT_THAT(result.stderr_text, Not(HasSubstr("serving gRPC")));
}

TEST(EtagdMainTest, PortInUseFailsWithCannotListen) {
  HeldPort held;
  ASSERT_NE(held.port(), 0);

  CommandResult result =
      RunEtagd({absl::StrCat("--grpc_listen=127.0.0.1:", held.port()),
                "--data_dir=" + TestPath("data")});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.stderr_text, HasSubstr("cannot start: cannot listen"));
  EXPECT_THAT(result.stderr_text, HasSubstr(absl::StrCat(held.port())));
  EXPECT_THAT(result.stderr_text, Not(HasSubstr("serving gRPC")));
}

TEST(EtagdMainTest, PortOfARunningEtagdFailsWithCannotListen) {
  // Without this, SO_REUSEPORT would let both serve, on different data.
  absl::StatusOr<EtagdProcess> first = StartEtagd(TestPath("first"));
  ASSERT_THAT(first, IsOk());
  CommandResult result =
      RunEtagd({absl::StrCat("--grpc_listen=127.0.0.1:", first->port),
                "--data_dir=" + TestPath("second")});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.stderr_text, HasSubstr("cannot start: cannot listen"));
  EXPECT_THAT(result.stderr_text, Not(HasSubstr("serving gRPC")));
}

TEST(EtagdMainTest, FlagsCanComeFromTheEnvironment) {
  // Run through env(1) so the variable reaches only this child.
  absl::StatusOr<CommandResult> result = RunCommand(
      "/usr/bin/env", {"ETAGD_HISTORY_DEPTH=-3", DataBinaryPath("service/etagd"),
                       "--data_dir=" + TestPath("data")});
  ASSERT_THAT(result, IsOk());
  EXPECT_NE(result->exit_code, 0);
  EXPECT_THAT(result->stderr_text, HasSubstr("--history_depth"));
}

TEST(EtagdMainTest, AnInvalidEnvironmentValueIsNamedButNotEchoed) {
  absl::StatusOr<CommandResult> result = RunCommand(
      "/usr/bin/env", {"ETAGD_SYNC_WRITES=s3cr3t-value", DataBinaryPath("service/etagd"),
                       "--data_dir=" + TestPath("data")});
  ASSERT_THAT(result, IsOk());
  EXPECT_NE(result->exit_code, 0);
  EXPECT_THAT(result->stderr_text, HasSubstr("ETAGD_SYNC_WRITES"));
  EXPECT_THAT(result->stderr_text, Not(HasSubstr("s3cr3t-value")));
}

TEST(EtagdMainTest, TheCommandLineWinsOverTheEnvironment) {
  absl::StatusOr<CommandResult> result = RunCommand(
      "/usr/bin/env", {"ETAGD_HISTORY_DEPTH=5", DataBinaryPath("service/etagd"),
                       "--history_depth=-1", "--data_dir=" + TestPath("data")});
  ASSERT_THAT(result, IsOk());
  EXPECT_NE(result->exit_code, 0);
  EXPECT_THAT(result->stderr_text, HasSubstr("--history_depth must not be negative"));
}

TEST(EtagdMainTest, HelpListsEveryFlag) {
  // absl's --help exits with status 1; only the text matters here.
  CommandResult result = RunEtagd({"--help"});
  const std::string output = result.stdout_text + result.stderr_text;
  for (const char* flag :
       {"grpc_listen", "data_dir", "sync_writes", "history_depth",
        "max_content_bytes", "drain_timeout", "grpc_memory_quota_mb",
        "quota_bytes", "disk_reserve_bytes", "space_check_interval",
        "simulate_power_loss_for_test"}) {
    EXPECT_THAT(output, HasSubstr(absl::StrCat("--", flag, " ("))) << flag;
  }
}

// The product has two faces; a plain start serves both (README's first
// commands, pasted in order, talk to 7070 and 8080).
TEST(EtagdMainTest, HttpIsServedByDefaultOn8080) {
  CommandResult result = RunEtagd({"--helpfull"});
  const std::string output = result.stdout_text + result.stderr_text;
  const size_t flag = output.find("--http_listen (");
  ASSERT_NE(flag, std::string::npos) << output;
  EXPECT_THAT(output.substr(flag, output.find("\n    --", flag + 1) - flag),
              HasSubstr("default: \"127.0.0.1:8080\""));
}

TEST(EtagdMainTest, TheStartupLineSaysWhereHttpIsServed) {
  absl::StatusOr<EtagdProcess> etagd = StartEtagd(TestPath("data"));
  ASSERT_THAT(etagd, IsOk());
  ASSERT_GT(etagd->http_port, 0) << etagd->startup_line;
  HttpClient http(etagd->http_port);
  absl::StatusOr<HttpReply> health = http.Send("GET", "/healthz");
  ASSERT_THAT(health, IsOk());
  EXPECT_EQ(health->status, 200);
}

TEST(EtagdMainTest, TheStartupLineStatesTheQuotaAndTheDiskReserve) {
  absl::StatusOr<EtagdProcess> etagd =
      StartEtagd(TestPath("data"),
                 {"--quota_bytes=1073741824", "--disk_reserve_bytes=1048576"});
  ASSERT_THAT(etagd, IsOk());
  EXPECT_THAT(etagd->startup_line,
              HasSubstr("quota 1073741824 bytes (1.0 GiB)"));
  EXPECT_THAT(etagd->startup_line,
              HasSubstr("disk reserve 1048576 bytes (1.0 MiB)"));
}

TEST(EtagdMainTest, ANegativeQuotaIsRefusedClearly) {
  CommandResult result =
      RunEtagd({"--quota_bytes=-1", "--data_dir=" + TestPath("data")});
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.stderr_text,
              HasSubstr("--quota_bytes must not be negative"));
}

TEST(EtagdMainTest, AnEmptyHttpListenTurnsHttpOff) {
  absl::StatusOr<EtagdProcess> etagd =
      StartEtagd(TestPath("data"), {"--http_listen="});
  ASSERT_THAT(etagd, IsOk());
  EXPECT_EQ(etagd->http_port, 0);
  EXPECT_THAT(etagd->startup_line, Not(HasSubstr("HTTP")));
}

}  // namespace
}  // namespace etagd
