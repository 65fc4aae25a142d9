// The gateway formats a version's response fields once and keeps them
// (version_head_cache.h): whatever it kept, a write or a delete of the
// resource must never bring back an earlier version's fields. Run against
// both backends, with the cache on and off.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "tests/testing/gateway_stack.h"
#include "tests/testing/http_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr char kPath[] = "/v1/resources/heads/r";

struct CachedHeadCase {
  GatewayBackendKind backend;
  int64_t head_cache_bytes;
};

class CachedHeadTest : public testing::TestWithParam<CachedHeadCase> {
 protected:
  void SetUp() override {
    GatewayStackOptions options;
    options.backend = GetParam().backend;
    options.gateway.head_cache_bytes = GetParam().head_cache_bytes;
    absl::StatusOr<std::unique_ptr<GatewayStack>> stack =
        GatewayStack::Start(TestPath("db"), std::move(options));
    ASSERT_THAT(stack, IsOk());
    stack_ = *std::move(stack);
    client_ = std::make_unique<HttpClient>(stack_->http_port());
  }

  HttpReply Send(const std::string& method, const Headers& headers = {},
                 const std::string& body = "") {
    absl::StatusOr<HttpReply> reply = client_->Send(method, kPath, headers, body);
    EXPECT_THAT(reply, IsOk());
    return reply.ok() ? *reply : HttpReply{};
  }

  // A GET 200, a HEAD and a 304 of the current version: whatever the
  // gateway keeps of it, it has kept by now.
  std::string ReadAllWays() {
    HttpReply get = Send("GET");
    EXPECT_EQ(get.status, 200);
    EXPECT_EQ(Send("HEAD").status, 200);
    const std::string etag = get.Header("etag").value_or("");
    EXPECT_EQ(Send("GET", {{"If-None-Match", etag}}).status, 304);
    return etag;
  }

  std::unique_ptr<GatewayStack> stack_;
  std::unique_ptr<HttpClient> client_;
};

const Headers kFirst = {{"Content-Type", "text/plain"},
                        {"Cache-Control", "max-age=60"},
                        {"Content-Language", "en"},
                        {"X-Etagd-Meta-Owner", "alice"}};
const Headers kSecond = {{"Content-Type", "application/json"},
                         {"Cache-Control", "no-store"},
                         {"X-Etagd-Meta-Owner", "bob"}};

// The same content written again with other metadata: only the new
// version's fields, on 200, HEAD and 304 alike.
TEST_P(CachedHeadTest, AnUpdateNeverServesTheEarlierVersionsFields) {
  ASSERT_EQ(Send("PUT", kFirst, "same").status, 201);
  const std::string first = ReadAllWays();
  ASSERT_EQ(Send("PUT", kSecond, "same").status, 204);

  for (const char* method : {"GET", "HEAD"}) {
    HttpReply reply = Send(method);
    ASSERT_EQ(reply.status, 200) << method;
    EXPECT_NE(reply.Header("etag"), first) << method;
    EXPECT_EQ(reply.Header("content-type"), "application/json") << method;
    EXPECT_EQ(reply.Header("cache-control"), "no-store") << method;
    EXPECT_EQ(reply.Header("x-etagd-meta-owner"), "bob") << method;
    EXPECT_FALSE(reply.Has("content-language")) << method;
  }
  // The client holding the first version gets the second in full.
  HttpReply stale = Send("GET", {{"If-None-Match", first}});
  EXPECT_EQ(stale.status, 200);
  EXPECT_EQ(stale.Header("cache-control"), "no-store");
  const std::string second = Send("GET").Header("etag").value_or("");
  HttpReply not_modified = Send("GET", {{"If-None-Match", second}});
  EXPECT_EQ(not_modified.status, 304);
  EXPECT_EQ(not_modified.Header("etag"), second);
  EXPECT_EQ(not_modified.Header("cache-control"), "no-store");
}

