// A blocking HTTP/1.1 client for tests, over one keep-alive connection to
// 127.0.0.1, with Boost.Beast doing the message parsing.
#ifndef ETAGD_TESTS_TESTING_HTTP_CLIENT_H_
#define ETAGD_TESTS_TESTING_HTTP_CLIENT_H_

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "boost/asio/io_context.hpp"
#include "boost/asio/ip/tcp.hpp"

namespace etagd {

struct HttpReply {
  int status = 0;
  // Header names in lower case; a repeated header has several values.
  std::multimap<std::string, std::string> headers;
  std::string body;
  bool keep_alive = false;

  // The value of header `name` (lower case), if present once or more.
  std::optional<std::string> Header(const std::string& name) const;
  bool Has(const std::string& name) const { return headers.count(name) > 0; }
};

// Not thread-safe: one connection, one request at a time.
class HttpClient {
 public:
  explicit HttpClient(int port) : port_(port) {}

  // Sends a request (reconnecting if needed) and reads its response.
  absl::StatusOr<HttpReply> Send(
      const std::string& method, const std::string& target,
      const std::vector<std::pair<std::string, std::string>>& headers = {},
      const std::string& body = "");

  // Sends raw bytes on the connection (opening it if needed).
  absl::Status SendRaw(const std::string& bytes);

  // Reads one response from the connection; `head` for a HEAD response.
  absl::StatusOr<HttpReply> Read(bool head = false,
                                 absl::Duration timeout = absl::Seconds(10));

  // True if the server has closed the connection (reads EOF within
  // `timeout`).
  bool ServerClosed(absl::Duration timeout = absl::Seconds(5));

  void Close();

 private:
  absl::Status Connect();

  int port_;
  boost::asio::io_context ioc_;
  std::optional<boost::asio::ip::tcp::socket> socket_;
  std::string buffer_;
};

}  // namespace etagd

#endif  // ETAGD_TESTS_TESTING_HTTP_CLIENT_H_
