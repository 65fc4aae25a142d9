#include "service/tls.h"

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpc/grpc_security_constants.h"
#include "service/status_macros.h"

namespace etagd {
namespace {

// PEM files of certificates and keys are a few KiB; a CA bundle ~200 KiB.
constexpr size_t kMaxPemBytes = 4 << 20;

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

std::unique_ptr<BIO, BioFree> MemoryBio(const std::string& pem) {
  return std::unique_ptr<BIO, BioFree>(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// A certificate and key that belong together. Errors name the flags, never
// quote the files (the key is a secret).
absl::Status CheckKeyPair(const std::string& cert_flag, const std::string& cert_path,
                          const std::string& key_flag, const std::string& key_path) {
  ETAGD_ASSIGN_OR_RETURN(std::string cert_pem, ReadPemFile(cert_path, cert_flag));
  ETAGD_ASSIGN_OR_RETURN(std::string key_pem, ReadPemFile(key_path, key_flag));
  auto cert_bio = MemoryBio(cert_pem);
  std::unique_ptr<X509, X509Free> cert(
      PEM_read_bio_X509(cert_bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        cert_flag, " ", cert_path, " holds no PEM certificate"));
  }
  auto key_bio = MemoryBio(key_pem);
  // No passphrase callback: an encrypted key fails here instead of asking
  // on the terminal.
  std::unique_ptr<EVP_PKEY, KeyFree> key(PEM_read_bio_PrivateKey(
      key_bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        key_flag, " ", key_path,
        " holds no unencrypted PEM private key"));
  }
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        key_flag, " ", key_path, " is not the key of the certificate in ",
        cert_flag, " ", cert_path));
  }
  return absl::OkStatus();
}

absl::Status CheckCertificates(const std::string& flag, const std::string& path) {
  ETAGD_ASSIGN_OR_RETURN(std::string pem, ReadPemFile(path, flag));
  auto bio = MemoryBio(pem);
  std::unique_ptr<X509, X509Free> cert(
      PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (cert == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, " holds no PEM certificate"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> ReadPemFile(const std::string& path,
                                        absl::string_view what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cannot read ", what, " ", path, ": ", std::strerror(errno)));
  }
  std::string text;
  text.resize(kMaxPemBytes + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) {
    return absl::InvalidArgumentError(absl::StrCat("cannot read ", what, " ", path));
  }
  text.resize(static_cast<size_t>(in.gcount()));
  if (text.size() > kMaxPemBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", path, " is larger than 4 MiB"));
  }
  if (!absl::StrContains(text, "-----BEGIN ")) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, " ", path, " is not a PEM file"));
  }
  return text;
}

absl::Status CheckServerTlsFiles(const ServerTlsFiles& files) {
  if (!files.enabled()) {
    if (!files.client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "--tls_client_ca_file needs --tls_cert_file and --tls_key_file");
    }
    return absl::OkStatus();
  }
  if (files.cert_file.empty() || files.key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert_file and --tls_key_file go together");
  }
  ETAGD_RETURN_IF_ERROR(CheckKeyPair("--tls_cert_file", files.cert_file,
                                     "--tls_key_file", files.key_file));
  if (!files.client_ca_file.empty()) {
    ETAGD_RETURN_IF_ERROR(
        CheckCertificates("--tls_client_ca_file", files.client_ca_file));
  }
  return absl::OkStatus();
}

absl::Status CheckClientTlsFiles(const ClientTlsFiles& files) {
  if (!files.enabled()) {
    if (!files.cert_file.empty() || !files.key_file.empty() ||
        !files.server_name.empty()) {
      return absl::InvalidArgumentError(
          "a client certificate, key or TLS server name needs a CA file "
          "(TLS is on only with a CA file)");
    }
    return absl::OkStatus();
  }
  ETAGD_RETURN_IF_ERROR(CheckCertificates("CA file", files.ca_file));
  if (files.cert_file.empty() != files.key_file.empty()) {
    return absl::InvalidArgumentError(
        "a client certificate file and key file go together");
  }
  if (!files.cert_file.empty()) {
    ETAGD_RETURN_IF_ERROR(CheckKeyPair("client certificate file", files.cert_file,
                                       "client key file", files.key_file));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> GrpcServerCredentials(
    const ServerTlsFiles& files) {
  ETAGD_RETURN_IF_ERROR(CheckServerTlsFiles(files));
  if (!files.enabled()) return grpc::InsecureServerCredentials();
  // gRPC's TLS server accepts TLS 1.2 and 1.3 only (its default minimum).
  grpc::SslServerCredentialsOptions options(
      files.client_ca_file.empty()
          ? GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE
          : GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  grpc::SslServerCredentialsOptions::PemKeyCertPair pair;
  ETAGD_ASSIGN_OR_RETURN(pair.cert_chain,
                         ReadPemFile(files.cert_file, "--tls_cert_file"));
  ETAGD_ASSIGN_OR_RETURN(pair.private_key,
                         ReadPemFile(files.key_file, "--tls_key_file"));
  options.pem_key_cert_pairs.push_back(std::move(pair));
  if (!files.client_ca_file.empty()) {
    ETAGD_ASSIGN_OR_RETURN(options.pem_root_certs,
                           ReadPemFile(files.client_ca_file, "--tls_client_ca_file"));
  }
  return grpc::SslServerCredentials(options);
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> GrpcChannelCredentials(
    const ClientTlsFiles& files, grpc::ChannelArguments& args) {
  ETAGD_RETURN_IF_ERROR(CheckClientTlsFiles(files));
  if (!files.enabled()) return grpc::InsecureChannelCredentials();
  grpc::SslCredentialsOptions options;
  ETAGD_ASSIGN_OR_RETURN(options.pem_root_certs, ReadPemFile(files.ca_file, "CA file"));
  if (!files.cert_file.empty()) {
    ETAGD_ASSIGN_OR_RETURN(options.pem_cert_chain,
                           ReadPemFile(files.cert_file, "client certificate file"));
    ETAGD_ASSIGN_OR_RETURN(options.pem_private_key,
                           ReadPemFile(files.key_file, "client key file"));
  }
  if (!files.server_name.empty()) {
    args.SetSslTargetNameOverride(files.server_name);
  }
  return grpc::SslCredentials(options);
}

}  // namespace etagd
