#include "gateway/failed_watch_stream.h"

#include <atomic>
#include <utility>

namespace etagd {
namespace {

class FailedWatchStream final : public WatchStream {
 public:
  explicit FailedWatchStream(absl::Status error) : error_(std::move(error)) {}

  void Next(Ready ready) override {
    ready(cancelled_.load() ? absl::CancelledError("the watch was cancelled")
                            : error_);
  }
  void Cancel() override { cancelled_ = true; }

 private:
  const absl::Status error_;
  std::atomic<bool> cancelled_{false};
};

}  // namespace

std::unique_ptr<WatchStream> NewFailedWatchStream(absl::Status error) {
  return std::make_unique<FailedWatchStream>(std::move(error));
}

}  // namespace etagd
