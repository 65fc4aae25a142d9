#include "service/tls.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iterator>
#include <utility>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "service/status_macros.h"

namespace etagd {
namespace {

// PEM files of certificates and keys are a few KiB; a CA bundle ~200 KiB.
constexpr size_t kMaxPemBytes = 4 << 20;

constexpr char kCertificateBegin[] = "-----BEGIN CERTIFICATE-----";

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

// Every certificate of a PEM file, which must hold at least one and only
// certificates that parse (a truncated chain is refused, not half used).
// Errors name the flag and path, never quote the file.
absl::StatusOr<std::vector<std::unique_ptr<X509, X509Free>>> ParseCertificates(
    const std::string& pem, absl::string_view flag, const std::string& path) {
  size_t blocks = 0;
  for (size_t at = pem.find(kCertificateBegin); at != std::string::npos;
       at = pem.find(kCertificateBegin, at + 1)) {
    ++blocks;
  }
  std::vector<std::unique_ptr<X509, X509Free>> certificates;
  auto bio = MemoryBio(pem);
  while (certificates.size() < blocks) {
    std::unique_ptr<X509, X509Free> cert(
        PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (cert == nullptr) break;
    certificates.push_back(std::move(cert));
  }
  ERR_clear_error();  // What stopped the loop is reported below, not queued.
  if (blocks == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(flag, " ", path, " holds no PEM certificate"));
  }
  if (certificates.size() < blocks) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, " ", path, ": certificate ", certificates.size() + 1, " of ", blocks,
        " does not parse"));
  }
  return certificates;
}

// The private key of a PEM file. No passphrase callback: an encrypted key
// fails here instead of asking on the terminal.
absl::StatusOr<std::unique_ptr<EVP_PKEY, KeyFree>> ParsePrivateKey(
    const std::string& pem, absl::string_view flag, const std::string& path) {
  auto bio = MemoryBio(pem);
  std::unique_ptr<EVP_PKEY, KeyFree> key(PEM_read_bio_PrivateKey(
      bio.get(), nullptr, [](char*, int, int, void*) { return 0; }, nullptr));
  ERR_clear_error();
  if (key == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat(
        flag, " ", path, " holds no unencrypted PEM private key"));
  }
  return key;
}

// A certificate chain and key that belong together; the first certificate
// is the one the key must match. Errors name the flags, never quote the
// files (the key is a secret).
absl::StatusOr<std::unique_ptr<X509, X509Free>> CheckKeyPair(
    absl::string_view cert_flag, const std::string& cert_path,
    const std::string& cert_pem, absl::string_view key_flag,
    const std::string& key_path, const std::string& key_pem) {
  ETAGD_ASSIGN_OR_RETURN(auto chain, ParseCertificates(cert_pem, cert_flag, cert_path));
  ETAGD_ASSIGN_OR_RETURN(auto key, ParsePrivateKey(key_pem, key_flag, key_path));
  if (X509_check_private_key(chain.front().get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(absl::StrCat(
        key_flag, " ", key_path, " is not the key of the certificate in ",
        cert_flag, " ", cert_path));
  }
  return std::move(chain.front());
}

// "subject CN=..., serial ..., expires ...": what an operator needs to tell
// which certificate is in use.
std::string Summarize(X509* cert) {
  std::string subject = "?";
  if (auto bio = std::unique_ptr<BIO, BioFree>(BIO_new(BIO_s_mem())); bio != nullptr) {
    if (X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0,
                           XN_FLAG_RFC2253) >= 0) {
      char* data = nullptr;
      const long size = BIO_get_mem_data(bio.get(), &data);
      if (size > 0) subject.assign(data, static_cast<size_t>(size));
    }
  }
  std::string serial = "?";
  if (BIGNUM* number = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
    if (char* hex = BN_bn2hex(number)) {
      serial = hex;
      OPENSSL_free(hex);
    }
    BN_free(number);
  }
  std::string expires = "?";
  struct tm not_after;
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &not_after) == 1) {
    char text[32];
    if (strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &not_after) > 0) {
      expires = text;
    }
  }
  return absl::StrCat("subject ", subject, ", serial ", serial, ", expires ", expires);
}

