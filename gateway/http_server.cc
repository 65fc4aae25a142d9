#include "gateway/http_server.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <iterator>
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "boost/asio/executor_work_guard.hpp"
#include "boost/asio/ip/tcp.hpp"
#include "boost/asio/post.hpp"
#include "boost/asio/ssl/context.hpp"
#include "boost/asio/steady_timer.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/core/stream_traits.hpp"
#include "boost/beast/core/basic_stream.hpp"
#include "boost/beast/ssl/ssl_stream.hpp"
#include "boost/beast/http/empty_body.hpp"
#include "boost/beast/http/error.hpp"
#include "boost/beast/http/read.hpp"
#include "boost/beast/http/rfc7230.hpp"
#include "boost/beast/http/write.hpp"
#include "gateway/http_date.h"
#include "gateway/http_errors.h"
#include "gateway/response_head.h"
#include "service/log.h"

namespace etagd {

namespace net = ::boost::asio;
namespace beast = ::boost::beast;
namespace http = ::boost::beast::http;
using tcp = ::boost::asio::ip::tcp;

namespace {

beast::string_view ToBeast(absl::string_view s) {
  return beast::string_view(s.data(), s.size());
}

// What shutdown needs of a connection, whatever its stream.
class SessionBase {
 public:
  virtual ~SessionBase() = default;
  // Closes the connection from its own thread; safe from any thread.
  virtual void CloseSoon() = 0;
};

}  // namespace

// One event loop per I/O thread, each connection on one loop for its whole
// life (as nginx's workers do): a connection's handlers never run
// concurrently, so they need no strand, and no loop's queue is shared
// between threads.
using IoContexts = std::vector<std::unique_ptr<net::io_context>>;
using Executor = net::io_context::executor_type;
using Socket = tcp::socket::rebind_executor<Executor>::other;

struct HttpServer::State {
  HttpServerOptions options;
  RequestHandler handler;
  // Cleared at shutdown to free the handlers (and sessions) they still hold.
  IoContexts iocs;
  // Keep every loop running while it has no connection yet.
  std::vector<net::executor_work_guard<Executor>> keep_running;
  // The loop the next accepted connection goes to; the acceptor's alone.
  size_t next_ioc = 0;
  // Set when serving HTTPS: the context new connections get, the material
  // it was made of, and a material that could not be used (not retried).
  // The acceptor's alone, after Start().
  bool https = false;
  std::shared_ptr<net::ssl::context> tls;
  std::shared_ptr<const ServerTlsMaterial> tls_material;
  std::shared_ptr<const ServerTlsMaterial> tls_refused;
  std::optional<tcp::acceptor> acceptor;
  std::vector<std::thread> threads;
  int port = 0;

  // Connections open, and requests handed to the handler whose response
  // has not been written yet.
  std::atomic<int> connections{0};
  std::atomic<int> in_flight{0};
  std::atomic<bool> stopping{false};

  // Open sessions, so that shutdown can close idle keep-alive connections.
  absl::Mutex sessions_mu;
  std::vector<std::weak_ptr<SessionBase>> sessions ABSL_GUARDED_BY(sessions_mu);

  absl::Mutex shutdown_mu;
  bool shut_down ABSL_GUARDED_BY(shutdown_mu) = false;

