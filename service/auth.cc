#include "service/auth.h"

#include <openssl/evp.h>

#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace etagd {
namespace {

std::string Digest(absl::string_view token) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  if (EVP_Digest(token.data(), token.size(), digest, &length, EVP_sha256(),
                 nullptr) != 1) {
    // Only a broken libcrypto fails here; an empty key matches no token.
    return std::string();
  }
  return std::string(reinterpret_cast<const char*>(digest), length);
}

// RFC 6750 §2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" /
// "+" / "/" ) *"=".
bool IsB64Token(absl::string_view token) {
  size_t i = 0;
  while (i < token.size() &&
         (absl::ascii_isalnum(static_cast<unsigned char>(token[i])) ||
          absl::string_view("-._~+/").find(token[i]) != absl::string_view::npos)) {
    ++i;
  }
  if (i == 0) return false;
  while (i < token.size() && token[i] == '=') ++i;
  return i == token.size();
}

bool IsWrite(Rpc method) {
  return method == Rpc::kPutResource || method == Rpc::kDeleteResource;
}

absl::Status LineError(int line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("line ", line, ": ", what));
}

}  // namespace

absl::string_view RpcName(Rpc method) {
  switch (method) {
    case Rpc::kGetResource:
      return "etagd.v1.Resources/GetResource";
    case Rpc::kPutResource:
      return "etagd.v1.Resources/PutResource";
    case Rpc::kDeleteResource:
      return "etagd.v1.Resources/DeleteResource";
    case Rpc::kListResources:
      return "etagd.v1.Resources/ListResources";
    case Rpc::kListVersions:
      return "etagd.v1.Resources/ListVersions";
    case Rpc::kWatch:
      return "etagd.v1.Resources/Watch";
    case Rpc::kCreateCheckpoint:
      return "etagd.v1.Admin/CreateCheckpoint";
    case Rpc::kImportVersion:
      return "etagd.v1.Admin/ImportVersion";
  }
  return "unknown";
}

absl::StatusOr<TokenTable> TokenTable::Parse(absl::string_view text) {
  TokenTable table;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    line = absl::StripAsciiWhitespace(line);
    if (line.empty() || line.front() == '#') continue;
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t"), absl::SkipEmpty());
    if (fields.size() < 2) {
      return LineError(line_number, "expected \"<token> <read|read-write> [prefix]\"");
    }
    if (fields.size() > 3) {
      return LineError(line_number,
                       "too many fields (a prefix cannot contain spaces)");
    }
    if (!IsB64Token(fields[0])) {
      return LineError(line_number,
                       "the token has characters outside A-Z a-z 0-9 - . _ ~ + / =");
    }
    if (fields[0].size() < kMinTokenLength) {
      return LineError(line_number, absl::StrCat("the token is shorter than ",
                                                 kMinTokenLength, " characters"));
    }
    Grant grant;
    grant.line = line_number;
    if (fields[1] == "read") {
      grant.scope = Scope::kRead;
    } else if (fields[1] == "read-write") {
      grant.scope = Scope::kReadWrite;
    } else {
      return LineError(line_number, "the scope must be read or read-write");
    }
    if (fields.size() == 3) grant.prefix = std::string(fields[2]);
    std::string key = Digest(fields[0]);
    if (key.empty()) return LineError(line_number, "cannot hash the token");
    if (auto [it, inserted] = table.grants_.emplace(std::move(key), grant);
        !inserted) {
      return LineError(line_number, absl::StrCat("the same token as line ",
                                                 it->second.line));
    }
  }
  return table;
}

const Grant* TokenTable::Find(absl::string_view token) const {
  auto it = grants_.find(Digest(token));
  return it == grants_.end() ? nullptr : &it->second;
}

absl::optional<absl::string_view> ParseBearerAuthorization(
    absl::string_view value) {
  constexpr absl::string_view kScheme = "bearer";
  value = absl::StripAsciiWhitespace(value);
  if (value.size() <= kScheme.size() ||
      !absl::EqualsIgnoreCase(value.substr(0, kScheme.size()), kScheme) ||
      (value[kScheme.size()] != ' ' && value[kScheme.size()] != '\t')) {
    return absl::nullopt;
  }
  absl::string_view token =
      absl::StripLeadingAsciiWhitespace(value.substr(kScheme.size()));
  if (!IsB64Token(token)) return absl::nullopt;
  return token;
}

absl::Status Authorize(const TokenTable& tokens,
                       absl::optional<absl::string_view> token, Rpc method,
                       absl::string_view name) {
  if (!token.has_value()) {
    return absl::UnauthenticatedError(
        "this call needs a bearer token (authorization: Bearer <token>)");
  }
  const Grant* grant = tokens.Find(*token);
  if (grant == nullptr) {
    return absl::UnauthenticatedError("the bearer token is not valid");
  }
  if (method == Rpc::kCreateCheckpoint || method == Rpc::kImportVersion) {
    if (grant->scope != Scope::kReadWrite || !grant->prefix.empty()) {
      return absl::PermissionDeniedError(
          "Admin calls need a read-write token without a prefix");
    }
    return absl::OkStatus();
  }
  if (IsWrite(method) && grant->scope != Scope::kReadWrite) {
    return absl::PermissionDeniedError(
        absl::StrCat("this token is read-only; ", RpcName(method),
                     " needs a read-write token"));
  }
  if (!absl::StartsWith(name, grant->prefix)) {
    return absl::PermissionDeniedError(absl::StrCat(
        "this token only reaches names starting with \"", grant->prefix, "\"",
        method == Rpc::kListResources ? "; list with such a prefix"
        : method == Rpc::kWatch       ? "; watch such a prefix"
                                      : ""));
  }
  return absl::OkStatus();
}

}  // namespace etagd
