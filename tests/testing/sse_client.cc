#include "tests/testing/sse_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"

namespace etagd {

absl::StatusOr<std::unique_ptr<SseClient>> SseClient::Open(int port,
                                                           const std::string& target,
                                                           Options options) {
  std::unique_ptr<SseClient> client(new SseClient());
  client->fd_ = socket(AF_INET, SOCK_STREAM, 0);
  if (client->fd_ < 0) return absl::InternalError("socket() failed");
  if (options.receive_buffer_bytes > 0) {
    setsockopt(client->fd_, SOL_SOCKET, SO_RCVBUF, &options.receive_buffer_bytes,
               sizeof options.receive_buffer_bytes);
  }
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(client->fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    return absl::UnavailableError(absl::StrCat("cannot connect to port ", port));
  }
  std::string request = absl::StrCat(options.method, " ", target,
                                     options.http10 ? " HTTP/1.0\r\n" : " HTTP/1.1\r\n",
                                     "Host: 127.0.0.1\r\n");
  for (const auto& [name, value] : options.headers) {
    absl::StrAppend(&request, name, ": ", value, "\r\n");
  }
  request += "\r\n";
  if (send(client->fd_, request.data(), request.size(), MSG_NOSIGNAL) !=
      static_cast<ssize_t>(request.size())) {
    return absl::UnavailableError("cannot send the request");
  }
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  size_t end;
  while ((end = client->raw_.find("\r\n\r\n")) == std::string::npos) {
    bool timed_out = false;
    if (!client->Fill(deadline, &timed_out)) {
      return absl::UnavailableError(
          absl::StrCat("no response head: ", client->raw_));
    }
  }
  std::vector<std::string> lines =
      absl::StrSplit(client->raw_.substr(0, end), "\r\n");
  client->raw_.erase(0, end + 4);
  if (lines.empty() || lines[0].size() < 12 ||
      !absl::SimpleAtoi(lines[0].substr(9, 3), &client->status_)) {
    return absl::InternalError("malformed status line");
  }
  for (size_t i = 1; i < lines.size(); ++i) {
    const size_t colon = lines[i].find(':');
    if (colon == std::string::npos) continue;
    client->headers_[absl::AsciiStrToLower(lines[i].substr(0, colon))] =
        std::string(absl::StripAsciiWhitespace(lines[i].substr(colon + 1)));
  }
  auto te = client->headers_.find("transfer-encoding");
  client->chunked_ = te != client->headers_.end() && te->second == "chunked";
  if (options.method == "HEAD") client->last_chunk_ = client->eof_ = true;
  return client;
}

SseClient::~SseClient() {
  if (fd_ >= 0) close(fd_);
}

std::optional<std::string> SseClient::Header(const std::string& name) const {
  auto it = headers_.find(name);
  if (it == headers_.end()) return std::nullopt;
  return it->second;
}

bool SseClient::Fill(absl::Time deadline, bool* timed_out) {
  if (eof_) return false;
  pollfd p{fd_, POLLIN, 0};
  const int64_t ms = std::max<int64_t>(0, absl::ToInt64Milliseconds(deadline - absl::Now()));
  const int ready = poll(&p, 1, static_cast<int>(ms));
  if (ready <= 0) {
    *timed_out = true;
    return false;
  }
  char buffer[16384];
  const ssize_t n = recv(fd_, buffer, sizeof buffer, 0);
  if (n <= 0) {
    eof_ = true;
    return false;
  }
  raw_.append(buffer, static_cast<size_t>(n));
  return true;
}

void SseClient::Dechunk() {
  if (!chunked_) {
    body_ += raw_;
    raw_.clear();
    return;
  }
  while (!last_chunk_) {
    const size_t line_end = raw_.find("\r\n");
    if (line_end == std::string::npos) return;
    const size_t size = std::strtoul(raw_.substr(0, line_end).c_str(), nullptr, 16);
    if (size == 0) {
      if (raw_.size() < line_end + 4) return;
      last_chunk_ = true;
      raw_.erase(0, line_end + 4);
      return;
    }
    if (raw_.size() < line_end + 2 + size + 2) return;
    body_.append(raw_, line_end + 2, size);
    raw_.erase(0, line_end + 2 + size + 2);
  }
}

absl::StatusOr<SseBlock> SseClient::Next(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    Dechunk();
    const size_t end = body_.find("\n\n");
    if (end != std::string::npos) {
      SseBlock block;
      for (absl::string_view line : absl::StrSplit(body_.substr(0, end), '\n')) {
        if (!line.empty() && line.front() == ':') {
          block.comment = std::string(absl::StripLeadingAsciiWhitespace(line.substr(1)));
          continue;
        }
        const size_t colon = line.find(':');
        absl::string_view name = line.substr(0, colon);
        absl::string_view value =
            colon == absl::string_view::npos ? "" : line.substr(colon + 1);
        if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
        if (name == "event") block.event = std::string(value);
        if (name == "id") block.id = std::string(value);
        if (name == "retry") block.retry = std::string(value);
        if (name == "data") {
          if (!block.data.empty()) block.data += "\n";
          absl::StrAppend(&block.data, value);
        }
      }
      body_.erase(0, end + 2);
      return block;
    }
    if (last_chunk_ || eof_) return absl::OutOfRangeError("the body ended");
    bool timed_out = false;
    if (!Fill(deadline, &timed_out) && timed_out) {
      return absl::DeadlineExceededError("no complete block in time");
    }
  }
}

bool SseClient::EndsWithin(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    absl::StatusOr<SseBlock> block = Next(deadline - absl::Now());
    if (absl::IsOutOfRange(block.status())) return true;
    if (!block.ok()) return false;
  }
}

}  // namespace etagd