  explicit State(int threads) {
    for (int i = 0; i < threads; ++i) {
      iocs.push_back(std::make_unique<net::io_context>(1));
      keep_running.push_back(net::make_work_guard(*iocs.back()));
    }
  }
};

namespace {

using State = HttpServer::State;

std::chrono::milliseconds ToChrono(absl::Duration d) {
  return std::chrono::milliseconds(absl::ToInt64Milliseconds(d));
}

// RFC 9112 message framing checks on a parsed request head: a 400 for what
// a server MUST reject, UNIMPLEMENTED (501) for transfer codings we lack.
// Whether `c` may appear in a Host field value (RFC 3986 §3.2.2: reg-name,
// IP literal, port).
bool IsHostChar(unsigned char c) {
  static const auto* const kAllowed = [] {
    auto* allowed = new std::array<bool, 256>{};
    for (int c = 0; c < 256; ++c) {
      (*allowed)[c] = absl::ascii_isalnum(static_cast<unsigned char>(c));
    }
    for (unsigned char c : absl::string_view("-._~%!$&'()*+,;=:[]")) {
      (*allowed)[c] = true;
    }
    return allowed;
  }();
  return (*kAllowed)[c];
}

absl::Status CheckFraming(const http::request_parser<http::string_body>& parser) {
  const auto& request = parser.get();
  // The fields framing depends on, in one scan comparing the field enums
  // Beast assigned (not a walk of its case-insensitive tree per name).
  int hosts = 0;
  beast::string_view host;
  const http::fields::value_type* te = nullptr;
  for (const auto& field : request) {
    if (field.name() == http::field::host) {
      if (++hosts == 1) host = field.value();
    } else if (field.name() == http::field::transfer_encoding && te == nullptr) {
      te = &field;
    }
  }
  // §3.2: exactly one Host, with a valid value, in an HTTP/1.1 request.
  if (request.version() >= 11) {
    if (hosts != 1) {
      return absl::InvalidArgumentError(
          "an HTTP/1.1 request needs exactly one Host header field");
    }
    for (char c : host) {
      if (!IsHostChar(static_cast<unsigned char>(c))) {
        return absl::InvalidArgumentError("the Host header field is malformed");
      }
    }
  }
  // §6.3: with Transfer-Encoding, the final coding must be chunked, or the
  // length of the content is unknowable (and the next request smuggled).
  if (te != nullptr) {
    if (!parser.chunked()) {
      return absl::InvalidArgumentError(
          "Transfer-Encoding must end with chunked");
    }
    for (auto coding : http::token_list(te->value())) {
      if (!beast::iequals(coding, "chunked")) {
        return absl::UnimplementedError(
            "transfer codings other than chunked are not supported");
      }
    }
  }
  return absl::OkStatus();
}

using PlainStream = beast::basic_stream<tcp, Executor>;
using TlsStream = beast::ssl_stream<PlainStream>;
using Timer = net::basic_waitable_timer<std::chrono::steady_clock,
                                        net::wait_traits<std::chrono::steady_clock>,
                                        Executor>;

// One connection: reads requests one after the other (pipelined requests
// wait in the buffer), hands each to the handler and writes its response.
// `Stream` is PlainStream (HTTP) or TlsStream (HTTPS). Everything but
// CloseSoon() and a response's completion runs on the connection's loop.
template <typename Stream>
class Session : public SessionBase,
                public std::enable_shared_from_this<Session<Stream>> {
 public:
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;

  // HTTP.
  Session(Socket socket, std::shared_ptr<State> state)
      : stream_(std::move(socket)),
        request_timer_(stream_.get_executor()),
        state_(std::move(state)) {}
  // HTTPS, with the context current when the connection was accepted.
  Session(Socket socket, std::shared_ptr<net::ssl::context> tls,
          std::shared_ptr<State> state)
      : tls_(std::move(tls)),
        stream_(PlainStream(std::move(socket)), *tls_),
        request_timer_(stream_.get_executor()),
        state_(std::move(state)) {}

  ~Session() override { --state_->connections; }

  void Start() {
    if constexpr (kTls) {
      // The handshake counts against the first request's time.
      Tcp().expires_after(ToChrono(state_->options.request_timeout));
      stream_.async_handshake(
          net::ssl::stream_base::server,
          [self = this->shared_from_this()](beast::error_code ec) {
            // A failed handshake (a plain-HTTP client, an old TLS version,
            // an unknown CA on the client's side) cannot be answered.
            if (ec) return self->Close();
            self->ReadHeader();
          });
    } else {
      ReadHeader();
    }
  }

  void CloseSoon() override {
    net::post(stream_.get_executor(),
              [self = this->shared_from_this()] { self->Close(); });
  }

 private:
  // What the connection's deadline bounds: reading a request, writing a
  // response, or nothing (the handler has the request; lingering has its
  // own stream expiry).
  enum class Waiting { kNothing, kRequest, kWrite };

  PlainStream& Tcp() { return beast::get_lowest_layer(stream_); }

  // What requests are read from and responses written to: the TLS stream,
  // or for plain HTTP the socket itself. Our deadline bounds those reads
  // and writes (StartDeadline), so basic_stream's per-operation timeout
  // bookkeeping would only add cost.
  auto& Io() {
    if constexpr (kTls) {
      return stream_;
    } else {
      return Tcp().socket();
    }
  }

  void ReadHeader() {
    parser_.emplace();
    parser_->header_limit(state_->options.max_header_bytes);
    parser_->body_limit(state_->options.max_body_bytes);
    // Our own timer, not the stream's expiry: that one closes the socket,
    // and a client that stalled mid-request is owed a 408 first.
    Tcp().expires_never();
    timed_out_ = false;
    StartDeadline(Waiting::kRequest);
    http::async_read_header(
        Io(), buffer_, *parser_,
        [self = this->shared_from_this()](beast::error_code ec, size_t) {
          self->OnHeader(ec);
        });
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    const auto& request = parser_->get();
    if (absl::Status framing = CheckFraming(*parser_); !framing.ok()) {
      const bool unsupported = absl::IsUnimplemented(framing);
      return WriteError(
          unsupported ? http::status::not_implemented : http::status::bad_request,
          unsupported ? "UNIMPLEMENTED" : "INVALID_ARGUMENT", framing.message());
    }
    // A scan by field enum, as in CheckFraming.
    auto expect = std::find_if(request.begin(), request.end(), [](const auto& field) {
      return field.name() == http::field::expect;
    });
    if (expect != request.end() &&
        beast::iequals(expect->value(), "100-continue")) {
      // Let the client send its body now rather than after its own wait.
      auto interim = std::make_shared<http::response<http::empty_body>>(
          http::status::continue_, request.version());
      http::async_write(stream_, *interim,
                        [self = this->shared_from_this(), interim](beast::error_code ec,
                                                             size_t) {
                          if (ec) return self->Close();
                          self->ReadBody();
                        });
      return;
    }
    ReadBody();
  }

  void ReadBody() {
    // A request without content (most GETs) is complete with its head:
    // answer it now rather than through a read that has nothing to read.
    if (parser_->is_done()) return OnRequest({});
    http::async_read(Io(), buffer_, *parser_,
                     [self = this->shared_from_this()](beast::error_code ec, size_t) {
                       self->OnRequest(ec);
                     });
  }

  void OnRequest(beast::error_code ec) {
    if (ec) return OnReadError(ec);
    waiting_ = Waiting::kNothing;  // The handler takes as long as it takes.
    HttpRequest request = parser_->release();
    keep_alive_ = request.keep_alive();
    ++state_->in_flight;
    state_->handler(std::move(request), [self = this->shared_from_this()](
                                            HttpAnswer answer) {
      // An answer on this connection's loop (a read the handler answered
      // at once) goes out directly; one from elsewhere (a write's thread)
      // is handed to the loop.
      if (self->stream_.get_executor().running_in_this_thread()) {
        return self->Answer(answer);
      }
      net::post(self->stream_.get_executor(),
                [self, answer = std::move(answer)]() mutable {
                  self->Answer(answer);
                });
    });
  }

  // Takes `answer`'s message (moved once, into response_).
  void Answer(HttpAnswer& answer) {
    if (answer.body_stream == nullptr) {
      // The answer (and what owns its fields) lives until Write copied them.
      return Write(std::move(answer.response), /*counted=*/true, answer.more_fields);
    }
    WriteStreamHead(std::move(answer.response), std::move(answer.body_stream));
  }

  // Writes the head of a streamed response, then its pieces as the body
  // stream produces them (http_server.h, RequestHandler).
  void WriteStreamHead(HttpResponse head, std::unique_ptr<BodyStream> body) {
    chunked_ = head.version() >= 11;
    const bool keep = keep_alive_ && chunked_ && !state_->stopping.load();
    head.body().clear();
    head.erase(http::field::content_length);
    if (chunked_) head.set(http::field::transfer_encoding, "chunked");
    head.keep_alive(keep);
    body_ = std::move(body);
    response_ = std::move(head);
    head_.clear();
    AppendResponseHead(response_, &head_);
    StartDeadline(Waiting::kWrite);
    net::async_write(Io(), net::buffer(head_),
                     [self = this->shared_from_this(), keep](beast::error_code ec,
                                                             size_t) {
                       // A stream under way holds no drain (Shutdown).
                       --self->state_->in_flight;
                       self->keep_after_stream_ = keep;
                       if (ec) return self->Close();
                       self->PullPiece();
                     });
  }

  void PullPiece() {
    waiting_ = Waiting::kNothing;  // The producer takes as long as it takes.
    if (body_ == nullptr) return;  // Closed.
    body_->Next([self = this->shared_from_this()](std::optional<std::string> piece) {
      net::post(self->stream_.get_executor(),
                [self, piece = std::move(piece)]() mutable {
                  self->OnPiece(std::move(piece));
                });
    });
  }

  void OnPiece(std::optional<std::string> piece) {
    if (body_ == nullptr) return;  // Closed while the piece was produced.
    head_.clear();
    piece_.clear();
    if (!piece.has_value()) {
      body_.reset();
      if (!chunked_) return Close();
      head_ = "0\r\n\r\n";  // RFC 9112 §7.1: the last chunk, no trailers.
      StartDeadline(Waiting::kWrite);
      net::async_write(Io(), net::buffer(head_),
                       [self = this->shared_from_this()](beast::error_code ec, size_t) {
                         self->waiting_ = Waiting::kNothing;
                         if (ec) return self->Close();
                         if (!self->keep_after_stream_ || self->state_->stopping.load()) {
                           return self->LingerThenClose();
                         }
                         self->ReadHeader();
                       });
      return;
    }
    MemoryBudget* budget = state_->options.response_budget.get();
    int64_t held = 0;
    if (budget != nullptr && piece->size() > kUncountedBodyBytes) {
      held = static_cast<int64_t>(piece->size());
      if (!budget->TryAcquire(held)) return Close();
    }
    piece_ = *std::move(piece);
    if (chunked_) {
      // RFC 9112 §7.1: chunk-size in hex, CRLF, the data, CRLF.
      absl::StrAppend(&head_, absl::Hex(piece_.size()), "\r\n");
    }
    const std::array<net::const_buffer, 3> buffers = {
        net::buffer(head_), net::buffer(piece_),
        net::buffer(chunked_ ? "\r\n" : "", chunked_ ? 2 : 0)};
    StartDeadline(Waiting::kWrite);
    net::async_write(Io(), buffers,
                     [self = this->shared_from_this(), held](beast::error_code ec,
                                                             size_t) {
                       std::string().swap(self->piece_);
                       if (held > 0) {
                         self->state_->options.response_budget->Release(held);
                       }
                       if (ec) return self->Close();
                       self->PullPiece();
                     });
  }

  void OnReadError(beast::error_code ec) {
    waiting_ = Waiting::kNothing;
    if (timed_out_ && ec == net::error::operation_aborted) {
      ec = beast::error::timeout;
    }
    if (ec == http::error::end_of_stream || ec == net::error::eof ||
        ec == net::error::operation_aborted || ec == net::error::connection_reset) {
      return Close();
    }
    if (ec == beast::error::timeout) {
      // A client that started a request and stalled gets 408; an idle one
      // is just closed (RFC 9110 §15.5.9).
      if (parser_->got_some()) {
        return WriteError(http::status::request_timeout, "REQUEST_TIMEOUT",
                          "the request did not arrive in time");
      }
      return Close();
    }
    if (ec == http::error::header_limit) {
      return WriteError(http::status::request_header_fields_too_large,
                        "REQUEST_HEADER_FIELDS_TOO_LARGE",
                        absl::StrCat("request line and header fields exceed ",
                                     state_->options.max_header_bytes, " bytes"));
    }
    if (ec == http::error::body_limit) {
      return WriteError(http::status::payload_too_large, "CONTENT_TOO_LARGE",
                        absl::StrCat("request content exceeds ",
                                     state_->options.max_body_bytes, " bytes"));
    }
    if (ec.category() == http::make_error_code(http::error::bad_target).category()) {
      return WriteError(http::status::bad_request, "INVALID_ARGUMENT",
                        absl::StrCat("malformed HTTP request: ", ec.message()));
    }
    Close();
  }

  // Answers a request that could not be read, and closes the connection.
  void WriteError(http::status status, absl::string_view name,
                  absl::string_view message) {
    HttpResponse response(status, 11);
    response.set(http::field::date, ToBeast(CachedHttpDate(absl::Now())));
    response.set(http::field::server, "etagd");
    response.set(http::field::content_type, "application/json");
    response.body() = ErrorJson(static_cast<int>(status), name, message);
    response.prepare_payload();
    keep_alive_ = false;
    ReportOwnResponse(static_cast<int>(status));
    Write(std::move(response), /*counted=*/false);
  }

  // Writes `response` with `more_fields` (HttpAnswer's, copied into the
  // head before this returns) after its own fields.
  void Write(HttpResponse&& response, bool counted,
             absl::Span<const HeadLines> more_fields = {}) {
    const bool keep = keep_alive_ && !state_->stopping.load();
    MemoryBudget* budget = state_->options.response_budget.get();
    int64_t held = 0;
    if (budget != nullptr && response.body().size() > kUncountedBodyBytes) {
      held = static_cast<int64_t>(response.body().size());
      if (!budget->TryAcquire(held)) {
        held = 0;
        response = ResponseMemoryExhausted(response.version());
        more_fields = {};
        ReportOwnResponse(503);
      }
    }
    SetKeepAlive(keep, response);
    // Our own head bytes (as Beast's serializer writes them) and the body
    // as it is, in one gathered write: no serializer state machine over
    // the fields. No response is chunked: the gateway sets Content-Length.
    response_ = std::move(response);
    head_.clear();
    AppendResponseHead(response_, &head_, more_fields);
    const std::array<net::const_buffer, 2> buffers = {
        net::buffer(head_), net::buffer(response_.body())};
    StartDeadline(Waiting::kWrite);
    net::async_write(Io(), buffers,
                     [self = this->shared_from_this(), keep, counted,
                      held](beast::error_code ec, size_t) {
                       // Free the body now, not at the next response.
                       std::string().swap(self->response_.body());
                       if (held > 0) {
                         self->state_->options.response_budget->Release(held);
                       }
                       if (counted) --self->state_->in_flight;
                       self->waiting_ = Waiting::kNothing;
                       if (ec) return self->Close();
                       if (!keep) return self->LingerThenClose();
                       self->ReadHeader();
                     });
  }

  // Says in `response` whether the connection stays open. Beast's
  // keep_alive() rewrites the Connection field whatever it holds; an
  // HTTP/1.1 response without one already says "open" (RFC 9112 §9.3),
  // and that is nearly every response. (A scan of the few fields' enums
  // costs less than find(), a tree walk comparing names.)
  static void SetKeepAlive(bool keep, HttpResponse& response) {
    if (keep && response.version() >= 11 &&
        std::none_of(response.begin(), response.end(), [](const auto& field) {
          return field.name() == http::field::connection;
        })) {
      return;
    }
    response.keep_alive(keep);
  }

  void ReportOwnResponse(int status) {
    if (state_->options.on_own_response) state_->options.on_own_response(status);
  }

  // What replaces a response whose body the budget cannot hold.
  static HttpResponse ResponseMemoryExhausted(unsigned version) {
    HttpResponse response(http::status::service_unavailable, version);
    response.set(http::field::date, ToBeast(CachedHttpDate(absl::Now())));
    response.set(http::field::server, "etagd");
    response.set(http::field::content_type, "application/json");
    response.set(http::field::retry_after, "1");
    response.body() = ErrorJson(
        503, "UNAVAILABLE",
        "too many bytes of responses are waiting for slow readers "
        "(--response_memory_mb); retry shortly");
    response.prepare_payload();
    return response;
  }

  // Bounds what the session waits for, `what`, by request_timeout from
  // now. The timer is armed lazily: moving the deadline later (each request
  // and each response) costs no timer operation, only a check when the
  // earlier expiry fires, which is at most once per request_timeout.
  void StartDeadline(Waiting what) {
    waiting_ = what;
    deadline_ = std::chrono::steady_clock::now() +
                ToChrono(state_->options.request_timeout);
    if (!timer_armed_) ArmTimer();
  }

  void ArmTimer() {
    timer_armed_ = true;
    request_timer_.expires_at(deadline_);
    request_timer_.async_wait(
        [self = this->shared_from_this()](beast::error_code ec) { self->OnTimer(ec); });
  }

  void OnTimer(beast::error_code ec) {
    timer_armed_ = false;
    // Cancelled (the session closes), or nothing waits: no timer holds the
    // session until the next StartDeadline.
    if (ec || waiting_ == Waiting::kNothing) return;
    if (std::chrono::steady_clock::now() < deadline_) return ArmTimer();
    if (waiting_ == Waiting::kRequest) {
      // The read fails with operation_aborted, which OnReadError turns
      // into a 408 or a close.
      timed_out_ = true;
      beast::error_code ignored;
      Tcp().socket().cancel(ignored);
    } else {
      // A response not taken in time: close, as a stream expiry would; the
      // write fails and its completion closes the session.
      Tcp().close();
    }
  }

  // Closing a socket with unread input makes the kernel send a reset, which
  // can destroy the response just written (say, a 413 to a client still
  // sending its body). So stop sending, then read and discard what the
  // client still sends, for a bounded time and amount, before closing.
  void LingerThenClose() {
    beast::error_code ignored;
    Tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
    Tcp().expires_after(std::chrono::seconds(2));
    Discard();
  }

  void Discard() {
    if (discarded_ > (uint64_t{8} << 20)) return Close();
    auto buffer = std::make_shared<std::array<char, 16384>>();
    stream_.async_read_some(
        net::buffer(*buffer),
        [self = this->shared_from_this(), buffer](beast::error_code ec, size_t n) {
          if (ec) return self->Close();
          self->discarded_ += n;
          self->Discard();
        });
  }

  void Close() {
    // Ends a streamed body; its pending Next completes now (and finds the
    // session closed).
    if (std::unique_ptr<BodyStream> doomed = std::move(body_)) doomed.reset();
    request_timer_.cancel();
    beast::error_code ignored;
    Tcp().socket().shutdown(tcp::socket::shutdown_send, ignored);
    Tcp().close();
  }

  // Null for HTTP. Declared before stream_, which uses it.
  std::shared_ptr<net::ssl::context> tls_;
  Stream stream_;
  // The one timer of the connection, bounding the time to read each request
  // and to write each response (see StartDeadline); armed while
  // timer_armed_.
  Timer request_timer_;
  bool timer_armed_ = false;
  Waiting waiting_ = Waiting::kNothing;
  std::chrono::steady_clock::time_point deadline_;
  bool timed_out_ = false;
  std::shared_ptr<State> state_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  bool keep_alive_ = false;
  uint64_t discarded_ = 0;
  // The response being written and the bytes of its head: one at a time,
  // since the next request is read only once its write ends. Members, so
  // that the head's buffer is reused.
  HttpResponse response_;
  std::string head_;
  // A streamed body (WriteStreamHead) and the piece being written; body_ is
  // null when none is under way or once closed.
  std::unique_ptr<BodyStream> body_;
  std::string piece_;
  bool chunked_ = false;
  bool keep_after_stream_ = false;
};

// The names of the CAs in `pem`, which clients are told in the
// CertificateRequest (RFC 8446 section 4.2.4), so that one with several
// certificates picks a fitting one. Null if none parses.
STACK_OF(X509_NAME)* CaNames(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), &BIO_free);
  if (bio == nullptr) return nullptr;
  STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
  if (names == nullptr) return nullptr;
  while (X509* cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) {
    X509_NAME* name = X509_NAME_dup(X509_get_subject_name(cert));
    X509_free(cert);
    if (name != nullptr && sk_X509_NAME_push(names, name) == 0) X509_NAME_free(name);
  }
  ERR_clear_error();  // The end of the file.
  if (sk_X509_NAME_num(names) == 0) {
    sk_X509_NAME_free(names);
    return nullptr;
  }
  return names;
}

