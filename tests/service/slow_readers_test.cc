// Clients that ask for large content and then never read it, against a real
// etagd: the content waiting for them is bounded by --response_memory_mb
// over HTTP and over gRPC (beyond it, 503 / RESOURCE_EXHAUSTED), etagd's
// peak memory stays within that bound plus a fixed allowance, and others
// are still served.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
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

constexpr int64_t kContentBytes = 4 << 20;
constexpr int kBudgetMb = 32;
constexpr int kSlowReaders = 100;
// What etagd may use beyond the budget while the readers stall: reads in
// progress on its threads, the record cache's copy, allocator slack. Far
// below the kSlowReaders * 4 MiB = 400 MiB that unbounded responses take.
constexpr int64_t kAllowanceBytes = int64_t{64} << 20;
constexpr absl::Duration kTimeout = absl::Seconds(30);

// A line of /proc/PID/status ("VmRSS", "VmHWM"), in bytes.
int64_t ProcStatusBytes(pid_t pid, absl::string_view field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (!absl::StartsWith(line, absl::StrCat(field, ":"))) continue;
    std::vector<std::string> parts =
        absl::StrSplit(line, ' ', absl::SkipWhitespace());
    int64_t kb = 0;
    if (parts.size() >= 2 && absl::SimpleAtoi(parts[1], &kb)) return kb << 10;
  }
  return -1;
}

// A TCP connection to 127.0.0.1:`port` with a small receive buffer, which
// sends `request` and then reads nothing until asked.
class StalledReader {
 public:
  StalledReader(int port, const std::string& request) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int small = 4096;
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&address),
                         sizeof(address)) == 0 &&
                 send(fd_, request.data(), request.size(), 0) ==
                     static_cast<ssize_t>(request.size());
  }
  ~StalledReader() { close(fd_); }

  bool connected() const { return connected_; }

  // The status line of the response, read at last.
  std::string StatusLine() {
    std::string head;
    char c;
    while (head.size() < 200 && recv(fd_, &c, 1, 0) == 1 && c != '\r') head += c;
    return head;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
};

class SlowReadersTest : public testing::Test {
 protected:
  // Flags beyond the budget's, for fixtures that need others.
  virtual std::vector<std::string> ExtraFlags() const { return {}; }

  void SetUp() override {
    std::vector<std::string> flags = {
        absl::StrCat("--response_memory_mb=", kBudgetMb), "--nosync_writes"};
    for (const std::string& flag : ExtraFlags()) flags.push_back(flag);
    absl::StatusOr<EtagdProcess> etagd = StartEtagd(TestPath("data"), flags);
    ASSERT_THAT(etagd, IsOk());
    etagd_ = *std::move(etagd);
    client_ = Client::Connect(etagd_.target());
    v1::PutResourceRequest put;
    put.set_name("big");
    put.set_content(std::string(kContentBytes, 'b'));
    ASSERT_THAT(client_->Put(put), IsOk());
    put.set_name("big0");  // etagd-bench's name for its one key "big".
    ASSERT_THAT(client_->Put(put), IsOk());
    put.set_name("small");
    put.set_content("still served");
    ASSERT_THAT(client_->Put(put), IsOk());
  }

  pid_t pid() const { return etagd_.process->pid(); }

  // HTTP requests answered so far, from /metrics, not counting the
  // /metrics requests this made.
  int64_t HttpRequestsAnswered() {
    ++metrics_polls_;
    HttpClient http(etagd_.http_port);
    absl::StatusOr<HttpReply> metrics = http.Send("GET", "/metrics");
    if (!metrics.ok()) return -1;
    int64_t total = 0;
    for (absl::string_view line : absl::StrSplit(metrics->body, '\n')) {
      if (!absl::StartsWith(line, "etagd_http_requests_total{")) continue;
      int64_t n = 0;
      if (absl::SimpleAtoi(line.substr(line.rfind(' ') + 1), &n)) total += n;
    }
    return total - metrics_polls_;
  }

