// Certificate rotation without a restart, on the real binaries: etagd (gRPC
// and HTTPS) and etagd-gateway (HTTPS, and its client certificate for
// etagd) reload their certificate and key when the files change and on
// SIGHUP. New connections get the new
// certificate, connections opened before carry on with theirs, and files
// that do not check out keep the old certificate and say why.
// Certificates are made at run time (tests/testing/test_pki.h).
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/client_context.h"
#include "grpcpp/create_channel.h"
#include "grpcpp/security/auth_context.h"
#include "gtest/gtest.h"
#include "service/tls.h"
#include "tests/testing/files.h"
#include "tests/testing/http_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_pki.h"
#include "tests/testing/tls_client.h"

namespace etagd {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// Bounds a wait; not an expected duration.
constexpr absl::Duration kTimeout = absl::Seconds(60);

constexpr char kOldSubject[] = "CN=localhost";
constexpr char kNewSubject[] = "CN=etagd rotated";

// The port after "serving HTTPS on 127.0.0.1:" in etagd-gateway's line.
int GatewayPort(const std::string& line) {
  const std::string marker = "HTTPS on 127.0.0.1:";
  const size_t at = line.find(marker);
  return at == std::string::npos ? 0 : std::atoi(line.c_str() + at + marker.size());
}

class TlsReloadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TestPki> pki = MakeTestPki(TestPath("pki"));
    ASSERT_THAT(pki, IsOk());
    pki_ = *std::move(pki);
    absl::StatusOr<CertificateFiles> rotated =
        MakeServerCertificate(pki_, TestPath("pki") + "/rotated", "etagd rotated");
    ASSERT_THAT(rotated, IsOk());
    rotated_ = *std::move(rotated);
    cert_ = TestPath("live.crt");
    key_ = TestPath("live.key");
    Install({pki_.server_cert, pki_.server_key});
  }

  void TearDown() override {
    for (Subprocess* process : {gateway_.get(), etagd_.process.get()}) {
      if (process == nullptr) continue;
      EXPECT_THAT(process->Signal(SIGTERM), IsOk());
      EXPECT_THAT(process->Wait(kTimeout), IsOk());
      ExpectNoKeyMaterial(process->stderr_text());
      ExpectNoKeyMaterial(process->stdout_text());
    }
  }

  // Puts `pair` where the servers read, key first (between the two, the
  // files do not match; a poll then keeps the old pair).
  void Install(const CertificateFiles& pair) {
    WriteAtomically(key_, ReadAll(pair.key));
    WriteAtomically(cert_, ReadAll(pair.cert));
  }

  // etagd with TLS from the live files, mutual TLS on gRPC, HTTPS.
  void StartEtagdWithTls(const std::vector<std::string>& extra_args) {
    std::vector<std::string> args = {"--tls_cert_file=" + cert_, "--tls_key_file=" + key_,
                                     "--tls_client_ca_file=" + pki_.ca_cert};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    absl::StatusOr<EtagdProcess> etagd = StartEtagd(TestPath("data"), args, kTimeout);
    ASSERT_THAT(etagd, IsOk());
    etagd_ = *std::move(etagd);
    ASSERT_GT(etagd_.http_port, 0) << etagd_.startup_line;
  }

  // etagd-gateway serving HTTPS from the live files, in front of a
  // plaintext etagd.
  void StartGatewayWithTls(const std::vector<std::string>& extra_args) {
    absl::StatusOr<EtagdProcess> etagd =
        StartEtagd(TestPath("data"), {"--http_listen="}, kTimeout);
    ASSERT_THAT(etagd, IsOk());
    etagd_ = *std::move(etagd);
    std::vector<std::string> args = {"--http_listen=127.0.0.1:0",
                                     "--backend=" + etagd_.target(),
                                     "--tls_cert_file=" + cert_, "--tls_key_file=" + key_};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    absl::StatusOr<std::unique_ptr<Subprocess>> gateway =
        Subprocess::Start(DataBinaryPath("gateway/etagd-gateway"), args);
    ASSERT_THAT(gateway, IsOk());
    gateway_ = *std::move(gateway);
    absl::StatusOr<std::string> line = gateway_->WaitForStderrLine("serving HTTPS", kTimeout);
    ASSERT_THAT(line, IsOk());
    gateway_port_ = GatewayPort(*line);
    ASSERT_GT(gateway_port_, 0) << *line;
  }

  TlsClientOptions HttpsClient() const {
    TlsClientOptions options;
    options.ca_file = pki_.ca_cert;
    return options;
  }

  // A bare TLS client of etagd's gRPC port.
  TlsClientOptions GrpcPortClient() const {
    TlsClientOptions options = HttpsClient();
    options.alpn = {"h2"};
    options.cert_file = pki_.client_cert;
    options.key_file = pki_.client_key;
    return options;
  }

  std::shared_ptr<grpc::Channel> GrpcChannel() const {
    ClientTlsFiles files;
    files.ca_file = pki_.ca_cert;
    files.cert_file = pki_.client_cert;
    files.key_file = pki_.client_key;
    files.server_name = "localhost";
    grpc::ChannelArguments args;
    absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
        GrpcChannelCredentials(files, args);
    EXPECT_THAT(credentials, IsOk());
    return grpc::CreateCustomChannel(etagd_.target(), *credentials, args);
  }

  // The subject of the certificate a new TLS connection to `port` gets.
  static std::string NewConnectionSubject(int port, const TlsClientOptions& options) {
    absl::StatusOr<std::unique_ptr<TlsConnection>> connection =
        TlsConnection::Open(port, options);
    return connection.ok() ? (*connection)->peer_subject()
                           : std::string(connection.status().message());
  }

  // Waits until new connections to `port` get `subject` (gRPC takes up to a
  // second after the reload), and returns the last subject seen.
  static std::string AwaitNewConnectionSubject(int port, const TlsClientOptions& options,
                                               const std::string& subject) {
    const absl::Time deadline = absl::Now() + kTimeout;
    std::string seen;
    while ((seen = NewConnectionSubject(port, options)) != subject &&
           absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(50));
    }
    return seen;
  }

  void ExpectNoKeyMaterial(const std::string& text) const {
    for (const std::string& key : {pki_.server_key, rotated_.key}) {
      for (absl::string_view line : absl::StrSplit(ReadAll(key), '\n')) {
        if (line.empty() || absl::StartsWith(line, "-----")) continue;
        EXPECT_THAT(text, Not(HasSubstr(std::string(line)))) << "a log quotes a key";
      }
    }
  }

  TestPki pki_;
  CertificateFiles rotated_;
  std::string cert_;
  std::string key_;
  EtagdProcess etagd_;
  std::unique_ptr<Subprocess> gateway_;
  int gateway_port_ = 0;
};