// A server-side TLS context: TLS 1.2 minimum, the certificate chain and key
// of `material`, and client certificates required if it has an HTTP client
// CA. Errors never quote the key.
absl::StatusOr<std::shared_ptr<net::ssl::context>> NewTlsContext(
    const ServerTlsMaterial& material) {
  auto context = std::make_shared<net::ssl::context>(net::ssl::context::tls_server);
  SSL_CTX* native = context->native_handle();
  // RFC 8996 deprecates TLS 1.0 and 1.1; RFC 9325 asks for 1.2 at least.
  if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1) {
    return absl::InternalError("cannot restrict HTTPS to TLS 1.2 and later");
  }
  beast::error_code ec;
  context->set_options(net::ssl::context::default_workarounds |
                           net::ssl::context::no_sslv2 | net::ssl::context::no_sslv3 |
                           net::ssl::context::no_tlsv1 | net::ssl::context::no_tlsv1_1 |
                           net::ssl::context::single_dh_use,
                       ec);
  if (!ec) context->use_certificate_chain(net::buffer(material.cert_chain), ec);
  if (ec) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot use the certificate chain: ", ec.message()));
  }
  context->use_private_key(net::buffer(material.private_key), net::ssl::context::pem,
                           ec);
  if (ec || SSL_CTX_check_private_key(native) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        "cannot use the private key: not an unencrypted PEM key of the certificate");
  }
  if (!material.http_client_ca.empty()) {
    context->add_certificate_authority(net::buffer(material.http_client_ca), ec);
    STACK_OF(X509_NAME)* names = CaNames(material.http_client_ca);
    if (ec || names == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cannot use the HTTPS client CA certificates: ",
          ec ? ec.message() : "none parses"));
    }
    SSL_CTX_set_client_CA_list(native, names);  // Takes ownership.
    // A client without a certificate, or with one no CA here signed, fails
    // the handshake.
    context->set_verify_mode(
        net::ssl::verify_peer | net::ssl::verify_fail_if_no_peer_cert, ec);
    // Resumed sessions carry the client's verified identity; OpenSSL
    // refuses to resume them without a context naming who issued them.
    static constexpr unsigned char kSessionContext[] = "etagd-https";
    if (ec || SSL_CTX_set_session_id_context(native, kSessionContext,
                                             sizeof kSessionContext - 1) != 1) {
      return absl::InternalError("cannot require HTTPS client certificates");
    }
  }
  return context;
}

