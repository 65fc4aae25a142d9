// Transport security and authorization of the real binaries: etagd with
// TLS, mutual TLS on gRPC and a tokens file, serving gRPC and HTTP
// (in-process gateway), and etagd-gateway in front of it over mutual TLS;
// and mutual TLS on HTTPS in both.
// Certificates are made at run time (tests/testing/test_pki.h).
//
// Every test ends by stopping the processes and checking that no token
// appears anywhere in their logs.
#include <openssl/ssl.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <fstream>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/auth.h"
#include "service/tls.h"
#include "tests/testing/http_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_pki.h"
#include "tests/testing/tls_client.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

using ::testing::HasSubstr;
using ::testing::Not;

// Bounds a hang; not an expected duration.
constexpr absl::Duration kTimeout = absl::Seconds(60);

// The tokens of the file every test starts with.
constexpr char kAdminToken[] = "admin-0123456789abcdefABCDEF";
constexpr char kReaderToken[] = "reader-0123456789abcdefABCDEF";
constexpr char kTenantToken[] = "tenant-0123456789abcdefABCDEF";
// Not in the file (at first).
constexpr char kUnknownToken[] = "unknown-0123456789abcdefABCDEF";
constexpr char kLaterToken[] = "later-0123456789abcdefABCDEF";

constexpr const char* kAllTokens[] = {kAdminToken, kReaderToken, kTenantToken,
                                      kUnknownToken, kLaterToken};

std::string TokensFile() {
  return absl::StrCat("# test tokens\n", kAdminToken, " read-write\n",
                      kReaderToken, " read\n", kTenantToken,
                      " read-write tenant-a/\n");
}

// A resource the tenant token may not reach, and one it may.
constexpr char kShared[] = "shared/doc";
constexpr char kTenantDoc[] = "tenant-a/doc";

void WriteFile(const std::string& path, const std::string& text) {
  const std::string temporary = path + ".new";
  {
    std::ofstream out(temporary, std::ios::binary | std::ios::trunc);
    out << text;
  }
  ASSERT_EQ(std::rename(temporary.c_str(), path.c_str()), 0);
}

// The port after "<what> on 127.0.0.1:" in `line`, or 0.
int PortAfter(const std::string& line, const std::string& what) {
  const std::string marker = what + " on 127.0.0.1:";
  const size_t at = line.find(marker);
  if (at == std::string::npos) return 0;
  size_t end = at + marker.size();
  while (end < line.size() && isdigit(static_cast<unsigned char>(line[end]))) ++end;
  int port = 0;
  return absl::SimpleAtoi(line.substr(at + marker.size(), end - at - marker.size()),
                          &port)
             ? port
             : 0;
}

void ExpectNoToken(absl::string_view text, absl::string_view where) {
  for (const char* token : kAllTokens) {
    EXPECT_THAT(std::string(text), Not(HasSubstr(token)))
        << where << " quotes a token";
  }
}

// Who calls, over gRPC and HTTP.
enum class Credential {
  kNone,           // TLS right, no token
  kUnknownToken,   // TLS right, a token not in the file
  kWrongCa,        // the client does not trust the server's certificate
  kWrongClientCa,  // gRPC only: a client certificate from another CA
  kNoClientCert,   // gRPC only: no client certificate
  kReadOnly,       // a read token (wrong scope for writes and Admin)
  kOutsidePrefix,  // the tenant token on a name outside tenant-a/
  kValid,          // the admin token
  kValidInPrefix,  // the tenant token inside tenant-a/
};

const char* CredentialName(Credential c) {
  switch (c) {
    case Credential::kNone: return "no token";
    case Credential::kUnknownToken: return "unknown token";
    case Credential::kWrongCa: return "server cert from a CA the client does not trust";
    case Credential::kWrongClientCa: return "client cert from a wrong CA";
    case Credential::kNoClientCert: return "no client cert";
    case Credential::kReadOnly: return "read-only token";
    case Credential::kOutsidePrefix: return "prefixed token outside its prefix";
    case Credential::kValid: return "read-write token";
    case Credential::kValidInPrefix: return "prefixed token inside its prefix";
  }
  return "?";
}

std::string TokenOf(Credential c) {
  switch (c) {
    case Credential::kUnknownToken: return kUnknownToken;
    case Credential::kReadOnly: return kReaderToken;
    case Credential::kOutsidePrefix:
    case Credential::kValidInPrefix: return kTenantToken;
    case Credential::kNone: return "";
    default: return kAdminToken;
  }
}

std::string NameFor(Credential c) {
  return c == Credential::kValidInPrefix ? kTenantDoc : kShared;
}

class SecurityTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TestPki> pki = MakeTestPki(TestPath("pki"));
    ASSERT_THAT(pki, IsOk());
    pki_ = *std::move(pki);
    tokens_path_ = TestPath("tokens");
    WriteFile(tokens_path_, TokensFile());
    absl::StatusOr<EtagdProcess> etagd = StartEtagd(
        TestPath("data"),
        {"--http_listen=127.0.0.1:0", "--checkpoint_dir=" + TestPath("checkpoints"),
         "--tls_cert_file=" + pki_.server_cert, "--tls_key_file=" + pki_.server_key,
         "--tls_client_ca_file=" + pki_.ca_cert, "--tokens_file=" + tokens_path_},
        kTimeout);
    ASSERT_THAT(etagd, IsOk());
    etagd_ = *std::move(etagd);
    http_port_ = PortAfter(etagd_.startup_line, "HTTP");
    ASSERT_GT(http_port_, 0) << etagd_.startup_line;
    EXPECT_THAT(etagd_.startup_line, HasSubstr("TLS, gRPC clients need a certificate"));
    EXPECT_THAT(etagd_.startup_line, HasSubstr("bearer tokens from " + tokens_path_));
    // The resources the calls below read.
    std::unique_ptr<Client> admin = GrpcClient(Credential::kValid);
    for (const char* name : {kShared, kTenantDoc}) {
      v1::PutResourceRequest put;
      put.set_name(name);
      put.set_content("hello");
      ASSERT_THAT(admin->Put(put), IsOk());
    }
  }

  void TearDown() override {
    for (Subprocess* process : {gateway_.get(), etagd_.process.get()}) {
      if (process == nullptr) continue;
      EXPECT_THAT(process->Signal(SIGTERM), IsOk());
      absl::StatusOr<int> exit_code = process->Wait(kTimeout);
      EXPECT_THAT(exit_code, IsOk());
      ExpectNoToken(process->stderr_text(), "stderr");
      ExpectNoToken(process->stdout_text(), "stdout");
    }
  }

  ClientOptions GrpcOptions(Credential c) const {
    ClientOptions options;
    options.timeout = absl::Seconds(20);
    options.tls.ca_file = c == Credential::kWrongCa ? pki_.other_ca_cert : pki_.ca_cert;
    if (c == Credential::kWrongClientCa) {
      options.tls.cert_file = pki_.other_client_cert;
      options.tls.key_file = pki_.other_client_key;
    } else if (c != Credential::kNoClientCert) {
      options.tls.cert_file = pki_.client_cert;
      options.tls.key_file = pki_.client_key;
    }
    options.tls.server_name = "localhost";
    options.bearer_token = TokenOf(c);
    return options;
  }

  std::unique_ptr<Client> GrpcClient(Credential c) const {
    absl::StatusOr<std::unique_ptr<Client>> client =
        Client::Open(etagd_.target(), GrpcOptions(c));
    EXPECT_THAT(client, IsOk());
    return client.ok() ? *std::move(client) : nullptr;
  }

  TlsClientOptions HttpsOptions(Credential c) const {
    TlsClientOptions options;
    options.ca_file = c == Credential::kWrongCa ? pki_.other_ca_cert : pki_.ca_cert;
    return options;
  }

  // Makes `name` exist (for Delete) with the admin token.
  void Ensure(const std::string& name) {
    v1::PutResourceRequest put;
    put.set_name(name);
    put.set_content("hello");
    ASSERT_THAT(GrpcClient(Credential::kValid)->Put(put), IsOk());
  }

  absl::Status CallRpc(Rpc rpc, Credential c) {
    const std::string name = NameFor(c);
    std::unique_ptr<Client> client = GrpcClient(c);
    if (client == nullptr) return absl::InternalError("no client");
    switch (rpc) {
      case Rpc::kGetResource: {
        v1::GetResourceRequest r;
        r.set_name(name);
        return client->Get(r).status();
      }
      case Rpc::kPutResource: {
        v1::PutResourceRequest r;
        r.set_name(name);
        r.set_content("new");
        return client->Put(r).status();
      }
      case Rpc::kDeleteResource: {
        Ensure(name);
        v1::DeleteResourceRequest r;
        r.set_name(name);
        return client->Delete(r).status();
      }
      case Rpc::kListResources: {
        v1::ListResourcesRequest r;
        r.set_prefix(name.substr(0, name.find('/') + 1));
        return client->List(r).status();
      }
      case Rpc::kListVersions: {
        v1::ListVersionsRequest r;
        r.set_name(name);
        return client->ListVersions(r).status();
      }
      case Rpc::kWatch: {
        v1::WatchRequest r;
        r.set_prefix(name.substr(0, name.find('/') + 1));
        // The first response (progress) shows the watch was allowed.
        return client->Watch(r, [](const v1::WatchResponse&) { return false; });
      }
      case Rpc::kCreateCheckpoint: {
        v1::CreateCheckpointRequest r;
        r.set_name(absl::StrCat("checkpoint-", ++checkpoints_));
        return client->CreateCheckpoint(r).status();
      }
      case Rpc::kImportVersion: {
        // A fresh name each time: admin calls ignore names, and the target
        // refuses to import over a resource the import did not write.
        v1::ImportVersionRequest r;
        r.set_name(absl::StrCat("imported/", ++imports_));
        r.set_content("copied");
        r.mutable_update_time()->set_seconds(1'600'000'000);
        r.set_import_id("0123456789abcdef");
        r.set_source_revision(1);
        return client->ImportVersion(r).status();
      }
    }
    return absl::InternalError("unknown RPC");
  }

  TestPki pki_;
  std::string tokens_path_;
  EtagdProcess etagd_;
  int http_port_ = 0;
  std::unique_ptr<Subprocess> gateway_;
  int checkpoints_ = 0;
  int imports_ = 0;
};

