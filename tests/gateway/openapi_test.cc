// Keeps gateway/openapi.json true: its routes are the gateway's, every
// documented operation answers with a documented status, methods it does
// not list are refused, error bodies have the documented shape, and every
// reference in it resolves.
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "gateway/gateway.h"
#include "gateway/openapi.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/testing/gateway_stack.h"
#include "tests/testing/http_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

using ::google::protobuf::Struct;
using ::google::protobuf::Value;

const Struct& Document() {
  static const Struct* const kDocument = [] {
    auto* document = new Struct;
    const std::string text(OpenApiDocument());
    EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(text, document).ok());
    return document;
  }();
  return *kDocument;
}

const Struct& Field(const Struct& s, const std::string& key) {
  static const Struct* const kEmpty = new Struct;
  auto it = s.fields().find(key);
  if (it == s.fields().end() || !it->second.has_struct_value()) return *kEmpty;
  return it->second.struct_value();
}

// The operations (methods) of a path item.
std::set<std::string> Methods(const Struct& path_item) {
  std::set<std::string> methods;
  for (const auto& [key, value] : path_item.fields()) {
    if (key != "parameters" && key != "summary" && key != "description") {
      methods.insert(key);
    }
  }
  return methods;
}

TEST(OpenApiDocumentTest, IsOpenApi3) {
  auto version = Document().fields().find("openapi");
  ASSERT_NE(version, Document().fields().end());
  EXPECT_TRUE(absl::StartsWith(version->second.string_value(), "3."));
}

TEST(OpenApiDocumentTest, ItsPathsAndMethodsAreTheGatewaysRoutes) {
  std::map<std::string, std::set<std::string>> documented;
  for (const auto& [path, item] : Field(Document(), "paths").fields()) {
    documented[path] = Methods(item.struct_value());
  }
  std::map<std::string, std::set<std::string>> served;
  for (const RouteSpec& route : GatewayRoutes()) {
    served[route.path] = {route.methods.begin(), route.methods.end()};
  }
  EXPECT_EQ(documented, served);
}

void CollectRefs(const Value& value, std::vector<std::string>& refs) {
  if (value.has_struct_value()) {
    for (const auto& [key, child] : value.struct_value().fields()) {
      if (key == "$ref") refs.push_back(child.string_value());
      CollectRefs(child, refs);
    }
  } else if (value.has_list_value()) {
    for (const Value& child : value.list_value().values()) CollectRefs(child, refs);
  }
}

TEST(OpenApiDocumentTest, EveryReferenceResolves) {
  Value root;
  *root.mutable_struct_value() = Document();
  std::vector<std::string> refs;
  CollectRefs(root, refs);
  EXPECT_FALSE(refs.empty());
  for (const std::string& ref : refs) {
    ASSERT_TRUE(absl::StartsWith(ref, "#/")) << ref;
    const Struct* at = &Document();
    for (absl::string_view part : absl::StrSplit(ref.substr(2), '/')) {
      auto it = at->fields().find(std::string(part));
      ASSERT_NE(it, at->fields().end()) << ref << " does not resolve";
      at = &it->second.struct_value();
    }
  }
}

// The header fields a PUT stores as metadata, and the others the gateway
// reads, are all documented.
TEST(OpenApiDocumentTest, DocumentsTheHeaderFieldsTheGatewayReads) {
  std::set<std::string> names;
  for (const auto& [key, parameter] : Field(Field(Document(), "components"),
                                            "parameters")
                                          .fields()) {
    const Struct& p = parameter.struct_value();
    if (p.fields().at("in").string_value() == "header") {
      names.insert(p.fields().at("name").string_value());
    }
  }
  for (const char* name :
       {"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since",
        "If-Range", "Range", "Accept-Encoding", "Idempotency-Key", "Content-Type",
        "Cache-Control", "Content-Disposition", "Content-Encoding",
        "Content-Language", "Expires", "X-Etagd-Meta-Key", "Prefer", "Last-Event-ID"}) {
    EXPECT_EQ(names.count(name), 1u) << name;
  }
}

class OpenApiRoutesTest : public testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<std::unique_ptr<GatewayStack>> stack =
        GatewayStack::Start(TestPath("db"));
    ASSERT_THAT(stack, IsOk());
    stack_ = *std::move(stack);
    client_ = std::make_unique<HttpClient>(stack_->http_port());
  }

  HttpReply Send(const std::string& method, const std::string& target,
                 const std::vector<std::pair<std::string, std::string>>& headers = {},
                 const std::string& body = "") {
    absl::StatusOr<HttpReply> reply = client_->Send(method, target, headers, body);
    EXPECT_THAT(reply, IsOk());
    return reply.ok() ? *reply : HttpReply{};
  }

  static std::string Target(const std::string& path) {
    return absl::StrReplaceAll(path, {{"{name}", "openapi/probe"}});
  }

  std::unique_ptr<GatewayStack> stack_;
  std::unique_ptr<HttpClient> client_;
};

