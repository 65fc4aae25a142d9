#include "service/tls.h"

#include <fstream>
#include <iterator>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/files.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"
#include "tests/testing/test_pki.h"

namespace etagd {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

class TlsFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<TestPki> pki = MakeTestPki(TestPath("pki"));
    ASSERT_THAT(pki, IsOk());
    pki_ = *std::move(pki);
  }

  TestPki pki_;
};

TEST_F(TlsFilesTest, NoFilesMeansNoTls) {
  EXPECT_FALSE(ServerTlsFiles().enabled());
  EXPECT_THAT(CheckServerTlsFiles(ServerTlsFiles()), IsOk());
  EXPECT_FALSE(ClientTlsFiles().enabled());
  EXPECT_THAT(CheckClientTlsFiles(ClientTlsFiles()), IsOk());
}

TEST_F(TlsFilesTest, AcceptsAMatchingCertificateAndKey) {
  ServerTlsFiles files{pki_.server_cert, pki_.server_key, pki_.ca_cert, pki_.other_ca_cert};
  EXPECT_THAT(CheckServerTlsFiles(files), IsOk());
  EXPECT_THAT(ReadServerTlsMaterial(files), IsOk());
}

TEST_F(TlsFilesTest, RefusesAKeyOfAnotherCertificateWithoutQuotingIt) {
  ServerTlsFiles files{pki_.server_cert, pki_.client_key, "", ""};
  absl::Status status = CheckServerTlsFiles(files);
  EXPECT_THAT(status, StatusIs(absl::StatusCode::kInvalidArgument,
                               "is not the key of the certificate"));
  EXPECT_THAT(std::string(status.message()), Not(HasSubstr("PRIVATE KEY")));
}

TEST_F(TlsFilesTest, NeedsBothCertificateAndKey) {
  EXPECT_THAT(CheckServerTlsFiles({pki_.server_cert, "", "", ""}),
              StatusIs(absl::StatusCode::kInvalidArgument, "go together"));
  EXPECT_THAT(CheckServerTlsFiles({"", pki_.server_key, "", ""}),
              StatusIs(absl::StatusCode::kInvalidArgument, "go together"));
}

TEST_F(TlsFilesTest, AClientCaNeedsAServerCertificate) {
  EXPECT_THAT(CheckServerTlsFiles({"", "", pki_.ca_cert, ""}),
              StatusIs(absl::StatusCode::kInvalidArgument, "--tls_client_ca_file"));
  EXPECT_THAT(CheckServerTlsFiles({"", "", "", pki_.ca_cert}),
              StatusIs(absl::StatusCode::kInvalidArgument, "--http_tls_client_ca_file"));
}

TEST_F(TlsFilesTest, NamesAMissingFile) {
  EXPECT_THAT(CheckServerTlsFiles({TestPath("missing.crt"), pki_.server_key, "", ""}),
              StatusIs(absl::StatusCode::kInvalidArgument, "cannot read --tls_cert_file"));
}

TEST_F(TlsFilesTest, MaterialHoldsWhatWasCheckedAndSummarizesTheCertificate) {
  ServerTlsFiles files{pki_.server_cert, pki_.server_key, pki_.ca_cert, pki_.other_ca_cert};
  absl::StatusOr<ServerTlsMaterial> material = ReadServerTlsMaterial(files);
  ASSERT_THAT(material, IsOk());
  EXPECT_EQ(material->cert_chain, ReadAll(pki_.server_cert));
  EXPECT_EQ(material->private_key, ReadAll(pki_.server_key));
  EXPECT_EQ(material->client_ca, ReadAll(pki_.ca_cert));
  EXPECT_EQ(material->http_client_ca, ReadAll(pki_.other_ca_cert));
  EXPECT_THAT(material->summary, HasSubstr("subject CN=localhost, serial "));
  EXPECT_THAT(material->summary, HasSubstr(", expires 20"));
  EXPECT_THAT(material->summary, Not(HasSubstr("PRIVATE")));
}

TEST_F(TlsFilesTest, RefusesATruncatedCertificateChain) {
  // The server certificate, then the CA's cut in half (a copy interrupted).
  const std::string ca = ReadAll(pki_.ca_cert);
  const std::string path = TestPath("truncated.crt");
  std::ofstream(path) << ReadAll(pki_.server_cert) << ca.substr(0, ca.size() / 2);
  EXPECT_THAT(CheckServerTlsFiles({path, pki_.server_key, "", ""}),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       "certificate 2 of 2 does not parse"));
  EXPECT_THAT(CheckServerTlsFiles({pki_.server_cert, pki_.server_key, "", path}),
              StatusIs(absl::StatusCode::kInvalidArgument, "--http_tls_client_ca_file"));
}

TEST_F(TlsFilesTest, RefusesAFileThatIsNotPem) {
  const std::string path = TestPath("not-pem");
  std::ofstream(path) << "hello\n";
  EXPECT_THAT(ReadPemFile(path, "--tls_cert_file"),
              StatusIs(absl::StatusCode::kInvalidArgument, "is not a PEM file"));
}

TEST_F(TlsFilesTest, ClientFilesNeedACaAndAPairedKey) {
  ClientTlsFiles no_ca;
  no_ca.cert_file = pki_.client_cert;
  no_ca.key_file = pki_.client_key;
  EXPECT_THAT(CheckClientTlsFiles(no_ca),
              StatusIs(absl::StatusCode::kInvalidArgument, "needs a CA file"));
  ClientTlsFiles no_key;
  no_key.ca_file = pki_.ca_cert;
  no_key.cert_file = pki_.client_cert;
  EXPECT_THAT(CheckClientTlsFiles(no_key),
              StatusIs(absl::StatusCode::kInvalidArgument, "go together"));
  ClientTlsFiles good = no_key;
  good.key_file = pki_.client_key;
  grpc::ChannelArguments args;
  EXPECT_THAT(GrpcChannelCredentials(good, args), IsOk());
}

}  // namespace
}  // namespace etagd