  // Responses with `code` the HTTP server wrote itself, from /metrics.
  int64_t ServerResponses(int code) {
    ++metrics_polls_;
    HttpClient http(etagd_.http_port);
    absl::StatusOr<HttpReply> metrics = http.Send("GET", "/metrics");
    if (!metrics.ok()) return -1;
    const std::string prefix =
        absl::StrCat("etagd_http_server_responses_total{code=\"", code, "\"} ");
    for (absl::string_view line : absl::StrSplit(metrics->body, '\n')) {
      int64_t n = 0;
      if (absl::ConsumePrefix(&line, prefix) && absl::SimpleAtoi(line, &n)) return n;
    }
    return 0;
  }

  EtagdProcess etagd_;
  std::unique_ptr<Client> client_;
  int64_t metrics_polls_ = 0;
};

TEST_F(SlowReadersTest, HttpResponsesToStalledReadersStayWithinTheBudget) {
  const int64_t before = ProcStatusBytes(pid(), "VmRSS");
  ASSERT_GT(before, 0);
  const int64_t answered_before = HttpRequestsAnswered();
  std::vector<std::unique_ptr<StalledReader>> readers;
  for (int i = 0; i < kSlowReaders; ++i) {
    readers.push_back(std::make_unique<StalledReader>(
        etagd_.http_port, "GET /v1/resources/big HTTP/1.1\r\nHost: t\r\n\r\n"));
    ASSERT_TRUE(readers.back()->connected());
  }
  // Every request answered (its response written as far as it goes).
  const absl::Time deadline = absl::Now() + kTimeout;
  while (HttpRequestsAnswered() < answered_before + kSlowReaders &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_GE(HttpRequestsAnswered(), answered_before + kSlowReaders);
  const int64_t peak = ProcStatusBytes(pid(), "VmHWM");
  RecordProperty("peak_growth_bytes", std::to_string(peak - before));
  EXPECT_LT(peak - before, (int64_t{kBudgetMb} << 20) + kAllowanceBytes)
      << "etagd grew from " << before << " to a peak of " << peak << " bytes";

  // Others are still served meanwhile.
  HttpClient http(etagd_.http_port);
  absl::StatusOr<HttpReply> small = http.Send("GET", "/v1/resources/small");
  ASSERT_THAT(small, IsOk());
  EXPECT_EQ(small->status, 200);

  // The readers beyond the budget were told to come back.
  int refused = 0, served = 0;
  for (auto& reader : readers) {
    const std::string status = reader->StatusLine();
    if (absl::StartsWith(status, "HTTP/1.1 503")) ++refused;
    if (absl::StartsWith(status, "HTTP/1.1 200")) ++served;
  }
  EXPECT_GT(refused, 0);
  EXPECT_GT(served, 0);
  EXPECT_EQ(refused + served, kSlowReaders);
  // Each 503 replaced an answer: /metrics counts it as the server's own.
  EXPECT_EQ(ServerResponses(503), refused);
}

TEST_F(SlowReadersTest, GrpcResponsesToStalledReadersStayWithinTheBudget) {
  const int64_t before = ProcStatusBytes(pid(), "VmRSS");
  ASSERT_GT(before, 0);
  // A client with kSlowReaders Gets of "big" in flight, stopped (SIGSTOP)
  // while they are: it reads nothing from then on.
  absl::StatusOr<std::unique_ptr<Subprocess>> bench = Subprocess::Start(
      DataBinaryPath("bench/etagd-bench"),
      {"--system=etagd", "--target=" + etagd_.target(), "--op=get",
       "--setup=none", "--keys=1", "--key_prefix=big", "--connections=2",
       absl::StrCat("--in_flight=", kSlowReaders / 2), "--duration=60s",
       "--warmup=0s", "--progress_every=100ms"});
  ASSERT_THAT(bench, IsOk());
  ASSERT_THAT((*bench)->WaitForStderrLine("progress:", kTimeout), IsOk());
  ASSERT_THAT((*bench)->Signal(SIGSTOP), IsOk());
  // Let etagd answer what is in flight, as far as the sockets take it.
  int64_t peak = 0;
  for (int i = 0; i < 20; ++i) {
    absl::SleepFor(absl::Milliseconds(100));
    peak = ProcStatusBytes(pid(), "VmHWM");
  }
  RecordProperty("peak_growth_bytes", std::to_string(peak - before));
  EXPECT_LT(peak - before, (int64_t{kBudgetMb} << 20) + kAllowanceBytes)
      << "etagd grew from " << before << " to a peak of " << peak << " bytes";

  v1::GetResourceRequest get;
  get.set_name("small");
  absl::StatusOr<v1::GetResourceResponse> small = client_->Get(get);
  ASSERT_THAT(small, IsOk());
  EXPECT_EQ(small->resource().content(), "still served");
  ASSERT_THAT((*bench)->Signal(SIGKILL), IsOk());
}

TEST_F(SlowReadersTest, TheBudgetComesBackWhenStalledReadersGo) {
  {
    const int64_t answered_before = HttpRequestsAnswered();
    std::vector<std::unique_ptr<StalledReader>> readers;
    for (int i = 0; i < kSlowReaders; ++i) {
      readers.push_back(std::make_unique<StalledReader>(
          etagd_.http_port, "GET /v1/resources/big HTTP/1.1\r\nHost: t\r\n\r\n"));
    }
    const absl::Time deadline = absl::Now() + kTimeout;
    while (HttpRequestsAnswered() < answered_before + kSlowReaders &&
           absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(50));
    }
  }  // The readers hang up.
  const absl::Time deadline = absl::Now() + kTimeout;
  int status = 0;
  while (absl::Now() < deadline) {
    HttpClient http(etagd_.http_port);
    absl::StatusOr<HttpReply> big = http.Send("GET", "/v1/resources/big");
    status = big.ok() ? big->status : 0;
    if (status == 200) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(status, 200);
}

// README, "Slow readers": a response still not written after
// --http_request_timeout closes its connection, and its budget comes back
// while the stalled reader still holds the socket open.
class StalledWriteTimeoutTest : public SlowReadersTest {
 protected:
  std::vector<std::string> ExtraFlags() const override {
    return {"--http_request_timeout=5s"};
  }
};

TEST_F(StalledWriteTimeoutTest, AStalledResponseIsClosedAndItsBudgetReturns) {
  const int64_t answered_before = HttpRequestsAnswered();
  std::vector<std::unique_ptr<StalledReader>> readers;
  for (int i = 0; i < kSlowReaders; ++i) {
    readers.push_back(std::make_unique<StalledReader>(
        etagd_.http_port, "GET /v1/resources/big HTTP/1.1\r\nHost: t\r\n\r\n"));
    ASSERT_TRUE(readers.back()->connected());
  }
  absl::Time deadline = absl::Now() + kTimeout;
  while (HttpRequestsAnswered() < answered_before + kSlowReaders &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  {
    // The budget is taken: without the timeout this would go on.
    HttpClient http(etagd_.http_port);
    absl::StatusOr<HttpReply> refused = http.Send("GET", "/v1/resources/big");
    ASSERT_THAT(refused, IsOk());
    EXPECT_EQ(refused->status, 503);
  }
  // The readers stay connected and read nothing; only etagd's timeout can
  // free the budget they hold.
  deadline = absl::Now() + kTimeout;
  int status = 0;
  while (absl::Now() < deadline) {
    HttpClient http(etagd_.http_port);
    absl::StatusOr<HttpReply> big = http.Send("GET", "/v1/resources/big");
    status = big.ok() ? big->status : 0;
    if (status == 200) break;
    absl::SleepFor(absl::Milliseconds(100));
  }
  EXPECT_EQ(status, 200);
}

}  // namespace
}  // namespace etagd