// A path the route list lacks is not served, so whatever is served is in
// the list the document is checked against.
TEST(GatewayRoutesTest, OnlyListedPathsHaveARoute) {
  for (const auto& [path, expected] :
       std::vector<std::pair<std::string, std::string>>{
           {"/v1/resources/a/b", "/v1/resources/{name}"},
           {"/v1/resources", "/v1/resources"},
           {"/v1/history/a", "/v1/history/{name}"},
           {"/v1/watch", "/v1/watch"},
           {"/openapi.json", "/openapi.json"},
           {"/v1/watcher", ""},
           {"/v1", ""},
           {"/", ""},
           {"/healthz/x", ""}}) {
    const RouteSpec* route = FindRoute(path);
    EXPECT_EQ(route == nullptr ? "" : route->path, expected) << path;
  }
}

TEST_F(OpenApiRoutesTest, IsServedAtOpenApiJson) {
  HttpReply reply = Send("GET", "/openapi.json");
  ASSERT_EQ(reply.status, 200);
  EXPECT_EQ(reply.Header("content-type"), "application/json");
  EXPECT_EQ(reply.body, OpenApiDocument());
}

void ExpectErrorShape(const HttpReply& reply, const std::string& what) {
  Struct body;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(reply.body, &body).ok())
      << what << ": " << reply.body;
  const Struct& error = Field(body, "error");
  for (const char* key : {"code", "status", "message"}) {
    EXPECT_EQ(error.fields().count(key), 1u) << what << " lacks " << key;
  }
  EXPECT_EQ(error.fields().at("code").number_value(), reply.status) << what;
}

TEST_F(OpenApiRoutesTest, EveryOperationAnswersWithADocumentedStatus) {
  ASSERT_EQ(Send("PUT", "/v1/resources/openapi/probe", {}, "x").status, 201);
  // Deletes last, so the reads see the resource; then once more, absent.
  for (int round = 0; round < 2; ++round) {
    for (const char* method : {"options", "head", "get", "put", "delete"}) {
      for (const auto& [path, item] : Field(Document(), "paths").fields()) {
        const Struct& operation = Field(item.struct_value(), method);
        if (operation.fields().empty()) continue;
        const std::string verb = absl::AsciiStrToUpper(method);
        // An event stream stays open; one resumed from an id that is not a
        // revision reports that and ends.
        std::vector<std::pair<std::string, std::string>> headers;
        if (path == "/v1/watch" && verb == "GET") headers = {{"Last-Event-ID", "x"}};
        HttpReply reply = Send(verb, Target(path), headers, verb == "PUT" ? "y" : "");
        const std::string what = absl::StrCat(verb, " ", path, " (round ", round, ")");
        EXPECT_EQ(Field(operation, "responses").fields().count(absl::StrCat(reply.status)),
                  1u)
            << what << " answered an undocumented " << reply.status << ": " << reply.body;
        if (reply.status >= 400 && verb != "HEAD") ExpectErrorShape(reply, what);
      }
    }
  }
}

TEST_F(OpenApiRoutesTest, MethodsNotDocumentedAreRefusedWith405) {
  for (const auto& [path, item] : Field(Document(), "paths").fields()) {
    const std::set<std::string> methods = Methods(item.struct_value());
    for (const char* method : {"get", "head", "put", "delete", "post", "patch", "options"}) {
      if (methods.count(method) > 0) continue;
      const std::string verb = absl::AsciiStrToUpper(method);
      HttpReply reply = Send(verb, Target(path), {}, "");
      EXPECT_EQ(reply.status, 405) << verb << " " << path;
      EXPECT_TRUE(reply.Has("allow")) << verb << " " << path;
      ExpectErrorShape(reply, absl::StrCat(verb, " ", path));
    }
  }
}

TEST_F(OpenApiRoutesTest, OtherPathsAre404) {
  HttpReply reply = Send("GET", "/v2/nothing");
  EXPECT_EQ(reply.status, 404);
  ExpectErrorShape(reply, "GET /v2/nothing");
}

}  // namespace
}  // namespace etagd
