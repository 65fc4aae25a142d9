// Every URL etagd writes for a name (Location, and the URL a client builds
// from a listed name) still addresses that name after the normalization
// clients and proxies apply: RFC 3986 §5.2.4 remove_dot_segments, and the
// merging of "//" (nginx's merge_slashes). Names whose URL would change are
// refused by both APIs alike (service/request_validation.h,
// ValidateNewName).
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"
#include "client/client.h"
#include "gateway/uri.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/gateway_stack.h"
#include "tests/testing/http_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

using ::testing::HasSubstr;

constexpr absl::string_view kResources = "/v1/resources/";

// A reference of RFC 3986 §5.2.4 (remove_dot_segments) over a path, written
// from the RFC's steps, followed by merging runs of '/' as nginx does.
std::string NormalizePath(absl::string_view path) {
  std::string input(path);
  std::string output;
  while (!input.empty()) {
    if (absl::StartsWith(input, "../")) {
      input.erase(0, 3);  // A.
    } else if (absl::StartsWith(input, "./")) {
      input.erase(0, 2);  // A.
    } else if (absl::StartsWith(input, "/./")) {
      input.erase(0, 2);  // B: "/./" -> "/".
    } else if (input == "/.") {
      input = "/";  // B.
    } else if (absl::StartsWith(input, "/../") || input == "/..") {
      input = input == "/.." ? "/" : input.substr(3);  // C.
      const size_t last = output.rfind('/');
      output.erase(last == std::string::npos ? 0 : last);
    } else if (input == "." || input == "..") {
      input.clear();  // D.
    } else {
      // E: the first segment, with its leading '/', if any.
      const size_t next = input.find('/', input[0] == '/' ? 1 : 0);
      const size_t end = next == std::string::npos ? input.size() : next;
      output.append(input, 0, end);
      input.erase(0, end);
    }
  }
  std::string merged;
  for (char c : output) {
    if (c == '/' && !merged.empty() && merged.back() == '/') continue;
    merged.push_back(c);
  }
  return merged;
}

TEST(NormalizePathTest, FollowsTheRfcExamples) {
  // RFC 3986 §5.2.4's own examples.
  EXPECT_EQ(NormalizePath("/a/b/c/./../../g"), "/a/g");
  EXPECT_EQ(NormalizePath("mid/content=5/../6"), "mid/6");
  // The case the rule exists for.
  EXPECT_EQ(NormalizePath("/v1/resources/a/../b/doc"), "/v1/resources/b/doc");
  EXPECT_EQ(NormalizePath("/v1/resources//a"), "/v1/resources/a");
}

class ResourceUrlsTest : public testing::TestWithParam<GatewayBackendKind> {
 protected:
  void SetUp() override {
    GatewayStackOptions options;
    options.backend = GetParam();
    absl::StatusOr<std::unique_ptr<GatewayStack>> stack =
        GatewayStack::Start(TestPath("db"), options);
    ASSERT_THAT(stack, IsOk());
    stack_ = *std::move(stack);
    http_ = std::make_unique<HttpClient>(stack_->http_port());
    grpc_ = Client::Connect(absl::StrCat("127.0.0.1:", stack_->grpc_port()));
  }

  HttpReply Send(const std::string& method, const std::string& target,
                 const std::string& body = "") {
    absl::StatusOr<HttpReply> reply = http_->Send(method, target, {}, body);
    EXPECT_THAT(reply, IsOk());
    return reply.ok() ? *reply : HttpReply{};
  }

  std::unique_ptr<GatewayStack> stack_;
  std::unique_ptr<HttpClient> http_;
  std::unique_ptr<Client> grpc_;
};

// Names a Put accepts, some with characters URLs treat specially.
const std::vector<std::string>& AcceptedNames() {
  static const auto* names = new std::vector<std::string>{
      "notes/today", "a/..b/c../.d/e.", "a/.../b", "with space/and%2E%2E",
      "q?x#y/z", "caf\xC3\xA9"};
  return *names;
}

