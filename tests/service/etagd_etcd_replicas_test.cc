// Two real etagd processes (--engine=etcd) over one real etcd: replicas a
// client cannot tell apart.
#include <filesystem>
#include <iostream>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/credentials.h"
#include "gtest/gtest.h"
#include "tests/testing/etcd_cluster.h"
#include "tests/testing/http_client.h"
#include "tests/testing/sse_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

using ::testing::HasSubstr;

constexpr absl::Duration kTimeout = absl::Seconds(60);

class EtagdReplicasTest : public testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<EtcdCluster>> cluster =
        EtcdCluster::Start(TestPath("etcd"));
    ASSERT_THAT(cluster, IsOk());
    etcd_ = *std::move(cluster);
    for (int i = 0; i < 2; ++i) {
      absl::StatusOr<EtagdProcess> replica =
          StartEtagd(TestPath(absl::StrCat("unused-data-", i)), EngineFlags(), kTimeout);
      ASSERT_THAT(replica, IsOk());
      replicas_.push_back(*std::move(replica));
      http_.push_back(std::make_unique<HttpClient>(replicas_.back().http_port));
    }
  }

  std::vector<std::string> EngineFlags() const {
    return {"--engine=etcd",
            absl::StrCat("--etcd_endpoints=", etcd_->ClientEndpoint(0)),
            "--etcd_prefix=/replicas-test/"};
  }

  HttpReply Send(int replica, const std::string& method, const std::string& target,
                 const std::vector<std::pair<std::string, std::string>>& headers = {},
                 const std::string& body = "") {
    absl::StatusOr<HttpReply> reply = http_[replica]->Send(method, target, headers, body);
    EXPECT_THAT(reply, IsOk());
    return reply.ok() ? *std::move(reply) : HttpReply{};
  }

  std::unique_ptr<EtcdCluster> etcd_;
  std::vector<EtagdProcess> replicas_;
  std::vector<std::unique_ptr<HttpClient>> http_;
};

TEST_F(EtagdReplicasTest, StartupLineNamesTheEngineAndWhereTheDataIs) {
  EXPECT_THAT(replicas_[0].startup_line,
              HasSubstr(absl::StrCat("data in etcd at ", etcd_->ClientEndpoint(0),
                                     " under prefix /replicas-test/")));
}

TEST_F(EtagdReplicasTest, AWriteOnOneIsReadOnTheOther) {
  HttpReply put = Send(0, "PUT", "/v1/resources/notes", {{"Content-Type", "text/plain"}},
                       "first draft");
  ASSERT_EQ(put.status, 201) << put.body;
  HttpReply get = Send(1, "GET", "/v1/resources/notes");
  EXPECT_EQ(get.status, 200);
  EXPECT_EQ(get.body, "first draft");
  EXPECT_EQ(get.Header("etag"), put.Header("etag"));
  EXPECT_EQ(get.Header("last-modified"), put.Header("last-modified"));
  HttpReply not_modified =
      Send(1, "GET", "/v1/resources/notes", {{"If-None-Match", *put.Header("etag")}});
  EXPECT_EQ(not_modified.status, 304);
}

TEST_F(EtagdReplicasTest, AStaleIfMatchOnOneAfterAWriteOnTheOtherIs412) {
  HttpReply created = Send(0, "PUT", "/v1/resources/doc", {}, "v1");
  ASSERT_EQ(created.status, 201);
  const std::string first = *created.Header("etag");
  HttpReply replaced =
      Send(0, "PUT", "/v1/resources/doc", {{"If-Match", first}}, "v2");
  ASSERT_EQ(replaced.status, 204) << replaced.body;
  HttpReply stale = Send(1, "PUT", "/v1/resources/doc", {{"If-Match", first}}, "lost update");
  EXPECT_EQ(stale.status, 412) << stale.body;
  EXPECT_EQ(stale.Header("etag"), replaced.Header("etag"));
  EXPECT_EQ(Send(0, "GET", "/v1/resources/doc").body, "v2");
}

