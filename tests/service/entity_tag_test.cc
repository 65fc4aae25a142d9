#include "service/entity_tag.h"

#include <algorithm>
#include <string>

#include "absl/strings/ascii.h"
#include "gtest/gtest.h"

namespace etagd {
namespace {

// RFC 9110 §8.8.3: entity-tag = [ weak ] opaque-tag.
struct ParseCase {
  std::string text;
  bool valid;
  std::string opaque;
  bool weak;
};

class ParseEntityTagTest : public testing::TestWithParam<ParseCase> {};

TEST_P(ParseEntityTagTest, ParsesPerRfc9110Section8_8_3) {
  const ParseCase& c = GetParam();
  std::optional<EntityTag> tag = ParseEntityTag(c.text);
  ASSERT_EQ(tag.has_value(), c.valid) << c.text;
  if (c.valid) {
    EXPECT_EQ(tag->opaque, c.opaque);
    EXPECT_EQ(tag->weak, c.weak);
  }
}

INSTANTIATE_TEST_SUITE_P(
    Rfc9110, ParseEntityTagTest,
    testing::Values(
        // Strong and weak tags.
        ParseCase{"\"xyzzy\"", true, "xyzzy", false},
        ParseCase{"W/\"xyzzy\"", true, "xyzzy", true},
        // The empty opaque-tag is valid.
        ParseCase{"\"\"", true, "", false},
        ParseCase{"W/\"\"", true, "", true},
        // etagc includes %x21, %x23-7E and obs-text.
        ParseCase{"\"!#~\"", true, "!#~", false},
        ParseCase{"\"\x80\xff\"", true, "\x80\xff", false},
        // "W/" is case-sensitive.
        ParseCase{"w/\"xyzzy\"", false, "", false},
        // Quotes are required.
        ParseCase{"xyzzy", false, "", false},
        ParseCase{"\"xyzzy", false, "", false},
        ParseCase{"xyzzy\"", false, "", false},
        ParseCase{"\"", false, "", false},
        ParseCase{"", false, "", false},
        ParseCase{"W/", false, "", false},
        // DQUOTE, space, and controls are not etagc.
        ParseCase{"\"a\"b\"", false, "", false},
        ParseCase{"\"a b\"", false, "", false},
        ParseCase{"\"a\tb\"", false, "", false},
        ParseCase{std::string("\"a\0b\"", 5), false, "", false},
        // Surrounding whitespace is the caller's to strip.
        ParseCase{" \"a\"", false, "", false},
        ParseCase{"\"a\" ", false, "", false},
        // "*" is not an entity-tag (it is a separate alternative).
        ParseCase{"*", false, "", false}));

TEST(EntityTagTest, FormatRoundTripsThroughParse) {
  for (const EntityTag& tag :
       {EntityTag{"abc", false}, EntityTag{"abc", true}, EntityTag{"", false}}) {
    std::optional<EntityTag> parsed = ParseEntityTag(FormatEntityTag(tag));
    ASSERT_TRUE(parsed.has_value());
    EXPECT_EQ(*parsed, tag);
  }
}

TEST(EntityTagTest, FormatWritesWeakPrefixAndQuotes) {
  EXPECT_EQ(FormatEntityTag({"1", true}), "W/\"1\"");
  EXPECT_EQ(FormatEntityTag({"1", false}), "\"1\"");
}

// RFC 9110 §8.8.3.2, the comparison table.
struct CompareCase {
  std::string a;
  std::string b;
  bool strong;
  bool weak;
};

class CompareEntityTagTest : public testing::TestWithParam<CompareCase> {};

TEST_P(CompareEntityTagTest, MatchesTheTableOfRfc9110Section8_8_3_2) {
  const CompareCase& c = GetParam();
  EntityTag a = *ParseEntityTag(c.a);
  EntityTag b = *ParseEntityTag(c.b);
  EXPECT_EQ(StrongMatch(a, b), c.strong) << c.a << " vs " << c.b;
  EXPECT_EQ(WeakMatch(a, b), c.weak) << c.a << " vs " << c.b;
  EXPECT_EQ(StrongMatch(b, a), c.strong) << "symmetry";
  EXPECT_EQ(WeakMatch(b, a), c.weak) << "symmetry";
}

INSTANTIATE_TEST_SUITE_P(
    Rfc9110, CompareEntityTagTest,
    testing::Values(CompareCase{"W/\"1\"", "W/\"1\"", false, true},
                    CompareCase{"W/\"1\"", "W/\"2\"", false, false},
                    CompareCase{"W/\"1\"", "\"1\"", false, true},
                    CompareCase{"\"1\"", "\"1\"", true, true},
                    CompareCase{"\"1\"", "\"2\"", false, false}));

TEST(CodedEntityTagTest, AppendsTheCodingInsideTheQuotes) {
  EXPECT_EQ(FormatEntityTag(CodedEntityTag(*ParseEntityTag("\"2a-00ff\""), "gzip")),
            "\"2a-00ff-gzip\"");
  EXPECT_EQ(FormatEntityTag(CodedEntityTag(*ParseEntityTag("W/\"x\""), "br")),
            "W/\"x-br\"");
}

TEST(CodedEntityTagTest, NeverEqualsAVersionTag) {
  // A version tag is "<hex>-<16 hex>": no coding name is hex.
  for (absl::string_view coding : kRepresentationCodings) {
    EXPECT_FALSE(std::all_of(coding.begin(), coding.end(), [](char c) {
      return absl::ascii_isxdigit(static_cast<unsigned char>(c));
    })) << coding;
  }
}

}  // namespace
}  // namespace etagd