// ---------------------------------------------------------------------------
// The authorization matrix over gRPC: every RPC x every kind of caller.

absl::StatusCode ExpectedGrpc(Rpc rpc, Credential c) {
  const bool write = rpc == Rpc::kPutResource || rpc == Rpc::kDeleteResource;
  const bool admin = rpc == Rpc::kCreateCheckpoint || rpc == Rpc::kImportVersion;
  switch (c) {
    case Credential::kNone:
    case Credential::kUnknownToken:
      return absl::StatusCode::kUnauthenticated;
    case Credential::kWrongCa:
    case Credential::kWrongClientCa:
    case Credential::kNoClientCert:
      return absl::StatusCode::kUnavailable;  // no connection at all
    case Credential::kReadOnly:
      return write || admin ? absl::StatusCode::kPermissionDenied : absl::StatusCode::kOk;
    case Credential::kOutsidePrefix:
      return absl::StatusCode::kPermissionDenied;
    case Credential::kValid:
      return absl::StatusCode::kOk;
    case Credential::kValidInPrefix:
      // Admin calls need a token without a prefix.
      return admin ? absl::StatusCode::kPermissionDenied : absl::StatusCode::kOk;
  }
  return absl::StatusCode::kUnknown;
}

TEST_F(SecurityTest, GrpcAuthorizationMatrix) {
  for (Rpc rpc : {Rpc::kGetResource, Rpc::kPutResource, Rpc::kDeleteResource,
                  Rpc::kListResources, Rpc::kListVersions, Rpc::kWatch,
                  Rpc::kCreateCheckpoint, Rpc::kImportVersion}) {
    for (Credential c :
         {Credential::kNone, Credential::kUnknownToken, Credential::kWrongCa,
          Credential::kWrongClientCa, Credential::kNoClientCert, Credential::kReadOnly,
          Credential::kOutsidePrefix, Credential::kValid, Credential::kValidInPrefix}) {
      SCOPED_TRACE(absl::StrCat(RpcName(rpc), " with ", CredentialName(c)));
      absl::Status status = CallRpc(rpc, c);
      EXPECT_EQ(status.code(), ExpectedGrpc(rpc, c)) << status;
      ExpectNoToken(status.message(), "the error message");
    }
  }
}

TEST_F(SecurityTest, GrpcHealthNeedsNoToken) {
  // Probes present no token (here they do need a client certificate).
  ClientTlsFiles files = GrpcOptions(Credential::kNone).tls;
  grpc::ChannelArguments args;
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      GrpcChannelCredentials(files, args);
  ASSERT_THAT(credentials, IsOk());
  auto health = grpc::health::v1::Health::NewStub(
      grpc::CreateCustomChannel(etagd_.target(), *credentials, args));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  grpc::health::v1::HealthCheckRequest request;
  request.set_service("etagd.v1.Resources");
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = health->Check(&context, request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.status(), grpc::health::v1::HealthCheckResponse::SERVING);
}

