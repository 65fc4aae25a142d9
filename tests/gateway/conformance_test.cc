// HTTP conformance of the gateway, run against the real gateway and the real
// service over real sockets. Each table case cites the RFC 9110 (or RFC
// 6585) section it pins down.
#include <atomic>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "gateway/http_date.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/gateway_stack.h"
#include "tests/testing/http_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

using ::testing::HasSubstr;

constexpr char kPath[] = "/v1/resources/conformance/r";
constexpr char kContent[] = "hello world";

using Headers = std::vector<std::pair<std::string, std::string>>;

struct Case {
  std::string rule;
  bool present;
  std::string method;
  Headers headers;
  int status;
  // Expected body, or "*" for "don't care".
  std::string body = "*";
  std::vector<std::string> must_have = {};
  std::vector<std::string> must_not_have = {};
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.rule; }

class GatewayTest : public testing::Test {
 protected:
  void StartStack(GatewayStackOptions options = {}) {
    options.server.service.max_content_bytes = 1 << 16;
    options.http.max_body_bytes = 1 << 16;
    absl::StatusOr<std::unique_ptr<GatewayStack>> stack =
        GatewayStack::Start(TestPath("db"), options);
    ASSERT_THAT(stack, IsOk());
    stack_ = *std::move(stack);
    client_ = std::make_unique<HttpClient>(stack_->http_port());
  }

  HttpReply Send(const std::string& method, const std::string& target,
                 const Headers& headers = {}, const std::string& body = "") {
    absl::StatusOr<HttpReply> reply = client_->Send(method, target, headers, body);
    EXPECT_THAT(reply, IsOk());
    return reply.ok() ? *reply : HttpReply{};
  }

  std::unique_ptr<GatewayStack> stack_;
  std::unique_ptr<HttpClient> client_;
};

// Every case runs against both backends the gateway has: over gRPC (as in
// etagd-gateway) and directly on the core (as when etagd hosts the gateway).
// The answers must not depend on the path.
class ConformanceTest
    : public GatewayTest,
      public testing::WithParamInterface<std::tuple<GatewayBackendKind, Case>> {
 protected:
  void SetUp() override {
    GatewayStackOptions options;
    options.backend = std::get<0>(GetParam());
    StartStack(options);
  }
};

// Placeholders in header values: {etag} the current ETag, {weak} its weak
// form, {date} its Last-Modified, {date-1}/{date+1} a second before/after,
// {rfc850} and {asctime} the Last-Modified in the obsolete formats.
std::string Expand(const std::string& value, const std::string& etag,
                   absl::Time modified) {
  const std::string weak = "W/" + etag;
  return absl::StrReplaceAll(
      value,
      {{"{etag}", etag},
       {"{weak}", weak},
       {"{date}", FormatHttpDate(modified)},
       {"{date-1}", FormatHttpDate(modified - absl::Seconds(1))},
       {"{date+1}", FormatHttpDate(modified + absl::Seconds(1))},
       {"{rfc850}", absl::FormatTime("%A, %d-%b-%y %H:%M:%S GMT", modified,
                                     absl::UTCTimeZone())},
       {"{asctime}", absl::FormatTime("%a %b %e %H:%M:%S %Y", modified,
                                      absl::UTCTimeZone())}});
}

TEST_P(ConformanceTest, AnswersPerTheRfc) {
  const Case& c = std::get<1>(GetParam());
  std::string etag = "\"none\"";
  absl::Time modified = absl::Now();
  if (c.present) {
    HttpReply put = Send("PUT", kPath, {{"Content-Type", "text/plain"}}, kContent);
    ASSERT_EQ(put.status, 201);
    etag = *put.Header("etag");
    std::optional<absl::Time> lm = ParseHttpDate(*put.Header("last-modified"));
    ASSERT_TRUE(lm.has_value());
    modified = *lm;
  }
  Headers headers;
  for (const auto& [name, value] : c.headers) {
    headers.emplace_back(name, Expand(value, etag, modified));
  }
  const std::string body = c.method == "PUT" ? "new content" : "";
  HttpReply reply = Send(c.method, kPath, headers, body);
  EXPECT_EQ(reply.status, c.status) << c.rule << "\n" << reply.body;
  if (c.body != "*") {
    EXPECT_EQ(reply.body, c.body) << c.rule;
  }
  for (const std::string& name : c.must_have) {
    EXPECT_TRUE(reply.Has(name)) << c.rule << ": missing " << name;
  }
  for (const std::string& name : c.must_not_have) {
    EXPECT_FALSE(reply.Has(name)) << c.rule << ": unexpected " << name;
  }
  EXPECT_TRUE(reply.Has("date")) << c.rule << ": §6.6.1 origin servers send Date";
}

