#include "service/feed/watch_window.h"

#include <optional>

#include "gtest/gtest.h"
#include "service/error_details.h"
#include "tests/testing/status_matchers.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

struct StartCase {
  const char* what;
  int64_t start;
  absl::StatusCode code;
};

class CheckWatchStartTest : public testing::TestWithParam<StartCase> {};

// The window of these cases: revisions 100 (the oldest kept) to 200.
TEST_P(CheckWatchStartTest, DecidesByTheOldestRevisionKept) {
  ChangeWindow window;
  window.oldest_revision = 100;
  window.committed_revision = 200;
  EXPECT_THAT(CheckWatchStart(GetParam().start, window),
              StatusIs(GetParam().code))
      << GetParam().what;
}

INSTANTIATE_TEST_SUITE_P(
    Edges, CheckWatchStartTest,
    testing::Values(
        StartCase{"exactly the oldest", 100, absl::StatusCode::kOk},
        StartCase{"one below the oldest", 99, absl::StatusCode::kOutOfRange},
        StartCase{"far below", 1, absl::StatusCode::kOutOfRange},
        StartCase{"the current one", 200, absl::StatusCode::kOk},
        StartCase{"the next one", 201, absl::StatusCode::kOk},
        // A future revision is waited for, as etcd does.
        StartCase{"a future one", 1000, absl::StatusCode::kOk}));

TEST(CheckWatchStartTest, OutOfRangeCarriesTheWindow) {
  ChangeWindow window;
  window.oldest_revision = 100;
  window.committed_revision = 200;
  const absl::Status status = CheckWatchStart(99, window);
  std::optional<v1::WatchWindow> detail = GetWatchWindow(status);
  ASSERT_TRUE(detail.has_value());
  EXPECT_EQ(detail->oldest_revision(), 100);
  EXPECT_EQ(detail->current_revision(), 200);
}

TEST(ValidateWatchRequestTest, ANegativeStartRevisionIsInvalid) {
  v1::WatchRequest request;
  request.set_start_revision(-1);
  EXPECT_THAT(ValidateWatchRequest(request),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ValidateWatchRequestTest, InitialStateTakesNoStartRevision) {
  v1::WatchRequest request;
  request.set_initial_state(true);
  EXPECT_THAT(ValidateWatchRequest(request), IsOk());
  request.set_start_revision(5);
  EXPECT_THAT(ValidateWatchRequest(request),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace etagd
