// The HTTP gateway's command-line flags, shared by etagd (which serves HTTP
// in-process unless --http_listen is empty) and etagd-gateway.
#ifndef ETAGD_GATEWAY_GATEWAY_FLAGS_H_
#define ETAGD_GATEWAY_GATEWAY_FLAGS_H_

#include <cstdint>
#include <string>

#include "absl/flags/declare.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/gateway.h"
#include "gateway/http_server.h"
#include "service/tls.h"

ABSL_DECLARE_FLAG(std::string, http_listen);
// The server certificate and key: HTTPS on --http_listen, and in etagd also
// TLS on --grpc_listen; and the CA that HTTPS clients' certificates must
// chain to.
ABSL_DECLARE_FLAG(std::string, tls_cert_file);
ABSL_DECLARE_FLAG(std::string, tls_key_file);
ABSL_DECLARE_FLAG(std::string, http_tls_client_ca_file);

namespace etagd {

// GatewayOptions from the flags; INVALID_ARGUMENT naming a bad flag.
absl::StatusOr<GatewayOptions> GatewayOptionsFromFlags();

// HttpServerOptions from the flags, accepting request content up to
// `max_content_bytes`. TLS is the caller's: ServerTlsFilesFromFlags().
absl::StatusOr<HttpServerOptions> HttpServerOptionsFromFlags(
    int64_t max_content_bytes);

// --tls_cert_file, --tls_key_file and --http_tls_client_ca_file (etagd adds
// its --tls_client_ca_file); INVALID_ARGUMENT if they do not go together.
// The files themselves are checked by CheckServerTlsFiles.
absl::StatusOr<ServerTlsFiles> ServerTlsFilesFromFlags();

// --tls_poll_interval, for ServerTlsWatcher::Start (0: SIGHUP only).
absl::StatusOr<absl::Duration> TlsPollIntervalFromFlags();

// Makes --help list the flags of every etagd source file, not only those of
// the binary's main file.
void ShowAllEtagdFlagsInHelp();

}  // namespace etagd

#endif  // ETAGD_GATEWAY_GATEWAY_FLAGS_H_
