// The text/event-stream format (WHATWG HTML §9.2): what etagd writes, read
// back by the rules of §9.2.6, and the Last-Event-ID it accepts.
#include "gateway/sse.h"

#include <optional>
#include <string>

#include "gtest/gtest.h"

namespace etagd {
namespace {

// §9.2.6: fields, one per line, and a blank line that dispatches the event.
TEST(SseTest, EventHasTypeIdDataAndBlankLine) {
  EXPECT_EQ(FormatSseEvent("change", "42", "{\"a\":1}"),
            "event: change\nid: 42\ndata: {\"a\":1}\n\n");
}

TEST(SseTest, EmptyTypeAndIdAreOmitted) {
  EXPECT_EQ(FormatSseEvent("", "", "x"), "data: x\n\n");
}

// §9.2.6: each data line is appended with a LF; CRLF, CR and LF all end a
// line (§9.2.5), so multi-line data becomes several data fields.
struct DataCase {
  std::string data;
  std::string wire;
};

class SseDataTest : public testing::TestWithParam<DataCase> {};

TEST_P(SseDataTest, DataLinesSplitAtEveryLineEnding) {
  EXPECT_EQ(FormatSseEvent("", "", GetParam().data), GetParam().wire);
}

INSTANTIATE_TEST_SUITE_P(
    Lines, SseDataTest,
    testing::Values(DataCase{"", "data: \n\n"},
                    DataCase{"a\nb", "data: a\ndata: b\n\n"},
                    DataCase{"a\r\nb", "data: a\ndata: b\n\n"},
                    DataCase{"a\rb", "data: a\ndata: b\n\n"},
                    DataCase{"a\n", "data: a\ndata: \n\n"},
                    DataCase{"a\r\n\r\nb", "data: a\ndata: \ndata: b\n\n"}));

// §9.2.6: a line break would end the field early, and an id with NUL is
// ignored by the browser: neither may reach the wire.
TEST(SseTest, LineBreaksAndNulAreDroppedFromTypeAndId) {
  EXPECT_EQ(FormatSseEvent("a\nb", std::string("1\r2\0003", 5), "x"),
            "event: ab\nid: 123\ndata: x\n\n");
}

// §9.2.6 "dispatch the event": the last event ID is set in step 1, and an
// empty data buffer stops dispatch in step 2.
TEST(SseTest, IdOnlyBlockHasNoDataField) {
  EXPECT_EQ(FormatSseIdOnly("17"), "id: 17\n\n");
}

// §9.2.5: a line starting with ':' is a comment.
TEST(SseTest, CommentStartsWithColon) {
  EXPECT_EQ(FormatSseComment("heartbeat"), ": heartbeat\n\n");
  EXPECT_EQ(FormatSseComment(""), ":\n\n");
  EXPECT_EQ(FormatSseComment("a\nb"), ": ab\n\n");
}

// §9.2.6: retry takes the reconnection time in milliseconds.
TEST(SseTest, RetryIsInMilliseconds) {
  EXPECT_EQ(FormatSseRetry(absl::Seconds(3)), "retry: 3000\n\n");
}

struct IdCase {
  std::string value;
  std::optional<int64_t> revision;
};

class LastEventIdTest : public testing::TestWithParam<IdCase> {};

// Only ids etagd sends (positive decimal revisions) are resumed from.
TEST_P(LastEventIdTest, ParsesOnlyPositiveDecimalRevisions) {
  EXPECT_EQ(ParseLastEventId(GetParam().value), GetParam().revision)
      << GetParam().value;
}

INSTANTIATE_TEST_SUITE_P(
    Ids, LastEventIdTest,
    testing::Values(IdCase{"1", 1}, IdCase{"42", 42},
                    IdCase{"9223372036854775807", INT64_MAX},
                    IdCase{"9223372036854775808", std::nullopt},
                    IdCase{"99999999999999999999", std::nullopt},
                    IdCase{"0", std::nullopt}, IdCase{"", std::nullopt},
                    IdCase{"-1", std::nullopt}, IdCase{"+1", std::nullopt},
                    IdCase{" 1", std::nullopt}, IdCase{"1 ", std::nullopt},
                    IdCase{"0x10", std::nullopt}, IdCase{"abc", std::nullopt}));

}  // namespace
}  // namespace etagd
