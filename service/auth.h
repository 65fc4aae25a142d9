// Who may do what: bearer tokens with a scope and an optional name prefix,
// and the one authorization decision every RPC goes through. Pure: no I/O,
// no gRPC or HTTP types (the gRPC adapter and the tokens-file watcher do
// the I/O around it).
//
// The tokens file, one token per line:
//
//   # comment lines start with '#'; blank lines are ignored
//   <token> <read|read-write> [prefix]
//
// Fields are separated by spaces or tabs. A token is at least
// kMinTokenLength characters of RFC 6750 §2.1's b64token alphabet
// (A-Z a-z 0-9 - . _ ~ + / and trailing '='). `read` allows GetResource,
// ListResources, ListVersions and Watch; `read-write` also PutResource and
// DeleteResource. With a prefix, the token only reaches names that start
// with it, and only lists with a prefix that starts with it. Admin calls
// need a read-write token without a prefix: a checkpoint copies every
// tenant's data.
//
// Nothing here ever puts a token, or any field of a tokens-file line (a
// token written in the wrong column would be quoted), into a status
// message.
#ifndef ETAGD_SERVICE_AUTH_H_
#define ETAGD_SERVICE_AUTH_H_

#include <cstddef>
#include <string>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/optional.h"

namespace etagd {

inline constexpr size_t kMinTokenLength = 16;

enum class Scope { kRead, kReadWrite };

// What one token may do.
struct Grant {
  Scope scope = Scope::kRead;
  // Names (and list prefixes) must start with this; empty: any name.
  std::string prefix;
  // 1-based line of the tokens file, to tell tokens apart in logs.
  int line = 0;
};

// The RPCs that need authorization. Health checking and reflection are
// deliberately absent: they reveal no data and probes must reach them.
enum class Rpc {
  kGetResource,
  kPutResource,
  kDeleteResource,
  kListResources,
  kListVersions,
  kWatch,
  kCreateCheckpoint,
  kImportVersion,
};

// The full gRPC method name, e.g. "etagd.v1.Resources/GetResource".
absl::string_view RpcName(Rpc method);

// An immutable set of tokens. Thread-compatible; share it as
// std::shared_ptr<const TokenTable>.
class TokenTable {
 public:
  TokenTable() = default;

  // Parses a tokens file (format above). INVALID_ARGUMENT naming the first
  // bad line by number and what is wrong with it, never by its content.
  static absl::StatusOr<TokenTable> Parse(absl::string_view text);

  // The grant of `token`, or nullptr if it is unknown.
  const Grant* Find(absl::string_view token) const;

  size_t size() const { return grants_.size(); }

 private:
  // Keyed by SHA-256 of the token: the table holds no token text, and a
  // lookup's timing depends on the digest, not on how much of a guess
  // matches a real token.
  absl::flat_hash_map<std::string, Grant> grants_;
};

// The token of an Authorization field value "Bearer <token>" (RFC 6750
// §2.1; the scheme is case-insensitive, RFC 9110 §11.1), or nullopt if the
// value is not of that form.
absl::optional<absl::string_view> ParseBearerAuthorization(
    absl::string_view value);

// The decision: OK; UNAUTHENTICATED if `token` is missing or unknown;
// PERMISSION_DENIED if the token's scope does not allow `method`, or
// `name` lies outside its prefix. `name` is the resource name, or for
// kListResources and kWatch the requested prefix; the Admin calls
// (kCreateCheckpoint, kImportVersion) ignore it.
absl::Status Authorize(const TokenTable& tokens,
                       absl::optional<absl::string_view> token, Rpc method,
                       absl::string_view name);

}  // namespace etagd

#endif  // ETAGD_SERVICE_AUTH_H_