// Headers a 200 for a resource carries (§8.8.2, §8.8.3, §8.3, §8.6, §6.6.1).
const std::vector<std::string> k200Headers = {
    "etag", "last-modified", "content-type", "content-length", "cache-control",
    "accept-ranges"};
// §15.4.5: a 304 carries ETag, Date and Cache-Control/Vary, and no other
// representation metadata.
const std::vector<std::string> k304Has = {"etag", "cache-control"};
const std::vector<std::string> k304HasNot = {"content-type", "content-length",
                                             "last-modified", "content-range",
                                             "accept-ranges"};

const Case kCases[] = {
        // Plain reads.
        Case{"15.3.1 GET of a resource is 200 with its validators", true, "GET",
             {}, 200, kContent, k200Headers},
        Case{"9.3.2 HEAD is a GET without content", true, "HEAD", {}, 200, "",
             k200Headers},
        Case{"15.5.5 GET of an absent resource is 404", false, "GET", {}, 404},

        // §13.2.1: preconditions ignored when the answer would not be 2xx.
        Case{"13.2.1 GET absent with If-Match * is 404, not 412", false, "GET",
             {{"If-Match", "*"}}, 404},
        Case{"13.2.1 DELETE absent with If-Match * is 404, not 412", false,
             "DELETE", {{"If-Match", "*"}}, 404},

        // §13.1.1 If-Match.
        Case{"13.1.1 GET If-Match with the current tag is 200", true, "GET",
             {{"If-Match", "{etag}"}}, 200, kContent},
        Case{"13.1.1 GET If-Match with another tag is 412 naming the current",
             true, "GET", {{"If-Match", "\"other\""}}, 412, "*", {"etag"}},
        Case{"13.1.1 If-Match uses strong comparison: a weak tag fails", true,
             "GET", {{"If-Match", "{weak}"}}, 412},
        Case{"13.1.1 PUT If-Match * on an absent resource is 412", false, "PUT",
             {{"If-Match", "*"}}, 412},
        Case{"13.1.1 PUT If-Match * on a present resource replaces it", true,
             "PUT", {{"If-Match", "*"}}, 204, "", {"etag", "last-modified"},
             {"content-length"}},
        Case{"13.1.1 PUT If-Match with the current tag replaces it", true, "PUT",
             {{"If-Match", "{etag}"}}, 204},
        Case{"13.1.1 PUT If-Match with a stale tag is 412", true, "PUT",
             {{"If-Match", "\"stale\""}}, 412, "*", {"etag"}},
        Case{"13.1.1 PUT If-Match weak tag is 412 (strong comparison)", true,
             "PUT", {{"If-Match", "{weak}"}}, 412},
        Case{"13.1.1 DELETE If-Match with a stale tag is 412", true, "DELETE",
             {{"If-Match", "\"stale\""}}, 412},
        Case{"13.1.1 DELETE If-Match with the current tag is 204", true,
             "DELETE", {{"If-Match", "{etag}"}}, 204, "", {},
             {"content-length"}},
        Case{"5.6.1 If-Match list with the current tag among others", true,
             "PUT", {{"If-Match", "\"a\" ,\t{etag}, ,W/\"b\""}}, 204},
        Case{"5.3 If-Match list split over two field lines", true, "PUT",
             {{"If-Match", "\"a\""}, {"If-Match", "{etag}"}}, 204},
        Case{"8.8.3 a malformed If-Match is 400", true, "PUT",
             {{"If-Match", "not-quoted"}}, 400},

        // §13.1.2 If-None-Match.
        Case{"13.1.2 GET If-None-Match with the current tag is 304", true,
             "GET", {{"If-None-Match", "{etag}"}}, 304, "", k304Has, k304HasNot},
        Case{"13.1.2 If-None-Match uses weak comparison", true, "GET",
             {{"If-None-Match", "{weak}"}}, 304, "", k304Has, k304HasNot},
        Case{"13.1.2 HEAD If-None-Match with the current tag is 304", true,
             "HEAD", {{"If-None-Match", "{etag}"}}, 304, "", k304Has,
             k304HasNot},
        Case{"13.1.2 If-None-Match * on a present GET is 304", true, "GET",
             {{"If-None-Match", "*"}}, 304},
        Case{"13.1.2 If-None-Match with other tags is 200", true, "GET",
             {{"If-None-Match", "\"x\", W/\"y\""}}, 200, kContent},
        Case{"5.3 If-None-Match split over field lines still matches", true,
             "GET", {{"If-None-Match", "\"x\""}, {"If-None-Match", "{etag}"}},
             304},
        Case{"13.1.2 PUT If-None-Match * creates an absent resource", false,
             "PUT", {{"If-None-Match", "*"}}, 201, "", {"etag", "location"}},
        Case{"13.1.2 PUT If-None-Match * on a present resource is 412", true,
             "PUT", {{"If-None-Match", "*"}}, 412, "*", {"etag"}},
        Case{"13.1.2 PUT If-None-Match with the current tag is 412", true,
             "PUT", {{"If-None-Match", "{etag}"}}, 412},
        Case{"13.1.2 DELETE If-None-Match * on a present resource is 412",
             true, "DELETE", {{"If-None-Match", "*"}}, 412},
        Case{"8.8.3 a malformed If-None-Match is 400", true, "GET",
             {{"If-None-Match", "\"unterminated"}}, 400},

        // §13.1.3 If-Modified-Since.
        Case{"13.1.3 If-Modified-Since equal to Last-Modified is 304", true,
             "GET", {{"If-Modified-Since", "{date}"}}, 304, "", k304Has,
             k304HasNot},
        Case{"13.1.3 If-Modified-Since later than Last-Modified is 304", true,
             "GET", {{"If-Modified-Since", "{date+1}"}}, 304},
        Case{"13.1.3 If-Modified-Since earlier than Last-Modified is 200",
             true, "GET", {{"If-Modified-Since", "{date-1}"}}, 200, kContent},
        Case{"5.6.7 rfc850-date is accepted", true, "GET",
             {{"If-Modified-Since", "{rfc850}"}}, 304},
        Case{"5.6.7 asctime-date is accepted", true, "GET",
             {{"If-Modified-Since", "{asctime}"}}, 304},
        Case{"13.1.3 an invalid If-Modified-Since is ignored", true, "GET",
             {{"If-Modified-Since", "yesterday"}}, 200, kContent},
        Case{"13.1.3 If-Modified-Since is ignored with If-None-Match", true,
             "GET",
             {{"If-None-Match", "\"other\""}, {"If-Modified-Since", "{date}"}},
             200},
        Case{"13.1.3 If-Modified-Since is ignored on PUT", true, "PUT",
             {{"If-Modified-Since", "{date+1}"}}, 204},

        // §13.1.4 If-Unmodified-Since.
        Case{"13.1.4 If-Unmodified-Since earlier than Last-Modified is 412",
             true, "PUT", {{"If-Unmodified-Since", "{date-1}"}}, 412},
        Case{"13.1.4 If-Unmodified-Since equal to Last-Modified proceeds",
             true, "PUT", {{"If-Unmodified-Since", "{date}"}}, 204},
        Case{"13.1.4 an invalid If-Unmodified-Since is ignored", true, "PUT",
             {{"If-Unmodified-Since", "31 Feb"}}, 204},
        Case{"13.1.4 If-Unmodified-Since is ignored with If-Match", true,
             "PUT", {{"If-Match", "{etag}"}, {"If-Unmodified-Since", "{date-1}"}},
             204},

        // §13.2.2 order of evaluation.
        Case{"13.2.2 If-Match is evaluated before If-None-Match", true, "GET",
             {{"If-Match", "\"other\""}, {"If-None-Match", "{etag}"}}, 412},
        Case{"13.2.2 If-Unmodified-Since before If-None-Match", true, "GET",
             {{"If-Unmodified-Since", "{date-1}"}, {"If-None-Match", "{etag}"}},
             412},
        Case{"13.2.2 preconditions before Range: 304, not 206", true, "GET",
             {{"If-None-Match", "{etag}"}, {"Range", "bytes=0-1"}}, 304},

        // §14 Range requests.
        Case{"14.2 a single range is 206 with Content-Range", true, "GET",
             {{"Range", "bytes=0-4"}}, 206, "hello", {"content-range", "etag"}},
        Case{"14.1.2 a suffix range gives the last bytes", true, "GET",
             {{"Range", "bytes=-5"}}, 206, "world"},
        Case{"14.1.2 an open range runs to the end", true, "GET",
             {{"Range", "bytes=6-"}}, 206, "world"},
        Case{"15.5.17 an unsatisfiable range is 416", true, "GET",
             {{"Range", "bytes=50-"}}, 416, "*", {"content-range"}},
        Case{"14.2 several ranges may be ignored: 200", true, "GET",
             {{"Range", "bytes=0-1,3-4"}}, 200, kContent},
        Case{"14.2 Range is ignored on HEAD", true, "HEAD",
             {{"Range", "bytes=0-1"}}, 200, ""},
        Case{"13.1.5 If-Range with the current ETag honours Range", true, "GET",
             {{"If-Range", "{etag}"}, {"Range", "bytes=0-4"}}, 206, "hello"},
        Case{"13.1.5 If-Range with another ETag sends everything", true, "GET",
             {{"If-Range", "\"old\""}, {"Range", "bytes=0-4"}}, 200, kContent},
        Case{"13.1.5 If-Range with a weak ETag sends everything", true, "GET",
             {{"If-Range", "{weak}"}, {"Range", "bytes=0-4"}}, 200, kContent},
        Case{"13.1.5 If-Range with the Last-Modified date honours Range", true,
             "GET", {{"If-Range", "{date}"}, {"Range", "bytes=0-4"}}, 206,
             "hello"},
        Case{"13.1.5 If-Range with an older date sends everything", true, "GET",
             {{"If-Range", "{date-1}"}, {"Range", "bytes=0-4"}}, 200, kContent},
        Case{"14.5 a PUT with Content-Range is 400", true, "PUT",
             {{"Content-Range", "bytes 0-1/11"}}, 400},

        // Methods.
        Case{"15.5.6 an unsupported method is 405 with Allow", true, "POST", {},
             405, "*", {"allow"}},
        Case{"9.3.7 OPTIONS answers with Allow", true, "OPTIONS", {}, 204, "",
             {"allow"}, {"content-length"}}};