TEST_F(SecurityTest, EtagctlWithoutATokenIsUnauthenticated) {
  absl::StatusOr<CommandResult> probe = RunCommand(
      DataBinaryPath("client/etagctl"),
      {"--target=" + etagd_.target(), "--ca_file=" + pki_.ca_cert,
       "--client_cert_file=" + pki_.client_cert, "--client_key_file=" + pki_.client_key,
       "--tls_server_name=localhost", "get", kShared});
  ASSERT_THAT(probe, IsOk());
  EXPECT_EQ(probe->exit_code, 1);
  EXPECT_THAT(probe->stderr_text, HasSubstr("UNAUTHENTICATED"));
  // Health needs no token: /readyz asks the server without one, and
  // answers 200.
  absl::StatusOr<HttpReply> ready =
      HttpsRequest(http_port_, HttpsOptions(Credential::kNone), "GET", "/readyz");
  ASSERT_THAT(ready, IsOk());
  EXPECT_EQ(ready->status, 200);
}

TEST_F(SecurityTest, EtagctlSendsItsTokenOverMutualTls) {
  const std::string token_file = TestPath("etagctl-token");
  WriteFile(token_file, absl::StrCat(kAdminToken, "\n"));
  absl::StatusOr<CommandResult> get = RunCommand(
      DataBinaryPath("client/etagctl"),
      {"--target=" + etagd_.target(), "--ca_file=" + pki_.ca_cert,
       "--client_cert_file=" + pki_.client_cert, "--client_key_file=" + pki_.client_key,
       "--tls_server_name=localhost", "--bearer_token_file=" + token_file, "get",
       kShared});
  ASSERT_THAT(get, IsOk());
  EXPECT_EQ(get->exit_code, 0) << get->stderr_text;
  EXPECT_EQ(get->stdout_text, "hello");
  ExpectNoToken(get->stderr_text, "etagctl's stderr");
}

// ---------------------------------------------------------------------------
// The authorization matrix over HTTP: every route x every kind of caller,
// through etagd's in-process gateway and through etagd-gateway.

struct Route {
  std::string method;
  // The target for a name ("%s" is replaced).
  std::string target;
  bool write;
  int success;
};

const std::vector<Route>& Routes() {
  static const auto* routes = new std::vector<Route>{
      {"GET", "/v1/resources/%s", false, 200},
      {"HEAD", "/v1/resources/%s", false, 200},
      {"PUT", "/v1/resources/%s", true, 204},
      {"DELETE", "/v1/resources/%s", true, 204},
      {"GET", "/v1/resources?prefix=%p", false, 200},
      {"GET", "/v1/history/%s", false, 200},
  };
  return *routes;
}

std::string TargetFor(const Route& route, const std::string& name) {
  std::string target = route.target;
  if (size_t at = target.find("%s"); at != std::string::npos) {
    target.replace(at, 2, name);
  }
  if (size_t at = target.find("%p"); at != std::string::npos) {
    target.replace(at, 2, name.substr(0, name.find('/') + 1));
  }
  return target;
}

// 0: the TLS handshake fails.
int ExpectedHttp(const Route& route, Credential c) {
  switch (c) {
    case Credential::kNone:
    case Credential::kUnknownToken:
      return 401;
    case Credential::kWrongCa:
      return 0;
    case Credential::kReadOnly:
      return route.write ? 403 : route.success;
    case Credential::kOutsidePrefix:
      return 403;
    default:
      return route.success;
  }
}

void ExpectHttpMatrix(int port,
                      const std::function<TlsClientOptions(Credential)>& tls,
                      const std::function<void(const std::string&)>& ensure) {
  for (const Route& route : Routes()) {
    for (Credential c : {Credential::kNone, Credential::kUnknownToken,
                         Credential::kWrongCa, Credential::kReadOnly,
                         Credential::kOutsidePrefix, Credential::kValid,
                         Credential::kValidInPrefix}) {
      const std::string name = NameFor(c);
      const std::string target = TargetFor(route, name);
      SCOPED_TRACE(absl::StrCat(route.method, " ", target, " with ", CredentialName(c)));
      ensure(name);
      std::vector<std::pair<std::string, std::string>> headers;
      if (!TokenOf(c).empty()) {
        headers.push_back({"Authorization", absl::StrCat("Bearer ", TokenOf(c))});
      }
      absl::StatusOr<HttpReply> reply =
          HttpsRequest(port, tls(c), route.method, target, headers,
                       route.method == "PUT" ? "new" : "");
      const int expected = ExpectedHttp(route, c);
      if (expected == 0) {
        EXPECT_THAT(reply, StatusIs(absl::StatusCode::kUnavailable, "handshake"));
        continue;
      }
      ASSERT_THAT(reply, IsOk());
      EXPECT_EQ(reply->status, expected) << reply->body;
      // RFC 6750 §3: the challenge, and why a token was refused.
      const std::string challenge = reply->Header("www-authenticate").value_or("");
      if (expected == 401) {
        EXPECT_THAT(challenge, ::testing::StartsWith("Bearer realm=\"etagd\""));
        if (c == Credential::kUnknownToken) {
          EXPECT_THAT(challenge, HasSubstr("error=\"invalid_token\""));
        }
      } else if (expected == 403) {
        EXPECT_THAT(challenge, HasSubstr("error=\"insufficient_scope\""));
      }
      ExpectNoToken(reply->body, "the response body");
      for (const auto& [field, value] : reply->headers) {
        ExpectNoToken(value, field);
      }
    }
  }
}

