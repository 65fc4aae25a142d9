// TLS from PEM files: the server's certificate and key (with optional CAs
// that gRPC and HTTPS clients' certificates must chain to: mutual TLS), and
// a gRPC client's CA, certificate and key. etagd's gRPC port and the HTTPS
// listener accept TLS 1.2 and later only. service/tls_watcher.h keeps the
// server's files current while it runs.
#ifndef ETAGD_SERVICE_TLS_H_
#define ETAGD_SERVICE_TLS_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/support/channel_arguments.h"

namespace etagd {

struct ServerTlsFiles {
  // PEM certificate chain (leaf first) and private key. Both empty: no TLS.
  std::string cert_file;
  std::string key_file;
  // PEM CA certificates; when set, gRPC clients must present a certificate
  // that chains to one of them (mutual TLS on gRPC: --tls_client_ca_file).
  std::string client_ca_file;
  // The same for HTTPS clients (--http_tls_client_ca_file).
  std::string http_client_ca_file;

  bool enabled() const { return !cert_file.empty() || !key_file.empty(); }
};

// The content of ServerTlsFiles, read and checked together: the key is the
// certificate's, every CA file holds certificates. Never logged: the key is
// a secret.
struct ServerTlsMaterial {
  std::string cert_chain;
  std::string private_key;
  // Empty when the file is not set.
  std::string client_ca;
  std::string http_client_ca;
  // The leaf certificate's subject, serial number and expiry, for logs
  // ("subject CN=etagd, serial 1A2B..., expires 2026-01-31T12:00:00Z").
  std::string summary;
};

struct ClientTlsFiles {
  // PEM CA certificates the server's certificate must chain to. Empty: no
  // TLS (and the fields below must be empty too).
  std::string ca_file;
  // PEM client certificate chain and key, for servers that require them.
  std::string cert_file;
  std::string key_file;
  // The name the server's certificate must carry, when it is not the host
  // part of the target (e.g. connecting to 127.0.0.1 inside the pod).
  std::string server_name;

  bool enabled() const { return !ca_file.empty(); }
};

// The content of ClientTlsFiles (TLS on), read and checked together as
// CheckClientTlsFiles does. Never logged: the key is a secret.
struct ClientTlsMaterial {
  std::string ca;
  // Both empty without a client certificate.
  std::string cert_chain;
  std::string private_key;
  // The client certificate's subject, serial number and expiry, or which
  // CA file is in use when there is none, for logs.
  std::string summary;
};

// The content of a PEM file, checked to hold at least one PEM block.
// `what` names the file in errors ("--tls_cert_file").
absl::StatusOr<std::string> ReadPemFile(const std::string& path,
                                        absl::string_view what);

// Reads `files` (TLS must be on) and checks them as CheckServerTlsFiles
// does, from the very bytes returned, so that what is checked is what is
// used even if a file changes meanwhile.
absl::StatusOr<ServerTlsMaterial> ReadServerTlsMaterial(const ServerTlsFiles& files);

// The same for a client's files (TLS must be on).
absl::StatusOr<ClientTlsMaterial> ReadClientTlsMaterial(const ClientTlsFiles& files);

// Checks that `files` make sense together and that the key matches the
// certificate; INVALID_ARGUMENT naming the flag or file otherwise. OK when
// TLS is off.
absl::Status CheckServerTlsFiles(const ServerTlsFiles& files);
absl::Status CheckClientTlsFiles(const ClientTlsFiles& files);

// Channel credentials for `files` (insecure when TLS is off), and the
// channel argument for files.server_name, if any, set on `args`. They keep
// the files' content as read now; tls_watcher.h has credentials that follow
// changes.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> GrpcChannelCredentials(
    const ClientTlsFiles& files, grpc::ChannelArguments& args);

}  // namespace etagd

#endif  // ETAGD_SERVICE_TLS_H_