INSTANTIATE_TEST_SUITE_P(
    Rfc9110, ConformanceTest,
    testing::Combine(testing::Values(GatewayBackendKind::kGrpc,
                                     GatewayBackendKind::kLocal),
                     testing::ValuesIn(kCases)),
    [](const testing::TestParamInfo<ConformanceTest::ParamType>& info) {
      return absl::StrCat(
          std::get<0>(info.param) == GatewayBackendKind::kGrpc ? "Grpc" : "Local",
          info.index);
    });

TEST_F(GatewayTest, PutCreatesWith201AndLocation) {
  StartStack();
  HttpReply reply = Send("PUT", "/v1/resources/a%20b/c", {}, "x");
  EXPECT_EQ(reply.status, 201);
  EXPECT_EQ(reply.Header("location"), "/v1/resources/a%20b/c");
  EXPECT_TRUE(reply.Has("etag"));
}

TEST_F(GatewayTest, GetReturnsTheStoredContentType) {
  StartStack();
  Send("PUT", "/v1/resources/doc", {{"Content-Type", "application/json"}}, "{}");
  HttpReply reply = Send("GET", "/v1/resources/doc");
  EXPECT_EQ(reply.Header("content-type"), "application/json");
  EXPECT_EQ(reply.body, "{}");
}