TEST_F(EtagdReplicasTest, ADeleteOnOneIsSeenByTheOther) {
  HttpReply created = Send(1, "PUT", "/v1/resources/gone", {}, "x");
  ASSERT_EQ(created.status, 201);
  HttpReply deleted = Send(0, "DELETE", "/v1/resources/gone",
                           {{"If-Match", *created.Header("etag")}});
  EXPECT_EQ(deleted.status, 204) << deleted.body;
  EXPECT_EQ(Send(1, "GET", "/v1/resources/gone").status, 404);
}

TEST_F(EtagdReplicasTest, ARetryOnTheOtherReplicaAnswersTheOriginalWrite) {
  HttpReply first = Send(0, "PUT", "/v1/resources/once", {{"Idempotency-Key", "key-1"}}, "a");
  ASSERT_EQ(first.status, 201);
  HttpReply retry = Send(1, "PUT", "/v1/resources/once", {{"Idempotency-Key", "key-1"}}, "a");
  EXPECT_EQ(retry.status, 201);
  EXPECT_EQ(retry.Header("etag"), first.Header("etag"));
  HttpReply versions = Send(1, "GET", "/v1/history/once");
  EXPECT_EQ(versions.status, 200);
  EXPECT_THAT(versions.body, HasSubstr("\"version\""));
}

TEST_F(EtagdReplicasTest, ListingsAgree) {
  for (const char* name : {"list/a", "list/b", "list/c"}) {
    ASSERT_EQ(Send(0, "PUT", absl::StrCat("/v1/resources/", name), {}, "x").status, 201);
  }
  HttpReply on_a = Send(0, "GET", "/v1/resources?prefix=list/");
  HttpReply on_b = Send(1, "GET", "/v1/resources?prefix=list/");
  EXPECT_EQ(on_a.status, 200);
  EXPECT_EQ(on_a.body, on_b.body);
  EXPECT_THAT(on_b.body, HasSubstr("list/c"));
}

// Watch is served with --engine=etcd, and a replica's event stream carries
// what the other replica wrote.
TEST_F(EtagdReplicasTest, AWriteOnOneReachesAnEventStreamOnTheOther) {
  absl::StatusOr<std::unique_ptr<SseClient>> stream =
      SseClient::Open(replicas_[1].http_port, "/v1/watch?prefix=feed/");
  ASSERT_THAT(stream, IsOk());
  ASSERT_EQ((*stream)->status(), 200);
  // The stream's start (its first progress) is out before the write.
  absl::StatusOr<SseBlock> start = (*stream)->Next();
  ASSERT_THAT(start, IsOk());
  while (!start->id.has_value()) {
    start = (*stream)->Next();
    ASSERT_THAT(start, IsOk());
  }
  HttpReply put = Send(0, "PUT", "/v1/resources/feed/a", {}, "x");
  ASSERT_EQ(put.status, 201) << put.body;
  absl::StatusOr<SseBlock> change = (*stream)->Next();
  ASSERT_THAT(change, IsOk());
  while (change->event != "change") {
    change = (*stream)->Next();
    ASSERT_THAT(change, IsOk());
  }
  EXPECT_THAT(change->data, HasSubstr("\"name\":\"feed/a\""));
  // Its id is its revision, past the stream's start.
  ASSERT_TRUE(change->id.has_value());
  EXPECT_GT(std::stoll(*change->id), std::stoll(*start->id));
}

// etagctl checkpoint cannot copy an etcd cluster, and says what to do.
TEST_F(EtagdReplicasTest, CheckpointIsRefusedPointingAtEtcdctl) {
  absl::StatusOr<CommandResult> result = RunCommand(
      DataBinaryPath("client/etagctl"),
      {absl::StrCat("--target=", replicas_[0].target()), "checkpoint", "backup"},
      absl::nullopt, kTimeout);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->exit_code, 1);
  EXPECT_THAT(result->stderr_text, HasSubstr("UNIMPLEMENTED"));
  EXPECT_THAT(result->stderr_text, HasSubstr("etcdctl snapshot save"));
}

