// Browser interop of the HTTP gateway: a real headless Chromium (Debian's
// chromium package) loads pages the gateway serves and runs their scripts
// against it, so conditional requests (RFC 9110 §13) and CORS are checked by
// the client they are meant for, not only by our own HTTP client.
//
// Each Chromium run is a subprocess with a bounded wait and a profile of its
// own under TEST_TMPDIR. --dump-dom prints the DOM once the page has loaded;
// with --virtual-time-budget it waits for that much virtual time, which does
// not advance while network fetches are pending, so a page's script has
// finished its fetch() calls when the DOM is printed.
#include <unistd.h>

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
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

using Headers = std::vector<std::pair<std::string, std::string>>;
// Prometheus samples by series ("name{labels}").
using Metrics = std::map<std::string, double>;

constexpr char kChromium[] = "/usr/bin/chromium";
// A run takes about a second; this only bounds one that hangs.
constexpr absl::Duration kChromiumTimeout = absl::Seconds(20);
// Virtual time for a page's script to run; real time is far shorter, since
// virtual time jumps ahead whenever nothing is pending.
constexpr char kScriptBudgetFlag[] = "--virtual-time-budget=10000";

// What one Chromium run printed.
struct ChromiumRun {
  // The DOM serialised by --dump-dom.
  std::string dom;
  // The page's console messages (CORS errors among them), for diagnostics.
  std::string console;
};

// The console lines of Chromium's stderr, without its D-Bus and other noise.
std::string ConsoleLines(const std::string& stderr_text) {
  std::vector<absl::string_view> lines;
  for (absl::string_view line : absl::StrSplit(stderr_text, '\n')) {
    if (absl::StrContains(line, ":CONSOLE")) lines.push_back(line);
  }
  return lines.empty() ? "(no console messages)" : absl::StrJoin(lines, "\n");
}

// Loads `url` in headless Chromium with the profile in `user_data_dir` (kept
// between runs given the same directory) and returns the DOM it dumps.
absl::StatusOr<ChromiumRun> RunChromium(
    const std::string& user_data_dir, const std::string& url,
    const std::vector<std::string>& extra_flags = {}) {
  std::vector<std::string> args = {
      "--headless",
      // Tests may run as root, where Chromium's sandbox refuses to start.
      "--no-sandbox",
      "--disable-gpu",
      // Nothing of Chromium's own may reach the servers, the network, or
      // race with the page.
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      // Console messages on stderr: they say why a fetch() failed.
      "--enable-logging=stderr",
      absl::StrCat("--user-data-dir=", user_data_dir),
  };
  args.insert(args.end(), extra_flags.begin(), extra_flags.end());
  args.push_back("--dump-dom");
  args.push_back(url);
  absl::StatusOr<CommandResult> result =
      RunCommand(kChromium, args, absl::nullopt, kChromiumTimeout);
  if (!result.ok()) return result.status();
  if (result->exit_code != 0) {
    return absl::InternalError(
        absl::StrCat(kChromium, " exited with ", result->exit_code,
                     "; stderr:\n", result->stderr_text));
  }
  return ChromiumRun{result->stdout_text, ConsoleLines(result->stderr_text)};
}

// The text of the first <p id="`id`"> element of a dumped DOM (which has no
// markup inside it), or "(no element)".
std::string ParagraphText(const std::string& dom, const std::string& id) {
  const std::string open = absl::StrCat("<p id=\"", id, "\">");
  const size_t start = dom.find(open);
  if (start == std::string::npos) return "(no element)";
  const size_t text = start + open.size();
  const size_t end = dom.find("</p>", text);
  if (end == std::string::npos) return "(no element)";
  return dom.substr(text, end - text);
}

Metrics ParseMetrics(const std::string& text) {
  Metrics metrics;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line.front() == '#') continue;
    const size_t space = line.rfind(' ');
    double value = 0;
    if (space == absl::string_view::npos ||
        !absl::SimpleAtod(line.substr(space + 1), &value)) {
      ADD_FAILURE() << "unparsable metrics line: " << line;
      continue;
    }
    metrics[std::string(line.substr(0, space))] = value;
  }
  return metrics;
}

// A series' value; a counter not yet incremented is absent, i.e. 0.
double Value(const Metrics& metrics, const std::string& series) {
  auto it = metrics.find(series);
  return it == metrics.end() ? 0 : it->second;
}