TEST_F(GatewayTest, ContentWithoutTypeIsServedAsOctetStream) {
  StartStack();
  Send("PUT", "/v1/resources/blob", {}, "\x01\x02");
  EXPECT_EQ(Send("GET", "/v1/resources/blob").Header("content-type"),
            "application/octet-stream");
}

TEST_F(GatewayTest, NoEtagIsReusedAfterDeleteAndRecreate) {
  StartStack();
  std::set<std::string> seen;
  for (int i = 0; i < 5; ++i) {
    HttpReply put = Send("PUT", "/v1/resources/cycle", {}, "same");
    ASSERT_EQ(put.status, 201);
    EXPECT_TRUE(seen.insert(*put.Header("etag")).second)
        << "reused " << *put.Header("etag");
    ASSERT_EQ(Send("DELETE", "/v1/resources/cycle").status, 204);
  }
}

TEST_F(GatewayTest, StaleEtagFromBeforeADeleteDoesNotMatchTheRecreatedResource) {
  StartStack();
  std::string old = *Send("PUT", "/v1/resources/aba", {}, "v").Header("etag");
  Send("DELETE", "/v1/resources/aba");
  Send("PUT", "/v1/resources/aba", {}, "v");
  EXPECT_EQ(Send("PUT", "/v1/resources/aba", {{"If-Match", old}}, "w").status, 412);
  EXPECT_EQ(Send("GET", "/v1/resources/aba", {{"If-None-Match", old}}).status, 200);
}