TEST_F(SecurityTest, HttpAuthorizationMatrixInProcess) {
  ExpectHttpMatrix(
      http_port_, [this](Credential c) { return HttpsOptions(c); },
      [this](const std::string& name) { Ensure(name); });
}

TEST_F(SecurityTest, HttpAuthorizationMatrixThroughEtagdGateway) {
  absl::StatusOr<std::unique_ptr<Subprocess>> gateway = Subprocess::Start(
      DataBinaryPath("gateway/etagd-gateway"),
      {"--http_listen=127.0.0.1:0", "--backend=" + etagd_.target(),
       "--backend_ca_file=" + pki_.ca_cert, "--backend_cert_file=" + pki_.client_cert,
       "--backend_key_file=" + pki_.client_key, "--backend_tls_server_name=localhost",
       "--tls_cert_file=" + pki_.server_cert, "--tls_key_file=" + pki_.server_key});
  ASSERT_THAT(gateway, IsOk());
  gateway_ = *std::move(gateway);
  absl::StatusOr<std::string> line =
      gateway_->WaitForStderrLine("serving HTTPS", kTimeout);
  ASSERT_THAT(line, IsOk());
  EXPECT_THAT(*line, HasSubstr("over TLS with a client certificate"));
  const int port = PortAfter(*line, "HTTPS");
  ASSERT_GT(port, 0) << *line;
  ExpectHttpMatrix(
      port, [this](Credential c) { return HttpsOptions(c); },
      [this](const std::string& name) { Ensure(name); });
}

TEST_F(SecurityTest, HealthReadinessAndMetricsStayOpen) {
  for (const char* path : {"/healthz", "/readyz", "/metrics"}) {
    SCOPED_TRACE(path);
    absl::StatusOr<HttpReply> reply =
        HttpsRequest(http_port_, HttpsOptions(Credential::kNone), "GET", path);
    ASSERT_THAT(reply, IsOk());
    EXPECT_EQ(reply->status, 200) << reply->body;
  }
  // CORS preflights carry no credentials (Fetch standard), so they are
  // answered without.
  absl::StatusOr<HttpReply> preflight = HttpsRequest(
      http_port_, HttpsOptions(Credential::kNone), "OPTIONS", "/v1/resources/doc");
  ASSERT_THAT(preflight, IsOk());
  EXPECT_EQ(preflight->status, 204);
}

TEST_F(SecurityTest, PlainHttpToTheTlsPortGetsNoAnswer) {
  HttpClient plain(http_port_);
  EXPECT_THAT(plain.Send("GET", "/healthz"), Not(IsOk()));
}

// ---------------------------------------------------------------------------
// TLS 1.2 is the minimum, on both ports.

TEST_F(SecurityTest, ATls11OnlyClientIsRefusedOnBothPorts) {
  TlsClientOptions tls11;
  tls11.ca_file = pki_.ca_cert;
  tls11.allow_legacy = true;  // so that the refusal is the server's
  tls11.min_version = TLS1_1_VERSION;
  tls11.max_version = TLS1_1_VERSION;
  EXPECT_THAT(TlsHandshake(http_port_, tls11),
              StatusIs(absl::StatusCode::kUnavailable, "handshake"));
  tls11.alpn = {"h2"};
  tls11.cert_file = pki_.client_cert;
  tls11.key_file = pki_.client_key;
  EXPECT_THAT(TlsHandshake(etagd_.port, tls11),
              StatusIs(absl::StatusCode::kUnavailable, "handshake"));
}

TEST_F(SecurityTest, ATls12OnlyClientIsServedOnBothPorts) {
  TlsClientOptions tls12;
  tls12.ca_file = pki_.ca_cert;
  tls12.allow_legacy = true;
  tls12.min_version = TLS1_2_VERSION;
  tls12.max_version = TLS1_2_VERSION;
  EXPECT_THAT(TlsHandshake(http_port_, tls12), IsOk());
  absl::StatusOr<HttpReply> reply = HttpsRequest(http_port_, tls12, "GET", "/healthz");
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->status, 200);
  tls12.alpn = {"h2"};
  tls12.cert_file = pki_.client_cert;
  tls12.key_file = pki_.client_key;
  EXPECT_THAT(TlsHandshake(etagd_.port, tls12), IsOk());
}