// Deleted, then created again with the same content: no field of the
// deleted version, neither in the 404 nor after the re-create.
TEST_P(CachedHeadTest, ADeleteNeverServesTheDeletedVersionsFields) {
  ASSERT_EQ(Send("PUT", kFirst, "same").status, 201);
  const std::string first = ReadAllWays();
  ASSERT_EQ(Send("DELETE").status, 204);

  HttpReply gone = Send("GET");
  EXPECT_EQ(gone.status, 404);
  EXPECT_FALSE(gone.Has("cache-control"));
  EXPECT_FALSE(gone.Has("x-etagd-meta-owner"));
  EXPECT_EQ(Send("GET", {{"If-None-Match", first}}).status, 404);

  ASSERT_EQ(Send("PUT", kSecond, "same").status, 201);
  HttpReply again = Send("GET", {{"If-None-Match", first}});
  EXPECT_EQ(again.status, 200);
  EXPECT_NE(again.Header("etag"), first);
  EXPECT_EQ(again.Header("cache-control"), "no-store");
  EXPECT_EQ(again.Header("x-etagd-meta-owner"), "bob");
  EXPECT_FALSE(again.Has("content-language"));
}

// A past version read by revision keeps its own fields beside the
// current one's.
TEST_P(CachedHeadTest, APastRevisionKeepsItsOwnFields) {
  ASSERT_EQ(Send("PUT", kFirst, "one").status, 201);
  const std::string first = ReadAllWays();
  etagd::v1::GetResourceRequest read;
  read.set_name("heads/r");
  read.set_metadata_only(true);
  absl::StatusOr<etagd::v1::GetResourceResponse> current =
      stack_->server().core().Get(read);
  ASSERT_THAT(current, IsOk());
  const int64_t revision = current->resource().revision();
  ASSERT_EQ(Send("PUT", kSecond, "two").status, 204);
  ASSERT_EQ(Send("GET").Header("cache-control"), "no-store");

  absl::StatusOr<HttpReply> past =
      client_->Send("GET", absl::StrCat(kPath, "?revision=", revision));
  ASSERT_THAT(past, IsOk());
  EXPECT_EQ(past->status, 200);
  EXPECT_EQ(past->Header("etag"), first);
  EXPECT_EQ(past->Header("cache-control"), "max-age=60");
  EXPECT_EQ(past->Header("content-language"), "en");
  EXPECT_EQ(past->body, "one");
}

// Kept lines of the stored form and of a coded one stay apart: a client
// accepting no coding gets the stored form's (still saying Vary), however
// often either was asked for before.
TEST_P(CachedHeadTest, TheStoredAndCodedFormsKeepTheirOwnFields) {
  ASSERT_EQ(Send("PUT", {{"Content-Type", "text/plain"}}, std::string(4096, 'a')).status,
            201);
  for (int round = 0; round < 2; ++round) {
    HttpReply coded = Send("GET", {{"Accept-Encoding", "gzip"}});
    ASSERT_EQ(coded.status, 200);
    EXPECT_EQ(coded.Header("content-encoding"), "gzip") << round;
    EXPECT_EQ(coded.Header("vary"), "Accept-Encoding") << round;

    HttpReply stored = Send("GET");
    ASSERT_EQ(stored.status, 200);
    EXPECT_FALSE(stored.Has("content-encoding")) << round;
    EXPECT_EQ(stored.Header("vary"), "Accept-Encoding") << round;
    EXPECT_EQ(stored.Header("content-length"), "4096") << round;
    EXPECT_NE(stored.Header("etag"), coded.Header("etag")) << round;
    EXPECT_EQ(stored.body.size(), 4096u) << round;

    const std::string etag = stored.Header("etag").value_or("");
    HttpReply not_modified = Send("GET", {{"If-None-Match", etag}});
    EXPECT_EQ(not_modified.status, 304) << round;
    EXPECT_EQ(not_modified.Header("etag"), etag) << round;
    EXPECT_EQ(not_modified.Header("vary"), "Accept-Encoding") << round;
  }
}

INSTANTIATE_TEST_SUITE_P(
    BackendsAndBudgets, CachedHeadTest,
    testing::Values(CachedHeadCase{GatewayBackendKind::kGrpc, int64_t{1} << 20},
                    CachedHeadCase{GatewayBackendKind::kLocal, int64_t{1} << 20},
                    CachedHeadCase{GatewayBackendKind::kLocal, 0}),
    [](const testing::TestParamInfo<CachedHeadCase>& info) {
      return absl::StrCat(
          info.param.backend == GatewayBackendKind::kGrpc ? "Grpc" : "Local",
          info.param.head_cache_bytes > 0 ? "Cached" : "Uncached");
    });

}  // namespace
}  // namespace etagd
