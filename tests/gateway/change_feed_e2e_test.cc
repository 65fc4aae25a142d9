// Long-polls and Server-Sent Events over the real change feed: an etagd
// stack over RocksDB (tests/testing/gateway_stack.h), with the gateway on
// gRPC (etagd-gateway's Watch client) and in process (etagd's own
// gateway), each write made by another HTTP client.
#include <sys/socket.h>
#include <sys/time.h>

#include <string>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/write.hpp"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/gateway_stack.h"
#include "tests/testing/http_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

using ::testing::HasSubstr;

// Reads a response as it streams, over a plain socket.
class StreamReader {
 public:
  StreamReader(int port, const std::string& request) : socket_(ioc_) {
    socket_.connect({boost::asio::ip::make_address("127.0.0.1"),
                     static_cast<unsigned short>(port)});
    struct timeval timeout = {0, 200 * 1000};
    setsockopt(socket_.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &timeout,
               sizeof timeout);
    boost::asio::write(socket_, boost::asio::buffer(request));
  }

  // Reads until what arrived contains `text` or `timeout` passes; returns
  // everything read so far.
  std::string ReadUntil(const std::string& text, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    char buffer[4096];
    while (!absl::StrContains(received_, text) && absl::Now() < deadline) {
      const ssize_t n = recv(socket_.native_handle(), buffer, sizeof buffer, 0);
      if (n > 0) received_.append(buffer, static_cast<size_t>(n));
      if (n == 0) break;
    }
    return received_;
  }

 private:
  boost::asio::io_context ioc_;
  boost::asio::ip::tcp::socket socket_;
  std::string received_;
};

class ChangeFeedEndToEndTest : public testing::TestWithParam<GatewayBackendKind> {
 protected:
  void SetUp() override {
    GatewayStackOptions options;
    options.backend = GetParam();
    absl::StatusOr<std::unique_ptr<GatewayStack>> stack =
        GatewayStack::Start(TestPath("db"), options);
    ASSERT_THAT(stack, IsOk());
    stack_ = *std::move(stack);
  }

  HttpReply Put(const std::string& name, const std::string& content) {
    HttpClient writer(stack_->http_port());
    absl::StatusOr<HttpReply> reply =
        writer.Send("PUT", "/v1/resources/" + name, {}, content);
    EXPECT_THAT(reply, IsOk());
    return reply.ok() ? *reply : HttpReply{};
  }

  std::unique_ptr<GatewayStack> stack_;
};

// RFC 7240 §4.3 with If-None-Match: a change ends the wait with the new
// version.
TEST_P(ChangeFeedEndToEndTest, ALongPollAnswersTheNextWriteWith200) {
  HttpReply first = Put("doc", "one");
  ASSERT_EQ(first.status, 201);
  const std::string etag = first.Header("etag").value_or("");
  std::thread writer([&] {
    absl::SleepFor(absl::Milliseconds(500));
    Put("doc", "two");
  });
  HttpClient poller(stack_->http_port());
  const absl::Time start = absl::Now();
  absl::StatusOr<HttpReply> reply = poller.Send(
      "GET", "/v1/resources/doc", {{"If-None-Match", etag}, {"Prefer", "wait=20"}});
  const absl::Duration waited = absl::Now() - start;
  writer.join();
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->status, 200);
  EXPECT_EQ(reply->body, "two");
  EXPECT_NE(reply->Header("etag"), etag);
  EXPECT_EQ(reply->Header("preference-applied"), "wait=20");
  EXPECT_LT(waited, absl::Seconds(10));
}

TEST_P(ChangeFeedEndToEndTest, ALongPollWithoutAChangeIs304AfterTheWait) {
  HttpReply first = Put("doc", "one");
  ASSERT_EQ(first.status, 201);
  Put("other", "x");  // Another name's change does not end the wait.
  HttpClient poller(stack_->http_port());
  const absl::Time start = absl::Now();
  absl::StatusOr<HttpReply> reply =
      poller.Send("GET", "/v1/resources/doc",
                  {{"If-None-Match", first.Header("etag").value_or("")},
                   {"Prefer", "wait=1"}});
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->status, 304);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(900));
}

