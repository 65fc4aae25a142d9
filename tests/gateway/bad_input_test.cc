// Robustness of the HTTP gateway against hostile and broken input, run
// against the real HTTP server, gateway and service over real sockets.
//
// Every table case is sent raw, in one write, on a connection of its own. It
// must get the stated answer (or none), the connection must then be closed
// or keep serving as stated, and afterwards a fresh connection must still
// read the resource stored before the case, unchanged: bad input may be
// refused, but it may not take the server down or lose what is stored.
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/gateway_stack.h"
#include "tests/testing/http_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

using ::testing::HasSubstr;

// Stored before every test; no case may change or remove it.
constexpr char kKeep[] = "/v1/resources/bad-input/keep";
constexpr char kKeepContent[] = "precious content";
// Stored before every test; cases whose writes are meant to succeed use it.
constexpr char kScratch[] = "/v1/resources/bad-input/scratch";
constexpr char kScratchContent[] = "scratch content";

// Limits small enough that exceeding them is cheap.
constexpr int kMaxHeaderBytes = 2048;
constexpr int kMaxBodyBytes = 4096;

// A request with the given header field lines (each ending in CRLF) and
// content, sent as is: no Content-Length is added.
std::string Request(const std::string& method, const std::string& target,
                    const std::string& fields = "", const std::string& body = "") {
  return absl::StrCat(method, " ", target, " HTTP/1.1\r\nHost: 127.0.0.1\r\n",
                      fields, "\r\n", body);
}

std::string Get(const std::string& target, const std::string& fields = "") {
  return Request("GET", target, fields);
}

std::string Put(const std::string& target, const std::string& fields,
                const std::string& body) {
  return Request("PUT", target,
                 absl::StrCat(fields, "Content-Length: ", body.size(), "\r\n"),
                 body);
}

// Header field lines adding up to more than kMaxHeaderBytes, none of them
// long on its own.
std::string ManyFields() {
  std::string fields;
  for (int i = 0; i < 64; ++i) {
    absl::StrAppend(&fields, "X-Filler-", i, ": ", std::string(40, 'f'), "\r\n");
  }
  return fields;
}

// A chunked body of two 4096-byte chunks: twice kMaxBodyBytes.
std::string OversizedChunkedBody() {
  const std::string chunk = absl::StrCat("1000\r\n", std::string(4096, 'c'), "\r\n");
  return absl::StrCat(chunk, chunk, "0\r\n\r\n");
}

// An If-Match field with 65 entity-tags, one more than the service accepts.
std::string TooManyTags() {
  std::string value;
  for (int i = 0; i < 65; ++i) {
    absl::StrAppend(&value, i == 0 ? "" : ", ", "\"t", i, "\"");
  }
  return absl::StrCat("If-Match: ", value, "\r\n");
}

// "closed": the server closes the connection without answering.
constexpr int kClosed = 0;

enum class After {
  // The message framing was intact: the connection keeps serving.
  kKeepsServing,
  // The server could not (or must not) read on: it closes the connection.
  kCloses,
};

struct Case {
  // The input, and the rule (RFC 9112 for message syntax, RFC 9110 for
  // semantics) or API contract it checks.
  std::string what;
  std::string bytes;
  // The expected status, or kClosed.
  int status;
  After after;
  // The expected content, or "*" for "don't care".
  std::string body = "*";
};

std::ostream& operator<<(std::ostream& os, const Case& c) { return os << c.what; }

class BadInputTest : public testing::Test {
 protected:
  // Starts the stack with `options` but the small limits above, and stores
  // kKeep and kScratch.
  void StartStack(GatewayStackOptions options = {}) {
    options.http.max_header_bytes = kMaxHeaderBytes;
    options.http.max_body_bytes = kMaxBodyBytes;
    options.server.service.max_content_bytes = kMaxBodyBytes;
    absl::StatusOr<std::unique_ptr<GatewayStack>> stack =
        GatewayStack::Start(TestPath("db"), options);
    ASSERT_THAT(stack, IsOk());
    stack_ = *std::move(stack);
    HttpClient client(port());
    absl::StatusOr<HttpReply> keep = client.Send("PUT", kKeep, {}, kKeepContent);
    ASSERT_THAT(keep, IsOk());
    ASSERT_EQ(keep->status, 201);
    keep_etag_ = keep->Header("etag").value_or("");
    ASSERT_FALSE(keep_etag_.empty());
    absl::StatusOr<HttpReply> scratch =
        client.Send("PUT", kScratch, {}, kScratchContent);
    ASSERT_THAT(scratch, IsOk());
    ASSERT_EQ(scratch->status, 201);
  }

