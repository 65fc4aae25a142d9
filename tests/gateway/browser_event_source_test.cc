// A real EventSource (Debian's headless Chromium) on GET /v1/watch: a page
// receives the changes another client makes, the server ends the stream,
// the browser reconnects by itself with Last-Event-ID (WHATWG HTML §9.2.3,
// §9.2.4), and the page has seen every change exactly once.
//
// Chromium runs in the background for the whole test; the page reports
// through console.log, which --enable-logging=stderr prints, and the test
// waits for those lines (bounded waits, no sleeps).
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/fake_feed.h"
#include "tests/testing/gateway_stack.h"
#include "tests/testing/http_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

constexpr char kChromium[] = "/usr/bin/chromium";

// Logs "OPEN" on each (re)connection, "CHANGE <id> <name>" per change
// event, "SEEN <names>" with every name seen so far, and "RETRY" when the
// connection drops (EventSource's error event; it then reconnects).
constexpr char kPage[] = R"html(<!DOCTYPE html>
<html><head><link rel="icon" href="data:,"><title>watch</title></head>
<body><script>
const seen = [];
const source = new EventSource('/v1/watch?prefix=feed/');
source.onopen = () => console.log('OPEN');
source.onerror = () => console.log('RETRY');
source.addEventListener('change', (e) => {
  const change = JSON.parse(e.data);
  seen.push(change.resource.name);
  console.log('CHANGE ' + e.lastEventId + ' ' + change.resource.name);
  console.log('SEEN ' + seen.join(','));
});
source.addEventListener('watch_error', (e) => {
  console.log('WATCH_ERROR ' + e.data);
  source.close();
});
</script></body></html>
)html";

class BrowserEventSourceTest : public testing::Test {
 protected:
  void SetUp() override {
    if (access(kChromium, X_OK) != 0) {
      GTEST_SKIP() << kChromium << " is missing (apt-get install -y chromium)";
    }
    GatewayStackOptions options;
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

  // Another client's write: a PUT, and the feed told of it at the store's
  // revision (as the service's own feed will be).
  void Write(const std::string& name) {
    absl::StatusOr<HttpReply> put =
        client_->Send("PUT", "/v1/resources/" + name, {}, "content of " + name);
    ASSERT_THAT(put, IsOk());
    ASSERT_THAT(put->status, testing::AnyOf(201, 204));
    v1::GetResourceRequest get;
    get.set_name(name);
    absl::StatusOr<v1::GetResourceResponse> current = stack_->server().core().Get(get);
    ASSERT_THAT(current, IsOk());
    feed_.Change(name, false, current->resource().revision());
  }

  // Waits for the browser's next console line containing `text`.
  std::string Await(const std::string& text) {
    absl::StatusOr<std::string> line =
        chromium_->WaitForStderrLine(text, absl::Seconds(20));
    EXPECT_THAT(line, IsOk()) << "waiting for " << text;
    return line.ok() ? *line : "";
  }

  FakeFeed feed_;
  std::unique_ptr<GatewayStack> stack_;
  std::unique_ptr<HttpClient> client_;
  std::unique_ptr<Subprocess> chromium_;
};

TEST_F(BrowserEventSourceTest, PageSeesEveryChangeOnceAcrossAServerDrop) {
  absl::StatusOr<HttpReply> page = client_->Send(
      "PUT", "/v1/resources/page", {{"Content-Type", "text/html"}}, kPage);
  ASSERT_THAT(page, IsOk());
  ASSERT_EQ(page->status, 201);
  absl::StatusOr<std::unique_ptr<Subprocess>> chromium = Subprocess::Start(
      kChromium,
      {"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
       "--no-first-run", "--disable-background-networking",
       "--disable-component-update", "--disable-sync", "--enable-logging=stderr",
       absl::StrCat("--user-data-dir=", TestPath("chromium-profile")),
       // Keeps the browser running (and the page open) until it is killed.
       "--remote-debugging-port=0",
       absl::StrCat("http://127.0.0.1:", stack_->http_port(), "/v1/resources/page")});
  ASSERT_THAT(chromium, IsOk());
  chromium_ = *std::move(chromium);
  Await("\"OPEN\"");

  std::vector<std::string> expected;
  for (int i = 1; i <= 3; ++i) {
    const std::string name = absl::StrCat("feed/", i);
    Write(name);
    expected.push_back(name);
    Await(absl::StrCat(" ", name, "\""));
  }

  // The server ends the stream (a replica going away); while the browser
  // waits to reconnect, more changes happen.
  feed_.EndAll(absl::UnavailableError("going away"));
  Await("\"RETRY\"");
  for (int i = 4; i <= 6; ++i) {
    const std::string name = absl::StrCat("feed/", i);
    Write(name);
    expected.push_back(name);
  }
  Await("\"OPEN\"");
  Write("feed/7");
  expected.push_back("feed/7");
  const std::string last = Await("CHANGE ");
  std::string seen;
  do {
    seen = Await("SEEN ");
  } while (!absl::StrContains(seen, "feed/7") && !seen.empty());
  EXPECT_THAT(seen, testing::HasSubstr(absl::StrCat("SEEN ", absl::StrJoin(expected, ","),
                                                    "\"")))
      << "every change once, in order; stderr:\n"
      << chromium_->stderr_text();
}

}  // namespace
}  // namespace etagd
