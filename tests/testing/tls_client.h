// Blocking TLS clients for tests: a bare handshake with chosen protocol
// versions (to show what a server refuses), the certificate the server
// presented, and HTTPS requests on one connection or one each, with
// Boost.Asio's OpenSSL binding and Beast's parser.
#ifndef ETAGD_TESTS_TESTING_TLS_CLIENT_H_
#define ETAGD_TESTS_TESTING_TLS_CLIENT_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "tests/testing/http_client.h"

namespace etagd {

struct TlsClientOptions {
  // CA certificates the server must chain to; the name checked is
  // "localhost".
  std::string ca_file;
  // A client certificate and key to present, if any.
  std::string cert_file;
  std::string key_file;
  // Protocol versions (TLS1_1_VERSION, ...); 0 leaves OpenSSL's default.
  int min_version = 0;
  int max_version = 0;
  // Lowers OpenSSL's security level to 0, so that this client can offer
  // TLS 1.0/1.1 at all and a refusal is the server's.
  bool allow_legacy = false;
  // ALPN protocols offered (gRPC servers want "h2").
  std::vector<std::string> alpn;
  // Bounds every blocking step.
  absl::Duration timeout = absl::Seconds(10);
};

// One TLS connection to 127.0.0.1:`port`, kept open across requests
// (keep-alive). Not thread-safe.
class TlsConnection {
 public:
  // Connects and completes the handshake. UNAVAILABLE naming OpenSSL's
  // reason if the handshake fails.
  static absl::StatusOr<std::unique_ptr<TlsConnection>> Open(
      int port, const TlsClientOptions& options);

  TlsConnection(const TlsConnection&) = delete;
  TlsConnection& operator=(const TlsConnection&) = delete;
  ~TlsConnection();

  // The certificate the server presented in this connection's handshake:
  // its subject ("CN=localhost") and serial number (hex).
  const std::string& peer_subject() const { return peer_subject_; }
  const std::string& peer_serial() const { return peer_serial_; }

  // Sends one request on this connection and reads the response;
  // `close` sends "Connection: close". UNAVAILABLE if I/O fails.
  absl::StatusOr<HttpReply> Request(
      const std::string& method, const std::string& target,
      const std::vector<std::pair<std::string, std::string>>& headers = {},
      const std::string& body = "", bool close = false);

 private:
  struct Io;
  explicit TlsConnection(std::unique_ptr<Io> io);

  std::unique_ptr<Io> io_;
  std::string peer_subject_;
  std::string peer_serial_;
};

// Connects to 127.0.0.1:`port` and completes a TLS handshake. UNAVAILABLE
// naming OpenSSL's reason if the handshake fails.
absl::Status TlsHandshake(int port, const TlsClientOptions& options);

// Sends one request over a new TLS connection and reads the response
// ("Connection: close"). UNAVAILABLE if the handshake or I/O fails.
absl::StatusOr<HttpReply> HttpsRequest(
    int port, const TlsClientOptions& options, const std::string& method,
    const std::string& target,
    const std::vector<std::pair<std::string, std::string>>& headers = {},
    const std::string& body = "");

}  // namespace etagd

#endif  // ETAGD_TESTS_TESTING_TLS_CLIENT_H_
