// The two ways to run the gateway, as processes: inside etagd with
// --http_listen, and as etagd-gateway in front of a separate etagd.
#include <csignal>
#include <memory>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/http_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

using ::testing::HasSubstr;

// The port after "<what> on 127.0.0.1:" in `line`.
int PortAfter(const std::string& line, const std::string& what) {
  const std::string marker = what + " on 127.0.0.1:";
  const size_t at = line.find(marker);
  if (at == std::string::npos) return 0;
  size_t end = at + marker.size();
  while (end < line.size() && isdigit(static_cast<unsigned char>(line[end]))) ++end;
  int port = 0;
  return absl::SimpleAtoi(line.substr(at + marker.size(), end - at - marker.size()),
                          &port)
             ? port
             : 0;
}

void ExpectReadWriteWorks(int http_port) {
  HttpClient client(http_port);
  absl::StatusOr<HttpReply> put = client.Send(
      "PUT", "/v1/resources/doc",
      {{"Content-Type", "text/plain"}, {"X-Etagd-Meta-Owner", "alice"}}, "hi");
  ASSERT_THAT(put, IsOk());
  EXPECT_EQ(put->status, 201);
  absl::StatusOr<HttpReply> whole = client.Send("GET", "/v1/resources/doc");
  ASSERT_THAT(whole, IsOk());
  EXPECT_EQ(whole->status, 200);
  EXPECT_EQ(whole->body, "hi");
  EXPECT_EQ(whole->Header("etag"), put->Header("etag"));
  EXPECT_EQ(whole->Header("content-type"), "text/plain");
  EXPECT_EQ(whole->Header("x-etagd-meta-owner"), "alice");
  absl::StatusOr<HttpReply> get = client.Send(
      "GET", "/v1/resources/doc", {{"If-None-Match", *put->Header("etag")}});
  ASSERT_THAT(get, IsOk());
  EXPECT_EQ(get->status, 304);
  absl::StatusOr<HttpReply> ready = client.Send("GET", "/readyz");
  ASSERT_THAT(ready, IsOk());
  EXPECT_EQ(ready->status, 200);
}

TEST(GatewayMainTest, EtagdServesHttpInProcessWithHttpListen) {
  absl::StatusOr<std::unique_ptr<Subprocess>> etagd = Subprocess::Start(
      DataBinaryPath("service/etagd"),
      {"--grpc_listen=127.0.0.1:0", "--http_listen=127.0.0.1:0",
       "--data_dir=" + TestPath("data")});
  ASSERT_THAT(etagd, IsOk());
  absl::StatusOr<std::string> line =
      (*etagd)->WaitForStderrLine("serving gRPC", absl::Seconds(30));
  ASSERT_THAT(line, IsOk());
  const int http_port = PortAfter(*line, "HTTP");
  ASSERT_GT(http_port, 0) << *line;
  ExpectReadWriteWorks(http_port);
  ASSERT_THAT((*etagd)->Signal(SIGTERM), IsOk());
  EXPECT_EQ((*etagd)->Wait(absl::Seconds(30)).value_or(-1), 0);
}

TEST(GatewayMainTest, EtagdGatewayServesASeparateEtagd) {
  absl::StatusOr<EtagdProcess> etagd = StartEtagd(TestPath("data"));
  ASSERT_THAT(etagd, IsOk());
  absl::StatusOr<std::unique_ptr<Subprocess>> gateway = Subprocess::Start(
      DataBinaryPath("gateway/etagd-gateway"),
      {"--http_listen=127.0.0.1:0", "--backend=" + etagd->target()});
  ASSERT_THAT(gateway, IsOk());
  absl::StatusOr<std::string> line =
      (*gateway)->WaitForStderrLine("serving HTTP", absl::Seconds(30));
  ASSERT_THAT(line, IsOk());
  EXPECT_THAT(*line, HasSubstr(etagd->target()));
  const int http_port = PortAfter(*line, "HTTP");
  ASSERT_GT(http_port, 0) << *line;
  ExpectReadWriteWorks(http_port);
  ASSERT_THAT((*gateway)->Signal(SIGTERM), IsOk());
  EXPECT_EQ((*gateway)->Wait(absl::Seconds(30)).value_or(-1), 0);
}

TEST(GatewayMainTest, GatewayIsNotReadyWhileItsBackendIsDown) {
  // Nothing listens on the backend port: /healthz is up, /readyz is not.
  absl::StatusOr<std::unique_ptr<Subprocess>> gateway = Subprocess::Start(
      DataBinaryPath("gateway/etagd-gateway"),
      {"--http_listen=127.0.0.1:0", "--backend=127.0.0.1:1",
       "--backend_timeout=1s"});
  ASSERT_THAT(gateway, IsOk());
  absl::StatusOr<std::string> line =
      (*gateway)->WaitForStderrLine("serving HTTP", absl::Seconds(30));
  ASSERT_THAT(line, IsOk());
  HttpClient client(PortAfter(*line, "HTTP"));
  absl::StatusOr<HttpReply> health = client.Send("GET", "/healthz");
  ASSERT_THAT(health, IsOk());
  EXPECT_EQ(health->status, 200);
  absl::StatusOr<HttpReply> ready = client.Send("GET", "/readyz");
  ASSERT_THAT(ready, IsOk());
  EXPECT_EQ(ready->status, 503);
  absl::StatusOr<HttpReply> get = client.Send("GET", "/v1/resources/x");
  ASSERT_THAT(get, IsOk());
  EXPECT_EQ(get->status, 503);
}

TEST(GatewayMainTest, BadGatewayFlagIsAClearStartupError) {
  absl::StatusOr<CommandResult> result = RunCommand(
      DataBinaryPath("gateway/etagd-gateway"),
      {"--http_listen=127.0.0.1:0", "--cors_allowed_origins=not-an-origin"});
  ASSERT_THAT(result, IsOk());
  EXPECT_NE(result->exit_code, 0);
  EXPECT_THAT(result->stderr_text, HasSubstr("cannot start"));
  EXPECT_THAT(result->stderr_text, HasSubstr("--cors_allowed_origins"));
}

TEST(GatewayMainTest, HelpListsTheGatewayFlags) {
  absl::StatusOr<CommandResult> result =
      RunCommand(DataBinaryPath("gateway/etagd-gateway"), {"--help"});
  ASSERT_THAT(result, IsOk());
  const std::string output = result->stdout_text + result->stderr_text;
  for (const char* flag : {"http_listen", "backend", "cache_control",
                           "require_preconditions", "cors_allowed_origins",
                           "http_request_timeout", "http_max_connections"}) {
    EXPECT_THAT(output, HasSubstr(absl::StrCat("--", flag, " ("))) << flag;
  }
}

}  // namespace
}  // namespace etagd