TEST_F(GatewayTest, PreconditionFailureBodyNamesTheCurrentEtag) {
  StartStack();
  std::string etag = *Send("PUT", "/v1/resources/x", {}, "v").Header("etag");
  HttpReply reply =
      Send("PUT", "/v1/resources/x", {{"If-Match", "\"stale\""}}, "w");
  EXPECT_EQ(reply.status, 412);
  EXPECT_EQ(reply.Header("etag"), etag);
  EXPECT_EQ(reply.Header("content-type"), "application/json");
  EXPECT_THAT(reply.body, HasSubstr("\"code\": 412"));
  EXPECT_THAT(reply.body, HasSubstr("\"status\": \"FAILED_PRECONDITION\""));
  EXPECT_THAT(reply.body, HasSubstr("current_etag"));
}

TEST_F(GatewayTest, ErrorsShareOneJsonShape) {
  StartStack();
  for (const auto& [method, target, status] :
       std::vector<std::tuple<std::string, std::string, int>>{
           {"GET", "/v1/resources/missing", 404},
           {"GET", "/nowhere", 404},
           {"POST", "/v1/resources/x", 405},
           {"GET", "/v1/resources/bad%zz", 400},
           {"GET", "/v1/resources/x?revision=abc", 400}}) {
    HttpReply reply = Send(method, target);
    EXPECT_EQ(reply.status, status) << target;
    EXPECT_THAT(reply.body, HasSubstr(absl::StrCat("{\"error\": {\"code\": ", status)))
        << target;
    EXPECT_THAT(reply.body, HasSubstr("\"message\": ")) << target;
  }
}

TEST_F(GatewayTest, ControlCharacterInNameIs400) {
  StartStack();
  EXPECT_EQ(Send("PUT", "/v1/resources/a%01b", {}, "x").status, 400);
}

TEST_F(GatewayTest, ContentOverTheLimitIs413AndStoresNothing) {
  StartStack();
  HttpReply reply = Send("PUT", "/v1/resources/big", {}, std::string(70000, 'x'));
  EXPECT_EQ(reply.status, 413);
  EXPECT_EQ(Send("GET", "/v1/resources/big").status, 404);
}

TEST_F(GatewayTest, RevisionQueryReadsAPastVersion) {
  StartStack();
  Send("PUT", "/v1/resources/doc", {}, "one");
  Send("PUT", "/v1/resources/doc", {}, "two");
  HttpReply history = Send("GET", "/v1/history/doc");
  ASSERT_EQ(history.status, 200);
  EXPECT_EQ(history.Header("content-type"), "application/json");
  // The oldest version is the last entry; find its revision in the JSON.
  const size_t at = history.body.rfind("\"revision\":\"");
  ASSERT_NE(at, std::string::npos);
  const size_t start = at + std::string("\"revision\":\"").size();
  const std::string revision =
      history.body.substr(start, history.body.find('"', start) - start);
  HttpReply old = Send("GET", "/v1/resources/doc?revision=" + revision);
  EXPECT_EQ(old.status, 200);
  EXPECT_EQ(old.body, "one");
}

TEST_F(GatewayTest, ListingAnswersJsonWithPageTokens) {
  StartStack();
  for (const char* name : {"p/a", "p/b", "p/c", "q/a"}) {
    Send("PUT", absl::StrCat("/v1/resources/", name), {}, "x");
  }
  HttpReply first = Send("GET", "/v1/resources?prefix=p%2F&page_size=2");
  ASSERT_EQ(first.status, 200);
  EXPECT_THAT(first.body, HasSubstr("\"name\":\"p/a\""));
  EXPECT_THAT(first.body, HasSubstr("\"name\":\"p/b\""));
  EXPECT_THAT(first.body, testing::Not(HasSubstr("q/a")));
  const size_t at = first.body.find("\"next_page_token\":\"");
  ASSERT_NE(at, std::string::npos);
  const size_t start = at + std::string("\"next_page_token\":\"").size();
  std::string token = first.body.substr(start, first.body.find('"', start) - start);
  HttpReply second =
      Send("GET", absl::StrCat("/v1/resources?prefix=p/&page_size=2&page_token=", token));
  ASSERT_EQ(second.status, 200);
  EXPECT_THAT(second.body, HasSubstr("\"name\":\"p/c\""));
  EXPECT_THAT(second.body, testing::Not(HasSubstr("next_page_token")));
}

