#include "gateway/version_head.h"

#include <string>

#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace etagd {
namespace {

VersionRepresentation Plain(const HttpMetadata& metadata) {
  VersionRepresentation r;
  r.etag = "\"1f-00000000000000aa\"";
  r.last_modified = absl::FromUnixSeconds(784111777);  // Sun, 06 Nov 1994 08:49:37
  r.content_type = "text/plain";
  r.metadata = &metadata;
  r.default_cache_control = "no-cache";
  r.content_length = 1024;
  return r;
}

// RFC 9110 §15.4.5: a 304 carries ETag and the Cache-Control, Expires and
// Vary a 200 would, and nothing else of the representation.
TEST(VersionHeadTest, NotModifiedLinesAreTheValidatorAndCachingFields) {
  HttpMetadata metadata;
  metadata.expires = absl::FromUnixSeconds(2114380800);  // 2037-01-01
  metadata.content_language = "en";
  VersionRepresentation r = Plain(metadata);
  r.varies = true;
  const VersionHead head = FormatVersionHead(r, /*complete=*/false);
  EXPECT_EQ(head.not_modified(),
            "ETag: \"1f-00000000000000aa\"\r\n"
            "Cache-Control: no-cache\r\n"
            "Expires: Thu, 01 Jan 2037 00:00:00 GMT\r\n"
            "Vary: Accept-Encoding\r\n");
  EXPECT_FALSE(head.complete);
  EXPECT_EQ(head.lines, head.not_modified());
}

TEST(VersionHeadTest, CompleteLinesAddTheRepresentationAfterThe304s) {
  HttpMetadata metadata;
  metadata.cache_control = "public, max-age=60";
  metadata.content_disposition = "attachment";
  metadata.content_language = "en";
  metadata.user["owner"] = "alice";
  metadata.user["build"] = "42";
  const VersionHead head = FormatVersionHead(Plain(metadata), /*complete=*/true);
  EXPECT_TRUE(head.complete);
  EXPECT_EQ(head.lines,
            "ETag: \"1f-00000000000000aa\"\r\n"
            "Cache-Control: public, max-age=60\r\n"
            "Last-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\n"
            "Content-Type: text/plain\r\n"
            "Content-Disposition: attachment\r\n"
            "Content-Language: en\r\n"
            "X-Etagd-Meta-build: 42\r\n"
            "X-Etagd-Meta-owner: alice\r\n"
            "Accept-Ranges: bytes\r\n"
            "Content-Length: 1024\r\n");
  EXPECT_EQ(head.not_modified(),
            "ETag: \"1f-00000000000000aa\"\r\n"
            "Cache-Control: public, max-age=60\r\n");
}

TEST(VersionHeadTest, UnframedLinesAreTheCompleteOnesWithoutContentLength) {
  HttpMetadata metadata;
  const VersionHead head = FormatVersionHead(Plain(metadata), /*complete=*/true);
  EXPECT_EQ(std::string(head.unframed()) + "Content-Length: 1024\r\n", head.lines);
}

TEST(VersionHeadTest, ACodedRepresentationSaysItsCoding) {
  HttpMetadata metadata;
  VersionRepresentation r = Plain(metadata);
  r.coding = "gzip";
  r.varies = true;
  const VersionHead head = FormatVersionHead(r, /*complete=*/true);
  EXPECT_NE(head.lines.find("\r\nContent-Encoding: gzip\r\n"), std::string::npos);
  EXPECT_NE(head.not_modified().find("Vary: Accept-Encoding\r\n"), std::string::npos);
}

TEST(VersionHeadTest, NoMediaTypeIsSentAsOctetStream) {
  HttpMetadata metadata;
  VersionRepresentation r = Plain(metadata);
  r.content_type = "";
  const VersionHead head = FormatVersionHead(r, /*complete=*/true);
  EXPECT_NE(head.lines.find("\r\nContent-Type: application/octet-stream\r\n"),
            std::string::npos);
}

TEST(VersionHeadTest, AnEmptyDefaultCacheControlSendsNone) {
  HttpMetadata metadata;
  VersionRepresentation r = Plain(metadata);
  r.default_cache_control = "";
  const VersionHead head = FormatVersionHead(r, /*complete=*/true);
  EXPECT_EQ(head.lines.find("Cache-Control"), std::string::npos);
}

}  // namespace
}  // namespace etagd
