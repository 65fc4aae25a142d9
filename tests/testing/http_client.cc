#include "tests/testing/http_client.h"

#include <poll.h>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "boost/asio/connect.hpp"
#include "boost/asio/write.hpp"
#include "boost/beast/core/buffers_to_string.hpp"
#include "boost/beast/core/flat_buffer.hpp"
#include "boost/beast/http/parser.hpp"
#include "boost/beast/http/read.hpp"
#include "boost/beast/http/string_body.hpp"

namespace etagd {

namespace net = ::boost::asio;
namespace beast = ::boost::beast;
namespace http = ::boost::beast::http;
using tcp = ::boost::asio::ip::tcp;

std::optional<std::string> HttpReply::Header(const std::string& name) const {
  auto it = headers.find(name);
  if (it == headers.end()) return std::nullopt;
  return it->second;
}

absl::Status HttpClient::Connect() {
  if (socket_.has_value() && socket_->is_open()) return absl::OkStatus();
  socket_.emplace(ioc_);
  beast::error_code ec;
  socket_->connect(tcp::endpoint(net::ip::make_address("127.0.0.1"),
                                 static_cast<unsigned short>(port_)),
                   ec);
  if (ec) {
    socket_.reset();
    return absl::UnavailableError(absl::StrCat("connect: ", ec.message()));
  }
  buffer_.clear();
  return absl::OkStatus();
}

void HttpClient::Close() {
  if (socket_.has_value()) {
    beast::error_code ignored;
    socket_->close(ignored);
  }
  socket_.reset();
  buffer_.clear();
}

absl::Status HttpClient::SendRaw(const std::string& bytes) {
  absl::Status connected = Connect();
  if (!connected.ok()) return connected;
  beast::error_code ec;
  net::write(*socket_, net::buffer(bytes), ec);
  if (ec) return absl::UnavailableError(absl::StrCat("write: ", ec.message()));
  return absl::OkStatus();
}

absl::StatusOr<HttpReply> HttpClient::Send(
    const std::string& method, const std::string& target,
    const std::vector<std::pair<std::string, std::string>>& headers,
    const std::string& body) {
  std::string request = absl::StrCat(method, " ", target, " HTTP/1.1\r\n",
                                     "Host: 127.0.0.1\r\n");
  bool has_length = false;
  for (const auto& [name, value] : headers) {
    absl::StrAppend(&request, name, ": ", value, "\r\n");
    if (absl::EqualsIgnoreCase(name, "content-length")) has_length = true;
  }
  if (!has_length && (!body.empty() || method == "PUT" || method == "POST")) {
    absl::StrAppend(&request, "Content-Length: ", body.size(), "\r\n");
  }
  absl::StrAppend(&request, "\r\n", body);
  // A keep-alive connection the server closed since: reconnect once.
  for (int attempt = 0; attempt < 2; ++attempt) {
    if (attempt == 0 && socket_.has_value() && ServerClosed(absl::ZeroDuration())) {
      Close();
    }
    absl::Status sent = SendRaw(request);
    if (!sent.ok()) {
      Close();
      continue;
    }
    absl::StatusOr<HttpReply> reply = Read(method == "HEAD");
    if (reply.ok() || attempt == 1) return reply;
    Close();
  }
  return absl::UnavailableError("could not send the request");
}

absl::StatusOr<HttpReply> HttpClient::Read(bool head, absl::Duration timeout) {
  if (!socket_.has_value()) return absl::FailedPreconditionError("not connected");
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 << 20);
  parser.skip(head);
  const absl::Time deadline = absl::Now() + timeout;
  beast::error_code ec;
  while (true) {
    // Feed what is buffered; then read more.
    if (!buffer_.empty()) {
      size_t used = parser.put(net::buffer(buffer_), ec);
      buffer_.erase(0, used);
      if (ec == http::error::need_more) {
        ec = {};
      } else if (ec) {
        return absl::DataLossError(absl::StrCat("bad response: ", ec.message()));
      }
      if (parser.is_done()) break;
      if (used > 0) continue;
    }
    pollfd pfd{socket_->native_handle(), POLLIN, 0};
    const int64_t wait_ms =
        std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (poll(&pfd, 1, static_cast<int>(wait_ms)) <= 0) {
      return absl::DeadlineExceededError("no complete response in time");
    }
    char chunk[8192];
    size_t n = socket_->read_some(net::buffer(chunk), ec);
    if (ec == net::error::eof) {
      if (!parser.got_some()) {
        return absl::UnavailableError("connection closed before a response");
      }
      parser.put_eof(ec);
      if (!ec && parser.is_done()) break;
      return absl::UnavailableError("connection closed before a full response");
    }
    if (ec) return absl::UnavailableError(absl::StrCat("read: ", ec.message()));
    buffer_.append(chunk, n);
  }
  http::response<http::string_body> response = parser.release();
  HttpReply reply;
  reply.status = static_cast<int>(response.result_int());
  for (const auto& field : response) {
    reply.headers.emplace(
        absl::AsciiStrToLower(std::string(field.name_string())),
        std::string(field.value()));
  }
  reply.body = std::move(response.body());
  reply.keep_alive = response.keep_alive();
  return reply;
}

bool HttpClient::ServerClosed(absl::Duration timeout) {
  if (!socket_.has_value()) return true;
  if (!buffer_.empty()) return false;
  pollfd pfd{socket_->native_handle(), POLLIN, 0};
  if (poll(&pfd, 1, static_cast<int>(absl::ToInt64Milliseconds(timeout))) <= 0) {
    return false;
  }
  char byte;
  const ssize_t n = ::recv(socket_->native_handle(), &byte, 1, MSG_PEEK);
  return n == 0 || (n < 0 && errno != EAGAIN);
}

}  // namespace etagd