  int port() const { return stack_->http_port(); }

  // On a fresh connection: the server answers, and kKeep is as stored.
  void ExpectStoreIntact() {
    HttpClient client(port());
    absl::StatusOr<HttpReply> reply = client.Send("GET", kKeep);
    ASSERT_THAT(reply, IsOk());
    EXPECT_EQ(reply->status, 200);
    EXPECT_EQ(reply->body, kKeepContent);
    EXPECT_EQ(reply->Header("etag"), keep_etag_) << "kKeep was rewritten";
  }

  // Reads one response on `client`'s connection, which must be a 200 for
  // kKeep.
  void ExpectKeep(HttpClient& client) {
    absl::StatusOr<HttpReply> reply = client.Read();
    ASSERT_THAT(reply, IsOk());
    EXPECT_EQ(reply->status, 200);
    EXPECT_EQ(reply->body, kKeepContent);
  }

  std::unique_ptr<GatewayStack> stack_;
  std::string keep_etag_;
};

class BadInputTableTest : public BadInputTest,
                          public testing::WithParamInterface<Case> {
 protected:
  void SetUp() override { StartStack(); }
};

TEST_P(BadInputTableTest, IsRefusedAndNothingIsLost) {
  const Case& c = GetParam();
  HttpClient client(port());
  ASSERT_THAT(client.SendRaw(c.bytes), IsOk());
  absl::StatusOr<HttpReply> reply = client.Read();
  if (c.status == kClosed) {
    EXPECT_THAT(reply, StatusIs(absl::StatusCode::kUnavailable,
                                "closed before a response"));
  } else {
    ASSERT_THAT(reply, IsOk()) << c.what;
    EXPECT_EQ(reply->status, c.status) << c.what << "\n" << reply->body;
    if (c.body != "*") {
      EXPECT_EQ(reply->body, c.body) << c.what;
    }
    if (c.status >= 400) {
      // Every error, from the server or the gateway, has the JSON shape.
      EXPECT_THAT(reply->body, HasSubstr(absl::StrCat("{\"error\": {\"code\": ",
                                                      c.status)))
          << c.what;
    }
  }
  if (c.after == After::kCloses) {
    if (reply.ok()) {
      EXPECT_FALSE(reply->keep_alive) << c.what << ": no Connection: close";
    }
    EXPECT_TRUE(client.ServerClosed()) << c.what << ": connection left open";
  } else {
    ASSERT_TRUE(reply.ok());
    EXPECT_TRUE(reply->keep_alive) << c.what;
    // The same connection serves the next request.
    ASSERT_THAT(client.SendRaw(Get(kKeep)), IsOk());
    ExpectKeep(client);
  }
  ExpectStoreIntact();
}