TEST_F(GatewayTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  StartStack();
  Send("PUT", "/v1/resources/k", {}, "v");
  for (int i = 0; i < 3; ++i) {
    HttpReply reply = Send("GET", "/v1/resources/k");
    EXPECT_EQ(reply.status, 200);
    EXPECT_TRUE(reply.keep_alive);
  }
}

TEST_F(GatewayTest, HealthReadinessAndMetrics) {
  StartStack();
  EXPECT_EQ(Send("GET", "/healthz").status, 200);
  EXPECT_EQ(Send("GET", "/readyz").status, 200);
  std::string etag = *Send("PUT", "/v1/resources/m", {}, "v").Header("etag");
  Send("GET", "/v1/resources/m", {{"If-None-Match", etag}});
  Send("PUT", "/v1/resources/m", {{"If-Match", "\"stale\""}}, "w");
  HttpReply metrics = Send("GET", "/metrics");
  EXPECT_EQ(metrics.status, 200);
  EXPECT_THAT(metrics.body, HasSubstr("etagd_http_not_modified_total 1\n"));
  EXPECT_THAT(metrics.body, HasSubstr("etagd_http_precondition_failed_total 1\n"));
  EXPECT_THAT(metrics.body,
              HasSubstr("etagd_http_requests_total{method=\"PUT\",code=\"201\"} 1"));
  EXPECT_THAT(metrics.body, HasSubstr("etagd_http_request_duration_seconds_count"));
}

// A full store (RFC 4918 §11.5 507 Insufficient Storage), through either
// backend: over gRPC the StorageFull detail travels in the status details.
class FullStoreTest : public GatewayTest,
                      public testing::WithParamInterface<GatewayBackendKind> {
 protected:
  void SetUp() override {
    GatewayStackOptions options;
    options.backend = GetParam();
    // A fresh store's own files (OPTIONS, MANIFEST, LOG) take some 100 KiB.
    options.store.space.quota_bytes = 1 << 20;
    options.store.space.resume_bytes = 1 << 16;
    options.store.space_check_interval = absl::ZeroDuration();
    StartStack(options);
  }

  // PUTs 60000-byte resources until one is refused; returns that answer.
  HttpReply FillUp() {
    for (int i = 0; i < 100; ++i) {
      HttpReply reply = Send("PUT", absl::StrCat("/v1/resources/fill/", i), {},
                             std::string(60000, 'f'));
      if (reply.status != 201) return reply;
    }
    ADD_FAILURE() << "the quota never stopped a write";
    return HttpReply{};
  }
};

TEST_P(FullStoreTest, APutOverTheQuotaIs507AndSaysWhatIsFull) {
  HttpReply refused = FillUp();
  EXPECT_EQ(refused.status, 507);
  EXPECT_THAT(refused.body, HasSubstr("\"code\": 507"));
  EXPECT_THAT(refused.body, HasSubstr("\"status\": \"RESOURCE_EXHAUSTED\""));
  EXPECT_THAT(refused.body, HasSubstr("store full"));
  EXPECT_THAT(refused.body, HasSubstr("--quota_bytes"));
}

TEST_P(FullStoreTest, ContentOverTheLimitIsStill413WhileFull) {
  FillUp();
  EXPECT_EQ(
      Send("PUT", "/v1/resources/big", {}, std::string(70000, 'x')).status,
      413);
}

TEST_P(FullStoreTest, ReadsListingsHealthAndDeletesWorkWhileFull) {
  FillUp();
  HttpReply read = Send("GET", "/v1/resources/fill/0");
  EXPECT_EQ(read.status, 200);
  EXPECT_EQ(read.body.size(), 60000u);
  EXPECT_EQ(Send("GET", "/v1/resources?prefix=fill/&page_size=2").status, 200);
  EXPECT_EQ(Send("GET", "/v1/history/fill/0").status, 200);
  EXPECT_EQ(Send("GET", "/healthz").status, 200);
  EXPECT_EQ(Send("GET", "/readyz").status, 200);
  EXPECT_EQ(Send("GET", "/metrics").status, 200);
  EXPECT_EQ(Send("DELETE", "/v1/resources/fill/0").status, 204);
  EXPECT_EQ(Send("GET", "/v1/resources/fill/0").status, 404);
}

