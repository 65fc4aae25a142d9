#include "gateway/content_coding.h"

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "brotli/decode.h"
#include "gtest/gtest.h"
#include "zlib.h"

namespace etagd {
namespace {

const std::vector<std::string> kBoth = {"br", "gzip"};
const std::vector<std::string> kGzip = {"gzip"};

// ---------------------------------------------------------------------------
// NegotiateContentCoding: RFC 9110 §12.5.3.

struct NegotiationCase {
  std::string description;
  std::vector<absl::string_view> lines;
  std::vector<std::string> available;
  std::string expected;
};

std::ostream& operator<<(std::ostream& os, const NegotiationCase& c) {
  return os << c.description;
}

class NegotiateContentCodingTest : public testing::TestWithParam<NegotiationCase> {};

TEST_P(NegotiateContentCodingTest, PicksPerRfc9110Section12_5_3) {
  const NegotiationCase& c = GetParam();
  EXPECT_EQ(NegotiateContentCoding(c.lines, c.available), c.expected)
      << c.description;
}

INSTANTIATE_TEST_SUITE_P(
    Rfc9110, NegotiateContentCodingTest,
    testing::Values(
        NegotiationCase{"no field: identity", {}, kBoth, ""},
        NegotiationCase{"empty field: identity", {""}, kBoth, ""},
        NegotiationCase{"gzip", {"gzip"}, kBoth, "gzip"},
        NegotiationCase{"case-insensitive", {"GZip"}, kBoth, "gzip"},
        NegotiationCase{"x-gzip is gzip (8.4.1.3)", {"x-gzip"}, kBoth, "gzip"},
        NegotiationCase{"Chromium's list: server prefers br",
                        {"gzip, deflate, br"}, kBoth, "br"},
        NegotiationCase{"Chromium's list without br available",
                        {"gzip, deflate, br"}, kGzip, "gzip"},
        NegotiationCase{"curl --compressed", {"deflate, gzip, br, zstd"}, kBoth,
                        "br"},
        NegotiationCase{"higher qvalue wins over preference",
                        {"br;q=0.5, gzip"}, kBoth, "gzip"},
        NegotiationCase{"q=0 excludes", {"br;q=0, gzip;q=0.1"}, kBoth, "gzip"},
        NegotiationCase{"all excluded", {"br;q=0, gzip;q=0"}, kBoth, ""},
        NegotiationCase{"star covers unlisted codings", {"*"}, kBoth, "br"},
        NegotiationCase{"star with an exclusion", {"*, br;q=0"}, kBoth, "gzip"},
        NegotiationCase{"identity preferred over a lower coding",
                        {"gzip;q=0.5, identity"}, kBoth, ""},
        NegotiationCase{"identity only", {"identity"}, kBoth, ""},
        NegotiationCase{"unknown codings only", {"compress, zstd"}, kBoth, ""},
        NegotiationCase{"several field lines", {"identity;q=0.1", "gzip"}, kBoth,
                        "gzip"},
        NegotiationCase{"spaces around the weight", {"gzip ; q=0.8"}, kBoth,
                        "gzip"},
        NegotiationCase{"malformed qvalue ignores the member",
                        {"br;q=2, gzip"}, kBoth, "gzip"},
        NegotiationCase{"too many decimals ignores the member",
                        {"br;q=0.0001, gzip"}, kBoth, "gzip"},
        NegotiationCase{"q=1.000 is full", {"br;q=1.000"}, kBoth, "br"},
        NegotiationCase{"nothing available", {"gzip"}, {}, ""}));

// ---------------------------------------------------------------------------
// IsCompressibleMediaType.

TEST(IsCompressibleMediaTypeTest, TextAndStructuredTypesAreCompressible) {
  for (absl::string_view type :
       {"text/plain", "text/html; charset=utf-8", "Text/CSS", "application/json",
        "application/problem+json", "application/atom+xml", "image/svg+xml",
        "application/javascript"}) {
    EXPECT_TRUE(IsCompressibleMediaType(type)) << type;
  }
}

TEST(IsCompressibleMediaTypeTest, CompressedAndUnknownTypesAreNot) {
  for (absl::string_view type :
       {"", "image/png", "image/jpeg", "application/octet-stream",
        "application/gzip", "application/zip", "video/mp4", "font/woff2"}) {
    EXPECT_FALSE(IsCompressibleMediaType(type)) << type;
  }
}

// ---------------------------------------------------------------------------
// EncodeContent.

std::string Gunzip(const std::string& coded) {
  z_stream stream{};
  EXPECT_EQ(inflateInit2(&stream, 15 + 16), Z_OK);
  std::string out(1 << 20, '\0');
  stream.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(coded.data()));
  stream.avail_in = static_cast<uInt>(coded.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = static_cast<uInt>(out.size());
  EXPECT_EQ(inflate(&stream, Z_FINISH), Z_STREAM_END);
  out.resize(stream.total_out);
  inflateEnd(&stream);
  return out;
}

std::string Unbrotli(const std::string& coded) {
  std::string out(1 << 20, '\0');
  size_t size = out.size();
  EXPECT_EQ(BrotliDecoderDecompress(coded.size(),
                                    reinterpret_cast<const uint8_t*>(coded.data()),
                                    &size, reinterpret_cast<uint8_t*>(out.data())),
            BROTLI_DECODER_RESULT_SUCCESS);
  out.resize(size);
  return out;
}

std::string Text() {
  std::string text;
  for (int i = 0; i < 2000; ++i) text += "etagd keeps versions; ";
  return text;
}

TEST(EncodeContentTest, GzipRoundTripsAndShrinksText) {
  absl::StatusOr<std::string> coded = EncodeContent("gzip", Text());
  ASSERT_TRUE(coded.ok()) << coded.status();
  EXPECT_LT(coded->size(), Text().size() / 10);
  EXPECT_EQ(Gunzip(*coded), Text());
}

TEST(EncodeContentTest, BrotliRoundTripsAndShrinksText) {
  absl::StatusOr<std::string> coded = EncodeContent("br", Text());
  ASSERT_TRUE(coded.ok()) << coded.status();
  EXPECT_LT(coded->size(), Text().size() / 10);
  EXPECT_EQ(Unbrotli(*coded), Text());
}

TEST(EncodeContentTest, EmptyContentRoundTrips) {
  EXPECT_EQ(Gunzip(*EncodeContent("gzip", "")), "");
  EXPECT_EQ(Unbrotli(*EncodeContent("br", "")), "");
}

// A strong entity-tag promises the same bytes every time (RFC 9110 §8.8.3).
TEST(EncodeContentTest, IsDeterministic) {
  for (absl::string_view coding : {"gzip", "br"}) {
    EXPECT_EQ(*EncodeContent(coding, Text()), *EncodeContent(coding, Text()))
        << coding;
  }
}

TEST(EncodeContentTest, UnknownCodingIsInvalidArgument) {
  EXPECT_EQ(EncodeContent("compress", "x").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace etagd