INSTANTIATE_TEST_SUITE_P(
    HostileInput, BadInputTableTest,
    testing::Values(
        // Request line (RFC 9112 §3). A server that cannot parse the
        // request line answers 400 and, the framing being lost, closes.
        Case{"RFC 9112 §3: a request line that is one word is 400",
             "GARBAGE\r\n\r\n", 400, After::kCloses},
        Case{"RFC 9112 §3: a method without target and version is 400",
             "GET\r\n\r\n", 400, After::kCloses},
        Case{"RFC 9112 §3: a request line without version (HTTP/0.9) is 400",
             absl::StrCat("GET ", kKeep, "\r\n\r\n"), 400, After::kCloses},
        Case{"RFC 9112 §3: two spaces before the target is 400",
             absl::StrCat("GET  ", kKeep, " HTTP/1.1\r\nHost: x\r\n\r\n"), 400,
             After::kCloses},
        Case{"RFC 9112 §2.3: a malformed version is 400",
             absl::StrCat("GET ", kKeep, " HTTP/one\r\nHost: x\r\n\r\n"), 400,
             After::kCloses},
        Case{"RFC 9112 §2.3: an HTTP-version this server does not speak is 400",
             "GET / HTTP/9.9\r\n\r\n", 400, After::kCloses},
        Case{"RFC 9112 §2.3: HTTP/2.0 in an HTTP/1 request line is 400",
             absl::StrCat("GET ", kKeep, " HTTP/2.0\r\nHost: x\r\n\r\n"), 400,
             After::kCloses},
        Case{"RFC 9112 §2.2: bare LF line endings (which it MAY accept) are 400",
             absl::StrCat("GET ", kKeep, " HTTP/1.1\nHost: x\n\n"), 400,
             After::kCloses},
        Case{"RFC 9112 §3.2: a control character in the target is 400",
             "GET /v1/resources/a\x01" "b HTTP/1.1\r\nHost: x\r\n\r\n", 400,
             After::kCloses},
        Case{"a TLS ClientHello on the plain-text port is 400",
             std::string("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 11) +
                 "\r\n\r\n",
             400, After::kCloses},

        // Header fields (RFC 9112 §5).
        Case{"RFC 9112 §5: a field line without a colon is 400",
             Get(kKeep, "NoColonHere\r\n"), 400, After::kCloses},
        Case{"RFC 9112 §5.1: whitespace before the colon is 400",
             Get(kKeep, "X-Thing : value\r\n"), 400, After::kCloses},
        Case{"RFC 9110 §5.5: a NUL in a field value is 400",
             Get(kKeep, std::string("X-Thing: a\0b\r\n", 14)), 400,
             After::kCloses},
        Case{"RFC 9112 §5.2: an obs-fold may be replaced by a space: 200",
             Get(kKeep, "X-Folded: first\r\n second\r\n"), 200,
             After::kKeepsServing, kKeepContent},
        Case{"one field line longer than max_header_bytes is 431",
             Get(kKeep, absl::StrCat("X-Long: ", std::string(3000, 'a'), "\r\n")),
             431, After::kCloses},
        Case{"short field lines adding up to over max_header_bytes are 431",
             Get(kKeep, ManyFields()), 431, After::kCloses},

        // Message body length (RFC 9112 §6).
        Case{"Content-Length over max_body_bytes is 413 before the content",
             Request("PUT", kKeep, "Content-Length: 4097\r\n"), 413,
             After::kCloses},
        Case{"Content-Length over max_body_bytes is 413 with the content sent",
             Put(kKeep, "", std::string(kMaxBodyBytes + 1, 'x')), 413,
             After::kCloses},
        Case{"content of exactly max_body_bytes is accepted",
             Put(kScratch, "", std::string(kMaxBodyBytes, 'x')), 204,
             After::kKeepsServing, ""},
        Case{"RFC 9110 §10.1.1: with Expect: 100-continue too large is 413",
             Request("PUT", kKeep,
                     "Expect: 100-continue\r\nContent-Length: 100000\r\n"),
             413, After::kCloses},
        Case{"chunked content over max_body_bytes is 413",
             Request("PUT", kKeep, "Transfer-Encoding: chunked\r\n",
                     OversizedChunkedBody()),
             413, After::kCloses},
        Case{"RFC 9112 §6.3: a non-numeric Content-Length is 400",
             Request("PUT", kKeep, "Content-Length: abc\r\n", "abc"), 400,
             After::kCloses},
        Case{"RFC 9112 §6.3: a negative Content-Length is 400",
             Request("PUT", kKeep, "Content-Length: -1\r\n", "x"), 400,
             After::kCloses},
        Case{"RFC 9112 §6.3: a Content-Length with a sign is 400",
             Request("PUT", kKeep, "Content-Length: +5\r\n", "hello"), 400,
             After::kCloses},
        Case{"RFC 9112 §6.3: a hexadecimal Content-Length is 400",
             Request("PUT", kKeep, "Content-Length: 0x10\r\n", "hello"), 400,
             After::kCloses},
        Case{"RFC 9112 §6.3: a Content-Length over 2^64 is 400",
             Request("PUT", kKeep, "Content-Length: 99999999999999999999999\r\n",
                     "x"),
             400, After::kCloses},
        Case{"RFC 9112 §6.3: two different Content-Length fields are 400",
             Request("PUT", kKeep, "Content-Length: 5\r\nContent-Length: 6\r\n",
                     "hello!"),
             400, After::kCloses},
        Case{"RFC 9112 §6.3: a Content-Length list of different values is 400",
             Request("PUT", kKeep, "Content-Length: 5, 6\r\n", "hello!"), 400,
             After::kCloses},
        Case{"RFC 9112 §6.3: identical repeated Content-Length may be accepted",
             Request("PUT", kScratch, "Content-Length: 5\r\nContent-Length: 5\r\n",
                     "hello"),
             204, After::kKeepsServing, ""},
        Case{"RFC 9112 §6.1: Content-Length then Transfer-Encoding is 400",
             Request("PUT", kKeep,
                     "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n",
                     "5\r\nhello\r\n0\r\n\r\n"),
             400, After::kCloses},
        Case{"RFC 9112 §6.1: Transfer-Encoding then Content-Length is 400",
             Request("PUT", kKeep,
                     "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n",
                     "5\r\nhello\r\n0\r\n\r\n"),
             400, After::kCloses},
        Case{"RFC 9112 §7.1: a chunk size that is not hex is 400",
             Request("PUT", kKeep, "Transfer-Encoding: chunked\r\n",
                     "zz\r\nhello\r\n0\r\n\r\n"),
             400, After::kCloses},

        // The request-target's path (RFC 3986 §2.1) and the name.
        Case{"RFC 3986 §2.1: %zz in the path is 400",
             Get("/v1/resources/bad%zzname"), 400, After::kKeepsServing},
        Case{"RFC 3986 §2.1: a trailing % is 400", Get("/v1/resources/name%"),
             400, After::kKeepsServing},
        Case{"RFC 3986 §2.1: a trailing %4 is 400", Get("/v1/resources/name%4"),
             400, After::kKeepsServing},
        Case{"a NUL (%00) in a name is 400", Get("/v1/resources/a%00b"), 400,
             After::kKeepsServing},
        Case{"a NUL (%00) in a PUT's name is 400 and stores nothing",
             Put("/v1/resources/bad-input/keep%00", "", "evil"), 400,
             After::kKeepsServing},
        Case{"a name of 1025 bytes is 400",
             Get(absl::StrCat("/v1/resources/", std::string(1025, 'n'))), 400,
             After::kKeepsServing},
        Case{"a name of 1024 bytes is valid: 404 as it does not exist",
             Get(absl::StrCat("/v1/resources/", std::string(1024, 'n'))), 404,
             After::kKeepsServing},
        Case{"a PUT to a 1025-byte name is 400",
             Put(absl::StrCat("/v1/resources/", std::string(1025, 'n')), "", "x"),
             400, After::kKeepsServing},

        Case{"invalid UTF-8 (%ff) in a name is 400", Get("/v1/resources/a%ffb"),
             400, After::kKeepsServing},
        Case{"an overlong UTF-8 form (%c0%af) in a name is 400",
             Get("/v1/resources/a%c0%afb"), 400, After::kKeepsServing},
        Case{"a UTF-16 surrogate (%ed%a0%80) in a name is 400",
             Get("/v1/resources/a%ed%a0%80"), 400, After::kKeepsServing},
        Case{"a PUT to a name with invalid UTF-8 is 400 and stores nothing",
             Put("/v1/resources/bad-input/keep%ff", "", "evil"), 400,
             After::kKeepsServing},
        Case{"invalid UTF-8 in the listing's prefix is 400",
             Get("/v1/resources?prefix=%ff"), 400, After::kKeepsServing},
        Case{"a Content-Type with bytes that are not visible ASCII is 400",
             Put(kKeep, "Content-Type: text/\xff\r\n", "evil"), 400,
             After::kKeepsServing},
        Case{"an Idempotency-Key with a space is 400",
             Put(kKeep, "Idempotency-Key: a b\r\n", "evil"), 400,
             After::kKeepsServing},
        Case{"RFC 9110 §8.8.3: an obs-text entity-tag never matches: 412",
             Put(kKeep, "If-Match: \"\xff\xfe\"\r\n", "evil"), 412,
             After::kKeepsServing},

        // Host and framing that a server MUST reject (RFC 9112).
        Case{"RFC 9112 §3.2: an HTTP/1.1 request without Host is 400",
             absl::StrCat("GET ", kKeep, " HTTP/1.1\r\n\r\n"), 400,
             After::kCloses},
        Case{"RFC 9112 §3.2: two Host field lines are 400",
             Get(kKeep, "Host: other\r\n"), 400, After::kCloses},
        Case{"RFC 9112 §3.2: an invalid Host value is 400",
             absl::StrCat("GET ", kKeep, " HTTP/1.1\r\nHost: a b\r\n\r\n"),
             400, After::kCloses},
        Case{"RFC 9112 §3.2.2: the absolute form of the target is accepted",
             absl::StrCat("GET http://127.0.0.1", kKeep,
                          " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"),
             200, After::kKeepsServing, kKeepContent},
        Case{"RFC 9112 §6.3: Transfer-Encoding not ending in chunked is 400",
             Request("PUT", kScratch, "Transfer-Encoding: gzip\r\n",
                     "GET / HTTP/1.1\r\n\r\n"),
             400, After::kCloses},
        Case{"RFC 9112 §6.3: Transfer-Encoding chunked, gzip is 400",
             Request("PUT", kScratch, "Transfer-Encoding: chunked, gzip\r\n",
                     "5\r\nhello\r\n0\r\n\r\n"),
             400, After::kCloses},
        Case{"RFC 9112 §6.1: an unsupported transfer coding is 501",
             Request("PUT", kScratch, "Transfer-Encoding: gzip, chunked\r\n",
                     "5\r\nhello\r\n0\r\n\r\n"),
             501, After::kCloses},

        // Conditional request fields (RFC 9110 §13.1).
        Case{"RFC 9110 §13.1.3: a garbage If-Modified-Since is ignored",
             Get(kKeep, "If-Modified-Since: the day before yesterday\r\n"), 200,
             After::kKeepsServing, kKeepContent},
        Case{"RFC 9110 §13.1.4: a garbage If-Unmodified-Since is ignored (GET)",
             Get(kKeep, "If-Unmodified-Since: ~~~ garbage ~~~\r\n"), 200,
             After::kKeepsServing, kKeepContent},
        Case{"RFC 9110 §13.1.4: a garbage If-Unmodified-Since is ignored (PUT)",
             Put(kScratch, "If-Unmodified-Since: 32 Foo 99999 99:99:99 XYZ\r\n",
                 "new"),
             204, After::kKeepsServing, ""},
        Case{"RFC 9110 §8.8.3: a garbage If-Match on PUT is 400",
             Put(kKeep, "If-Match: not-an-etag\r\n", "evil"), 400,
             After::kKeepsServing},
        Case{"RFC 9110 §8.8.3: a garbage If-Match on DELETE is 400",
             Request("DELETE", kKeep, "If-Match: \"unterminated\r\n"), 400,
             After::kKeepsServing},
        Case{"RFC 9110 §8.8.3: a garbage If-None-Match on GET is 400",
             Get(kKeep, "If-None-Match: W/garbage\r\n"), 400,
             After::kKeepsServing},
        Case{"RFC 9110 §13.1.1: \"*\" mixed with entity-tags is 400",
             Put(kKeep, "If-Match: *, \"a\"\r\n", "evil"), 400,
             After::kKeepsServing},
        Case{"more than 64 entity-tags in If-Match is 400",
             Put(kKeep, TooManyTags(), "evil"), 400, After::kKeepsServing},

        // Range (RFC 9110 §14.2): a Range that does not parse is ignored.
        Case{"RFC 9110 §14.2: a garbage Range is ignored: 200",
             Get(kKeep, "Range: garbage\r\n"), 200, After::kKeepsServing,
             kKeepContent},
        Case{"RFC 9110 §14.1.1: a range whose last is before first is ignored",
             Get(kKeep, "Range: bytes=5-2\r\n"), 200, After::kKeepsServing,
             kKeepContent},
        Case{"RFC 9110 §14.1: an unknown range unit is ignored",
             Get(kKeep, "Range: lines=0-1\r\n"), 200, After::kKeepsServing,
             kKeepContent},

        // The query string.
        Case{"an unknown query parameter is 400", Get(absl::StrCat(kKeep, "?color=red")),
             400, After::kKeepsServing},
        Case{"revision=-1 is 400", Get(absl::StrCat(kKeep, "?revision=-1")), 400,
             After::kKeepsServing},
        Case{"revision=0 is 400", Get(absl::StrCat(kKeep, "?revision=0")), 400,
             After::kKeepsServing},
        Case{"a revision after the latest is 404",
             Get(absl::StrCat(kKeep, "?revision=999999")), 404,
             After::kKeepsServing},
        Case{"a non-numeric revision is 400",
             Get(absl::StrCat(kKeep, "?revision=latest")), 400,
             After::kKeepsServing},
        Case{"a revision over 2^63 is 400",
             Get(absl::StrCat(kKeep, "?revision=99999999999999999999")), 400,
             After::kKeepsServing},
        Case{"%zz in the query is 400", Get(absl::StrCat(kKeep, "?revision=%zz")),
             400, After::kKeepsServing},
        Case{"a query on PUT is 400",
             Put(absl::StrCat(kKeep, "?revision=1"), "", "evil"), 400,
             After::kKeepsServing},
        Case{"page_size=-5 on the listing is 400",
             Get("/v1/resources?page_size=-5"), 400, After::kKeepsServing},
        Case{"a non-numeric page_size on the listing is 400",
             Get("/v1/resources?page_size=ten"), 400, After::kKeepsServing},
        Case{"a page_size beyond 32 bits is 400",
             Get("/v1/resources?page_size=99999999999"), 400,
             After::kKeepsServing},
        Case{"a page_token that is not base64 is 400",
             Get("/v1/resources?page_token=!!not-a-token!!"), 400,
             After::kKeepsServing},
        Case{"a page_token of another kind of listing is 400",
             Get("/v1/resources?page_token=eA"), 400, After::kKeepsServing},
        Case{"an unknown query parameter on the listing is 400",
             Get("/v1/resources?sort=desc"), 400, After::kKeepsServing},
        Case{"page_size=-5 on a history is 400",
             Get("/v1/history/bad-input/keep?page_size=-5"), 400,
             After::kKeepsServing},
        Case{"a bad page_token on a history is 400",
             Get("/v1/history/bad-input/keep?page_token=%25%25"), 400,
             After::kKeepsServing},

        // Methods (RFC 9110 §9.1: method names are case-sensitive).
        Case{"RFC 9110 §15.5.6: an unknown method is 405",
             Request("BREW", kKeep), 405, After::kKeepsServing},
        Case{"RFC 9110 §9.1: a lower-case method is not GET: 405",
             absl::StrCat("get ", kKeep, " HTTP/1.1\r\nHost: x\r\n\r\n"), 405,
             After::kKeepsServing},
        Case{"RFC 9110 §15.5.6: DELETE of a read-only path is 405",
             Request("DELETE", "/v1/resources"), 405,
             After::kKeepsServing}));

// A request the server refuses before any handler sees it is still counted
// in /metrics (etagd_http_server_responses_total), by the status sent.
TEST_F(BadInputTest, RequestsTheServerRefusesItselfAreCountedInMetrics) {
  StartStack();
  {
    HttpClient client(port());
    ASSERT_THAT(client.SendRaw(Get(kKeep, ManyFields())), IsOk());
    absl::StatusOr<HttpReply> refused = client.Read();
    ASSERT_THAT(refused, IsOk());
    ASSERT_EQ(refused->status, 431);
  }
  HttpClient client(port());
  absl::StatusOr<HttpReply> metrics = client.Send("GET", "/metrics");
  ASSERT_THAT(metrics, IsOk());
  EXPECT_THAT(metrics->body,
              testing::HasSubstr("etagd_http_server_responses_total{code=\"431\"} 1\n"));
}

// RFC 9112 §9.3.2: pipelined requests are answered in order; a broken one
// after a valid one is answered after it, with 400, and the connection is
// closed.
TEST_F(BadInputTest, PipelinedGarbageAfterAValidRequestIs400AfterIts200) {
  StartStack();
  HttpClient client(port());
  ASSERT_THAT(client.SendRaw(absl::StrCat(Get(kKeep), "GARBAGE\r\n\r\n")), IsOk());
  ExpectKeep(client);
  absl::StatusOr<HttpReply> second = client.Read();
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(second->status, 400);
  EXPECT_FALSE(second->keep_alive);
  EXPECT_TRUE(client.ServerClosed());
  ExpectStoreIntact();
}

// RFC 9112 §9.3.2: two requests in one write get two responses, in order.
TEST_F(BadInputTest, TwoPipelinedGetsAreAnsweredInOrder) {
  StartStack();
  HttpClient client(port());
  ASSERT_THAT(client.SendRaw(absl::StrCat(Get(kScratch), Get(kKeep))), IsOk());
  absl::StatusOr<HttpReply> first = client.Read();
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(first->status, 200);
  EXPECT_EQ(first->body, kScratchContent);
  ExpectKeep(client);
  EXPECT_FALSE(client.ServerClosed(absl::ZeroDuration()));
  ExpectStoreIntact();
}

// RFC 9112 §6.3: content beyond Content-Length is the next request; here
// a broken one, refused after the PUT was answered.
TEST_F(BadInputTest, BytesBeyondContentLengthAreReadAsTheNextRequest) {
  StartStack();
  HttpClient client(port());
  ASSERT_THAT(client.SendRaw(absl::StrCat(
                  Request("PUT", kScratch, "Content-Length: 3\r\n", "abc"),
                  "defghi\r\n\r\n")),
              IsOk());
  absl::StatusOr<HttpReply> put = client.Read();
  ASSERT_THAT(put, IsOk());
  EXPECT_EQ(put->status, 204);
  absl::StatusOr<HttpReply> rest = client.Read();
  ASSERT_THAT(rest, IsOk());
  EXPECT_EQ(rest->status, 400);
  EXPECT_TRUE(client.ServerClosed());
  HttpClient reader(port());
  absl::StatusOr<HttpReply> scratch = reader.Send("GET", kScratch);
  ASSERT_THAT(scratch, IsOk());
  EXPECT_EQ(scratch->body, "abc");
  ExpectStoreIntact();
}

// RFC 9112 §9.3.2: fifty requests in one write get fifty answers.
TEST_F(BadInputTest, ManyPipelinedRequestsAreAllAnswered) {
  StartStack();
  HttpClient client(port());
  std::string requests;
  for (int i = 0; i < 50; ++i) requests += Get(kKeep);
  ASSERT_THAT(client.SendRaw(requests), IsOk());
  for (int i = 0; i < 50; ++i) {
    ExpectKeep(client);
  }
  ExpectStoreIntact();
}

// The request deadline (HttpServerOptions::request_timeout) at 300 ms.
class RequestTimeoutTest : public BadInputTest {
 protected:
  static constexpr absl::Duration kTimeout = absl::Milliseconds(300);

  void SetUp() override {
    GatewayStackOptions options;
    options.http.request_timeout = kTimeout;
    StartStack(options);
  }

  // Checks what a client that started a request and stalled read: 408 and
  // the close, no earlier than kTimeout after `start` (taken before it
  // connected).
  void ExpectCutOff(const absl::StatusOr<HttpReply>& reply, HttpClient& client,
                    absl::Time start) {
    EXPECT_GE(absl::Now() - start, kTimeout - absl::Milliseconds(20))
        << "cut off before the deadline";
    ASSERT_THAT(reply, IsOk());
    EXPECT_EQ(reply->status, 408);
    EXPECT_FALSE(reply->keep_alive);
    EXPECT_TRUE(client.ServerClosed());
  }
};

// Slowloris: a client that sends half a request line and stalls is cut off
// at the deadline, while another client is served meanwhile.
TEST_F(RequestTimeoutTest, StalledRequestLineIsCutOffWhileOthersAreServed) {
  const absl::Time start = absl::Now();
  HttpClient slow(port());
  ASSERT_THAT(slow.SendRaw("GET /v1/resources/bad-in"), IsOk());
  HttpClient other(port());
  absl::StatusOr<HttpReply> served = other.Send("GET", kKeep);
  ASSERT_THAT(served, IsOk());
  EXPECT_EQ(served->status, 200);
  EXPECT_EQ(served->body, kKeepContent);

  ExpectCutOff(slow.Read(false, absl::Seconds(10)), slow, start);
  ExpectStoreIntact();
}

TEST_F(RequestTimeoutTest, StalledHeaderFieldsAreCutOff) {
  const absl::Time start = absl::Now();
  HttpClient slow(port());
  ASSERT_THAT(slow.SendRaw(absl::StrCat("GET ", kKeep,
                                        " HTTP/1.1\r\nHost: x\r\nX-Half: va")),
              IsOk());
  ExpectCutOff(slow.Read(false, absl::Seconds(10)), slow, start);
  ExpectStoreIntact();
}

// A PUT whose content stalls is cut off, and stores nothing.
TEST_F(RequestTimeoutTest, StalledContentIsCutOffAndStoresNothing) {
  const absl::Time start = absl::Now();
  HttpClient slow(port());
  ASSERT_THAT(slow.SendRaw(Request("PUT", kKeep, "Content-Length: 10\r\n", "abc")),
              IsOk());
  ExpectCutOff(slow.Read(false, absl::Seconds(10)), slow, start);
  ExpectStoreIntact();
}

// The deadline is for the whole request, not for each read: a client
// trickling one byte every 100 ms is cut off long before it is done.
TEST_F(RequestTimeoutTest, TricklingClientIsCutOff) {
  const std::string request =
      Get(kKeep, absl::StrCat("X-Slow: ", std::string(60, 's'), "\r\n"));
  const absl::Time start = absl::Now();
  HttpClient slow(port());
  absl::StatusOr<HttpReply> reply = absl::DeadlineExceededError("nothing sent");
  size_t sent = 0;
  while (sent < request.size()) {
    if (!slow.SendRaw(request.substr(sent, 1)).ok()) break;
    ++sent;
    // Waits up to 100 ms for an answer or the close: the trickle's pace.
    reply = slow.Read(false, absl::Milliseconds(100));
    if (!absl::IsDeadlineExceeded(reply.status())) break;
  }
  if (absl::IsDeadlineExceeded(reply.status())) {
    reply = slow.Read(false, absl::Seconds(10));
  }
  EXPECT_LT(sent, request.size()) << "the whole request went through";
  ExpectCutOff(reply, slow, start);
  ExpectStoreIntact();
}

// RFC 9110 §15.5.9: a client that started a request and stalled is answered
// 408, as HttpServerOptions::request_timeout documents.
//
// RFC 9110 §15.5.9: each way of stalling mid-request gets a 408.
TEST_F(RequestTimeoutTest, StalledRequestGets408) {
  for (const std::string& partial :
       {std::string("GET /v1/resources/bad-in"),
        absl::StrCat("GET ", kKeep, " HTTP/1.1\r\nHost: x\r\nX-Half: va"),
        Request("PUT", kKeep, "Content-Length: 10\r\n", "abc")}) {
    HttpClient slow(port());
    ASSERT_THAT(slow.SendRaw(partial), IsOk());
    absl::StatusOr<HttpReply> reply = slow.Read(false, absl::Seconds(10));
    ASSERT_THAT(reply, IsOk()) << partial;
    EXPECT_EQ(reply->status, 408) << partial;
    EXPECT_TRUE(slow.ServerClosed()) << partial;
  }
  ExpectStoreIntact();
}

// RFC 9110 §15.5.9: a connection that never starts a request is closed
// without a response.
TEST_F(RequestTimeoutTest, IdleConnectionIsClosedWithoutAResponse) {
  const absl::Time start = absl::Now();
  HttpClient idle(port());
  ASSERT_THAT(idle.SendRaw(""), IsOk());
  EXPECT_THAT(idle.Read(false, absl::Seconds(10)),
              StatusIs(absl::StatusCode::kUnavailable, "closed before a response"));
  EXPECT_GE(absl::Now() - start, kTimeout - absl::Milliseconds(20));
  ExpectStoreIntact();
}

// RFC 9112 §9.5: an idle keep-alive connection is closed after the
// timeout, without a response.
TEST_F(RequestTimeoutTest, IdleKeepAliveConnectionIsClosedWithoutAResponse) {
  HttpClient client(port());
  ASSERT_THAT(client.SendRaw(Get(kKeep)), IsOk());
  ExpectKeep(client);
  EXPECT_THAT(client.Read(false, absl::Seconds(10)),
              StatusIs(absl::StatusCode::kUnavailable, "closed before a response"));
  ExpectStoreIntact();
}

// HttpServerOptions::max_connections at 2.
class ConnectionLimitTest : public BadInputTest {
 protected:
  void SetUp() override {
    GatewayStackOptions options;
    options.http.max_connections = 2;
    StartStack(options);
  }
};

TEST_F(ConnectionLimitTest, ThirdConnectionIsClosedWhileTheFirstTwoWork) {
  HttpClient first(port());
  HttpClient second(port());
  // Once answered, each connection has certainly been accepted and counted.
  ASSERT_THAT(first.SendRaw(Get(kKeep)), IsOk());
  ExpectKeep(first);
  ASSERT_THAT(second.SendRaw(Get(kKeep)), IsOk());
  ExpectKeep(second);

  HttpClient third(port());
  ASSERT_THAT(third.SendRaw(""), IsOk());
  const absl::Time start = absl::Now();
  EXPECT_TRUE(third.ServerClosed(absl::Seconds(5)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2)) << "not closed promptly";

  // The first two connections (not new ones: SendRaw does not reconnect an
  // open socket) still work.
  ASSERT_THAT(first.SendRaw(Get(kKeep)), IsOk());
  ExpectKeep(first);
  ASSERT_THAT(second.SendRaw(Get(kKeep)), IsOk());
  ExpectKeep(second);
}

}  // namespace
}  // namespace etagd
