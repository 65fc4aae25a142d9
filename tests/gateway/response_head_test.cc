#include "gateway/response_head.h"

#include <ostream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "boost/beast/http/write.hpp"
#include "gtest/gtest.h"

namespace etagd {
namespace {

namespace http = ::boost::beast::http;

struct HeadCase {
  // What the case pins down.
  std::string rule;
  unsigned version;
  unsigned status;
  std::string reason;  // Empty: the status's usual one.
  std::vector<std::pair<std::string, std::string>> fields;
  std::string body;
};

std::ostream& operator<<(std::ostream& os, const HeadCase& c) {
  return os << c.rule;
}

HttpResponse Build(const HeadCase& c) {
  HttpResponse response;
  response.version(c.version);
  response.result(c.status);
  if (!c.reason.empty()) response.reason(c.reason);
  for (const auto& [name, value] : c.fields) response.insert(name, value);
  response.body() = c.body;
  return response;
}

// What Beast's serializer writes for the message: the reference.
std::string BeastBytes(const HttpResponse& response) {
  std::ostringstream out;
  out << response;
  return out.str();
}

class ResponseHeadTest : public testing::TestWithParam<HeadCase> {};

TEST_P(ResponseHeadTest, WritesWhatBeastsSerializerWrites) {
  const HttpResponse response = Build(GetParam());
  std::string ours;
  AppendResponseHead(response, &ours);
  ours += response.body();
  EXPECT_EQ(ours, BeastBytes(response));
}

TEST_P(ResponseHeadTest, AppendsToWhatIsThere) {
  const HttpResponse response = Build(GetParam());
  std::string alone;
  AppendResponseHead(response, &alone);
  std::string after = "previous";
  AppendResponseHead(response, &after);
  EXPECT_EQ(after, "previous" + alone);
}

INSTANTIATE_TEST_SUITE_P(
    Responses, ResponseHeadTest,
    testing::Values(
        HeadCase{"RFC 9112 §4: a 200 with fields and content", 11, 200, "",
                 {{"Date", "Sun, 06 Nov 1994 08:49:37 GMT"},
                  {"Server", "etagd"},
                  {"ETag", "\"abc\""},
                  {"Content-Length", "5"}},
                 "hello"},
        HeadCase{"§4: HTTP/1.0 in the status line", 10, 200, "",
                 {{"Connection", "keep-alive"}, {"Content-Length", "0"}}, ""},
        HeadCase{"a 304 has no content", 11, 304, "",
                 {{"ETag", "\"abc\""}, {"Cache-Control", "no-cache"}}, ""},
        HeadCase{"a 204 has no fields at all", 11, 204, "", {}, ""},
        HeadCase{"a reason set on the message wins", 11, 200, "Fine",
                 {{"Content-Length", "0"}}, ""},
        HeadCase{"an unknown status keeps its code", 11, 599, "",
                 {{"Content-Length", "0"}}, ""},
        HeadCase{"fields keep their order and repeats", 11, 200, "",
                 {{"Vary", "Origin"},
                  {"X-Custom", "one"},
                  {"Vary", "Accept"},
                  {"X-Custom", ""}},
                 ""},
        HeadCase{"a field name keeps its case", 11, 201, "",
                 {{"x-lower", "v"}, {"Location", "/v1/resources/a%20b"}}, ""},
        HeadCase{"§15.5: a 4xx with a JSON body", 11, 412, "",
                 {{"Content-Type", "application/json"}, {"Content-Length", "2"}},
                 "{}"},
        HeadCase{"Connection: close", 11, 503, "",
                 {{"Retry-After", "1"}, {"Connection", "close"}}, "x"}));

TEST(ResponseHeadTest, WritesTheFieldsBeastSetsByEnum) {
  HttpResponse response(http::status::not_modified, 11);
  response.set(http::field::etag, "\"v1\"");
  response.set(http::field::date, "Sun, 06 Nov 1994 08:49:37 GMT");
  response.keep_alive(false);
  std::string ours;
  AppendResponseHead(response, &ours);
  EXPECT_EQ(ours,
            "HTTP/1.1 304 Not Modified\r\n"
            "ETag: \"v1\"\r\n"
            "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Connection: close\r\n"
            "\r\n");
  EXPECT_EQ(ours, BeastBytes(response));
}

}  // namespace
}  // namespace etagd