// The common name of the certificate etagd presented on the connection a
// health check went over.
absl::StatusOr<std::string> ServerNameOfACall(const std::shared_ptr<grpc::Channel>& channel) {
  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = health->Check(&context, request, &response);
  if (!status.ok()) return absl::UnavailableError(status.error_message());
  std::vector<grpc::string_ref> names =
      context.auth_context()->FindPropertyValues("x509_common_name");
  if (names.empty()) return absl::NotFoundError("no x509_common_name");
  return std::string(names.front().data(), names.front().size());
}

// Waits until a call on a new channel goes over a connection with the
// certificate named `name`, and returns the last name seen.
std::string AwaitNewChannelServerName(const std::function<std::shared_ptr<grpc::Channel>()>& open,
                                      const std::string& name) {
  const absl::Time deadline = absl::Now() + kTimeout;
  std::string seen;
  while (absl::Now() < deadline) {
    absl::StatusOr<std::string> got = ServerNameOfACall(open());
    seen = got.ok() ? *got : std::string(got.status().message());
    if (seen == name) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return seen;
}

// ---------------------------------------------------------------------------
// etagd: gRPC and HTTPS.

TEST_F(TlsReloadTest, SighupGivesNewGrpcAndHttpsConnectionsTheNewCertificate) {
  // No polling: the reload below is the signal's.
  StartEtagdWithTls({"--tls_poll_interval=0"});
  ASSERT_EQ(NewConnectionSubject(etagd_.http_port, HttpsClient()), kOldSubject);
  ASSERT_EQ(NewConnectionSubject(etagd_.port, GrpcPortClient()), kOldSubject);

  Install(rotated_);
  ASSERT_THAT(etagd_.process->Signal(SIGHUP), IsOk());
  absl::StatusOr<std::string> line =
      etagd_.process->WaitForStderrLine("reloaded TLS certificate", kTimeout);
  ASSERT_THAT(line, IsOk());
  EXPECT_THAT(*line, HasSubstr(absl::StrCat("subject ", kNewSubject, ", serial ")));

  // HTTPS takes the certificate in force at accept time: at once.
  EXPECT_EQ(NewConnectionSubject(etagd_.http_port, HttpsClient()), kNewSubject);
  EXPECT_EQ(AwaitNewConnectionSubject(etagd_.port, GrpcPortClient(), kNewSubject),
            kNewSubject);
  EXPECT_EQ(AwaitNewChannelServerName([this] { return GrpcChannel(); }, "etagd rotated"),
            "etagd rotated");
}

TEST_F(TlsReloadTest, ConnectionsOpenedBeforeAReloadCarryOn) {
  StartEtagdWithTls({"--tls_poll_interval=0"});
  absl::StatusOr<std::unique_ptr<TlsConnection>> https =
      TlsConnection::Open(etagd_.http_port, HttpsClient());
  ASSERT_THAT(https, IsOk());
  absl::StatusOr<HttpReply> before = (*https)->Request("GET", "/healthz");
  ASSERT_THAT(before, IsOk());
  EXPECT_EQ(before->status, 200);
  std::shared_ptr<grpc::Channel> grpc = GrpcChannel();
  ASSERT_THAT(ServerNameOfACall(grpc), IsOk());

  Install(rotated_);
  ASSERT_THAT(etagd_.process->Signal(SIGHUP), IsOk());
  ASSERT_THAT(etagd_.process->WaitForStderrLine("reloaded TLS certificate", kTimeout),
              IsOk());
  ASSERT_EQ(AwaitNewConnectionSubject(etagd_.port, GrpcPortClient(), kNewSubject),
            kNewSubject);

  // Same connections, old certificate, still served.
  absl::StatusOr<HttpReply> after = (*https)->Request("GET", "/healthz");
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(after->status, 200);
  EXPECT_EQ((*https)->peer_subject(), kOldSubject);
  absl::StatusOr<std::string> name = ServerNameOfACall(grpc);
  ASSERT_THAT(name, IsOk());
  EXPECT_EQ(*name, "localhost");
}

TEST_F(TlsReloadTest, ChangedFilesAreReloadedWithinThePollIntervalWithoutSighup) {
  StartEtagdWithTls({});  // The default --tls_poll_interval, 2 s.
  const absl::Time changed = absl::Now();
  Install(rotated_);
  absl::StatusOr<std::string> line =
      etagd_.process->WaitForStderrLine("reloaded TLS certificate", kTimeout);
  ASSERT_THAT(line, IsOk());
  EXPECT_THAT(*line, HasSubstr(kNewSubject));
  // Two polls at most (one may see the key without its certificate), with
  // room for a loaded machine.
  EXPECT_LT(absl::Now() - changed, absl::Seconds(2) * 2 + absl::Seconds(5));
  EXPECT_EQ(NewConnectionSubject(etagd_.http_port, HttpsClient()), kNewSubject);
  EXPECT_EQ(AwaitNewConnectionSubject(etagd_.port, GrpcPortClient(), kNewSubject),
            kNewSubject);
}

TEST_F(TlsReloadTest, ACertificateThatDoesNotParseKeepsTheOldOneAndSaysWhy) {
  StartEtagdWithTls({"--tls_poll_interval=0"});
  WriteAtomically(cert_, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
  ASSERT_THAT(etagd_.process->Signal(SIGHUP), IsOk());
  absl::StatusOr<std::string> line =
      etagd_.process->WaitForStderrLine("cannot reload TLS certificate", kTimeout);
  ASSERT_THAT(line, IsOk());
  EXPECT_THAT(*line, HasSubstr("level=error"));
  EXPECT_THAT(*line, HasSubstr("--tls_cert_file " + cert_ + ": certificate 1 of 1 does not parse"));
  EXPECT_THAT(*line, HasSubstr(absl::StrCat("keeping the one loaded before (subject ",
                                            kOldSubject)));
  EXPECT_EQ(NewConnectionSubject(etagd_.http_port, HttpsClient()), kOldSubject);
  EXPECT_EQ(NewConnectionSubject(etagd_.port, GrpcPortClient()), kOldSubject);
  absl::StatusOr<std::string> name = ServerNameOfACall(GrpcChannel());
  ASSERT_THAT(name, IsOk());
  EXPECT_EQ(*name, "localhost");
}

TEST_F(TlsReloadTest, AKeyOfAnotherCertificateKeepsTheOldPairAndSaysWhy) {
  StartEtagdWithTls({"--tls_poll_interval=0"});
  // The new certificate without its key.
  WriteAtomically(cert_, ReadAll(rotated_.cert));
  ASSERT_THAT(etagd_.process->Signal(SIGHUP), IsOk());
  absl::StatusOr<std::string> line =
      etagd_.process->WaitForStderrLine("cannot reload TLS certificate", kTimeout);
  ASSERT_THAT(line, IsOk());
  EXPECT_THAT(*line, HasSubstr("level=error"));
  EXPECT_THAT(*line, HasSubstr("--tls_key_file " + key_ + " is not the key of the certificate"));
  EXPECT_EQ(NewConnectionSubject(etagd_.http_port, HttpsClient()), kOldSubject);
  EXPECT_EQ(NewConnectionSubject(etagd_.port, GrpcPortClient()), kOldSubject);
}

// ---------------------------------------------------------------------------
// etagd-gateway: HTTPS.

TEST_F(TlsReloadTest, EtagdGatewayReloadsOnSighupAndOpenConnectionsCarryOn) {
  StartGatewayWithTls({"--tls_poll_interval=0"});
  absl::StatusOr<std::unique_ptr<TlsConnection>> https =
      TlsConnection::Open(gateway_port_, HttpsClient());
  ASSERT_THAT(https, IsOk());
  EXPECT_EQ((*https)->peer_subject(), kOldSubject);
  ASSERT_THAT((*https)->Request("GET", "/healthz"), IsOk());

  Install(rotated_);
  ASSERT_THAT(gateway_->Signal(SIGHUP), IsOk());
  absl::StatusOr<std::string> line =
      gateway_->WaitForStderrLine("reloaded TLS certificate", kTimeout);
  ASSERT_THAT(line, IsOk());
  EXPECT_THAT(*line, HasSubstr(kNewSubject));
  EXPECT_EQ(NewConnectionSubject(gateway_port_, HttpsClient()), kNewSubject);
  absl::StatusOr<HttpReply> after = (*https)->Request("GET", "/healthz");
  ASSERT_THAT(after, IsOk());
  EXPECT_EQ(after->status, 200);
}

TEST_F(TlsReloadTest, EtagdGatewayReloadsChangedFilesWithoutSighup) {
  StartGatewayWithTls({});  // The default --tls_poll_interval, 2 s.
  Install(rotated_);
  ASSERT_THAT(gateway_->WaitForStderrLine("reloaded TLS certificate", kTimeout), IsOk());
  EXPECT_EQ(NewConnectionSubject(gateway_port_, HttpsClient()), kNewSubject);
}

TEST_F(TlsReloadTest, EtagdGatewayKeepsItsCertificateWhenTheNewOneDoesNotParse) {
  StartGatewayWithTls({"--tls_poll_interval=0"});
  WriteAtomically(cert_, "not a certificate\n");
  ASSERT_THAT(gateway_->Signal(SIGHUP), IsOk());
  absl::StatusOr<std::string> line =
      gateway_->WaitForStderrLine("cannot reload TLS certificate", kTimeout);
  ASSERT_THAT(line, IsOk());
  EXPECT_THAT(*line, HasSubstr("level=error"));
  EXPECT_THAT(*line, HasSubstr("is not a PEM file"));
  EXPECT_EQ(NewConnectionSubject(gateway_port_, HttpsClient()), kOldSubject);
}

// etagd-gateway in front of an etagd that requires client certificates
// from pki_'s CA, presenting the live client files.
class GatewayClientCertificateTest : public TlsReloadTest {
 protected:
  void StartGatewayToMutualTlsEtagd(const std::vector<std::string>& extra_args) {
    absl::StatusOr<EtagdProcess> etagd = StartEtagd(
        TestPath("data"),
        {"--tls_cert_file=" + cert_, "--tls_key_file=" + key_,
         "--tls_client_ca_file=" + pki_.ca_cert, "--http_listen="},
        kTimeout);
    ASSERT_THAT(etagd, IsOk());
    etagd_ = *std::move(etagd);
    std::vector<std::string> args = {
        "--http_listen=127.0.0.1:0", "--backend=" + etagd_.target(),
        "--backend_ca_file=" + pki_.ca_cert, "--backend_cert_file=" + client_cert_,
        "--backend_key_file=" + client_key_, "--backend_tls_server_name=localhost"};
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    absl::StatusOr<std::unique_ptr<Subprocess>> gateway =
        Subprocess::Start(DataBinaryPath("gateway/etagd-gateway"), args);
    ASSERT_THAT(gateway, IsOk());
    gateway_ = *std::move(gateway);
    absl::StatusOr<std::string> line = gateway_->WaitForStderrLine("serving HTTP", kTimeout);
    ASSERT_THAT(line, IsOk());
    const std::string marker = "HTTP on 127.0.0.1:";
    const size_t at = line->find(marker);
    ASSERT_NE(at, std::string::npos) << *line;
    gateway_port_ = std::atoi(line->c_str() + at + marker.size());
  }

  // Puts a client certificate and key where etagd-gateway reads them.
  void InstallClient(const std::string& cert, const std::string& key) {
    WriteAtomically(client_key_, ReadAll(key));
    WriteAtomically(client_cert_, ReadAll(cert));
  }

  // /readyz through the gateway: 200 once a health check reaches etagd.
  int ReadyzStatus() {
    HttpClient client(gateway_port_);
    absl::StatusOr<HttpReply> reply = client.Send("GET", "/readyz");
    return reply.ok() ? reply->status : 0;
  }

  int AwaitReadyzStatus(int status) {
    const absl::Time deadline = absl::Now() + kTimeout;
    int seen = 0;
    while ((seen = ReadyzStatus()) != status && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(100));
    }
    return seen;
  }

  const std::string client_cert_ = TestPath("live-client.crt");
  const std::string client_key_ = TestPath("live-client.key");
};

TEST_F(GatewayClientCertificateTest, ANewClientCertificateIsUsedForNewConnectionsToEtagd) {
  // A certificate of a CA etagd does not trust: every handshake fails.
  InstallClient(pki_.other_client_cert, pki_.other_client_key);
  StartGatewayToMutualTlsEtagd({});  // The default --tls_poll_interval, 2 s.
  ASSERT_EQ(AwaitReadyzStatus(503), 503);
  InstallClient(pki_.client_cert, pki_.client_key);
  ASSERT_THAT(gateway_->WaitForStderrLine("reloaded client TLS files", kTimeout), IsOk());
  EXPECT_EQ(AwaitReadyzStatus(200), 200);
}

TEST_F(GatewayClientCertificateTest, EtagdsCertificateMustCarryTheBackendServerName) {
  InstallClient(pki_.client_cert, pki_.client_key);
  StartGatewayToMutualTlsEtagd({"--backend_tls_server_name=not-etagd.example"});
  absl::SleepFor(absl::Seconds(2));
  EXPECT_EQ(ReadyzStatus(), 503);
}

TEST_F(GatewayClientCertificateTest, SighupReloadsTheClientCertificate) {
  InstallClient(pki_.other_client_cert, pki_.other_client_key);
  StartGatewayToMutualTlsEtagd({"--tls_poll_interval=0"});
  ASSERT_EQ(AwaitReadyzStatus(503), 503);
  InstallClient(pki_.client_cert, pki_.client_key);
  ASSERT_THAT(gateway_->Signal(SIGHUP), IsOk());
  ASSERT_THAT(gateway_->WaitForStderrLine("reloaded client TLS files", kTimeout), IsOk());
  EXPECT_EQ(AwaitReadyzStatus(200), 200);
}

TEST_F(GatewayClientCertificateTest, AClientKeyOfAnotherCertificateKeepsThePreviousPair) {
  InstallClient(pki_.client_cert, pki_.client_key);
  StartGatewayToMutualTlsEtagd({"--tls_poll_interval=0"});
  ASSERT_EQ(AwaitReadyzStatus(200), 200);
  WriteAtomically(client_key_, ReadAll(pki_.other_client_key));
  ASSERT_THAT(gateway_->Signal(SIGHUP), IsOk());
  absl::StatusOr<std::string> line =
      gateway_->WaitForStderrLine("cannot reload client TLS files", kTimeout);
  ASSERT_THAT(line, IsOk());
  EXPECT_THAT(*line, HasSubstr("is not the key of the certificate"));
  EXPECT_EQ(ReadyzStatus(), 200);
}

}  // namespace
}  // namespace etagd