// WHATWG HTML §9.2: one event per change, its id the revision.
TEST_P(ChangeFeedEndToEndTest, AnEventStreamDeliversWritesByAnotherClient) {
  ASSERT_EQ(Put("before", "x").status, 201);
  StreamReader stream(stack_->http_port(),
                      "GET /v1/watch?prefix=feed/ HTTP/1.1\r\nHost: localhost\r\n\r\n");
  ASSERT_THAT(stream.ReadUntil("\r\n\r\n", absl::Seconds(10)),
              HasSubstr("text/event-stream"));
  // Watching "from now" starts once the feed's first progress (an id:
  // line, the revision the watch starts after) is out: a write before
  // that may precede the watch.
  ASSERT_THAT(stream.ReadUntil("id: ", absl::Seconds(10)), HasSubstr("id: "));
  HttpReply put = Put("feed/a", "hello");
  ASSERT_EQ(put.status, 201);
  Put("elsewhere", "not watched");
  HttpReply second = Put("feed/b", "again");
  ASSERT_EQ(second.status, 201);
  const std::string received = stream.ReadUntil("feed/b", absl::Seconds(10));
  EXPECT_THAT(received, HasSubstr("event: change"));
  EXPECT_THAT(received, HasSubstr("feed/a"));
  EXPECT_THAT(received, HasSubstr("feed/b"));
  EXPECT_THAT(received, ::testing::Not(HasSubstr("elsewhere")));
}

// §9.2.4: an EventSource that reconnects before any change resumes from
// the id it last saw; on an empty store that is "0", sent at once, so the
// first write after the stream opened is not skipped.
TEST_P(ChangeFeedEndToEndTest, OnAnEmptyStoreTheFirstIdIsZeroAndComesAtOnce) {
  StreamReader stream(stack_->http_port(),
                      "GET /v1/watch?prefix=feed/ HTTP/1.1\r\nHost: localhost\r\n\r\n");
  EXPECT_THAT(stream.ReadUntil("id: 0\n", absl::Seconds(5)), HasSubstr("id: 0\n"));
}

// §9.2.4: Last-Event-ID resumes after the event it names.
TEST_P(ChangeFeedEndToEndTest, LastEventIdResumesAfterThatRevision) {
  HttpReply a = Put("feed/a", "1");
  HttpReply b = Put("feed/b", "2");
  ASSERT_EQ(b.status, 201);
  // The revision of feed/a is what an EventSource that saw it would send.
  HttpClient reader(stack_->http_port());
  absl::StatusOr<HttpReply> history = reader.Send("GET", "/v1/history/feed/a");
  ASSERT_THAT(history, IsOk());
  const std::string marker = "\"revision\":\"";
  const size_t at = history->body.find(marker);
  ASSERT_NE(at, std::string::npos) << history->body;
  const std::string revision =
      history->body.substr(at + marker.size(),
                           history->body.find('"', at + marker.size()) - at - marker.size());
  StreamReader stream(stack_->http_port(),
                      absl::StrCat("GET /v1/watch?prefix=feed/ HTTP/1.1\r\nHost: localhost\r\n"
                                   "Last-Event-ID: ", revision, "\r\n\r\n"));
  const std::string received = stream.ReadUntil("feed/b", absl::Seconds(10));
  EXPECT_THAT(received, HasSubstr("feed/b"));
  EXPECT_THAT(received, ::testing::Not(HasSubstr("\"feed/a\"")));
}

INSTANTIATE_TEST_SUITE_P(Backends, ChangeFeedEndToEndTest,
                         testing::Values(GatewayBackendKind::kGrpc,
                                         GatewayBackendKind::kLocal),
                         [](const testing::TestParamInfo<GatewayBackendKind>& info) {
                           return info.param == GatewayBackendKind::kGrpc ? "OverGrpc"
                                                                          : "InProcess";
                         });

}  // namespace
}  // namespace etagd
