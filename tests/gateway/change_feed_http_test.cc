// The gateway's change feeds over real sockets: long-poll conditional GETs
// (If-None-Match with Prefer: wait, RFC 7240) and Server-Sent Events
// (GET /v1/watch, WHATWG HTML §9.2), on etagd's in-process stack with a
// change feed the test controls (tests/testing/fake_feed.h).
#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/blocking_store.h"
#include "tests/testing/fake_feed.h"
#include "tests/testing/gateway_stack.h"
#include "tests/testing/http_client.h"
#include "tests/testing/sse_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;
using ::testing::HasSubstr;
using Headers = std::vector<std::pair<std::string, std::string>>;

class ChangeFeedHttpTest : public testing::Test {
 protected:
  void Start(GatewayStackOptions options = {}) {
    options.backend = GatewayBackendKind::kLocal;
    options.watches = [this](const v1::WatchRequest& request) {
      return feed_.Watch(request);
    };
    absl::StatusOr<std::unique_ptr<GatewayStack>> stack =
        GatewayStack::Start(TestPath("db"), std::move(options));
    ASSERT_THAT(stack, IsOk());
    stack_ = *std::move(stack);
    client_ = std::make_unique<HttpClient>(stack_->http_port());
  }

  HttpReply Send(const std::string& method, const std::string& target,
                 const Headers& headers = {}, const std::string& body = "") {
    absl::StatusOr<HttpReply> reply = client_->Send(method, target, headers, body);
    EXPECT_THAT(reply, IsOk()) << method << " " << target;
    return reply.ok() ? *std::move(reply) : HttpReply{};
  }

  // PUTs `content` to `name` and tells the feed of the write, at the
  // store's revision, as the service's feed would. Returns the new ETag.
  std::string Write(const std::string& name, const std::string& content) {
    HttpReply put = Send("PUT", "/v1/resources/" + name, {}, content);
    EXPECT_THAT(put.status, testing::AnyOf(201, 204)) << put.body;
    v1::GetResourceRequest get;
    get.set_name(name);
    absl::StatusOr<v1::GetResourceResponse> current = stack_->server().core().Get(get);
    EXPECT_THAT(current, IsOk());
    if (current.ok()) feed_.Change(name, false, current->resource().revision());
    return put.Header("etag").value_or("");
  }

  // Sends a GET on a connection of its own, from another thread.
  struct Pending {
    std::thread thread;
    absl::StatusOr<HttpReply> reply = absl::UnknownError("no reply");
    absl::Duration took;
    absl::Notification done;
  };
  std::unique_ptr<Pending> SendLater(const std::string& method, const std::string& target,
                                     Headers headers) {
    auto pending = std::make_unique<Pending>();
    Pending* p = pending.get();
    const int port = stack_->http_port();
    p->thread = std::thread([p, port, method, target, headers] {
      HttpClient client(port);
      const absl::Time start = absl::Now();
      p->reply = client.Send(method, target, headers);
      p->took = absl::Now() - start;
      p->done.Notify();
    });
    return pending;
  }

