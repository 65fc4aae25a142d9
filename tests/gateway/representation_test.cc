// The representations the gateway serves (etagd.proto, HttpMetadata; issue
// 15): per-resource metadata stored by a PUT and sent back by GET, HEAD and
// 304, run against both backends (gRPC and in-process).
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/gateway_stack.h"
#include "tests/testing/http_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "zlib.h"

namespace etagd {
namespace {

using ::testing::HasSubstr;
using Headers = std::vector<std::pair<std::string, std::string>>;

constexpr char kPath[] = "/v1/resources/repr/r";

class RepresentationTest : public testing::TestWithParam<GatewayBackendKind> {
 protected:
  void SetUp() override { Start(GatewayOptions{}); }

  void Start(GatewayOptions gateway) {
    stack_.reset();
    GatewayStackOptions options;
    options.backend = GetParam();
    options.gateway = std::move(gateway);
    absl::StatusOr<std::unique_ptr<GatewayStack>> stack = GatewayStack::Start(
        TestPath(absl::StrCat("db", ++starts_)), std::move(options));
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

  int starts_ = 0;
  std::unique_ptr<GatewayStack> stack_;
  std::unique_ptr<HttpClient> client_;
};

const Headers kMetadataFields = {
    {"Content-Type", "text/plain"},
    {"Cache-Control", "public, max-age=60"},
    {"Content-Disposition", "attachment; filename=\"r.txt\""},
    {"Content-Language", "en"},
    {"Content-Language", "de-CH"},
    {"Expires", "Thu, 01 Jan 2037 00:00:00 GMT"},
    {"X-Etagd-Meta-Owner", "alice"},
    {"x-etagd-meta-build_id", "42"},
};

// --- Per-resource metadata ------------------------------------------------

TEST_P(RepresentationTest, GetReturnsTheMetadataThePutStored) {
  ASSERT_EQ(Send("PUT", kPath, kMetadataFields, "hello").status, 201);
  for (const char* method : {"GET", "HEAD"}) {
    HttpReply reply = Send(method, kPath);
    ASSERT_EQ(reply.status, 200) << method;
    EXPECT_EQ(reply.Header("cache-control"), "public, max-age=60") << method;
    EXPECT_EQ(reply.Header("content-disposition"), "attachment; filename=\"r.txt\"");
    // RFC 9110 §5.3: field lines of a list field are one list.
    EXPECT_EQ(reply.Header("content-language"), "en, de-CH");
    EXPECT_EQ(reply.Header("expires"), "Thu, 01 Jan 2037 00:00:00 GMT");
    EXPECT_EQ(reply.Header("x-etagd-meta-owner"), "alice");
    EXPECT_EQ(reply.Header("x-etagd-meta-build_id"), "42");
    EXPECT_FALSE(reply.Has("content-encoding"));
  }
}

// RFC 9110 §15.4.5: a 304 carries Cache-Control, Content-Location, Date,
// ETag, Expires and Vary as a 200 would, and no other representation
// metadata.
TEST_P(RepresentationTest, NotModifiedCarriesOnlyTheFieldsA304May) {
  HttpReply put = Send("PUT", kPath, kMetadataFields, "hello");
  ASSERT_EQ(put.status, 201);
  HttpReply reply = Send("GET", kPath, {{"If-None-Match", *put.Header("etag")}});
  ASSERT_EQ(reply.status, 304);
  EXPECT_EQ(reply.Header("etag"), put.Header("etag"));
  EXPECT_EQ(reply.Header("cache-control"), "public, max-age=60");
  EXPECT_EQ(reply.Header("expires"), "Thu, 01 Jan 2037 00:00:00 GMT");
  EXPECT_TRUE(reply.Has("date"));
  for (const auto& [name, value] : reply.headers) {
    EXPECT_THAT((std::vector<std::string>{"etag", "cache-control", "expires",
                                          "date", "vary", "server"}),
                testing::Contains(name))
        << "a 304 must not carry " << name << ": " << value;
  }
}

TEST_P(RepresentationTest, TheDefaultCacheControlAppliesToResourcesWithoutOne) {
  GatewayOptions gateway;
  gateway.cache_control = "max-age=5";
  Start(gateway);
  ASSERT_EQ(Send("PUT", kPath, {}, "hello").status, 201);
  HttpReply reply = Send("GET", kPath);
  EXPECT_EQ(reply.Header("cache-control"), "max-age=5");
  EXPECT_FALSE(reply.Has("expires"));
  HttpReply not_modified = Send("GET", kPath, {{"If-None-Match", *reply.Header("etag")}});
  EXPECT_EQ(not_modified.status, 304);
  EXPECT_EQ(not_modified.Header("cache-control"), "max-age=5");
}

TEST_P(RepresentationTest, APutReplacesTheWholeRepresentationMetadataIncluded) {
  ASSERT_EQ(Send("PUT", kPath, kMetadataFields, "one").status, 201);
  ASSERT_EQ(Send("PUT", kPath, {{"Content-Language", "fr"}}, "two").status, 204);
  HttpReply reply = Send("GET", kPath);
  EXPECT_EQ(reply.Header("content-language"), "fr");
  EXPECT_FALSE(reply.Has("content-disposition"));
  EXPECT_FALSE(reply.Has("expires"));
  EXPECT_FALSE(reply.Has("x-etagd-meta-owner"));
  EXPECT_EQ(reply.Header("cache-control"), "no-cache");  // The default.
}

TEST_P(RepresentationTest, APastRevisionKeepsItsOwnMetadata) {
  HttpReply first = Send("PUT", kPath, kMetadataFields, "one");
  ASSERT_EQ(first.status, 201);
  ASSERT_EQ(Send("PUT", kPath, {}, "two").status, 204);
  HttpReply history = Send("GET", "/v1/history/repr/r");
  ASSERT_EQ(history.status, 200);
  EXPECT_THAT(history.body, HasSubstr("\"owner\":\"alice\""));
  const std::string revision =
      std::string(first.Header("etag")->substr(1, first.Header("etag")->find('-') - 1));
  HttpReply past = Send("GET", absl::StrCat(kPath, "?revision=", std::stoll(revision, nullptr, 16)));
  ASSERT_EQ(past.status, 200);
  EXPECT_EQ(past.Header("x-etagd-meta-owner"), "alice");
}

TEST_P(RepresentationTest, AStoredContentEncodingIsSentAsItIs) {
  ASSERT_EQ(Send("PUT", kPath,
                 {{"Content-Type", "text/plain"}, {"Content-Encoding", "gzip"}},
                 "not really gzip")
                .status,
            201);
  HttpReply reply = Send("GET", kPath, {{"Accept-Encoding", "gzip"}});
  EXPECT_EQ(reply.Header("content-encoding"), "gzip");
  EXPECT_EQ(reply.body, "not really gzip");
}

struct BadMetadata {
  std::string description;
  Headers headers;
  std::string message;
};

TEST_P(RepresentationTest, BadMetadataIsRefusedWithAClearError) {
  const std::vector<BadMetadata> cases = {
      {"Expires not a date", {{"Expires", "0"}}, "HTTP-date"},
      {"Expires twice",
       {{"Expires", "Thu, 01 Jan 2037 00:00:00 GMT"},
        {"Expires", "Thu, 01 Jan 2037 00:00:00 GMT"}},
       "twice"},
      {"Content-Disposition twice",
       {{"Content-Disposition", "inline"}, {"Content-Disposition", "inline"}},
       "twice"},
      {"identity is no coding", {{"Content-Encoding", "identity"}}, "identity"},
      {"metadata key with a dot", {{"X-Etagd-Meta-a.b", "v"}}, "lowercase"},
      {"metadata too large",
       {{"X-Etagd-Meta-a", std::string(5000, 'x')},
        {"X-Etagd-Meta-b", std::string(5000, 'x')}},
       "limit"},
  };
  for (const BadMetadata& c : cases) {
    HttpReply reply = Send("PUT", kPath, c.headers, "x");
    EXPECT_EQ(reply.status, 400) << c.description << ": " << reply.body;
    EXPECT_THAT(reply.body, HasSubstr(c.message)) << c.description;
  }
  EXPECT_EQ(Send("GET", kPath).status, 404);
}

// --- Compression ----------------------------------------------------------

std::string Gunzip(const std::string& coded) {
  z_stream stream{};
  EXPECT_EQ(inflateInit2(&stream, 15 + 16), Z_OK);
  std::string out(1 << 20, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(coded.data()));
  stream.avail_in = static_cast<uInt>(coded.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&stream, Z_FINISH), Z_STREAM_END);
  out.resize(stream.total_out);
  inflateEnd(&stream);
  return out;
}

std::optional<std::string> EncodeForTest(const std::string& content) {
  z_stream stream{};
  if (deflateInit2(&stream, 9, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    return std::nullopt;
  }
  std::string out(deflateBound(&stream, content.size()), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(content.data()));
  stream.avail_in = static_cast<uInt>(content.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  const bool done = deflate(&stream, Z_FINISH) == Z_STREAM_END;
  out.resize(stream.total_out);
  deflateEnd(&stream);
  if (!done) return std::nullopt;
  return out;
}

std::string Text() {
  std::string text;
  for (int i = 0; i < 400; ++i) absl::StrAppend(&text, "line ", i, " of text\n");
  return text;
}

// The version's tag with "-<coding>" inside the quotes.
std::string Coded(const std::string& etag, const std::string& coding) {
  return absl::StrCat(etag.substr(0, etag.size() - 1), "-", coding, "\"");
}

class CompressionTest : public RepresentationTest {
 protected:
  void SetUp() override {
    RepresentationTest::SetUp();
    HttpReply put = Send("PUT", kPath, {{"Content-Type", "text/plain"}}, Text());
    ASSERT_EQ(put.status, 201);
    etag_ = *put.Header("etag");
  }
  std::string etag_;
};

TEST_P(CompressionTest, GzipIsSentWithAStrongTagOfItsOwnAndVary) {
  HttpReply reply = Send("GET", kPath, {{"Accept-Encoding", "gzip"}});
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.Header("content-encoding"), "gzip");
  EXPECT_EQ(reply.Header("etag"), Coded(etag_, "gzip"));
  EXPECT_EQ(reply.Header("vary"), "Accept-Encoding");
  EXPECT_EQ(reply.Header("content-length"), absl::StrCat(reply.body.size()));
  EXPECT_LT(reply.body.size(), Text().size() / 4);
  EXPECT_EQ(Gunzip(reply.body), Text());
}

TEST_P(CompressionTest, BrotliIsPreferredWhenAccepted) {
  HttpReply reply = Send("GET", kPath, {{"Accept-Encoding", "gzip, deflate, br"}});
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.Header("content-encoding"), "br");
  EXPECT_EQ(reply.Header("etag"), Coded(etag_, "br"));
}

TEST_P(CompressionTest, IdentityIsSentWithTheVersionsTagAndVaryToo) {
  HttpReply reply = Send("GET", kPath);
  ASSERT_EQ(reply.status, 200);
  EXPECT_FALSE(reply.Has("content-encoding"));
  EXPECT_EQ(reply.Header("etag"), etag_);
  EXPECT_EQ(reply.Header("vary"), "Accept-Encoding");
  EXPECT_EQ(reply.body, Text());
}

TEST_P(CompressionTest, HeadShowsTheCodedRepresentationsFields) {
  HttpReply get = Send("GET", kPath, {{"Accept-Encoding", "gzip"}});
  HttpReply head = Send("HEAD", kPath, {{"Accept-Encoding", "gzip"}});
  ASSERT_EQ(head.status, 200);
  EXPECT_EQ(head.Header("etag"), get.Header("etag"));
  EXPECT_EQ(head.Header("content-encoding"), "gzip");
  EXPECT_EQ(head.Header("content-length"), get.Header("content-length"));
  EXPECT_TRUE(head.body.empty());
}

TEST_P(CompressionTest, IfNoneMatchWithTheCodedTagIs304ForTheSameCoding) {
  HttpReply reply = Send("GET", kPath, {{"Accept-Encoding", "gzip"},
                                        {"If-None-Match", Coded(etag_, "gzip")}});
  ASSERT_EQ(reply.status, 304);
  EXPECT_EQ(reply.Header("etag"), Coded(etag_, "gzip"));
  EXPECT_EQ(reply.Header("vary"), "Accept-Encoding");
  EXPECT_EQ(Send("GET", kPath, {{"Accept-Encoding", "gzip"},
                                {"If-None-Match", "W/" + Coded(etag_, "gzip")}})
                .status,
            304);
}

// §13.1.2 compares with the selected representation: a client holding the
// gzip form that now asks for identity gets identity in full.
TEST_P(CompressionTest, IfNoneMatchWithAnotherCodingsTagIsAFullResponse) {
  HttpReply identity = Send("GET", kPath, {{"If-None-Match", Coded(etag_, "gzip")}});
  ASSERT_EQ(identity.status, 200);
  EXPECT_EQ(identity.Header("etag"), etag_);
  EXPECT_EQ(identity.body, Text());
  HttpReply gzip = Send("GET", kPath, {{"Accept-Encoding", "gzip"},
                                       {"If-None-Match", etag_}});
  ASSERT_EQ(gzip.status, 200);
  EXPECT_EQ(gzip.Header("etag"), Coded(etag_, "gzip"));
  HttpReply both = Send("GET", kPath, {{"Accept-Encoding", "gzip"},
                                       {"If-None-Match", etag_ + ", " + Coded(etag_, "gzip")}});
  EXPECT_EQ(both.status, 304);
}

TEST_P(CompressionTest, AnOlderVersionsCodedTagIsAFullResponse) {
  const std::string old = Coded(etag_, "gzip");
  ASSERT_EQ(Send("PUT", kPath, {{"Content-Type", "text/plain"}}, Text() + "more").status,
            204);
  HttpReply reply = Send("GET", kPath, {{"Accept-Encoding", "gzip"}, {"If-None-Match", old}});
  ASSERT_EQ(reply.status, 200);
  EXPECT_NE(reply.Header("etag"), old);
  EXPECT_EQ(Gunzip(reply.body), Text() + "more");
}

TEST_P(CompressionTest, IfMatchOnPutAcceptsEitherRepresentationsTag) {
  for (const char* coding : {"gzip", "br"}) {
    HttpReply current = Send("HEAD", kPath);
    HttpReply put = Send("PUT", kPath,
                         {{"Content-Type", "text/plain"},
                          {"If-Match", Coded(*current.Header("etag"), coding)}},
                         Text());
    EXPECT_EQ(put.status, 204) << coding << ": " << put.body;
  }
  HttpReply current = Send("HEAD", kPath);
  EXPECT_EQ(Send("PUT", kPath, {{"If-Match", Coded(etag_, "gzip")}}, Text()).status, 412)
      << "a coded tag of an older version is stale";
  EXPECT_EQ(Send("DELETE", kPath, {{"If-Match", Coded(*current.Header("etag"), "gzip")}})
                .status,
            204);
}

TEST_P(CompressionTest, RangesApplyToTheCodedRepresentationWithIfRangeByItsTag) {
  HttpReply full = Send("GET", kPath, {{"Accept-Encoding", "gzip"}});
  ASSERT_EQ(full.status, 200);
  HttpReply part = Send("GET", kPath, {{"Accept-Encoding", "gzip"},
                                       {"Range", "bytes=10-19"},
                                       {"If-Range", Coded(etag_, "gzip")}});
  ASSERT_EQ(part.status, 206);
  EXPECT_EQ(part.body, full.body.substr(10, 10));
  EXPECT_EQ(part.Header("content-range"),
            absl::StrCat("bytes 10-19/", full.body.size()));
  EXPECT_EQ(part.Header("content-encoding"), "gzip");
  // The identity tag names another representation: the whole coded one.
  HttpReply other = Send("GET", kPath, {{"Accept-Encoding", "gzip"},
                                        {"Range", "bytes=10-19"},
                                        {"If-Range", etag_}});
  EXPECT_EQ(other.status, 200);
  EXPECT_EQ(other.body, full.body);
}

TEST_P(CompressionTest, SmallOrIncompressibleContentIsNeverCoded) {
  ASSERT_EQ(Send("PUT", "/v1/resources/repr/small", {{"Content-Type", "text/plain"}},
                 "short")
                .status,
            201);
  ASSERT_EQ(Send("PUT", "/v1/resources/repr/png", {{"Content-Type", "image/png"}},
                 Text())
                .status,
            201);
  for (const char* path : {"/v1/resources/repr/small", "/v1/resources/repr/png"}) {
    HttpReply reply = Send("GET", path, {{"Accept-Encoding", "gzip, br"}});
    ASSERT_EQ(reply.status, 200) << path;
    EXPECT_FALSE(reply.Has("content-encoding")) << path;
    EXPECT_FALSE(reply.Has("vary")) << path;
  }
}

TEST_P(CompressionTest, StoredCodedContentIsNeverCodedTwice) {
  const std::string gzipped = *EncodeForTest(Text());
  ASSERT_EQ(Send("PUT", kPath,
                 {{"Content-Type", "text/plain"}, {"Content-Encoding", "gzip"}},
                 gzipped)
                .status,
            204);
  HttpReply reply = Send("GET", kPath, {{"Accept-Encoding", "gzip, br"}});
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.Header("content-encoding"), "gzip");
  EXPECT_FALSE(reply.Has("vary"));
  EXPECT_EQ(Gunzip(reply.body), Text());
  // It has no coded forms, so no coded tag names it.
  const std::string etag = *reply.Header("etag");
  EXPECT_EQ(Send("PUT", kPath, {{"If-Match", Coded(etag, "gzip")}}, "x").status, 412);
}

TEST_P(CompressionTest, CompressionCanBeTurnedOff) {
  GatewayOptions gateway;
  gateway.content_codings.clear();
  Start(gateway);
  ASSERT_EQ(Send("PUT", kPath, {{"Content-Type", "text/plain"}}, Text()).status, 201);
  HttpReply reply = Send("GET", kPath, {{"Accept-Encoding", "gzip"}});
  EXPECT_FALSE(reply.Has("content-encoding"));
  EXPECT_FALSE(reply.Has("vary"));
}

INSTANTIATE_TEST_SUITE_P(
    Backends, CompressionTest,
    testing::Values(GatewayBackendKind::kGrpc, GatewayBackendKind::kLocal),
    [](const testing::TestParamInfo<GatewayBackendKind>& info) {
      return info.param == GatewayBackendKind::kGrpc ? "Grpc" : "Local";
    });

INSTANTIATE_TEST_SUITE_P(
    Backends, RepresentationTest,
    testing::Values(GatewayBackendKind::kGrpc, GatewayBackendKind::kLocal),
    [](const testing::TestParamInfo<GatewayBackendKind>& info) {
      return info.param == GatewayBackendKind::kGrpc ? "Grpc" : "Local";
    });

}  // namespace
}  // namespace etagd
