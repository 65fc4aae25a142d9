#include "gateway/api_preconditions.h"

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/entity_tag.h"
#include "service/precondition.h"
#include "service/request_validation.h"
#include "tests/testing/status_matchers.h"

namespace etagd {
namespace {

using ::testing::ElementsAre;

TEST(ApiPreconditionsTest, TheServiceParsesBackWhatWasGiven) {
  Preconditions given;
  given.if_match = EntityTagCondition{false, {{"a", false}, {"b", true}}};
  given.if_none_match = EntityTagCondition{true, {}};
  given.if_modified_since = absl::FromUnixSeconds(784111777);
  given.if_unmodified_since = absl::FromUnixSeconds(784111778);
  const etagd::v1::Preconditions api = ToApiPreconditions(given);
  EXPECT_THAT(api.if_match(), ElementsAre("\"a\"", "W/\"b\""));
  EXPECT_THAT(api.if_none_match(), ElementsAre("*"));

  absl::StatusOr<Preconditions> parsed = ParsePreconditions(api);
  ASSERT_THAT(parsed, IsOk());
  ASSERT_TRUE(parsed->if_match.has_value());
  EXPECT_FALSE(parsed->if_match->any);
  EXPECT_THAT(parsed->if_match->tags,
              ElementsAre(EntityTag{"a", false}, EntityTag{"b", true}));
  ASSERT_TRUE(parsed->if_none_match.has_value());
  EXPECT_TRUE(parsed->if_none_match->any);
  EXPECT_EQ(parsed->if_modified_since, given.if_modified_since);
  EXPECT_EQ(parsed->if_unmodified_since, given.if_unmodified_since);
}

TEST(ApiPreconditionsTest, AbsentConditionsStayAbsent) {
  const etagd::v1::Preconditions api = ToApiPreconditions(Preconditions());
  EXPECT_EQ(api.if_match_size(), 0);
  EXPECT_EQ(api.if_none_match_size(), 0);
  EXPECT_FALSE(api.has_if_modified_since());
  EXPECT_FALSE(api.has_if_unmodified_since());
}

// The API's strings are UTF-8; a tag of obs-text that is not can match
// none of etagd's (ASCII) tags, and neither can "".
TEST(ApiPreconditionsTest, AnEntityTagThatIsNotUtf8BecomesTheEmptyTag) {
  Preconditions given;
  given.if_none_match = EntityTagCondition{false, {{"\xff\xfe", true}, {"ok", false}}};
  EXPECT_THAT(ToApiPreconditions(given).if_none_match(),
              ElementsAre("\"\"", "\"ok\""));
}

}  // namespace
}  // namespace etagd
