// An asynchronous HTTP/1.1 server (Boost.Beast over Asio) with keep-alive,
// a fixed pool of I/O threads, and limits that protect it from slow,
// oversized or malformed requests, and optionally TLS (1.2 and later, through
// Boost.Asio's OpenSSL binding, with optional client certificates and
// certificates that change while it runs). It knows nothing of etagd's
// routes: each complete request goes to a RequestHandler.
#ifndef ETAGD_GATEWAY_HTTP_SERVER_H_
#define ETAGD_GATEWAY_HTTP_SERVER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gateway/gateway.h"
#include "service/memory_budget.h"
#include "service/tls.h"

namespace etagd {

struct HttpServerOptions {
  // HOST:PORT (an IP address, or "localhost"); port 0 picks a free port.
  std::string listen = "127.0.0.1:8080";
  // Threads running the event loop.
  int io_threads = 2;
  // Request line plus header fields; more is answered 431.
  uint32_t max_header_bytes = 16 << 10;
  // Request content; more is answered 413.
  uint64_t max_body_bytes = (uint64_t{4} << 20) + 1;
  // A connection must deliver each complete request within this time
  // (keep-alive idling included): otherwise 408 (if it started one) and
  // close. Stops slow-loris clients.
  absl::Duration request_timeout = absl::Seconds(30);
  // Connections beyond this are closed as soon as they are accepted.
  int max_connections = 1024;
  // Serve HTTPS (TLS 1.2 minimum) instead of plain HTTP, with the
  // certificate chain and key this returns as each connection is accepted.
  // When its http_client_ca is set, clients must present a certificate
  // signed by one of those CAs, or the handshake fails (mutual TLS).
  // Returning another pointer than before (a reload, tls_watcher.h) applies
  // from the next connection on; open connections keep theirs. Unset: plain
  // HTTP.
  std::function<std::shared_ptr<const ServerTlsMaterial>()> tls;
  // Bytes of response bodies written but not yet taken by their readers
  // (slow or stalled clients). A body over kUncountedBodyBytes is held
  // against it from the write's start to its end (a write that stalls ends
  // after request_timeout with the connection); one that does not fit is
  // answered 503 with Retry-After instead. Shared with etagd's gRPC
  // responses. Null: unbounded.
  std::shared_ptr<MemoryBudget> response_budget;
  // Called, on an I/O thread, with the status of each response the server
  // writes itself instead of the handler: to a request it could not read
  // (400, 408, 413, 431, 501) or in place of a handler's answer whose body
  // the response budget could not hold (503). Unset: not reported.
  std::function<void(int status)> on_own_response;
};

// Bodies up to this size are not held against the response budget: they
// are bounded by max_connections, and the error that replaces a body that
// does not fit is of this order.
inline constexpr size_t kUncountedBodyBytes = 64 << 10;

// Answers one request by calling `respond` exactly once, on any thread. An
// answer may be held (respond called much later: long-polls) or streamed
// (HttpAnswer::body_stream: event streams); neither blocks an I/O thread.
//
// A streamed body goes out chunked (RFC 9112 §7.1) to HTTP/1.1 clients and
// delimited by the close (§6.3) to HTTP/1.0 ones. Its next piece is pulled
// only once the previous one was written, so each connection holds one
// piece at most. request_timeout bounds each piece's write, not the
// stream: a healthy stream lasts as long as its producer wants, and a
// client that stops reading is closed once a piece makes no progress for
// request_timeout (its kernel buffers full). A piece over
// kUncountedBodyBytes that the response budget cannot hold closes the
// connection instead (the body cannot change into a 503 once begun).
// The request is handed over by rvalue reference: no copy and no move
// until the handler keeps it.
using RequestHandler =
    std::function<void(HttpRequest&& request,
                       std::function<void(HttpAnswer answer)> respond)>;

// Thread-safe.
class HttpServer {
 public:
  static absl::StatusOr<std::unique_ptr<HttpServer>> Start(
      const HttpServerOptions& options, RequestHandler handler);

  // Shuts down with no grace period if Shutdown() was not called.
  ~HttpServer();

  // The port the server listens on.
  int port() const;

  // True if it serves HTTPS.
  bool tls() const;

  // Stops accepting connections, lets requests being handled finish and
  // their responses go out for up to `grace`, then closes every connection.
  // Streamed bodies already begun do not hold it: they are closed at the
  // end of the wait (or at once if nothing else is in flight). Later calls
  // return at once.
  void Shutdown(absl::Duration grace);

  struct State;

 private:
  explicit HttpServer(std::shared_ptr<State> state) : state_(std::move(state)) {}

  std::shared_ptr<State> state_;
};

}  // namespace etagd

#endif  // ETAGD_GATEWAY_HTTP_SERVER_H_
