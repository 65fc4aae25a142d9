#include "service/tls_watcher.h"

#include <cstdio>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "grpcpp/server.h"
#include "grpcpp/server_builder.h"
#include "gtest/gtest.h"
#include "tests/testing/files.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_pki.h"
#include "tests/testing/tls_client.h"

namespace etagd {
namespace {

using ::testing::HasSubstr;

// Bounds a wait; not an expected duration.
constexpr absl::Duration kDeadline = absl::Seconds(30);

class ServerTlsWatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TestPki> pki = MakeTestPki(TestPath("pki"));
    ASSERT_THAT(pki, IsOk());
    pki_ = *std::move(pki);
    absl::StatusOr<CertificateFiles> rotated =
        MakeServerCertificate(pki_, TestPath("pki") + "/rotated", "etagd rotated");
    ASSERT_THAT(rotated, IsOk());
    rotated_ = *std::move(rotated);
    files_.cert_file = TestPath("live.crt");
    files_.key_file = TestPath("live.key");
    Install({pki_.server_cert, pki_.server_key});
  }

  // Puts `pair` where the watcher reads, key first.
  void Install(const CertificateFiles& pair) {
    WriteAtomically(files_.key_file, ReadAll(pair.key));
    WriteAtomically(files_.cert_file, ReadAll(pair.cert));
  }

  std::shared_ptr<ServerTlsWatcher> StartWatcher(
      absl::Duration poll_interval = absl::ZeroDuration()) {
    absl::StatusOr<std::shared_ptr<ServerTlsWatcher>> watcher =
        ServerTlsWatcher::Start(files_, poll_interval);
    EXPECT_THAT(watcher, IsOk());
    return watcher.ok() ? *std::move(watcher) : nullptr;
  }

  TestPki pki_;
  CertificateFiles rotated_;
  ServerTlsFiles files_;
};

TEST_F(ServerTlsWatcherTest, LoadsTheFilesAtStart) {
  std::shared_ptr<ServerTlsWatcher> watcher = StartWatcher();
  ASSERT_NE(watcher, nullptr);
  EXPECT_EQ(watcher->Current()->cert_chain, ReadAll(pki_.server_cert));
  EXPECT_THAT(watcher->Current()->summary, HasSubstr("subject CN=localhost"));
}

TEST_F(ServerTlsWatcherTest, RefusesToStartWithAKeyOfAnotherCertificate) {
  WriteAtomically(files_.key_file, ReadAll(pki_.client_key));
  EXPECT_THAT(ServerTlsWatcher::Start(files_, absl::ZeroDuration()),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "is not the key of the certificate"));
}

TEST_F(ServerTlsWatcherTest, ReloadIfChangedTakesANewPairAndTellsListeners) {
  std::shared_ptr<ServerTlsWatcher> watcher = StartWatcher();
  ASSERT_NE(watcher, nullptr);
  std::vector<std::string> told;
  ASSERT_THAT(watcher->AddListener([&told](const ServerTlsMaterial& material) {
    told.push_back(material.summary);
    return absl::OkStatus();
  }),
              IsOk());
  Install(rotated_);
  watcher->ReloadIfChanged();
  EXPECT_THAT(watcher->Current()->summary, HasSubstr("subject CN=etagd rotated"));
  EXPECT_EQ(watcher->Current()->private_key, ReadAll(rotated_.key));
  // Once on joining, with what was in force, and once for the reload.
  ASSERT_EQ(told.size(), 2u);
  EXPECT_THAT(told[0], HasSubstr("subject CN=localhost"));
  EXPECT_EQ(told[1], watcher->Current()->summary);
}

TEST_F(ServerTlsWatcherTest, ReloadIfChangedDoesNothingWhenNoFileChanged) {
  std::shared_ptr<ServerTlsWatcher> watcher = StartWatcher();
  ASSERT_NE(watcher, nullptr);
  std::shared_ptr<const ServerTlsMaterial> before = watcher->Current();
  int told = 0;
  ASSERT_THAT(watcher->AddListener([&told](const ServerTlsMaterial&) {
    ++told;
    return absl::OkStatus();
  }),
              IsOk());
  watcher->ReloadIfChanged();
  EXPECT_EQ(watcher->Current(), before);
  EXPECT_EQ(told, 1);  // On joining only.
  // Reload() reads again even so.
  watcher->Reload();
  EXPECT_NE(watcher->Current(), before);
  EXPECT_EQ(told, 2);
}