// Switches new connections to the material options.tls returns, if it is
// new. A material that cannot be used is logged once and not retried; the
// context before stays.
void RefreshTls(State& state) {
  std::shared_ptr<const ServerTlsMaterial> current = state.options.tls();
  if (current == nullptr || current == state.tls_material ||
      current == state.tls_refused) {
    return;
  }
  absl::StatusOr<std::shared_ptr<net::ssl::context>> context = NewTlsContext(*current);
  if (!context.ok()) {
    state.tls_refused = std::move(current);
    Log(LogLevel::kError,
        absl::StrCat("HTTPS cannot use the reloaded TLS certificate: ",
                     context.status().message(), "; keeping the one before"));
    return;
  }
  state.tls = *std::move(context);
  state.tls_material = std::move(current);
}

void Accept(std::shared_ptr<State> state) {
  const size_t loop = state->next_ioc++ % state->iocs.size();
  state->acceptor->async_accept(
      state->iocs[loop]->get_executor(),
      [state](beast::error_code ec, Socket socket) {
        if (ec == net::error::operation_aborted || state->stopping.load()) return;
        if (!ec) {
          if (state->connections.load() >= state->options.max_connections) {
            beast::error_code ignored;
            socket.close(ignored);
          } else {
            ++state->connections;
            // Responses go out whole in one write; never hold them back.
            beast::error_code ignored;
            socket.set_option(tcp::no_delay(true), ignored);
            std::shared_ptr<SessionBase> session;
            if (state->https) {
              RefreshTls(*state);
              auto tls = std::make_shared<Session<TlsStream>>(
                  std::move(socket), state->tls, state);
              tls->Start();
              session = std::move(tls);
            } else {
              auto plain = std::make_shared<Session<PlainStream>>(
                  std::move(socket), state);
              plain->Start();
              session = std::move(plain);
            }
            {
              absl::MutexLock lock(&state->sessions_mu);
              auto& all = state->sessions;
              all.erase(std::remove_if(all.begin(), all.end(),
                                       [](const std::weak_ptr<SessionBase>& s) {
                                         return s.expired();
                                       }),
                        all.end());
              all.push_back(session);
            }
          }
        }
        Accept(state);
      });
}