// A listing's pages are read at its first page's revision, whichever
// replica serves them: writes between pages do not show.
TEST_F(EtagdReplicasTest, AListingsPagesShowTheStoreAsAtItsFirstPage) {
  for (const char* name : {"pin/a", "pin/b", "pin/c"}) {
    ASSERT_EQ(Send(0, "PUT", absl::StrCat("/v1/resources/", name), {}, "old").status, 201);
  }
  HttpReply first = Send(0, "GET", "/v1/resources?prefix=pin/&page_size=1");
  ASSERT_EQ(first.status, 200) << first.body;
  std::smatch token;
  ASSERT_TRUE(std::regex_search(first.body, token,
                                std::regex("\"next_page_token\": *\"([^\"]+)\"")))
      << first.body;
  HttpReply b = Send(1, "GET", "/v1/resources/pin/b");
  ASSERT_EQ(Send(1, "PUT", "/v1/resources/pin/b", {{"If-Match", *b.Header("etag")}}, "new").status,
            204);
  ASSERT_EQ(Send(1, "PUT", "/v1/resources/pin/d", {}, "new").status, 201);
  const std::string escaped =
      std::regex_replace(token[1].str(), std::regex("="), "%3D");
  HttpReply rest = Send(1, "GET", absl::StrCat("/v1/resources?prefix=pin/&page_token=", escaped));
  ASSERT_EQ(rest.status, 200) << rest.body;
  EXPECT_THAT(rest.body, HasSubstr("pin/c"));
  EXPECT_THAT(rest.body, testing::Not(HasSubstr("pin/d")));
  EXPECT_THAT(rest.body, HasSubstr("pin/b"));
  // pin/b as it was: its old entity-tag (JSON-escaped quotes).
  std::string old_tag = *b.Header("etag");
  old_tag = old_tag.substr(1, old_tag.size() - 2);
  EXPECT_THAT(rest.body, HasSubstr(old_tag));
}

// --- Health -------------------------------------------------------------------
// etagd over a 3-member etcd reports NOT_SERVING (gRPC health and /readyz)
// while the cluster has no quorum, and SERVING again once it does, without
// a restart.

// What gRPC health checking says of `target` ("SERVING", "NOT_SERVING", or
// the call's error).
std::string GrpcHealth(const std::string& target) {
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  grpc::Status status = health->Check(&context, request, &response);
  if (!status.ok()) return absl::StrCat("error ", status.error_message());
  return grpc::health::v1::HealthCheckResponse::ServingStatus_Name(response.status());
}

class EtagdEtcdHealthTest : public testing::TestWithParam<bool> {
 protected:
  // Waits (at most `bound`) until both gRPC health and /readyz say
  // `serving`; returns how long it took.
  absl::StatusOr<absl::Duration> WaitUntil(bool serving, absl::Duration bound) {
    const absl::Time start = absl::Now();
    std::string said;
    while (absl::Now() - start < bound) {
      said = GrpcHealth(etagd_.target());
      HttpClient http(etagd_.http_port);
      absl::StatusOr<HttpReply> ready = http.Send("GET", "/readyz");
      const bool grpc_agrees = said == (serving ? "SERVING" : "NOT_SERVING");
      const bool http_agrees = ready.ok() && ready->status == (serving ? 200 : 503);
      if (grpc_agrees && http_agrees) return absl::Now() - start;
      absl::SleepFor(absl::Milliseconds(100));
    }
    return absl::DeadlineExceededError(absl::StrCat(
        "health did not become ", serving ? "SERVING" : "NOT_SERVING", " within ",
        absl::FormatDuration(bound), "; gRPC health says ", said));
  }

  void StartAll() {
    EtcdClusterOptions options;
    options.members = 3;
    absl::StatusOr<std::unique_ptr<EtcdCluster>> cluster =
        EtcdCluster::Start(TestPath("etcd"), options);
    ASSERT_THAT(cluster, IsOk());
    etcd_ = *std::move(cluster);
    absl::StatusOr<EtagdProcess> etagd = StartEtagd(
        TestPath("unused-data"),
        {"--engine=etcd",
         absl::StrCat("--etcd_endpoints=", absl::StrJoin(etcd_->ClientEndpoints(), ",")),
         "--etcd_call_timeout=2s"},
        kTimeout);
    ASSERT_THAT(etagd, IsOk());
    etagd_ = *std::move(etagd);
  }

