// Certificates for TLS tests, made at run time with Debian's openssl
// command (no keys in the repository): a CA with a server certificate for
// localhost/127.0.0.1 and a client certificate, and an unrelated CA with a
// client certificate of its own; and more server certificates on demand.
#ifndef ETAGD_TESTS_TESTING_TEST_PKI_H_
#define ETAGD_TESTS_TESTING_TEST_PKI_H_

#include <string>

#include "absl/status/statusor.h"

namespace etagd {

struct TestPki {
  // PEM files, all under the directory given to MakeTestPki.
  std::string ca_cert;
  std::string server_cert;  // signed by ca_cert; localhost and 127.0.0.1
  std::string server_key;
  std::string client_cert;  // signed by ca_cert
  std::string client_key;
  std::string other_ca_cert;      // signed nothing above
  std::string other_client_cert;  // signed by other_ca_cert
  std::string other_client_key;
};

// Creates `dir` and the files in it (P-256 keys, valid for two days).
absl::StatusOr<TestPki> MakeTestPki(const std::string& dir);

struct CertificateFiles {
  std::string cert;
  std::string key;
};

// Another server certificate for localhost and 127.0.0.1, signed by
// pki.ca_cert, with subject CN=`common_name`: `prefix`.crt and .key (a
// certificate to rotate to).
absl::StatusOr<CertificateFiles> MakeServerCertificate(const TestPki& pki,
                                                       const std::string& prefix,
                                                       const std::string& common_name);

}  // namespace etagd

#endif  // ETAGD_TESTS_TESTING_TEST_PKI_H_