double Requests(const Metrics& metrics, absl::string_view method, int code) {
  return Value(metrics,
               absl::StrCat("etagd_http_requests_total{method=\"", method,
                            "\",code=\"", code, "\"}"));
}

class BrowserInteropTest : public testing::Test {
 protected:
  void SetUp() override {
    if (access(kChromium, X_OK) != 0) {
      GTEST_FAIL() << kChromium
                   << " is missing: this test drives a real headless "
                      "Chromium. Install the Debian package chromium "
                      "(apt-get install -y chromium).";
    }
  }

  static HttpReply Send(HttpClient& client, const std::string& method,
                        const std::string& target, const Headers& headers = {},
                        const std::string& body = "") {
    absl::StatusOr<HttpReply> reply =
        client.Send(method, target, headers, body);
    EXPECT_THAT(reply, IsOk()) << method << " " << target;
    return reply.ok() ? *std::move(reply) : HttpReply{};
  }

  // The server's metrics. A /metrics response is counted after it is
  // rendered, so each read adds one GET 200 to the next one.
  static Metrics ReadMetrics(HttpClient& client) {
    HttpReply reply = Send(client, "GET", "/metrics");
    EXPECT_EQ(reply.status, 200) << reply.body;
    return ParseMetrics(reply.body);
  }
};

// The favicon link keeps Chromium from asking for /favicon.ico, so the
// page's own requests are the only ones the server sees.
constexpr char kCachedPageText[] = "Served by etagd, revalidated by Chromium";
constexpr char kCachedPage[] =
    "<!DOCTYPE html>\n"
    "<html><head><link rel=\"icon\" href=\"data:,\"><title>cached</title>"
    "</head>\n"
    "<body><p id=\"greeting\">Served by etagd, revalidated by Chromium</p>"
    "</body></html>\n";

// RFC 9110 §13.1.2 and §15.4.5: the page is stored with its ETag, and
// Cache-Control: no-cache (the gateway's default) makes the next load
// revalidate it with If-None-Match, which the gateway answers 304.
TEST_F(BrowserInteropTest, SecondLoadRevalidatesCachedPageAndGets304) {
  absl::StatusOr<std::unique_ptr<GatewayStack>> stack =
      GatewayStack::Start(TestPath("db"));
  ASSERT_THAT(stack, IsOk());
  HttpClient client((*stack)->http_port());
  const std::string path = "/v1/resources/browser/cached-page";
  HttpReply put =
      Send(client, "PUT", path, {{"Content-Type", "text/html"}}, kCachedPage);
  ASSERT_EQ(put.status, 201) << put.body;
  const std::string url =
      absl::StrCat("http://127.0.0.1:", (*stack)->http_port(), path);
  const std::string profile = TestPath("chromium-profile");

  absl::StatusOr<ChromiumRun> first = RunChromium(profile, url);
  ASSERT_THAT(first, IsOk());
  EXPECT_THAT(first->dom, HasSubstr(kCachedPageText)) << first->console;
  const Metrics after_first = ReadMetrics(client);
  EXPECT_EQ(Requests(after_first, "GET", 200), 1)
      << "the first load fetches the page in full";
  EXPECT_EQ(Value(after_first, "etagd_http_not_modified_total"), 0);

  absl::StatusOr<ChromiumRun> second = RunChromium(profile, url);
  ASSERT_THAT(second, IsOk());
  EXPECT_THAT(second->dom, HasSubstr(kCachedPageText)) << second->console;
  const Metrics after_second = ReadMetrics(client);
  EXPECT_EQ(Requests(after_second, "GET", 304), 1)
      << "the second load must revalidate the cached page conditionally";
  EXPECT_EQ(Value(after_second, "etagd_http_not_modified_total"), 1);
  EXPECT_EQ(Requests(after_second, "GET", 200),
            Requests(after_first, "GET", 200) + 1)
      << "only the /metrics read: the page must not be fetched in full again";
}