TEST_P(FullStoreTest, MetricsShowTheQuotaAndTheFullStore) {
  if (GetParam() != GatewayBackendKind::kLocal) {
    GTEST_SKIP() << "etagd-gateway has no store to measure";
  }
  HttpReply before = Send("GET", "/metrics");
  EXPECT_THAT(before.body, HasSubstr("etagd_store_full 0\n"));
  FillUp();
  HttpReply metrics = Send("GET", "/metrics");
  EXPECT_THAT(metrics.body, HasSubstr("# TYPE etagd_store_bytes gauge\n"));
  EXPECT_THAT(metrics.body, HasSubstr("etagd_store_quota_bytes 1048576\n"));
  EXPECT_THAT(metrics.body, HasSubstr("etagd_store_full 1\n"));
  EXPECT_THAT(metrics.body, HasSubstr("etagd_store_read_only 0\n"));
  EXPECT_THAT(metrics.body, HasSubstr("etagd_disk_free_bytes "));
  EXPECT_THAT(
      metrics.body,
      HasSubstr("etagd_http_requests_total{method=\"PUT\",code=\"507\"} 1"));
}

INSTANTIATE_TEST_SUITE_P(
    BothBackends, FullStoreTest,
    testing::Values(GatewayBackendKind::kGrpc, GatewayBackendKind::kLocal),
    [](const testing::TestParamInfo<GatewayBackendKind>& info) {
      return info.param == GatewayBackendKind::kGrpc ? std::string("Grpc")
                                                     : std::string("Local");
    });

TEST_F(GatewayTest, ReadinessFailsWhenTheServiceIsNotServing) {
  StartStack();
  stack_->server().MarkNotServing();
  EXPECT_EQ(Send("GET", "/readyz").status, 503);
  EXPECT_EQ(Send("GET", "/healthz").status, 200);
}

// RFC 6585 §3 with --require_preconditions.
class RequirePreconditionsTest : public GatewayTest {
 protected:
  void SetUp() override {
    GatewayStackOptions options;
    options.gateway.require_preconditions = true;
    StartStack(options);
  }
};

TEST_F(RequirePreconditionsTest, UnconditionalPutOfAnExistingResourceIs428) {
  ASSERT_EQ(Send("PUT", "/v1/resources/r", {}, "v1").status, 201);
  HttpReply reply = Send("PUT", "/v1/resources/r", {}, "v2");
  EXPECT_EQ(reply.status, 428);
  EXPECT_THAT(reply.body, HasSubstr("PRECONDITION_REQUIRED"));
  EXPECT_EQ(Send("GET", "/v1/resources/r").body, "v1");
}

TEST_F(RequirePreconditionsTest, UnconditionalDeleteIs428) {
  Send("PUT", "/v1/resources/r", {}, "v1");
  EXPECT_EQ(Send("DELETE", "/v1/resources/r").status, 428);
  EXPECT_EQ(Send("GET", "/v1/resources/r").status, 200);
}

TEST_F(RequirePreconditionsTest, ConditionalWritesAreAllowed) {
  std::string etag = *Send("PUT", "/v1/resources/r", {}, "v1").Header("etag");
  HttpReply put = Send("PUT", "/v1/resources/r", {{"If-Match", etag}}, "v2");
  EXPECT_EQ(put.status, 204);
  EXPECT_EQ(Send("DELETE", "/v1/resources/r", {{"If-Match", *put.Header("etag")}})
                .status,
            204);
}

TEST_F(RequirePreconditionsTest, ClientsOwnIfNoneMatchStarFailureStays412) {
  Send("PUT", "/v1/resources/r", {}, "v1");
  EXPECT_EQ(Send("PUT", "/v1/resources/r", {{"If-None-Match", "*"}}, "v2").status,
            412);
}

// CORS for browser clients on other origins.
class CorsTest : public GatewayTest {
 protected:
  void SetUp() override {
    GatewayStackOptions options;
    options.gateway.cors_allowed_origins = {"http://app.example"};
    StartStack(options);
  }
};

TEST_F(CorsTest, PreflightAllowsTheConditionalHeaders) {
  HttpReply reply = Send("OPTIONS", "/v1/resources/r",
                         {{"Origin", "http://app.example"},
                          {"Access-Control-Request-Method", "PUT"},
                          {"Access-Control-Request-Headers", "if-match"}});
  EXPECT_EQ(reply.status, 204);
  EXPECT_EQ(reply.Header("access-control-allow-origin"), "http://app.example");
  EXPECT_THAT(reply.Header("access-control-allow-methods").value_or(""),
              HasSubstr("PUT"));
  const std::string allowed = reply.Header("access-control-allow-headers").value_or("");
  for (const char* header : {"If-Match", "If-None-Match", "If-Modified-Since",
                             "If-Unmodified-Since"}) {
    EXPECT_THAT(allowed, HasSubstr(header));
  }
}