  void TearDown() override {
    etagd_ = EtagdProcess{};
    etcd_.reset();
    // The members' data: 64 MB of preallocated WAL each.
    std::error_code ignored;  // Only disk space is at stake.
    std::filesystem::remove_all(TestPath("etcd"), ignored);
  }

  std::unique_ptr<EtcdCluster> etcd_;
  EtagdProcess etagd_;
};

// The bounds: a probe waits at most 1 s per member, asked every second.
constexpr absl::Duration kNotServingBound = absl::Seconds(15);
constexpr absl::Duration kServingBound = absl::Seconds(30);

TEST_P(EtagdEtcdHealthTest, NotServingWithoutAQuorumAndServingAgainAfter) {
  const bool kill = GetParam();
  StartAll();
  ASSERT_THAT(WaitUntil(true, kServingBound), IsOk());
  for (int member : {1, 2}) {
    ASSERT_THAT(kill ? etcd_->Kill(member) : etcd_->Pause(member), IsOk());
  }
  absl::StatusOr<absl::Duration> down = WaitUntil(false, kNotServingBound);
  ASSERT_THAT(down, IsOk()) << etcd_->LogTails();
  if (kill) {
    // Restart() waits for a quorum: the first restarted member makes one.
    ASSERT_THAT(etcd_->Restart(1), IsOk());
    ASSERT_THAT(etcd_->Restart(2), IsOk());
  } else {
    ASSERT_THAT(etcd_->Resume(1), IsOk());
    ASSERT_THAT(etcd_->Resume(2), IsOk());
  }
  absl::StatusOr<absl::Duration> up = WaitUntil(true, kServingBound);
  ASSERT_THAT(up, IsOk()) << etcd_->LogTails();
  std::cerr << (kill ? "kill -9" : "SIGSTOP") << " of two members: NOT_SERVING after "
            << absl::FormatDuration(*down) << ", SERVING again "
            << absl::FormatDuration(*up) << " after they were back\n";
  // And it serves.
  HttpClient http(etagd_.http_port);
  absl::StatusOr<HttpReply> put = http.Send("PUT", "/v1/resources/after", {}, "x");
  ASSERT_THAT(put, IsOk());
  EXPECT_EQ(put->status, 201) << put->body;
}

INSTANTIATE_TEST_SUITE_P(KillOrPause, EtagdEtcdHealthTest, testing::Bool(),
                         [](const testing::TestParamInfo<bool>& info) {
                           return info.param ? "Kill" : "Pause";
                         });

TEST(EtagdEtcdStartupTest, RefusesContentLimitsEtcdCannotTake) {
  absl::StatusOr<std::unique_ptr<EtcdCluster>> etcd = EtcdCluster::Start(TestPath("etcd"));
  ASSERT_THAT(etcd, IsOk());
  absl::StatusOr<CommandResult> result = RunCommand(
      DataBinaryPath("service/etagd"),
      {"--engine=etcd", absl::StrCat("--etcd_endpoints=", (*etcd)->ClientEndpoint(0)),
       "--grpc_listen=127.0.0.1:0", "--http_listen=", "--max_content_bytes=4000000"},
      absl::nullopt, kTimeout);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->exit_code, 1);
  EXPECT_THAT(result->stderr_text, HasSubstr("--max_content_bytes=4000000 is more than etcd"));
}

TEST(EtagdEtcdStartupTest, WithoutEtcdItSaysSoInOneLine) {
  absl::StatusOr<CommandResult> result = RunCommand(
      DataBinaryPath("service/etagd"),
      {"--engine=etcd", "--etcd_endpoints=127.0.0.1:1", "--etcd_dial_timeout=300ms",
       "--grpc_listen=127.0.0.1:0", "--http_listen="},
      absl::nullopt, kTimeout);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->exit_code, 1);
  EXPECT_THAT(result->stderr_text, HasSubstr("cannot start: cannot connect to etcd at 127.0.0.1:1"));
}

}  // namespace
}  // namespace etagd