TEST_F(ServerTlsWatcherTest, ACertificateThatDoesNotParseKeepsThePreviousOne) {
  std::shared_ptr<ServerTlsWatcher> watcher = StartWatcher();
  ASSERT_NE(watcher, nullptr);
  std::shared_ptr<const ServerTlsMaterial> before = watcher->Current();
  int told = 0;
  ASSERT_THAT(watcher->AddListener([&told](const ServerTlsMaterial&) {
    ++told;
    return absl::OkStatus();
  }),
              IsOk());
  WriteAtomically(files_.cert_file,
                  "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
  watcher->ReloadIfChanged();
  EXPECT_EQ(watcher->Current(), before);
  EXPECT_EQ(told, 1);  // On joining only.
}

TEST_F(ServerTlsWatcherTest, AListenerThatFailsOnJoiningIsNotAdded) {
  std::shared_ptr<ServerTlsWatcher> watcher = StartWatcher();
  ASSERT_NE(watcher, nullptr);
  int calls = 0;
  EXPECT_THAT(watcher->AddListener([&calls](const ServerTlsMaterial&) {
    ++calls;
    return absl::InternalError("no room");
  }),
              StatusIs(absl::StatusCode::kInternal, "no room"));
  Install(rotated_);
  watcher->ReloadIfChanged();
  EXPECT_EQ(calls, 1);
}

TEST_F(ServerTlsWatcherTest, AKeyOfAnotherCertificateKeepsThePreviousPair) {
  std::shared_ptr<ServerTlsWatcher> watcher = StartWatcher();
  ASSERT_NE(watcher, nullptr);
  std::shared_ptr<const ServerTlsMaterial> before = watcher->Current();
  // Half a rotation: the new certificate, the old key.
  WriteAtomically(files_.cert_file, ReadAll(rotated_.cert));
  watcher->ReloadIfChanged();
  EXPECT_EQ(watcher->Current(), before);
  // The other half: now they match.
  WriteAtomically(files_.key_file, ReadAll(rotated_.key));
  watcher->ReloadIfChanged();
  EXPECT_THAT(watcher->Current()->summary, HasSubstr("subject CN=etagd rotated"));
}

TEST_F(ServerTlsWatcherTest, PollingReloadsAChangedFileUnasked) {
  std::shared_ptr<ServerTlsWatcher> watcher = StartWatcher(absl::Milliseconds(20));
  ASSERT_NE(watcher, nullptr);
  Install(rotated_);
  const absl::Time deadline = absl::Now() + kDeadline;
  while (!absl::StrContains(watcher->Current()->summary, "CN=etagd rotated") &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(10));
  }
  EXPECT_THAT(watcher->Current()->summary, HasSubstr("subject CN=etagd rotated"));
}

// A gRPC server on port 0 with the watcher's credentials and a health
// service that answers UNIMPLEMENTED: enough for handshakes.
std::unique_ptr<grpc::Server> StartGrpc(ServerTlsWatcher& watcher,
                                        grpc::health::v1::Health::Service& service,
                                        int& port) {
  absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> credentials =
      GrpcServerCredentials(watcher);
  EXPECT_THAT(credentials, IsOk());
  if (!credentials.ok()) return nullptr;
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", *credentials, &port);
  builder.RegisterService(&service);
  return builder.BuildAndStart();
}

// The subject of the certificate a new connection to `port` gets.
std::string NewConnectionSubject(int port, const TlsClientOptions& options) {
  absl::StatusOr<std::unique_ptr<TlsConnection>> connection =
      TlsConnection::Open(port, options);
  return connection.ok() ? (*connection)->peer_subject()
                         : std::string(connection.status().message());
}

TEST_F(ServerTlsWatcherTest, GrpcCredentialsGiveNewConnectionsTheReloadedCertificate) {
  std::shared_ptr<ServerTlsWatcher> watcher = StartWatcher();
  ASSERT_NE(watcher, nullptr);
  grpc::health::v1::Health::Service service;
  int port = 0;
  std::unique_ptr<grpc::Server> server = StartGrpc(*watcher, service, port);
  ASSERT_NE(server, nullptr);
  TlsClientOptions options;
  options.ca_file = pki_.ca_cert;
  options.alpn = {"h2"};
  EXPECT_EQ(NewConnectionSubject(port, options), "CN=localhost");

  Install(rotated_);
  watcher->ReloadIfChanged();
  // gRPC's provider looks at the new copy within a second.
  const absl::Time deadline = absl::Now() + kDeadline;
  std::string subject;
  while ((subject = NewConnectionSubject(port, options)) != "CN=etagd rotated" &&
         absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_EQ(subject, "CN=etagd rotated");
  server->Shutdown();
}

}  // namespace
}  // namespace etagd
