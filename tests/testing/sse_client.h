// A client for text/event-stream responses in tests: one request over a
// plain socket, the response head, then the body as it arrives (chunked or
// delimited by the close), split into event-stream blocks, with bounded
// waits (poll(), no sleeps).
#ifndef ETAGD_TESTS_TESTING_SSE_CLIENT_H_
#define ETAGD_TESTS_TESTING_SSE_CLIENT_H_

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace etagd {

// One block of an event stream (the lines before a blank line), parsed.
struct SseBlock {
  std::string event;  // The `event:` field; empty if none.
  std::optional<std::string> id;
  std::string data;  // The `data:` lines joined with LF.
  std::string comment;  // The text of a `:` line; empty if none.
  std::optional<std::string> retry;
};

// Not thread-safe.
class SseClient {
 public:
  struct Options {
    std::string method = "GET";
    std::vector<std::pair<std::string, std::string>> headers;
    // SO_RCVBUF, if set (a reader that keeps little in its kernel buffer).
    int receive_buffer_bytes = 0;
    bool http10 = false;
  };

  // Connects to 127.0.0.1:`port`, sends the request and reads the head.
  static absl::StatusOr<std::unique_ptr<SseClient>> Open(
      int port, const std::string& target, Options options);
  static absl::StatusOr<std::unique_ptr<SseClient>> Open(int port,
                                                         const std::string& target) {
    return Open(port, target, Options());
  }
  ~SseClient();

  int status() const { return status_; }
  // A header's value (name in lower case), if present.
  std::optional<std::string> Header(const std::string& name) const;

  // The next block. OUT_OF_RANGE once the body ended (the last chunk, or
  // the close), DEADLINE_EXCEEDED after `timeout`.
  absl::StatusOr<SseBlock> Next(absl::Duration timeout = absl::Seconds(10));

  // True if the body ends (or the connection closes) within `timeout`,
  // skipping blocks.
  bool EndsWithin(absl::Duration timeout);

  // True once the last chunk came (a complete, well-framed end).
  bool saw_last_chunk() const { return last_chunk_; }

 private:
  SseClient() = default;
  // Reads more bytes into raw_; false at EOF or error, or on timeout.
  bool Fill(absl::Time deadline, bool* timed_out);
  // Moves what framing allows from raw_ to body_.
  void Dechunk();

  int fd_ = -1;
  int status_ = 0;
  std::map<std::string, std::string> headers_;
  bool chunked_ = false;
  bool eof_ = false;
  bool last_chunk_ = false;
  std::string raw_;
  std::string body_;
};

}  // namespace etagd

#endif  // ETAGD_TESTS_TESTING_SSE_CLIENT_H_