// A page whose script fetch()es a compressible resource ({url}, same
// origin) from Chromium's HTTP cache, revalidating it, and shows what it got.
constexpr char kCompressedFetchPage[] = R"html(<!DOCTYPE html>
<html><head><link rel="icon" href="data:,"><title>compressed</title></head>
<body>
<p id="result">pending</p>
<p id="etag"></p>
<script>
(async () => {
  try {
    const got = await fetch('{url}');
    const text = await got.text();
    document.getElementById('etag').textContent = String(got.headers.get('ETag'));
    document.getElementById('result').textContent =
        got.status + ' ' + text.length + ' ' + text.startsWith('line 0 of text');
  } catch (e) {
    document.getElementById('result').textContent = 'ERROR ' + e.message;
  }
})();
</script>
</body></html>
)html";

// Chromium's fetch() asks for a coding (Accept-Encoding: gzip, deflate, and
// br where it offers it): it gets the coded representation with an ETag of
// its own (RFC 9110 §8.8.3), stores it, and on the next load revalidates
// with that tag, which the gateway answers 304 with the same tag.
TEST_F(BrowserInteropTest, FetchOfACompressedResourceRevalidatesWithItsCodedTag) {
  absl::StatusOr<std::unique_ptr<GatewayStack>> stack =
      GatewayStack::Start(TestPath("db"));
  ASSERT_THAT(stack, IsOk());
  HttpClient client((*stack)->http_port());
  std::string text;
  for (int i = 0; i < 400; ++i) absl::StrAppend(&text, "line ", i, " of text\n");
  const std::string data_path = "/v1/resources/browser/compressed.txt";
  HttpReply put = Send(client, "PUT", data_path, {{"Content-Type", "text/plain"}}, text);
  ASSERT_EQ(put.status, 201) << put.body;
  const std::string version_etag = *put.Header("etag");
  const std::string page_path = "/v1/resources/browser/compressed-page";
  HttpReply page = Send(client, "PUT", page_path, {{"Content-Type", "text/html"}},
                        absl::StrReplaceAll(kCompressedFetchPage, {{"{url}", data_path}}));
  ASSERT_EQ(page.status, 201) << page.body;
  const std::string url =
      absl::StrCat("http://127.0.0.1:", (*stack)->http_port(), page_path);
  const std::string profile = TestPath("chromium-profile");
  const std::string expected = absl::StrCat("200 ", text.size(), " true");

  absl::StatusOr<ChromiumRun> first = RunChromium(profile, url, {kScriptBudgetFlag});
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ(ParagraphText(first->dom, "result"), expected) << first->console;
  const std::string coded_etag = ParagraphText(first->dom, "etag");
  EXPECT_TRUE(coded_etag == absl::StrCat(version_etag.substr(0, version_etag.size() - 1),
                                         "-gzip\"") ||
              coded_etag == absl::StrCat(version_etag.substr(0, version_etag.size() - 1),
                                         "-br\""))
      << "Chromium got " << coded_etag << ", not a coded form of " << version_etag;
  const Metrics after_first = ReadMetrics(client);
  EXPECT_EQ(Requests(after_first, "GET", 200), 2) << "the page and the resource";

  absl::StatusOr<ChromiumRun> second = RunChromium(profile, url, {kScriptBudgetFlag});
  ASSERT_THAT(second, IsOk());
  EXPECT_EQ(ParagraphText(second->dom, "result"), expected) << second->console;
  EXPECT_EQ(ParagraphText(second->dom, "etag"), coded_etag);
  const Metrics after_second = ReadMetrics(client);
  EXPECT_EQ(Requests(after_second, "GET", 304), 2)
      << "the page and the compressed resource are both revalidated";
  EXPECT_EQ(Requests(after_second, "GET", 200), Requests(after_first, "GET", 200) + 1)
      << "only the /metrics read is a full GET";
}