absl::StatusOr<std::string> ReadCertificates(const std::string& path,
                                             absl::string_view flag) {
  ETAGD_ASSIGN_OR_RETURN(std::string pem, ReadPemFile(path, flag));
  ETAGD_RETURN_IF_ERROR(ParseCertificates(pem, flag, path).status());
  return pem;
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

absl::StatusOr<ServerTlsMaterial> ReadServerTlsMaterial(const ServerTlsFiles& files) {
  if (files.cert_file.empty() || files.key_file.empty()) {
    return absl::InvalidArgumentError(
        "--tls_cert_file and --tls_key_file go together");
  }
  ServerTlsMaterial material;
  ETAGD_ASSIGN_OR_RETURN(material.cert_chain,
                         ReadPemFile(files.cert_file, "--tls_cert_file"));
  ETAGD_ASSIGN_OR_RETURN(material.private_key,
                         ReadPemFile(files.key_file, "--tls_key_file"));
  ETAGD_ASSIGN_OR_RETURN(
      auto leaf, CheckKeyPair("--tls_cert_file", files.cert_file, material.cert_chain,
                              "--tls_key_file", files.key_file, material.private_key));
  material.summary = Summarize(leaf.get());
  if (!files.client_ca_file.empty()) {
    ETAGD_ASSIGN_OR_RETURN(
        material.client_ca,
        ReadCertificates(files.client_ca_file, "--tls_client_ca_file"));
  }
  if (!files.http_client_ca_file.empty()) {
    ETAGD_ASSIGN_OR_RETURN(
        material.http_client_ca,
        ReadCertificates(files.http_client_ca_file, "--http_tls_client_ca_file"));
  }
  return material;
}

absl::Status CheckServerTlsFiles(const ServerTlsFiles& files) {
  if (!files.enabled()) {
    if (!files.client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "--tls_client_ca_file needs --tls_cert_file and --tls_key_file");
    }
    if (!files.http_client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "--http_tls_client_ca_file needs --tls_cert_file and --tls_key_file");
    }
    return absl::OkStatus();
  }
  return ReadServerTlsMaterial(files).status();
}

absl::StatusOr<ClientTlsMaterial> ReadClientTlsMaterial(const ClientTlsFiles& files) {
  if (!files.enabled()) {
    return absl::InvalidArgumentError("TLS to the server needs a CA file");
  }
  if (files.cert_file.empty() != files.key_file.empty()) {
    return absl::InvalidArgumentError(
        "a client certificate file and key file go together");
  }
  ClientTlsMaterial material;
  ETAGD_ASSIGN_OR_RETURN(material.ca, ReadCertificates(files.ca_file, "CA file"));
  material.summary = absl::StrCat("CA file ", files.ca_file, ", no client certificate");
  if (!files.cert_file.empty()) {
    ETAGD_ASSIGN_OR_RETURN(material.cert_chain,
                           ReadPemFile(files.cert_file, "client certificate file"));
    ETAGD_ASSIGN_OR_RETURN(material.private_key,
                           ReadPemFile(files.key_file, "client key file"));
    ETAGD_ASSIGN_OR_RETURN(
        auto leaf, CheckKeyPair("client certificate file", files.cert_file,
                                material.cert_chain, "client key file",
                                files.key_file, material.private_key));
    material.summary = Summarize(leaf.get());
  }
  return material;
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
  return ReadClientTlsMaterial(files).status();
}

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> GrpcChannelCredentials(
    const ClientTlsFiles& files, grpc::ChannelArguments& args) {
  if (!files.enabled()) {
    ETAGD_RETURN_IF_ERROR(CheckClientTlsFiles(files));
    return grpc::InsecureChannelCredentials();
  }
  ETAGD_ASSIGN_OR_RETURN(ClientTlsMaterial material, ReadClientTlsMaterial(files));
  grpc::SslCredentialsOptions options;
  options.pem_root_certs = std::move(material.ca);
  options.pem_cert_chain = std::move(material.cert_chain);
  options.pem_private_key = std::move(material.private_key);
  if (!files.server_name.empty()) {
    args.SetSslTargetNameOverride(files.server_name);
  }
  return grpc::SslCredentials(options);
}

}  // namespace etagd
