// Interoperability with a real HTTP client: Debian's curl (/usr/bin/curl)
// against the real gateway and service. Each test names the curl feature it
// drives and the RFC 9110 section the exchange relies on.
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "gateway/http_date.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/gateway_stack.h"
#include "tests/testing/http_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

using ::testing::HasSubstr;

constexpr char kCurl[] = "/usr/bin/curl";
constexpr char kPath[] = "/v1/resources/curl/doc";
constexpr char kContent[] = "hello world";
constexpr int kMaxBodyBytes = 4096;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

void WriteFile(const std::string& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << content;
}

class CurlInteropTest : public testing::Test {
 protected:
  void SetUp() override {
    GatewayStackOptions options;
    options.http.max_body_bytes = kMaxBodyBytes;
    options.server.service.max_content_bytes = kMaxBodyBytes;
    absl::StatusOr<std::unique_ptr<GatewayStack>> stack =
        GatewayStack::Start(TestPath("db"), options);
    ASSERT_THAT(stack, IsOk());
    stack_ = *std::move(stack);
    client_ = std::make_unique<HttpClient>(stack_->http_port());
  }

  std::string Url() const {
    return absl::StrCat("http://127.0.0.1:", stack_->http_port(), kPath);
  }

  // Stores `content` at kPath through the test client; returns the reply.
  HttpReply Put(const std::string& content) {
    absl::StatusOr<HttpReply> reply = client_->Send("PUT", kPath, {}, content);
    EXPECT_THAT(reply, IsOk());
    if (!reply.ok()) return HttpReply{};
    EXPECT_TRUE(reply->status == 201 || reply->status == 204) << reply->status;
    return *reply;
  }

  HttpReply Get() {
    absl::StatusOr<HttpReply> reply = client_->Send("GET", kPath);
    EXPECT_THAT(reply, IsOk());
    return reply.ok() ? *reply : HttpReply{};
  }

  // Runs curl (ignoring ~/.curlrc and any proxy settings) with `args` and
  // returns its standard output; curl must exit 0.
  std::string RunCurl(const std::vector<std::string>& args) {
    std::vector<std::string> argv = {"-q",        "--silent",   "--show-error",
                                     "--noproxy", "*",          "--max-time",
                                     "30"};
    argv.insert(argv.end(), args.begin(), args.end());
    absl::StatusOr<CommandResult> result = RunCommand(kCurl, argv);
    EXPECT_THAT(result, IsOk());
    if (!result.ok()) return "";
    EXPECT_EQ(result->exit_code, 0) << result->stderr_text;
    return result->stdout_text;
  }

  // Runs curl with `args` and returns the status code of its last response
  // (--write-out '%{http_code}'). `args` should send content to a file.
  std::string HttpCode(std::vector<std::string> args) {
    args.insert(args.begin(), {"--write-out", "%{http_code}"});
    return RunCurl(args);
  }

  std::unique_ptr<GatewayStack> stack_;
  std::unique_ptr<HttpClient> client_;
};

// A text over the gateway's compression threshold (--compress_min_bytes).
std::string CompressibleText() {
  std::string text;
  for (int i = 0; i < 150; ++i) absl::StrAppend(&text, "line ", i, "\n");
  return text;
}

// curl --compressed with --etag-save / --etag-compare: the coded
// representation's own ETag (RFC 9110 §8.8.3), sent back by a client that
// asks for the coding again, gets 304; curl decodes the content.
TEST_F(CurlInteropTest, CompressedEtagRoundTripGets304) {
  absl::StatusOr<HttpReply> put = client_->Send(
      "PUT", kPath, {{"Content-Type", "text/plain"}}, CompressibleText());
  ASSERT_THAT(put, IsOk());
  const std::string etag = *put->Header("etag");
  const std::string etag_file = TestPath("etag");
  const std::string body = TestPath("body");
  const std::string headers = TestPath("headers");
  EXPECT_EQ(HttpCode({"--compressed", "--etag-save", etag_file, "-D", headers,
                      "-o", body, Url()}),
            "200");
  EXPECT_EQ(ReadFile(body), CompressibleText());
  const std::string saved(absl::StripTrailingAsciiWhitespace(ReadFile(etag_file)));
  EXPECT_NE(saved, etag) << "a coded representation has a tag of its own";
  EXPECT_TRUE(absl::StartsWith(saved, etag.substr(0, etag.size() - 1))) << saved;
  EXPECT_THAT(absl::AsciiStrToLower(ReadFile(headers)),
              HasSubstr("vary: accept-encoding"));

  const std::string again = TestPath("again");
  EXPECT_EQ(HttpCode({"--compressed", "--etag-compare", etag_file, "-o", again,
                      Url()}),
            "304");
  EXPECT_EQ(ReadFile(again), "");

  // Without --compressed the selected representation is another one: all
  // of it, uncoded.
  EXPECT_EQ(HttpCode({"--etag-compare", etag_file, "-o", again, Url()}), "200");
  EXPECT_EQ(ReadFile(again), CompressibleText());

  // The coded tag names the version for a write too (If-Match).
  EXPECT_EQ(HttpCode({"-X", "PUT", "-H", "If-Match: " + saved, "--data-binary",
                      "replaced", "-o", again, Url()}),
            "204");
  EXPECT_EQ(HttpCode({"-X", "PUT", "-H", "If-Match: " + saved, "--data-binary",
                      "lost", "-o", again, Url()}),
            "412");
}