// A page from origin A whose script reads, then conditionally writes, a
// resource on origin B; {url} is the resource's URL. Each step's status goes
// into #statuses, the ETags it saw into the other paragraphs.
constexpr char kCorsPage[] = R"html(<!DOCTYPE html>
<html><head><link rel="icon" href="data:,"><title>cors</title></head>
<body>
<p id="statuses">pending</p>
<p id="get-etag"></p>
<p id="put-etag"></p>
<p id="refused-etag"></p>
<script>
const url = '{url}';
const show = (id, text) => { document.getElementById(id).textContent = text; };
(async () => {
  const statuses = [];
  try {
    const get = await fetch(url);
    statuses.push('GET ' + get.status);
    const etag = get.headers.get('ETag');
    show('get-etag', String(etag));
    // If-Match is not a CORS-safelisted header: this needs a preflight.
    const put = await fetch(url, {
      method: 'PUT',
      headers: {'If-Match': etag, 'Content-Type': 'text/plain'},
      body: 'written by the browser',
    });
    statuses.push('PUT ' + put.status);
    show('put-etag', String(put.headers.get('ETag')));
    const stale = await fetch(url, {
      method: 'PUT',
      headers: {'If-Match': etag, 'Content-Type': 'text/plain'},
      body: 'a write with a stale ETag',
    });
    statuses.push('PUT ' + stale.status);
    show('refused-etag', String(stale.headers.get('ETag')));
  } catch (e) {
    statuses.push('ERROR ' + e.message);
  }
  show('statuses', statuses.join(' / '));
})();
</script>
</body></html>
)html";

// Fetch standard: a cross-origin PUT with If-Match is preflighted (OPTIONS);
// the gateway's CORS answers must let the script send it and read ETag
// (Access-Control-Expose-Headers), and a stale If-Match must get 412 (RFC
// 9110 §13.1.1) that the script can also read.
TEST_F(BrowserInteropTest,
       CrossOriginScriptWritesWithIfMatchAndStaleEtagGets412) {
  absl::StatusOr<std::unique_ptr<GatewayStack>> page_stack =
      GatewayStack::Start(TestPath("page-db"));
  ASSERT_THAT(page_stack, IsOk());
  const int page_port = (*page_stack)->http_port();
  GatewayStackOptions api_options;
  api_options.gateway.cors_allowed_origins = {
      absl::StrCat("http://127.0.0.1:", page_port)};
  absl::StatusOr<std::unique_ptr<GatewayStack>> api_stack =
      GatewayStack::Start(TestPath("api-db"), api_options);
  ASSERT_THAT(api_stack, IsOk());
  const int api_port = (*api_stack)->http_port();
  ASSERT_NE(page_port, api_port);

  HttpClient api(api_port);
  const std::string resource_path = "/v1/resources/browser/shared";
  HttpReply seeded = Send(api, "PUT", resource_path,
                          {{"Content-Type", "text/plain"}}, "original");
  ASSERT_EQ(seeded.status, 201) << seeded.body;
  ASSERT_TRUE(seeded.Header("etag").has_value());

  HttpClient pages(page_port);
  const std::string page_path = "/v1/resources/browser/cors-page";
  const std::string page = absl::StrReplaceAll(
      kCorsPage, {{"{url}", absl::StrCat("http://127.0.0.1:", api_port,
                                         resource_path)}});
  HttpReply stored =
      Send(pages, "PUT", page_path, {{"Content-Type", "text/html"}}, page);
  ASSERT_EQ(stored.status, 201) << stored.body;

  absl::StatusOr<ChromiumRun> run = RunChromium(
      TestPath("chromium-profile"),
      absl::StrCat("http://127.0.0.1:", page_port, page_path),
      {kScriptBudgetFlag});
  ASSERT_THAT(run, IsOk());
  EXPECT_EQ(ParagraphText(run->dom, "statuses"), "GET 200 / PUT 204 / PUT 412")
      << "Chromium's console:\n" << run->console;
  EXPECT_EQ(ParagraphText(run->dom, "get-etag"), *seeded.Header("etag"))
      << "the script must be able to read ETag";

  const Metrics metrics = ReadMetrics(api);
  EXPECT_GE(Requests(metrics, "OPTIONS", 204), 1)
      << "Chromium preflights a PUT with If-Match";
  EXPECT_EQ(Requests(metrics, "PUT", 204), 1);
  EXPECT_EQ(Requests(metrics, "PUT", 412), 1);

  HttpReply current = Send(api, "GET", resource_path);
  EXPECT_EQ(current.status, 200);
  EXPECT_EQ(current.body, "written by the browser");
  ASSERT_TRUE(current.Header("etag").has_value());
  EXPECT_EQ(ParagraphText(run->dom, "put-etag"), *current.Header("etag"));
  // §15.5.13: the 412 tells the client the current ETag.
  EXPECT_EQ(ParagraphText(run->dom, "refused-etag"), *current.Header("etag"));
}

}  // namespace
}  // namespace etagd
