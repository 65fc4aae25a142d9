#include "tests/testing/tls_client.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/ssl/context.hpp"
#include "boost/asio/ssl/stream.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/http/parser.hpp"
#include "boost/beast/http/read.hpp"
#include "boost/beast/http/string_body.hpp"

namespace etagd {
namespace {

namespace net = ::boost::asio;
namespace ssl = ::boost::asio::ssl;
namespace beast = ::boost::beast;
namespace http = ::boost::beast::http;
using tcp = ::boost::asio::ip::tcp;
using TlsSocket = ssl::stream<tcp::socket>;

absl::Status Unavailable(absl::string_view step, const beast::error_code& ec) {
  return absl::UnavailableError(absl::StrCat(step, ": ", ec.message()));
}

absl::StatusOr<std::unique_ptr<ssl::context>> NewContext(
    const TlsClientOptions& options) {
  auto context = std::make_unique<ssl::context>(ssl::context::tls_client);
  SSL_CTX* native = context->native_handle();
  if (options.allow_legacy) SSL_CTX_set_security_level(native, 0);
  if (options.min_version != 0) SSL_CTX_set_min_proto_version(native, options.min_version);
  if (options.max_version != 0) SSL_CTX_set_max_proto_version(native, options.max_version);
  beast::error_code ec;
  if (!options.ca_file.empty()) {
    context->load_verify_file(options.ca_file, ec);
    if (ec) return Unavailable("CA file", ec);
    context->set_verify_mode(ssl::verify_peer, ec);
  }
  if (!options.cert_file.empty()) {
    context->use_certificate_chain_file(options.cert_file, ec);
    if (!ec) context->use_private_key_file(options.key_file, ssl::context::pem, ec);
    if (ec) return Unavailable("client certificate", ec);
  }
  if (!options.alpn.empty()) {
    std::string wire;
    for (const std::string& protocol : options.alpn) {
      wire.push_back(static_cast<char>(protocol.size()));
      wire += protocol;
    }
    SSL_CTX_set_alpn_protos(native, reinterpret_cast<const unsigned char*>(wire.data()),
                            static_cast<unsigned>(wire.size()));
  }
  return context;
}

// "CN=...": the subject in RFC 2253 form.
std::string Subject(X509* cert) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  if (bio == nullptr ||
      X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) < 0) {
    return "";
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return size > 0 ? std::string(data, static_cast<size_t>(size)) : "";
}

std::string Serial(X509* cert) {
  std::string serial;
  if (BIGNUM* number = ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr)) {
    if (char* hex = BN_bn2hex(number)) {
      serial = hex;
      OPENSSL_free(hex);
    }
    BN_free(number);
  }
  return serial;
}

}  // namespace

struct TlsConnection::Io {
  net::io_context ioc;
  std::unique_ptr<ssl::context> context;
  std::unique_ptr<TlsSocket> socket;
  beast::flat_buffer buffer;
};

TlsConnection::TlsConnection(std::unique_ptr<Io> io) : io_(std::move(io)) {}

TlsConnection::~TlsConnection() {
  beast::error_code ignored;
  io_->socket->next_layer().close(ignored);
}

absl::StatusOr<std::unique_ptr<TlsConnection>> TlsConnection::Open(
    int port, const TlsClientOptions& options) {
  auto io = std::make_unique<Io>();
  absl::StatusOr<std::unique_ptr<ssl::context>> context = NewContext(options);
  if (!context.ok()) return context.status();
  io->context = *std::move(context);
  io->socket = std::make_unique<TlsSocket>(io->ioc, *io->context);
  TlsSocket& socket = *io->socket;
  beast::error_code ec;
  socket.next_layer().connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)),
      ec);
  if (ec) return Unavailable("connect", ec);
  // Blocking reads and writes time out after options.timeout.
  timeval tv;
  tv.tv_sec = static_cast<time_t>(absl::ToInt64Seconds(options.timeout));
  tv.tv_usec = 0;
  const int fd = socket.next_layer().native_handle();
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  SSL_set_tlsext_host_name(socket.native_handle(), "localhost");
  if (!options.ca_file.empty()) SSL_set1_host(socket.native_handle(), "localhost");
  socket.handshake(ssl::stream_base::client, ec);
  if (ec) return Unavailable("TLS handshake", ec);
  std::unique_ptr<TlsConnection> connection(new TlsConnection(std::move(io)));
  if (X509* peer = SSL_get1_peer_certificate(socket.native_handle())) {
    connection->peer_subject_ = Subject(peer);
    connection->peer_serial_ = Serial(peer);
    X509_free(peer);
  }
  return connection;
}

absl::StatusOr<HttpReply> TlsConnection::Request(
    const std::string& method, const std::string& target,
    const std::vector<std::pair<std::string, std::string>>& headers,
    const std::string& body, bool close) {
  std::string request =
      absl::StrCat(method, " ", target, " HTTP/1.1\r\nHost: localhost\r\n",
                   close ? "Connection: close\r\n" : "");
  for (const auto& [name, value] : headers) {
    absl::StrAppend(&request, name, ": ", value, "\r\n");
  }
  if (!body.empty() || method == "PUT" || method == "POST") {
    absl::StrAppend(&request, "Content-Length: ", body.size(), "\r\n");
  }
  absl::StrAppend(&request, "\r\n", body);
  beast::error_code ec;
  net::write(*io_->socket, net::buffer(request), ec);
  if (ec) return Unavailable("write", ec);

  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  parser.skip(method == "HEAD");
  http::read(*io_->socket, io_->buffer, parser, ec);
  if (ec) return Unavailable("read", ec);
  http::response<http::string_body> response = parser.release();
  HttpReply reply;
  reply.status = static_cast<int>(response.result_int());
  for (const auto& field : response) {
    reply.headers.emplace(absl::AsciiStrToLower(std::string(field.name_string())),
                          std::string(field.value()));
  }
  reply.body = std::move(response.body());
  reply.keep_alive = response.keep_alive();
  return reply;
}

absl::Status TlsHandshake(int port, const TlsClientOptions& options) {
  return TlsConnection::Open(port, options).status();
}

absl::StatusOr<HttpReply> HttpsRequest(
    int port, const TlsClientOptions& options, const std::string& method,
    const std::string& target,
    const std::vector<std::pair<std::string, std::string>>& headers,
    const std::string& body) {
  absl::StatusOr<std::unique_ptr<TlsConnection>> connection =
      TlsConnection::Open(port, options);
  if (!connection.ok()) return connection.status();
  return (*connection)->Request(method, target, headers, body, /*close=*/true);
}

}  // namespace etagd
