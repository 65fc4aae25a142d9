// A response body produced piece by piece (event streams), pulled by the
// HTTP server one piece at a time: the next piece is asked for only once
// the previous one was written, so a slow client holds at most one piece in
// this process and the rest stays with the producer.
#ifndef ETAGD_GATEWAY_BODY_STREAM_H_
#define ETAGD_GATEWAY_BODY_STREAM_H_

#include <functional>
#include <optional>
#include <string>

namespace etagd {

// Thread-safe.
class BodyStream {
 public:
  // A piece of the body, or nullopt: the body is complete.
  using Ready = std::function<void(std::optional<std::string>)>;

  // Ends the stream: a pending Next's `ready` is called (with nullopt)
  // before the destructor returns, if it was not called before.
  virtual ~BodyStream() = default;

  // Asks for the next piece. `ready` is called exactly once, on any thread
  // and possibly before Next returns; a piece is never empty. At most one
  // Next may be pending, and none after the body completed.
  virtual void Next(Ready ready) = 0;
};

}  // namespace etagd

#endif  // ETAGD_GATEWAY_BODY_STREAM_H_