// curl --etag-save / --etag-compare; RFC 9110 §13.1.2 If-None-Match: the
// saved ETag, sent back, gets 304.
TEST_F(CurlInteropTest, EtagCompareWithTheSavedEtagGets304) {
  const std::string etag = *Put(kContent).Header("etag");
  const std::string etag_file = TestPath("etag");
  const std::string body = TestPath("body");
  EXPECT_EQ(HttpCode({"--etag-save", etag_file, "-o", body, Url()}), "200");
  EXPECT_EQ(ReadFile(body), kContent);
  EXPECT_EQ(absl::StripTrailingAsciiWhitespace(ReadFile(etag_file)), etag);

  const std::string again = TestPath("again");
  EXPECT_EQ(HttpCode({"--etag-compare", etag_file, "-o", again, Url()}), "304");
  EXPECT_EQ(ReadFile(again), "") << "a 304 has no content";
}

// curl --etag-compare after the resource changed; RFC 9110 §13.1.2: the old
// ETag no longer matches, so 200 with the new content, whose ETag curl saves
// for the next round.
TEST_F(CurlInteropTest, EtagCompareAfterAChangeGets200WithTheNewContent) {
  Put("version one");
  const std::string etag_file = TestPath("etag");
  EXPECT_EQ(HttpCode({"--etag-save", etag_file, "-o", TestPath("one"), Url()}),
            "200");
  const std::string new_etag = *Put("version two").Header("etag");

  const std::string body = TestPath("two");
  EXPECT_EQ(HttpCode({"--etag-compare", etag_file, "--etag-save", etag_file, "-o",
                      body, Url()}),
            "200");
  EXPECT_EQ(ReadFile(body), "version two");
  EXPECT_EQ(absl::StripTrailingAsciiWhitespace(ReadFile(etag_file)), new_etag);
  EXPECT_EQ(HttpCode({"--etag-compare", etag_file, "-o", TestPath("three"), Url()}),
            "304");
}

// curl -z DATE (--time-cond); RFC 9110 §13.1.3 If-Modified-Since: the
// resource's own Last-Modified gets 304.
TEST_F(CurlInteropTest, TimeConditionAtLastModifiedGets304) {
  const std::string last_modified = *Put(kContent).Header("last-modified");
  EXPECT_EQ(HttpCode({"-z", last_modified, "-o", TestPath("body"), Url()}), "304");
}

// curl -z DATE; RFC 9110 §13.1.3: a date before Last-Modified gets 200 with
// the content.
TEST_F(CurlInteropTest, TimeConditionBeforeLastModifiedGets200) {
  const std::string last_modified = *Put(kContent).Header("last-modified");
  std::optional<absl::Time> modified = ParseHttpDate(last_modified);
  ASSERT_TRUE(modified.has_value()) << last_modified;
  const std::string body = TestPath("body");
  EXPECT_EQ(HttpCode({"-z", FormatHttpDate(*modified - absl::Hours(1)), "-o", body,
                      Url()}),
            "200");
  EXPECT_EQ(ReadFile(body), kContent);
}

// curl -z -DATE (If-Unmodified-Since); RFC 9110 §13.1.4: modified since the
// date, so 412.
TEST_F(CurlInteropTest, NegatedTimeConditionBeforeLastModifiedGets412) {
  const std::string last_modified = *Put(kContent).Header("last-modified");
  std::optional<absl::Time> modified = ParseHttpDate(last_modified);
  ASSERT_TRUE(modified.has_value()) << last_modified;
  EXPECT_EQ(HttpCode({"-z", "-" + FormatHttpDate(*modified - absl::Hours(1)), "-o",
                      TestPath("body"), Url()}),
            "412");
}

// curl -R (--remote-time) then -z FILE, the mirroring idiom; RFC 9110
// §8.8.2 Last-Modified and §13.1.3: the file's time, taken from
// Last-Modified, gets 304, and the copy is left as it was.
TEST_F(CurlInteropTest, RemoteTimeThenTimeConditionOnTheFileGets304) {
  Put(kContent);
  const std::string copy = TestPath("copy");
  EXPECT_EQ(HttpCode({"-R", "-o", copy, Url()}), "200");
  EXPECT_EQ(HttpCode({"-R", "-z", copy, "-o", copy, Url()}), "304");
  EXPECT_EQ(ReadFile(copy), kContent);
}

// curl -X PUT -H 'If-Match: "stale"'; RFC 9110 §13.1.1: 412, and the
// resource is not changed.
TEST_F(CurlInteropTest, PutWithAStaleIfMatchGets412) {
  Put(kContent);
  EXPECT_EQ(HttpCode({"-X", "PUT", "-H", "If-Match: \"stale\"", "--data-binary",
                      "lost update", "-o", TestPath("body"), Url()}),
            "412");
  EXPECT_EQ(Get().body, kContent);
}