// ---------------------------------------------------------------------------
// The tokens file reloads without a restart.

absl::StatusCode GetWith(const ClientOptions& options, const std::string& target) {
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Open(target, options);
  if (!client.ok()) return client.status().code();
  v1::GetResourceRequest get;
  get.set_name(kShared);
  return (*client)->Get(get).status().code();
}

TEST_F(SecurityTest, TokensFileReloadsWhenItChanges) {
  ClientOptions later = GrpcOptions(Credential::kValid);
  later.bearer_token = kLaterToken;
  EXPECT_EQ(GetWith(later, etagd_.target()), absl::StatusCode::kUnauthenticated);

  // Swap the file (as a Secret update does): the admin token goes, a new
  // one comes. The poll sees it within its 2 s interval.
  WriteFile(tokens_path_, absl::StrCat(kLaterToken, " read\n"));
  ASSERT_THAT(etagd_.process->WaitForStderrLine("reloaded bearer tokens", kTimeout),
              IsOk());
  EXPECT_EQ(GetWith(later, etagd_.target()), absl::StatusCode::kOk);
  EXPECT_EQ(GetWith(GrpcOptions(Credential::kValid), etagd_.target()),
            absl::StatusCode::kUnauthenticated);
  absl::StatusOr<HttpReply> http = HttpsRequest(
      http_port_, HttpsOptions(Credential::kValid), "GET", "/v1/resources/shared/doc",
      {{"Authorization", absl::StrCat("Bearer ", kLaterToken)}});
  ASSERT_THAT(http, IsOk());
  EXPECT_EQ(http->status, 200);
}

TEST_F(SecurityTest, ABrokenTokensFileKeepsTheOldTokensAndSaysWhy) {
  // A token in the scope's column: the error must not quote it.
  WriteFile(tokens_path_, absl::StrCat("# broken\nread-write ", kLaterToken, "\n"));
  absl::StatusOr<std::string> error =
      etagd_.process->WaitForStderrLine("cannot reload bearer tokens", kTimeout);
  ASSERT_THAT(error, IsOk());
  EXPECT_THAT(*error, HasSubstr("level=error"));
  EXPECT_THAT(*error, HasSubstr("line 2"));
  EXPECT_THAT(*error, HasSubstr("keeping the 3 tokens loaded before"));
  EXPECT_EQ(GetWith(GrpcOptions(Credential::kValid), etagd_.target()),
            absl::StatusCode::kOk);
  ClientOptions later = GrpcOptions(Credential::kValid);
  later.bearer_token = kLaterToken;
  EXPECT_EQ(GetWith(later, etagd_.target()), absl::StatusCode::kUnauthenticated);

  // Fixed again: picked up.
  WriteFile(tokens_path_, absl::StrCat(kLaterToken, " read-write\n"));
  ASSERT_THAT(etagd_.process->WaitForStderrLine("reloaded bearer tokens", kTimeout),
              IsOk());
  EXPECT_EQ(GetWith(later, etagd_.target()), absl::StatusCode::kOk);
}

TEST_F(SecurityTest, SighupReloadsTheTokensFile) {
  // The file is unchanged, so the poll stays quiet: this reload is the
  // signal's.
  ASSERT_THAT(etagd_.process->Signal(SIGHUP), IsOk());
  absl::StatusOr<std::string> line =
      etagd_.process->WaitForStderrLine("reloaded bearer tokens", kTimeout);
  ASSERT_THAT(line, IsOk());
  EXPECT_THAT(*line, HasSubstr(": 3 tokens"));
  // SIGHUP does not stop etagd, and a changed file is read on the next one.
  WriteFile(tokens_path_, absl::StrCat(kLaterToken, " read\n"));
  ASSERT_THAT(etagd_.process->Signal(SIGHUP), IsOk());
  ASSERT_THAT(etagd_.process->WaitForStderrLine("reloaded bearer tokens", kTimeout),
              IsOk());
  ClientOptions later = GrpcOptions(Credential::kValid);
  later.bearer_token = kLaterToken;
  EXPECT_EQ(GetWith(later, etagd_.target()), absl::StatusCode::kOk);
}

// ---------------------------------------------------------------------------
// No secret in logs or error messages, through failing and succeeding calls
// and reloads (TearDown checks the logs).