TEST_P(ResourceUrlsTest, LocationOfEveryAcceptedNameSurvivesNormalization) {
  for (const std::string& name : AcceptedNames()) {
    const std::string url = absl::StrCat(kResources, PercentEncodePath(name));
    HttpReply put = Send("PUT", url, "content of " + name);
    ASSERT_EQ(put.status, 201) << name << ": " << put.body;
    const std::string location = put.Header("location").value_or("");
    EXPECT_EQ(NormalizePath(location), location) << name;
    HttpReply get = Send("GET", NormalizePath(location));
    EXPECT_EQ(get.status, 200) << name;
    EXPECT_EQ(get.body, "content of " + name) << name;
  }
}

TEST_P(ResourceUrlsTest, UrlsBuiltFromListedNamesAddressThoseNames) {
  for (const std::string& name : AcceptedNames()) {
    ASSERT_EQ(Send("PUT", absl::StrCat(kResources, PercentEncodePath(name)),
                   name)
                  .status,
              201);
  }
  absl::StatusOr<v1::ListResourcesResponse> listed = grpc_->List(v1::ListResourcesRequest());
  ASSERT_THAT(listed, IsOk());
  ASSERT_EQ(listed->resources_size(), static_cast<int>(AcceptedNames().size()));
  HttpReply json = Send("GET", "/v1/resources?prefix=");
  for (const v1::Resource& resource : listed->resources()) {
    EXPECT_THAT(json.body, HasSubstr(absl::StrCat("\"name\":\"", resource.name(),
                                                  "\"")));
    const std::string url =
        NormalizePath(absl::StrCat(kResources, PercentEncodePath(resource.name())));
    HttpReply get = Send("GET", url);
    EXPECT_EQ(get.status, 200) << resource.name();
    EXPECT_EQ(get.body, resource.name());
  }
}

struct RefusedName {
  std::string name;
  std::string message;
};

const std::vector<RefusedName>& RefusedNames() {
  static const auto* names = new std::vector<RefusedName>{
      {"a/../b/doc", "'..' segment"}, {"./doc", "'.' segment"},
      {"a/./doc", "'.' segment"},     {"a/..", "'..' segment"},
      {"/doc", "empty segment"},      {"a//doc", "empty segment"},
      {"dir/", "empty segment"},      {"..", "'..' segment"}};
  return *names;
}

TEST_P(ResourceUrlsTest, NamesWhoseUrlNormalizationChangesAreRefusedOverHttp) {
  for (const RefusedName& c : RefusedNames()) {
    // Sent with every '/' encoded too, so that no client or server on the
    // way can normalize it before etagd sees the name.
    const std::string encoded =
        absl::StrReplaceAll(PercentEncodePath(c.name), {{"/", "%2F"}});
    HttpReply put = Send("PUT", absl::StrCat(kResources, encoded), "x");
    EXPECT_EQ(put.status, 400) << c.name << " sent as " << encoded;
    EXPECT_THAT(put.body, HasSubstr("INVALID_ARGUMENT")) << c.name;
    EXPECT_THAT(put.body, HasSubstr(c.message)) << c.name;
    EXPECT_FALSE(put.Has("location")) << c.name;
  }
  absl::StatusOr<v1::ListResourcesResponse> listed = grpc_->List(v1::ListResourcesRequest());
  ASSERT_THAT(listed, IsOk());
  EXPECT_EQ(listed->resources_size(), 0);
}

TEST_P(ResourceUrlsTest, NamesWhoseUrlNormalizationChangesAreRefusedOverGrpc) {
  for (const RefusedName& c : RefusedNames()) {
    v1::PutResourceRequest request;
    request.set_name(c.name);
    request.set_content("x");
    EXPECT_THAT(grpc_->Put(request),
                StatusIs(absl::StatusCode::kInvalidArgument, c.message))
        << c.name;
  }
  absl::StatusOr<v1::ListResourcesResponse> listed = grpc_->List(v1::ListResourcesRequest());
  ASSERT_THAT(listed, IsOk());
  EXPECT_EQ(listed->resources_size(), 0);
}

INSTANTIATE_TEST_SUITE_P(Backends, ResourceUrlsTest,
                         testing::Values(GatewayBackendKind::kGrpc,
                                         GatewayBackendKind::kLocal),
                         [](const auto& info) {
                           return info.param == GatewayBackendKind::kGrpc
                                      ? "OverGrpc"
                                      : "Direct";
                         });

}  // namespace
}  // namespace etagd