// curl --etag-save, then -X PUT -H 'If-Match: <saved ETag>'; RFC 9110
// §13.1.1: the write succeeds once, and the same ETag then is stale.
TEST_F(CurlInteropTest, ConditionalPutWithTheSavedEtagSucceedsOnce) {
  Put(kContent);
  const std::string etag_file = TestPath("etag");
  EXPECT_EQ(HttpCode({"--etag-save", etag_file, "-o", TestPath("body"), Url()}),
            "200");
  const std::string if_match = absl::StrCat(
      "If-Match: ", absl::StripTrailingAsciiWhitespace(ReadFile(etag_file)));
  EXPECT_EQ(HttpCode({"-X", "PUT", "-H", if_match, "--data-binary", "second",
                      "-o", TestPath("put1"), Url()}),
            "204");
  EXPECT_EQ(Get().body, "second");
  EXPECT_EQ(HttpCode({"-X", "PUT", "-H", if_match, "--data-binary", "third", "-o",
                      TestPath("put2"), Url()}),
            "412");
  EXPECT_EQ(Get().body, "second");
}

// curl -C - (--continue-at, resuming a download); RFC 9110 §14.2 Range and
// §15.3.7 206: curl asks for the bytes after the ones it has.
TEST_F(CurlInteropTest, ResumeGets206AndTheRemainingBytes) {
  Put(kContent);
  const std::string file = TestPath("partial");
  WriteFile(file, "hello");
  EXPECT_EQ(HttpCode({"-C", "-", "-o", file, Url()}), "206");
  EXPECT_EQ(ReadFile(file), kContent);
}

// curl --range 0-4; RFC 9110 §14.2 and §14.4 Content-Range.
TEST_F(CurlInteropTest, RangeGets206WithTheRequestedBytes) {
  Put(kContent);
  const std::string body = TestPath("body");
  const std::string headers = TestPath("headers");
  EXPECT_EQ(HttpCode({"--range", "0-4", "-D", headers, "-o", body, Url()}), "206");
  EXPECT_EQ(ReadFile(body), "hello");
  EXPECT_THAT(absl::AsciiStrToLower(ReadFile(headers)),
              HasSubstr("content-range: bytes 0-4/11\r\n"));
}

// curl --head; RFC 9110 §9.3.2 HEAD: the GET's header fields, the
// representation's Content-Length, and no content (curl must not wait for
// any).
TEST_F(CurlInteropTest, HeadGetsTheHeaderFieldsOnly) {
  const std::string etag = *Put(kContent).Header("etag");
  const std::string headers = RunCurl({"--head", Url()});
  const std::string lower = absl::AsciiStrToLower(headers);
  EXPECT_THAT(lower, HasSubstr("http/1.1 200 ok\r\n"));
  EXPECT_THAT(lower, HasSubstr("content-length: 11\r\n"));
  EXPECT_THAT(headers, HasSubstr(absl::StrCat("ETag: ", etag, "\r\n")));
}

// curl -T FILE with Expect: 100-continue; RFC 9110 §10.1.1: the server
// invites the content with 100 and stores it.
TEST_F(CurlInteropTest, UploadWithExpectContinueIsStored) {
  const std::string file = TestPath("upload");
  WriteFile(file, "uploaded");
  EXPECT_EQ(HttpCode({"-T", file, "-H", "Expect: 100-continue", "-o",
                      TestPath("body"), Url()}),
            "201");
  EXPECT_EQ(Get().body, "uploaded");
}

// curl -T FILE with Expect: 100-continue and too much content; RFC 9110
// §10.1.1 and §15.5.14: the final 413 comes instead of 100, and nothing is
// stored.
TEST_F(CurlInteropTest, OversizedUploadWithExpectContinueGets413) {
  const std::string file = TestPath("upload");
  WriteFile(file, std::string(kMaxBodyBytes + 1, 'x'));
  EXPECT_EQ(HttpCode({"-T", file, "-H", "Expect: 100-continue", "-o",
                      TestPath("body"), Url()}),
            "413");
  EXPECT_EQ(Get().status, 404);
}

// curl -T FILE sending all its content at once (Expect disabled); RFC 9112
// §9.6: the server's lingering close lets curl read the 413 rather than a
// connection reset.
TEST_F(CurlInteropTest, OversizedUploadWithoutExpectGets413NotAReset) {
  const std::string file = TestPath("upload");
  WriteFile(file, std::string(100000, 'x'));
  EXPECT_EQ(HttpCode({"-T", file, "-H", "Expect:", "-o", TestPath("body"), Url()}),
            "413");
  EXPECT_EQ(Get().status, 404);
}

// curl fetching twice in one run; RFC 9112 §9.3 persistence: the second
// transfer reuses the first's connection (%{num_connects} is 0).
TEST_F(CurlInteropTest, SecondTransferReusesTheConnection) {
  Put(kContent);
  EXPECT_EQ(RunCurl({"--write-out", "%{http_code} %{num_connects}\n", "-o",
                     TestPath("one"), Url(), "-o", TestPath("two"), Url()}),
            "200 1\n200 0\n");
}

}  // namespace
}  // namespace etagd