TEST_F(CorsTest, ResponsesExposeEtagAndLastModifiedToScripts) {
  Send("PUT", "/v1/resources/r", {}, "v");
  HttpReply reply = Send("GET", "/v1/resources/r", {{"Origin", "http://app.example"}});
  EXPECT_EQ(reply.Header("access-control-allow-origin"), "http://app.example");
  const std::string exposed =
      reply.Header("access-control-expose-headers").value_or("");
  EXPECT_THAT(exposed, HasSubstr("ETag"));
  EXPECT_THAT(exposed, HasSubstr("Last-Modified"));
}

// Fetch §3.2.4: only safelisted and exposed response fields reach a
// script, so a resource's user metadata is exposed by name.
TEST_F(CorsTest, ResponsesExposeTheResourcesUserMetadata) {
  Send("PUT", "/v1/resources/r",
       {{"X-Etagd-Meta-Owner", "ann"}, {"X-Etagd-Meta-Color", "red"}}, "v");
  HttpReply reply = Send("GET", "/v1/resources/r", {{"Origin", "http://app.example"}});
  EXPECT_EQ(reply.Header("x-etagd-meta-owner"), "ann");
  const std::string exposed =
      absl::AsciiStrToLower(reply.Header("access-control-expose-headers").value_or(""));
  EXPECT_THAT(exposed, HasSubstr("x-etagd-meta-owner"));
  EXPECT_THAT(exposed, HasSubstr("x-etagd-meta-color"));
  EXPECT_THAT(exposed, HasSubstr("etag"));
}

TEST_F(CorsTest, OtherOriginsGetNoCorsHeaders) {
  Send("PUT", "/v1/resources/r", {}, "v");
  HttpReply reply = Send("GET", "/v1/resources/r", {{"Origin", "http://evil.example"}});
  EXPECT_EQ(reply.status, 200);
  EXPECT_FALSE(reply.Has("access-control-allow-origin"));
}

TEST_F(CorsTest, NotModifiedCarriesTheVaryA200Would) {
  // §15.4.5: a 304 carries the Vary that a 200 would.
  std::string etag = *Send("PUT", "/v1/resources/r", {}, "v").Header("etag");
  HttpReply ok = Send("GET", "/v1/resources/r", {{"Origin", "http://app.example"}});
  HttpReply not_modified = Send("GET", "/v1/resources/r",
                                {{"Origin", "http://app.example"}, {"If-None-Match", etag}});
  EXPECT_EQ(not_modified.status, 304);
  EXPECT_EQ(not_modified.Header("vary"), ok.Header("vary"));
  EXPECT_EQ(not_modified.Header("vary"), "Origin");
}

// The promise, over HTTP: concurrent If-Match read-modify-write increments
// lose no acknowledged update.
TEST_F(GatewayTest, ConcurrentIfMatchIncrementsOverHttpLoseNothing) {
  StartStack();
  ASSERT_EQ(Send("PUT", "/v1/resources/counter", {}, "0").status, 201);
  constexpr int kThreads = 6;
  constexpr int kAttempts = 30;
  std::atomic<int> acknowledged{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      HttpClient client(stack_->http_port());
      for (int i = 0; i < kAttempts; ++i) {
        absl::StatusOr<HttpReply> read = client.Send("GET", "/v1/resources/counter");
        ASSERT_THAT(read, IsOk());
        int value = 0;
        ASSERT_TRUE(absl::SimpleAtoi(read->body, &value));
        absl::StatusOr<HttpReply> write =
            client.Send("PUT", "/v1/resources/counter",
                        {{"If-Match", *read->Header("etag")}},
                        std::to_string(value + 1));
        ASSERT_THAT(write, IsOk());
        if (write->status == 204) {
          ++acknowledged;
        } else {
          ASSERT_EQ(write->status, 412);
        }
      }
    });
  }
  for (std::thread& t : threads) t.join();
  EXPECT_GT(acknowledged.load(), 0);
  EXPECT_EQ(Send("GET", "/v1/resources/counter").body,
            std::to_string(acknowledged.load()));
}

}  // namespace
}  // namespace etagd