  // Waits until the feed has `n` open watchers (a long-poll is held).
  void AwaitWatchers(int n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(10);
    while (feed_.open_watchers() != n && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    ASSERT_EQ(feed_.open_watchers(), n);
  }

  std::unique_ptr<SseClient> OpenStream(const std::string& target,
                                        SseClient::Options options = {}) {
    absl::StatusOr<std::unique_ptr<SseClient>> sse =
        SseClient::Open(stack_->http_port(), target, std::move(options));
    EXPECT_THAT(sse, IsOk());
    if (!sse.ok()) return nullptr;
    EXPECT_EQ((*sse)->status(), 200);
    // The first block is the reconnection time.
    absl::StatusOr<SseBlock> retry = (*sse)->Next();
    EXPECT_THAT(retry, IsOk());
    if (retry.ok()) {
      EXPECT_EQ(retry->retry, "1000");
    }
    return *std::move(sse);
  }

  // Declared first: the stack's watchers must go before the feed.
  FakeFeed feed_;
  std::unique_ptr<GatewayStack> stack_;
  std::unique_ptr<HttpClient> client_;
};

// ---- Long-poll: If-None-Match with Prefer: wait (RFC 7240 §4.3) ----------

// §4.3: the server may answer before the wait ends; a change does so, with
// the new version (200 and its ETag), and §3's Preference-Applied.
TEST_F(ChangeFeedHttpTest, LongPollAnswers200WithNewEtagWhenTheResourceChanges) {
  Start();
  const std::string etag = Write("doc", "one");
  auto pending = SendLater("GET", "/v1/resources/doc",
                           {{"If-None-Match", etag}, {"Prefer", "wait=20"}});
  AwaitWatchers(1);
  const std::string new_etag = Write("doc", "two");
  pending->thread.join();
  ASSERT_THAT(pending->reply, IsOk());
  EXPECT_EQ(pending->reply->status, 200);
  EXPECT_EQ(pending->reply->body, "two");
  EXPECT_EQ(pending->reply->Header("etag"), new_etag);
  EXPECT_NE(new_etag, etag);
  EXPECT_EQ(pending->reply->Header("preference-applied"), "wait=20");
  EXPECT_LT(pending->took, absl::Seconds(10));
  EXPECT_EQ(feed_.open_watchers(), 0) << "the watch ends with the wait";
}

// §4.3 and §3: nothing changed for N seconds: 304, as without the wait, and
// Preference-Applied says the wait was honoured.
TEST_F(ChangeFeedHttpTest, LongPollAnswers304AfterTheWaitWithPreferenceApplied) {
  Start();
  const std::string etag = Write("doc", "one");
  const absl::Time start = absl::Now();
  HttpReply reply = Send("GET", "/v1/resources/doc",
                         {{"If-None-Match", etag}, {"Prefer", "wait=1"}});
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(reply.status, 304);
  EXPECT_EQ(reply.Header("etag"), etag);
  EXPECT_EQ(reply.Header("preference-applied"), "wait=1");
  EXPECT_GE(took, absl::Milliseconds(950));
  EXPECT_LT(took, absl::Seconds(5));
}

// A progress notification says nothing changed: the poll stays held.
TEST_F(ChangeFeedHttpTest, LongPollIgnoresProgressNotifications) {
  Start();
  const std::string etag = Write("doc", "one");
  auto pending = SendLater("GET", "/v1/resources/doc",
                           {{"If-None-Match", etag}, {"Prefer", "wait=1"}});
  AwaitWatchers(1);
  feed_.Progress();
  pending->thread.join();
  ASSERT_THAT(pending->reply, IsOk());
  EXPECT_EQ(pending->reply->status, 304);
  EXPECT_GE(pending->took, absl::Milliseconds(950));
}

// RFC 9110 §13.1.2: a tag that no longer matches is answered at once (the
// client is behind, there is nothing to wait for), without
// Preference-Applied.
TEST_F(ChangeFeedHttpTest, LongPollWithStaleTagAnswersAtOnce) {
  Start();
  const std::string old_etag = Write("doc", "one");
  Write("doc", "two");
  const absl::Time start = absl::Now();
  HttpReply reply = Send("GET", "/v1/resources/doc",
                         {{"If-None-Match", old_etag}, {"Prefer", "wait=30"}});
  EXPECT_EQ(reply.status, 200);
  EXPECT_EQ(reply.body, "two");
  EXPECT_FALSE(reply.Has("preference-applied"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

// §4.3: the server may hold for less than asked: at most max_wait
// (--http_max_wait), and Preference-Applied tells what it applied.
TEST_F(ChangeFeedHttpTest, LongPollWaitIsCappedByTheServerMaximum) {
  GatewayStackOptions options;
  options.gateway.max_wait = absl::Seconds(1);
  Start(options);
  const std::string etag = Write("doc", "one");
  const absl::Time start = absl::Now();
  HttpReply reply = Send("GET", "/v1/resources/doc",
                         {{"If-None-Match", etag}, {"Prefer", "wait=3600"}});
  EXPECT_EQ(reply.status, 304);
  EXPECT_EQ(reply.Header("preference-applied"), "wait=1");
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

// HEAD long-polls as GET does (RFC 9110 §9.3.2), with no content.
TEST_F(ChangeFeedHttpTest, HeadLongPollAnswersTheNewEtagWithoutContent) {
  Start();
  const std::string etag = Write("doc", "one");
  auto pending = SendLater("HEAD", "/v1/resources/doc",
                           {{"If-None-Match", etag}, {"Prefer", "wait=20"}});
  AwaitWatchers(1);
  const std::string new_etag = Write("doc", "two!");
  pending->thread.join();
  ASSERT_THAT(pending->reply, IsOk());
  EXPECT_EQ(pending->reply->status, 200);
  EXPECT_EQ(pending->reply->Header("etag"), new_etag);
  EXPECT_EQ(pending->reply->Header("content-length"), "4");
}

// RFC 9110 §14.2: the answer after the wait is a GET's, Range included.
TEST_F(ChangeFeedHttpTest, LongPollAnswerHonoursRange) {
  Start();
  const std::string etag = Write("doc", "one");
  auto pending = SendLater("GET", "/v1/resources/doc",
                           {{"If-None-Match", etag},
                            {"Prefer", "wait=20"},
                            {"Range", "bytes=0-2"}});
  AwaitWatchers(1);
  Write("doc", "twelve bytes");
  pending->thread.join();
  ASSERT_THAT(pending->reply, IsOk());
  EXPECT_EQ(pending->reply->status, 206);
  EXPECT_EQ(pending->reply->body, "twe");
  EXPECT_EQ(pending->reply->Header("content-range"), "bytes 0-2/12");
}

// Held polls and open streams take no I/O thread: with one, other
// requests are still answered at once.
TEST_F(ChangeFeedHttpTest, HeldRequestsDoNotBlockTheIoThread) {
  GatewayStackOptions options;
  options.http.io_threads = 1;
  Start(options);
  const std::string etag = Write("doc", "one");
  std::vector<std::unique_ptr<Pending>> polls;
  for (int i = 0; i < 3; ++i) {
    polls.push_back(SendLater("GET", "/v1/resources/doc",
                              {{"If-None-Match", etag}, {"Prefer", "wait=2"}}));
  }
  std::unique_ptr<SseClient> sse = OpenStream("/v1/watch");
  ASSERT_NE(sse, nullptr);
  AwaitWatchers(4);
  const absl::Time start = absl::Now();
  HttpReply health = Send("GET", "/healthz");
  EXPECT_EQ(health.status, 200);
  HttpReply read = Send("GET", "/v1/resources/doc");
  EXPECT_EQ(read.status, 200);
  // Blocked, they would wait for the polls' 2 s.
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(1500));
  for (auto& poll : polls) {
    poll->thread.join();
    ASSERT_THAT(poll->reply, IsOk());
    EXPECT_EQ(poll->reply->status, 304);
  }
}

// The read that answers a long-poll after its wait runs off the timer
// thread: while one such read is slow (the etcd engine's round trip, a large
// compression), another long-poll's wait still ends on time.
TEST_F(ChangeFeedHttpTest, ASlowReReadDoesNotHoldUpOtherLongPolls) {
  BlockingStore* blocking = nullptr;
  GatewayStackOptions options;
  options.wrap_store = [&blocking](std::unique_ptr<Store> store) {
    auto wrapped = std::make_unique<BlockingStore>(std::move(store));
    blocking = wrapped.get();
    return std::unique_ptr<Store>(std::move(wrapped));
  };
  Start(options);
  const std::string slow = Write("slow", "one");
  const std::string doc = Write("doc", "one");
  std::unique_ptr<Pending> stuck = SendLater(
      "GET", "/v1/resources/slow", {{"If-None-Match", slow}, {"Prefer", "wait=1"}});
  AwaitWatchers(1);
  blocking->Arm();  // Its read after the wait blocks.
  std::unique_ptr<Pending> other = SendLater(
      "GET", "/v1/resources/doc", {{"If-None-Match", doc}, {"Prefer", "wait=2"}});
  ASSERT_TRUE(blocking->entered().WaitForNotificationWithTimeout(absl::Seconds(10)));
  const bool answered = other->done.WaitForNotificationWithTimeout(absl::Seconds(10));
  blocking->release().Notify();
  stuck->thread.join();
  other->thread.join();
  EXPECT_TRUE(answered) << "the other long-poll waited for the slow read";
  ASSERT_THAT(other->reply, IsOk());
  EXPECT_EQ(other->reply->status, 304);
  ASSERT_THAT(stuck->reply, IsOk());
  EXPECT_EQ(stuck->reply->status, 304);
}

// Without Prefer a conditional GET is answered at once, as before.
TEST_F(ChangeFeedHttpTest, ConditionalGetWithoutPreferIsNotHeld) {
  Start();
  const std::string etag = Write("doc", "one");
  HttpReply reply = Send("GET", "/v1/resources/doc", {{"If-None-Match", etag}});
  EXPECT_EQ(reply.status, 304);
  EXPECT_FALSE(reply.Has("preference-applied"));
  EXPECT_EQ(feed_.open_watchers(), 0);
}

// Draining (shutdown) answers held polls now rather than at their end.
TEST_F(ChangeFeedHttpTest, DrainAnswersHeldLongPollsAtOnce) {
  Start();
  const std::string etag = Write("doc", "one");
  auto pending = SendLater("GET", "/v1/resources/doc",
                           {{"If-None-Match", etag}, {"Prefer", "wait=60"}});
  AwaitWatchers(1);
  stack_->gateway().Drain();
  pending->thread.join();
  ASSERT_THAT(pending->reply, IsOk());
  EXPECT_EQ(pending->reply->status, 304);
  EXPECT_LT(pending->took, absl::Seconds(10));
}

// ---- Server-Sent Events: GET /v1/watch (WHATWG HTML §9.2) -----------------

// §9.2.2: text/event-stream; the head goes out before any change, with
// nothing a cache or nginx would hold back.
TEST_F(ChangeFeedHttpTest, EventStreamHeadIsSentAtOnce) {
  Start();
  std::unique_ptr<SseClient> sse = OpenStream("/v1/watch?prefix=a/");
  ASSERT_NE(sse, nullptr);
  EXPECT_EQ(sse->Header("content-type"), "text/event-stream");
  EXPECT_EQ(sse->Header("cache-control"), "no-store");
  EXPECT_EQ(sse->Header("x-accel-buffering"), "no");
  EXPECT_EQ(sse->Header("transfer-encoding"), "chunked");
  EXPECT_FALSE(sse->Header("content-length").has_value());
}

// One `change` event per change under the prefix, `id:` its revision.
TEST_F(ChangeFeedHttpTest, EventStreamSendsOneChangeEventPerChangeWithRevisionId) {
  Start();
  std::unique_ptr<SseClient> sse = OpenStream("/v1/watch?prefix=a/");
  ASSERT_NE(sse, nullptr);
  const int64_t first = feed_.Change("a/1");
  feed_.Change("b/1");
  const int64_t third = feed_.Change("a/2", /*deleted=*/true);
  absl::StatusOr<SseBlock> one = sse->Next();
  ASSERT_THAT(one, IsOk());
  EXPECT_EQ(one->event, "change");
  EXPECT_EQ(one->id, absl::StrCat(first));
  EXPECT_THAT(one->data, HasSubstr("\"name\":\"a/1\""));
  absl::StatusOr<SseBlock> two = sse->Next();
  ASSERT_THAT(two, IsOk());
  EXPECT_EQ(two->id, absl::StrCat(third));
  EXPECT_THAT(two->data, HasSubstr("\"name\":\"a/2\""));
  EXPECT_THAT(two->data, HasSubstr("\"deleted\":true"));
}

// §9.2.4: a reconnecting EventSource sends Last-Event-ID; the stream
// resumes right after that revision: no gap, no repeat.
TEST_F(ChangeFeedHttpTest, LastEventIdResumesAfterThatRevision) {
  Start();
  for (int i = 1; i <= 5; ++i) feed_.Change(absl::StrCat("a/", i));
  SseClient::Options options;
  options.headers = {{"Last-Event-ID", "3"}};
  std::unique_ptr<SseClient> sse = OpenStream("/v1/watch?prefix=a/", options);
  ASSERT_NE(sse, nullptr);
  absl::StatusOr<SseBlock> four = sse->Next();
  ASSERT_THAT(four, IsOk());
  EXPECT_EQ(four->id, "4");
  absl::StatusOr<SseBlock> five = sse->Next();
  ASSERT_THAT(five, IsOk());
  EXPECT_EQ(five->id, "5");
}

// start_revision in the URL starts there (inclusive), for clients other
// than EventSource.
TEST_F(ChangeFeedHttpTest, StartRevisionParameterStartsThere) {
  Start();
  for (int i = 1; i <= 3; ++i) feed_.Change(absl::StrCat("a/", i));
  std::unique_ptr<SseClient> sse = OpenStream("/v1/watch?prefix=a/&start_revision=2");
  ASSERT_NE(sse, nullptr);
  absl::StatusOr<SseBlock> two = sse->Next();
  ASSERT_THAT(two, IsOk());
  EXPECT_EQ(two->id, "2");
}

// §9.2.6: an id without data sets the last event ID and dispatches
// nothing: progress moves the resume point past changes of other names.
TEST_F(ChangeFeedHttpTest, ProgressIsAnIdWithoutEvent) {
  Start();
  std::unique_ptr<SseClient> sse = OpenStream("/v1/watch?prefix=a/");
  ASSERT_NE(sse, nullptr);
  const int64_t other = feed_.Change("b/1");
  feed_.Progress();
  absl::StatusOr<SseBlock> progress = sse->Next();
  ASSERT_THAT(progress, IsOk());
  EXPECT_EQ(progress->id, absl::StrCat(other));
  EXPECT_EQ(progress->event, "");
  EXPECT_EQ(progress->data, "");
}

// §9.2.5: a comment line keeps the connection visibly alive while nothing
// changes (every sse_heartbeat; 15 s by default).
TEST_F(ChangeFeedHttpTest, IdleEventStreamSendsHeartbeatComments) {
  GatewayStackOptions options;
  options.gateway.sse_heartbeat = absl::Milliseconds(200);
  Start(options);
  std::unique_ptr<SseClient> sse = OpenStream("/v1/watch");
  ASSERT_NE(sse, nullptr);
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<SseBlock> beat = sse->Next(absl::Seconds(5));
    ASSERT_THAT(beat, IsOk());
    EXPECT_EQ(beat->comment, "heartbeat");
  }
}

// A resume point the server no longer keeps is said in the stream (an
// EventSource cannot see a non-200 status), then the stream ends.
TEST_F(ChangeFeedHttpTest, TooOldResumePointIsAnErrorEventThenTheEnd) {
  Start();
  for (int i = 1; i <= 10; ++i) feed_.Change(absl::StrCat("a/", i));
  feed_.Compact(8);
  SseClient::Options options;
  options.headers = {{"Last-Event-ID", "2"}};
  std::unique_ptr<SseClient> sse = OpenStream("/v1/watch?prefix=a/", options);
  ASSERT_NE(sse, nullptr);
  absl::StatusOr<SseBlock> error = sse->Next();
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->event, "watch_error");
  EXPECT_THAT(error->data, HasSubstr("\"status\": \"OUT_OF_RANGE\""));
  EXPECT_THAT(error->data, HasSubstr("\"oldest_revision\": 8"));
  EXPECT_THAT(error->data, HasSubstr("\"current_revision\": 10"));
  EXPECT_TRUE(sse->EndsWithin(absl::Seconds(5)));
  EXPECT_TRUE(sse->saw_last_chunk());
}

// A Last-Event-ID that is not one of ours cannot be resumed from safely.
TEST_F(ChangeFeedHttpTest, ForeignLastEventIdIsAnErrorEvent) {
  Start();
  SseClient::Options options;
  options.headers = {{"Last-Event-ID", "abc"}};
  std::unique_ptr<SseClient> sse = OpenStream("/v1/watch", options);
  ASSERT_NE(sse, nullptr);
  absl::StatusOr<SseBlock> error = sse->Next();
  ASSERT_THAT(error, IsOk());
  EXPECT_EQ(error->event, "watch_error");
  EXPECT_THAT(error->data, HasSubstr("INVALID_ARGUMENT"));
}

// A server going away ends the stream with no error event, so EventSource
// reconnects by itself (to another replica, or this one restarted).
TEST_F(ChangeFeedHttpTest, FeedGoingAwayEndsTheStreamQuietly) {
  Start();
  std::unique_ptr<SseClient> sse = OpenStream("/v1/watch");
  ASSERT_NE(sse, nullptr);
  AwaitWatchers(1);
  feed_.EndAll(absl::UnavailableError("shutting down"));
  absl::StatusOr<SseBlock> next = sse->Next();
  EXPECT_TRUE(absl::IsOutOfRange(next.status())) << next.status() << " " << next->event;
}

// CORS (--cors_allowed_origins) applies to streams as to every response.
TEST_F(ChangeFeedHttpTest, EventStreamCarriesCorsHeadersForAllowedOrigins) {
  GatewayStackOptions options;
  options.gateway.cors_allowed_origins = {"http://app.example"};
  Start(options);
  SseClient::Options sse_options;
  sse_options.headers = {{"Origin", "http://app.example"}};
  std::unique_ptr<SseClient> sse = OpenStream("/v1/watch", sse_options);
  ASSERT_NE(sse, nullptr);
  EXPECT_EQ(sse->Header("access-control-allow-origin"), "http://app.example");
}

// HTTP/1.0 has no chunked coding (RFC 9112 §7.1): the body is delimited by
// the close (§6.3), and still streams.
TEST_F(ChangeFeedHttpTest, Http10EventStreamIsDelimitedByTheClose) {
  Start();
  SseClient::Options options;
  options.http10 = true;
  std::unique_ptr<SseClient> sse = OpenStream("/v1/watch", options);
  ASSERT_NE(sse, nullptr);
  EXPECT_FALSE(sse->Header("transfer-encoding").has_value());
  feed_.Change("x");
  absl::StatusOr<SseBlock> change = sse->Next();
  ASSERT_THAT(change, IsOk());
  EXPECT_EQ(change->event, "change");
}

// The request timeout bounds each write, not the stream: a healthy stream
// outlives it.
TEST_F(ChangeFeedHttpTest, HealthyStreamOutlivesTheRequestTimeout) {
  GatewayStackOptions options;
  options.http.request_timeout = absl::Milliseconds(500);
  options.gateway.sse_heartbeat = absl::Milliseconds(100);
  Start(options);
  std::unique_ptr<SseClient> sse = OpenStream("/v1/watch");
  ASSERT_NE(sse, nullptr);
  const absl::Time until = absl::Now() + absl::Milliseconds(1500);
  while (absl::Now() < until) ASSERT_THAT(sse->Next(absl::Seconds(2)), IsOk());
  feed_.Change("late");
  absl::StatusOr<SseBlock> change;
  do {
    change = sse->Next(absl::Seconds(2));
    ASSERT_THAT(change, IsOk());
  } while (change->event != "change");
}

// A client that stops reading: the server pulls no more changes than fit
// in the sockets' buffers (the rest stays in the feed), and once a write
// makes no progress for the request timeout the connection closes and the
// watch is released.
TEST_F(ChangeFeedHttpTest, StalledReaderHoldsBackTheFeedThenIsClosed) {
  GatewayStackOptions options;
  options.http.request_timeout = absl::Seconds(1);
  Start(options);
  SseClient::Options sse_options;
  sse_options.receive_buffer_bytes = 4096;
  std::unique_ptr<SseClient> sse = OpenStream("/v1/watch", sse_options);
  ASSERT_NE(sse, nullptr);
  AwaitWatchers(1);
  // Each event is about 1.1 KB on the wire: 20,000 are 22 MB, far more
  // than loopback's socket buffers.
  const std::string padding(900, 'x');
  constexpr int kChanges = 20000;
  for (int i = 0; i < kChanges; ++i) feed_.Change(absl::StrCat(padding, i));
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  while (feed_.open_watchers() > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  EXPECT_EQ(feed_.open_watchers(), 0) << "the stalled stream must be closed";
  EXPECT_LT(feed_.delivered(), kChanges / 4)
      << "the server pulled changes the client did not take";
}

// Shutdown ends streams within its grace period, not at their end (never).
TEST_F(ChangeFeedHttpTest, ShutdownClosesEventStreamsWithinTheDrainDeadline) {
  Start();
  std::vector<std::unique_ptr<SseClient>> streams;
  for (int i = 0; i < 3; ++i) {
    streams.push_back(OpenStream("/v1/watch"));
    ASSERT_NE(streams.back(), nullptr);
  }
  AwaitWatchers(3);
  const absl::Time start = absl::Now();
  stack_->gateway().Drain();
  stack_->http().Shutdown(absl::Seconds(2));
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));
  for (auto& sse : streams) EXPECT_TRUE(sse->EndsWithin(absl::Seconds(1)));
}

// Without a drain, the grace period still bounds a stream.
TEST_F(ChangeFeedHttpTest, ShutdownWithoutDrainStillClosesStreams) {
  Start();
  std::unique_ptr<SseClient> sse = OpenStream("/v1/watch");
  ASSERT_NE(sse, nullptr);
  AwaitWatchers(1);
  const absl::Time start = absl::Now();
  stack_->http().Shutdown(absl::Seconds(1));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_TRUE(sse->EndsWithin(absl::Seconds(1)));
}

}  // namespace
}  // namespace etagd