TEST_F(SecurityTest, NoTokenAppearsInLogsOrErrors) {
  for (Credential c : {Credential::kUnknownToken, Credential::kReadOnly,
                       Credential::kOutsidePrefix, Credential::kValid}) {
    for (Rpc rpc : {Rpc::kPutResource, Rpc::kCreateCheckpoint}) {
      absl::Status status = CallRpc(rpc, c);
      ExpectNoToken(status.message(), "a gRPC error");
    }
    absl::StatusOr<HttpReply> reply = HttpsRequest(
        http_port_, HttpsOptions(c), "PUT", "/v1/resources/shared/x",
        {{"Authorization", absl::StrCat("Bearer ", TokenOf(c))}}, "x");
    ASSERT_THAT(reply, IsOk());
    ExpectNoToken(reply->body, "an HTTP error body");
  }
  // A malformed Authorization field and one with a token after another
  // scheme are not echoed either.
  absl::StatusOr<HttpReply> odd = HttpsRequest(
      http_port_, HttpsOptions(Credential::kNone), "GET", "/v1/resources/shared/doc",
      {{"Authorization", absl::StrCat("Basic ", kAdminToken)}});
  ASSERT_THAT(odd, IsOk());
  EXPECT_EQ(odd->status, 401);
  ExpectNoToken(odd->body, "an HTTP error body");
  // Reloads: a broken one (tokens in every column), a good one, SIGHUP.
  WriteFile(tokens_path_, absl::StrCat(kAdminToken, " ", kLaterToken, " ",
                                       kReaderToken, " ", kTenantToken, "\n"));
  ASSERT_THAT(etagd_.process->WaitForStderrLine("cannot reload", kTimeout), IsOk());
  WriteFile(tokens_path_, absl::StrCat(kLaterToken, "\tread-write\n", kAdminToken,
                                       " read shared/\n"));
  ASSERT_THAT(etagd_.process->WaitForStderrLine("reloaded bearer tokens", kTimeout),
              IsOk());
  ASSERT_THAT(etagd_.process->Signal(SIGHUP), IsOk());
  ASSERT_THAT(etagd_.process->WaitForStderrLine("reloaded bearer tokens", kTimeout),
              IsOk());
  ExpectNoToken(etagd_.process->stderr_text(), "etagd's stderr");
}

// ---------------------------------------------------------------------------
// Mutual TLS on HTTPS (--http_tls_client_ca_file), in etagd's in-process
// gateway and in etagd-gateway.

enum class HttpsServer { kEtagd, kEtagdGateway };

class HttpsClientCaTest : public ::testing::TestWithParam<HttpsServer> {
 protected:
  void SetUp() override {
    absl::StatusOr<TestPki> pki = MakeTestPki(TestPath("pki"));
    ASSERT_THAT(pki, IsOk());
    pki_ = *std::move(pki);
    const std::vector<std::string> tls = {
        "--tls_cert_file=" + pki_.server_cert, "--tls_key_file=" + pki_.server_key,
        "--http_tls_client_ca_file=" + pki_.ca_cert};
    std::string line;
    if (GetParam() == HttpsServer::kEtagd) {
      absl::StatusOr<EtagdProcess> etagd = StartEtagd(TestPath("data"), tls, kTimeout);
      ASSERT_THAT(etagd, IsOk());
      etagd_ = *std::move(etagd);
      port_ = etagd_.http_port;
      line = etagd_.startup_line;
    } else {
      absl::StatusOr<EtagdProcess> etagd =
          StartEtagd(TestPath("data"), {"--http_listen="}, kTimeout);
      ASSERT_THAT(etagd, IsOk());
      etagd_ = *std::move(etagd);
      std::vector<std::string> args = {"--http_listen=127.0.0.1:0",
                                       "--backend=" + etagd_.target()};
      args.insert(args.end(), tls.begin(), tls.end());
      absl::StatusOr<std::unique_ptr<Subprocess>> gateway =
          Subprocess::Start(DataBinaryPath("gateway/etagd-gateway"), args);
      ASSERT_THAT(gateway, IsOk());
      gateway_ = *std::move(gateway);
      absl::StatusOr<std::string> serving =
          gateway_->WaitForStderrLine("serving HTTPS", kTimeout);
      ASSERT_THAT(serving, IsOk());
      line = *serving;
      port_ = PortAfter(line, "HTTPS");
    }
    ASSERT_GT(port_, 0) << line;
    EXPECT_THAT(line, HasSubstr("HTTPS clients need a certificate"));
  }

  void TearDown() override {
    for (Subprocess* process : {gateway_.get(), etagd_.process.get()}) {
      if (process == nullptr) continue;
      EXPECT_THAT(process->Signal(SIGTERM), IsOk());
      EXPECT_THAT(process->Wait(kTimeout), IsOk());
    }
  }

