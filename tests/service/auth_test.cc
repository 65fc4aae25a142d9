#include "service/auth.h"

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace etagd {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Tokens of the table below; each at least kMinTokenLength characters.
constexpr char kReadWrite[] = "rw-0123456789abcdef";
constexpr char kRead[] = "ro-0123456789abcdef";
constexpr char kTenantWriter[] = "tw-0123456789abcdef";
constexpr char kTenantReader[] = "tr-0123456789abcdef";
constexpr char kUnknown[] = "xx-0123456789abcdef";

constexpr char kTokensFile[] =
    "# etagd tokens\n"
    "\n"
    "rw-0123456789abcdef read-write\n"
    "ro-0123456789abcdef\tread\n"
    "  tw-0123456789abcdef read-write tenant-a/  \n"
    "tr-0123456789abcdef read tenant-a/\n";

TokenTable Table() {
  absl::StatusOr<TokenTable> table = TokenTable::Parse(kTokensFile);
  EXPECT_THAT(table, IsOk());
  return table.ok() ? *std::move(table) : TokenTable();
}

// ---------------------------------------------------------------------------
// Authorize: token table + RPC + name/prefix -> decision.

struct AuthorizeCase {
  std::string rule;
  absl::optional<std::string> token;
  Rpc rpc;
  std::string name;
  absl::StatusCode expected;
};

std::ostream& operator<<(std::ostream& os, const AuthorizeCase& c) {
  return os << c.rule;
}

class AuthorizeTest : public ::testing::TestWithParam<AuthorizeCase> {};

TEST_P(AuthorizeTest, Decides) {
  const AuthorizeCase& c = GetParam();
  const TokenTable table = Table();
  absl::optional<absl::string_view> token;
  if (c.token.has_value()) token = *c.token;
  absl::Status status = Authorize(table, token, c.rpc, c.name);
  EXPECT_EQ(status.code(), c.expected) << status;
  // Whatever the outcome, the message never quotes a token.
  for (const char* secret : {kReadWrite, kRead, kTenantWriter, kTenantReader, kUnknown}) {
    EXPECT_THAT(std::string(status.message()), Not(HasSubstr(secret)));
  }
}

constexpr absl::StatusCode kOk = absl::StatusCode::kOk;
constexpr absl::StatusCode kUnauthenticated = absl::StatusCode::kUnauthenticated;
constexpr absl::StatusCode kDenied = absl::StatusCode::kPermissionDenied;

std::vector<AuthorizeCase> AuthorizeCases() {
  std::vector<AuthorizeCase> cases = {
      // Without a known token nothing is allowed, whatever the call.
      {"no token, Get", absl::nullopt, Rpc::kGetResource, "a", kUnauthenticated},
      {"no token, Admin", absl::nullopt, Rpc::kCreateCheckpoint, "", kUnauthenticated},
      {"unknown token, Get", kUnknown, Rpc::kGetResource, "a", kUnauthenticated},
      {"unknown token, List", kUnknown, Rpc::kListResources, "", kUnauthenticated},
      {"empty token", std::string(), Rpc::kGetResource, "a", kUnauthenticated},
      {"a prefix of a token is not the token", std::string("rw-0123456789abcde"),
       Rpc::kGetResource, "a", kUnauthenticated},

      // Scope: read allows the three reads, read-write also the writes.
      {"read: Get", kRead, Rpc::kGetResource, "a", kOk},
      {"read: List", kRead, Rpc::kListResources, "", kOk},
      {"read: ListVersions", kRead, Rpc::kListVersions, "a", kOk},
      {"read: Watch", kRead, Rpc::kWatch, "", kOk},
      {"read: Put", kRead, Rpc::kPutResource, "a", kDenied},
      {"read: Delete", kRead, Rpc::kDeleteResource, "a", kDenied},
      {"read-write: Get", kReadWrite, Rpc::kGetResource, "a", kOk},
      {"read-write: Put", kReadWrite, Rpc::kPutResource, "a", kOk},
      {"read-write: Delete", kReadWrite, Rpc::kDeleteResource, "a", kOk},
      {"read-write: List", kReadWrite, Rpc::kListResources, "", kOk},
      {"read-write: ListVersions", kReadWrite, Rpc::kListVersions, "a", kOk},

      // Admin: read-write without a prefix only.
      {"Admin with read-write, no prefix", kReadWrite, Rpc::kCreateCheckpoint, "", kOk},
      {"Admin with read", kRead, Rpc::kCreateCheckpoint, "", kDenied},
      {"Admin with a prefixed read-write token", kTenantWriter,
       Rpc::kCreateCheckpoint, "", kDenied},
      {"Admin with a prefixed read token", kTenantReader, Rpc::kCreateCheckpoint,
       "", kDenied},
      {"Import with read-write, no prefix", kReadWrite, Rpc::kImportVersion, "", kOk},
      {"Import with read", kRead, Rpc::kImportVersion, "", kDenied},
      {"Import with a prefixed read-write token", kTenantWriter,
       Rpc::kImportVersion, "tenant-a/x", kDenied},

      // Prefix: names inside it, and nothing else.
      {"prefixed: Put inside", kTenantWriter, Rpc::kPutResource, "tenant-a/x", kOk},
      {"prefixed: Put of the prefix itself", kTenantWriter, Rpc::kPutResource,
       "tenant-a/", kOk},
      {"prefixed: Put outside", kTenantWriter, Rpc::kPutResource, "tenant-b/x", kDenied},
      {"prefixed: a name that only shares the start", kTenantWriter,
       Rpc::kPutResource, "tenant-a", kDenied},
      {"prefixed: Delete outside", kTenantWriter, Rpc::kDeleteResource, "x", kDenied},
      {"prefixed: Get inside", kTenantReader, Rpc::kGetResource, "tenant-a/x", kOk},
      {"prefixed: Get outside", kTenantReader, Rpc::kGetResource, "tenant-b/x", kDenied},
      {"prefixed: ListVersions inside", kTenantReader, Rpc::kListVersions,
       "tenant-a/x", kOk},
      {"prefixed: ListVersions outside", kTenantReader, Rpc::kListVersions, "b", kDenied},
      {"prefixed read token: Put inside is still read-only", kTenantReader,
       Rpc::kPutResource, "tenant-a/x", kDenied},
      // Listing: the requested prefix must lie inside the token's.
      {"prefixed: List of its prefix", kTenantReader, Rpc::kListResources,
       "tenant-a/", kOk},
      {"prefixed: List of a narrower prefix", kTenantReader, Rpc::kListResources,
       "tenant-a/sub/", kOk},
      {"prefixed: List of everything", kTenantReader, Rpc::kListResources, "", kDenied},
      // Watching: as listing.
      {"prefixed: Watch of its prefix", kTenantReader, Rpc::kWatch, "tenant-a/",
       kOk},
      {"prefixed: Watch of everything", kTenantReader, Rpc::kWatch, "", kDenied},
      {"prefixed: List of a wider prefix", kTenantReader, Rpc::kListResources,
       "tenant-", kDenied},
      {"prefixed: List of another prefix", kTenantReader, Rpc::kListResources,
       "tenant-b/", kDenied},
  };
  return cases;
}

INSTANTIATE_TEST_SUITE_P(Table, AuthorizeTest, ::testing::ValuesIn(AuthorizeCases()));

TEST(AuthorizeTest, TokensAreCaseSensitive) {
  EXPECT_THAT(Authorize(Table(), std::string("RW-0123456789ABCDEF"),
                        Rpc::kGetResource, "a"),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST(AuthorizeTest, AnEmptyTableAllowsNothing) {
  EXPECT_THAT(Authorize(TokenTable(), std::string(kReadWrite), Rpc::kGetResource, "a"),
              StatusIs(absl::StatusCode::kUnauthenticated));
}

TEST(AuthorizeTest, EveryRpcHasItsFullName) {
  EXPECT_EQ(RpcName(Rpc::kGetResource), "etagd.v1.Resources/GetResource");
  EXPECT_EQ(RpcName(Rpc::kPutResource), "etagd.v1.Resources/PutResource");
  EXPECT_EQ(RpcName(Rpc::kDeleteResource), "etagd.v1.Resources/DeleteResource");
  EXPECT_EQ(RpcName(Rpc::kListResources), "etagd.v1.Resources/ListResources");
  EXPECT_EQ(RpcName(Rpc::kListVersions), "etagd.v1.Resources/ListVersions");
  EXPECT_EQ(RpcName(Rpc::kWatch), "etagd.v1.Resources/Watch");
  EXPECT_EQ(RpcName(Rpc::kCreateCheckpoint), "etagd.v1.Admin/CreateCheckpoint");
  EXPECT_EQ(RpcName(Rpc::kImportVersion), "etagd.v1.Admin/ImportVersion");
}

// ---------------------------------------------------------------------------
// The tokens file.

TEST(TokenTableTest, ParsesScopesPrefixesCommentsAndBlankLines) {
  const TokenTable table = Table();
  EXPECT_EQ(table.size(), 4u);
  const Grant* rw = table.Find(kReadWrite);
  ASSERT_NE(rw, nullptr);
  EXPECT_EQ(rw->scope, Scope::kReadWrite);
  EXPECT_EQ(rw->prefix, "");
  EXPECT_EQ(rw->line, 3);
  const Grant* ro = table.Find(kRead);
  ASSERT_NE(ro, nullptr);
  EXPECT_EQ(ro->scope, Scope::kRead);
  const Grant* tenant = table.Find(kTenantWriter);
  ASSERT_NE(tenant, nullptr);
  EXPECT_EQ(tenant->prefix, "tenant-a/");
  EXPECT_EQ(table.Find(kUnknown), nullptr);
}

TEST(TokenTableTest, AcceptsAnEmptyFileAndCrLfLines) {
  EXPECT_THAT(TokenTable::Parse(""), IsOk());
  absl::StatusOr<TokenTable> table =
      TokenTable::Parse("# only a comment\r\nrw-0123456789abcdef read-write\r\n");
  ASSERT_THAT(table, IsOk());
  EXPECT_NE(table->Find(kReadWrite), nullptr);
}

struct BadLineCase {
  std::string rule;
  std::string text;
  std::string message;
};

std::ostream& operator<<(std::ostream& os, const BadLineCase& c) {
  return os << c.rule;
}

class TokenTableBadLineTest : public ::testing::TestWithParam<BadLineCase> {};

TEST_P(TokenTableBadLineTest, NamesTheLineButNeverItsContent) {
  const BadLineCase& c = GetParam();
  absl::StatusOr<TokenTable> table = TokenTable::Parse(c.text);
  ASSERT_THAT(table, StatusIs(absl::StatusCode::kInvalidArgument, c.message));
  // No word of the file appears in the message: a token written in the
  // wrong column must not be quoted either.
  for (const char* secret : {"secret-token-0123456789", "read-write-0123456789",
                             "shrt0123", "tenant-a/"}) {
    if (c.text.find(secret) == std::string::npos) continue;
    EXPECT_THAT(std::string(table.status().message()), Not(HasSubstr(secret)));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, TokenTableBadLineTest,
    ::testing::ValuesIn(std::vector<BadLineCase>{
        {"a token alone", "# c\nsecret-token-0123456789\n", "line 2: expected"},
        {"an unknown scope", "secret-token-0123456789 write\n",
         "line 1: the scope must be read or read-write"},
        {"columns swapped", "read-write secret-token-0123456789\n",
         "line 1: the token is shorter"},
        {"scope and prefix swapped", "secret-token-0123456789 tenant-a/ read\n",
         "line 1: the scope must be"},
        {"a short token", "shrt0123 read\n", "line 1: the token is shorter than 16"},
        {"a token with a quote", "secret\"token-0123456789 read\n",
         "line 1: the token has characters outside"},
        {"too many fields", "secret-token-0123456789 read tenant-a/ more\n",
         "line 1: too many fields"},
        {"a repeated token",
         "secret-token-0123456789 read\nsecret-token-0123456789 read-write\n",
         "line 2: the same token as line 1"},
    }));

// ---------------------------------------------------------------------------
// The Authorization field (RFC 6750 §2.1).

struct BearerCase {
  std::string value;
  absl::optional<std::string> token;
};

std::ostream& operator<<(std::ostream& os, const BearerCase& c) {
  return os << "\"" << c.value << "\"";
}

class BearerTest : public ::testing::TestWithParam<BearerCase> {};

TEST_P(BearerTest, Parses) {
  absl::optional<absl::string_view> token = ParseBearerAuthorization(GetParam().value);
  if (GetParam().token.has_value()) {
    ASSERT_TRUE(token.has_value());
    EXPECT_EQ(*token, *GetParam().token);
  } else {
    EXPECT_FALSE(token.has_value()) << *token;
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, BearerTest,
    ::testing::ValuesIn(std::vector<BearerCase>{
        {"Bearer abc", std::string("abc")},
        // §11.1 of RFC 9110: the scheme is case-insensitive.
        {"bearer abc", std::string("abc")},
        {"BEARER abc", std::string("abc")},
        {"Bearer  abc ", std::string("abc")},
        {"Bearer\tabc", std::string("abc")},
        {"Bearer a-b.c_d~e+f/g==", std::string("a-b.c_d~e+f/g==")},
        {"Bearer", absl::nullopt},
        {"Bearer ", absl::nullopt},
        {"Bearerabc", absl::nullopt},
        {"Basic dXNlcjpwYXNz", absl::nullopt},
        {"abc", absl::nullopt},
        {"", absl::nullopt},
        // Not a b64token: spaces inside, '=' before the end, other bytes.
        {"Bearer abc def", absl::nullopt},
        {"Bearer a=b", absl::nullopt},
        {"Bearer ==", absl::nullopt},
        {"Bearer ab\"c", absl::nullopt},
        {"Bearer ab\xC3\xA9", absl::nullopt},
    }));

}  // namespace
}  // namespace etagd