absl::StatusOr<tcp::endpoint> ParseListen(const std::string& listen) {
  const size_t colon = listen.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address '", listen, "' is not HOST:PORT"));
  }
  std::string host = listen.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  if (host == "localhost") host = "127.0.0.1";
  int port;
  if (!absl::SimpleAtoi(listen.substr(colon + 1), &port) || port < 0 ||
      port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("listen address '", listen, "' has no valid port"));
  }
  beast::error_code ec;
  net::ip::address address = net::ip::make_address(host, ec);
  if (ec) {
    return absl::InvalidArgumentError(absl::StrCat(
        "listen address '", listen, "': '", host, "' is not an IP address"));
  }
  return tcp::endpoint(address, static_cast<unsigned short>(port));
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(
    const HttpServerOptions& options, RequestHandler handler) {
  if (options.io_threads < 1) {
    return absl::InvalidArgumentError("the HTTP server needs at least one thread");
  }
  absl::StatusOr<tcp::endpoint> endpoint = ParseListen(options.listen);
  if (!endpoint.ok()) return endpoint.status();

  auto state = std::make_shared<State>(options.io_threads);
  state->options = options;
  if (options.tls) {
    state->https = true;
    state->tls_material = options.tls();
    if (state->tls_material == nullptr) {
      return absl::InvalidArgumentError("HTTPS needs a certificate and key");
    }
    absl::StatusOr<std::shared_ptr<net::ssl::context>> tls =
        NewTlsContext(*state->tls_material);
    if (!tls.ok()) return tls.status();
    state->tls = *std::move(tls);
  }
  state->handler = std::move(handler);
  state->acceptor.emplace(*state->iocs[0]);
  beast::error_code ec;
  state->acceptor->open(endpoint->protocol(), ec);
  if (!ec) state->acceptor->set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) state->acceptor->bind(*endpoint, ec);
  if (!ec) state->acceptor->listen(net::socket_base::max_listen_connections, ec);
  if (ec) {
    return absl::UnavailableError(absl::StrCat("cannot listen for HTTP on ",
                                               options.listen, ": ", ec.message()));
  }
  state->port = state->acceptor->local_endpoint().port();
  Accept(state);
  for (int i = 0; i < options.io_threads; ++i) {
    state->threads.emplace_back([state, i] { state->iocs[i]->run(); });
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(state)));
}