  TlsClientOptions WithCertificate(const std::string& cert, const std::string& key) const {
    TlsClientOptions options;
    options.ca_file = pki_.ca_cert;
    options.cert_file = cert;
    options.key_file = key;
    return options;
  }

  TestPki pki_;
  EtagdProcess etagd_;
  std::unique_ptr<Subprocess> gateway_;
  int port_ = 0;
};

// In TLS 1.3 the client's side of the handshake ends before the server has
// checked the client's certificate; the server's refusal (an alert) comes
// with the first read. So these send a request rather than only handshake.

TEST_P(HttpsClientCaTest, RefusesAClientWithoutACertificate) {
  EXPECT_THAT(HttpsRequest(port_, WithCertificate("", ""), "GET", "/healthz"),
              StatusIs(absl::StatusCode::kUnavailable, "certificate required"));
}

TEST_P(HttpsClientCaTest, RefusesACertificateFromAnotherCa) {
  EXPECT_THAT(HttpsRequest(port_, WithCertificate(pki_.other_client_cert, pki_.other_client_key),
                           "GET", "/healthz"),
              StatusIs(absl::StatusCode::kUnavailable, "unknown ca"));
}

TEST_P(HttpsClientCaTest, AcceptsACertificateFromTheCa) {
  absl::StatusOr<HttpReply> reply =
      HttpsRequest(port_, WithCertificate(pki_.client_cert, pki_.client_key), "GET",
                   "/healthz");
  ASSERT_THAT(reply, IsOk());
  EXPECT_EQ(reply->status, 200);
}

TEST_P(HttpsClientCaTest, LeavesGrpcToItsOwnClientCaFlag) {
  if (GetParam() != HttpsServer::kEtagd) GTEST_SKIP() << "etagd-gateway serves no gRPC";
  // No --tls_client_ca_file: gRPC clients need no certificate.
  ClientOptions options;
  options.timeout = absl::Seconds(20);
  options.tls.ca_file = pki_.ca_cert;
  options.tls.server_name = "localhost";
  absl::StatusOr<std::unique_ptr<Client>> client = Client::Open(etagd_.target(), options);
  ASSERT_THAT(client, IsOk());
  v1::PutResourceRequest put;
  put.set_name("doc");
  put.set_content("hello");
  EXPECT_THAT((*client)->Put(put), IsOk());
}

INSTANTIATE_TEST_SUITE_P(BothHttpsServers, HttpsClientCaTest,
                         ::testing::Values(HttpsServer::kEtagd, HttpsServer::kEtagdGateway),
                         [](const ::testing::TestParamInfo<HttpsServer>& info) {
                           return info.param == HttpsServer::kEtagd ? "Etagd"
                                                                    : "EtagdGateway";
                         });

// A startup error over a broken tokens file names the line, not the token.
TEST(SecurityStartupTest, ABrokenTokensFileStopsEtagdWithoutQuotingIt) {
  const std::string tokens = TestPath("tokens");
  WriteFile(tokens, absl::StrCat(kAdminToken, " everything\n"));
  absl::StatusOr<CommandResult> result = RunCommand(
      DataBinaryPath("service/etagd"),
      {"--grpc_listen=127.0.0.1:0", "--data_dir=" + TestPath("data"),
       "--tokens_file=" + tokens},
      absl::nullopt, kTimeout);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->exit_code, 1);
  EXPECT_THAT(result->stderr_text, HasSubstr("cannot start: tokens file"));
  EXPECT_THAT(result->stderr_text, HasSubstr("line 1"));
  ExpectNoToken(result->stderr_text, "etagd's stderr");
}

TEST(SecurityStartupTest, AKeyThatIsNotTheCertificatesStopsEtagd) {
  absl::StatusOr<TestPki> pki = MakeTestPki(TestPath("pki"));
  ASSERT_THAT(pki, IsOk());
  absl::StatusOr<CommandResult> result = RunCommand(
      DataBinaryPath("service/etagd"),
      {"--grpc_listen=127.0.0.1:0", "--data_dir=" + TestPath("data"),
       "--tls_cert_file=" + pki->server_cert, "--tls_key_file=" + pki->client_key},
      absl::nullopt, kTimeout);
  ASSERT_THAT(result, IsOk());
  EXPECT_EQ(result->exit_code, 1);
  EXPECT_THAT(result->stderr_text, HasSubstr("is not the key of the certificate"));
  EXPECT_THAT(result->stderr_text, Not(HasSubstr("PRIVATE KEY")));
}

}  // namespace
}  // namespace etagd
