#include "tests/testing/test_pki.h"

#include <filesystem>
#include <system_error>
#include <vector>

#include "absl/strings/str_cat.h"
#include "tests/testing/subprocess.h"

namespace etagd {
namespace {

constexpr char kOpenssl[] = "/usr/bin/openssl";

absl::Status Openssl(const std::vector<std::string>& args) {
  absl::StatusOr<CommandResult> result = RunCommand(kOpenssl, args);
  if (!result.ok()) return result.status();
  if (result->exit_code != 0) {
    return absl::InternalError(absl::StrCat("openssl ", args[0], " failed:\n",
                                            result->stderr_text));
  }
  return absl::OkStatus();
}

// A self-signed CA certificate and its key.
absl::Status MakeCa(const std::string& prefix, const std::string& name) {
  return Openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt",
                  "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                  "-subj", "/CN=" + name, "-keyout", prefix + ".key", "-out",
                  prefix + ".crt", "-addext",
                  "basicConstraints=critical,CA:TRUE", "-addext",
                  "keyUsage=critical,keyCertSign,cRLSign"});
}

// A leaf certificate signed by the CA at `ca_prefix`.
absl::Status MakeLeaf(const std::string& prefix, const std::string& ca_prefix,
                      const std::string& name,
                      const std::vector<std::string>& extensions) {
  std::vector<std::string> args = {
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
      "-nodes", "-days", "2", "-subj", "/CN=" + name, "-keyout", prefix + ".key",
      "-out", prefix + ".crt", "-CA", ca_prefix + ".crt", "-CAkey",
      ca_prefix + ".key", "-addext", "basicConstraints=CA:FALSE"};
  for (const std::string& extension : extensions) {
    args.push_back("-addext");
    args.push_back(extension);
  }
  return Openssl(args);
}

std::vector<std::string> ServerExtensions() {
  return {"subjectAltName=DNS:localhost,IP:127.0.0.1", "extendedKeyUsage=serverAuth"};
}

}  // namespace

absl::StatusOr<TestPki> MakeTestPki(const std::string& dir) {
  std::error_code error;
  std::filesystem::create_directories(dir, error);
  if (error) return absl::InternalError(absl::StrCat("mkdir ", dir, ": ", error.message()));
  const std::string ca = dir + "/ca";
  const std::string other_ca = dir + "/other-ca";
  if (absl::Status s = MakeCa(ca, "etagd test CA"); !s.ok()) return s;
  if (absl::Status s = MakeCa(other_ca, "unrelated test CA"); !s.ok()) return s;
  if (absl::Status s = MakeLeaf(dir + "/server", ca, "localhost", ServerExtensions());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = MakeLeaf(dir + "/client", ca, "client",
                                {"extendedKeyUsage=clientAuth"});
      !s.ok()) {
    return s;
  }
  if (absl::Status s = MakeLeaf(dir + "/other-client", other_ca, "client",
                                {"extendedKeyUsage=clientAuth"});
      !s.ok()) {
    return s;
  }
  TestPki pki;
  pki.ca_cert = ca + ".crt";
  pki.server_cert = dir + "/server.crt";
  pki.server_key = dir + "/server.key";
  pki.client_cert = dir + "/client.crt";
  pki.client_key = dir + "/client.key";
  pki.other_ca_cert = other_ca + ".crt";
  pki.other_client_cert = dir + "/other-client.crt";
  pki.other_client_key = dir + "/other-client.key";
  return pki;
}

absl::StatusOr<CertificateFiles> MakeServerCertificate(const TestPki& pki,
                                                       const std::string& prefix,
                                                       const std::string& common_name) {
  const std::string ca = pki.ca_cert.substr(0, pki.ca_cert.size() - 4);  // ".crt"
  if (absl::Status s = MakeLeaf(prefix, ca, common_name, ServerExtensions()); !s.ok()) {
    return s;
  }
  return CertificateFiles{prefix + ".crt", prefix + ".key"};
}

}  // namespace etagd