HttpServer::~HttpServer() { Shutdown(absl::ZeroDuration()); }

int HttpServer::port() const { return state_->port; }

bool HttpServer::tls() const { return state_->https; }

void HttpServer::Shutdown(absl::Duration grace) {
  absl::MutexLock lock(&state_->shutdown_mu);
  if (state_->shut_down) return;
  state_->shut_down = true;
  state_->stopping = true;
  net::post(*state_->iocs[0], [state = state_] {
    beast::error_code ignored;
    state->acceptor->close(ignored);
  });
  const absl::Time deadline = absl::Now() + grace;
  while (state_->in_flight.load() > 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  {
    absl::MutexLock sessions_lock(&state_->sessions_mu);
    for (const std::weak_ptr<SessionBase>& weak : state_->sessions) {
      if (std::shared_ptr<SessionBase> session = weak.lock()) session->CloseSoon();
    }
  }
  // Closed sessions release themselves once their aborted operations run.
  const absl::Time close_deadline = absl::Now() + absl::Milliseconds(250);
  while (state_->connections.load() > 0 && absl::Now() < close_deadline) {
    absl::SleepFor(absl::Milliseconds(2));
  }
  state_->keep_running.clear();
  for (auto& ioc : state_->iocs) ioc->stop();
  for (std::thread& t : state_->threads) t.join();
  state_->threads.clear();
  // Destroying the io_context destroys the handlers it still holds, and with
  // them the sessions and the accept handler, which keep this state alive.
  // If a response is still owed (past the grace period), its completion
  // would later be posted to the io_context: then leave it to process exit.
  if (state_->in_flight.load() == 0) {
    state_->acceptor.reset();
    state_->iocs.clear();
  }
}

}  // namespace etagd
