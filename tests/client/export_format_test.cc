// The export file framing: what it writes reads back, and every kind of
// damage (truncation anywhere, a changed byte anywhere, a foreign or newer
// file, records out of order) is refused, never read as a shorter store.
#include "client/export_format.h"

#include <sstream>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

v1::ExportedVersion Version(const std::string& name, int64_t revision,
                            const std::string& content) {
  v1::ExportedVersion version;
  version.set_name(name);
  version.set_source_revision(revision);
  version.set_content(content);
  version.set_content_type("text/plain");
  version.mutable_update_time()->set_seconds(1'600'000'000 + revision);
  return version;
}

v1::ExportHeader Header() {
  v1::ExportHeader header;
  header.set_export_id("0123456789abcdef");
  return header;
}

// A file with `versions`, written in order.
std::string FileOf(const std::vector<v1::ExportedVersion>& versions) {
  std::ostringstream out;
  ExportWriter writer(out);
  EXPECT_THAT(writer.WriteHeader(Header()), IsOk());
  for (const v1::ExportedVersion& version : versions) {
    EXPECT_THAT(writer.WriteVersion(version), IsOk());
  }
  EXPECT_THAT(writer.Finish(), IsOk());
  return out.str();
}

std::string SampleFile() {
  return FileOf({Version("a", 1, "one"), Version("a", 4, "four"),
                 Version("b", 2, std::string(3000, 'b'))});
}

// Reads all of `file`: the versions, or the first error.
absl::StatusOr<std::vector<v1::ExportedVersion>> ReadAll(
    const std::string& file) {
  std::istringstream in(file);
  ExportReader reader(in);
  absl::StatusOr<v1::ExportHeader> header = reader.ReadHeader();
  if (!header.ok()) return header.status();
  std::vector<v1::ExportedVersion> versions;
  while (true) {
    absl::StatusOr<std::optional<v1::ExportedVersion>> next = reader.Next();
    if (!next.ok()) return next.status();
    if (!next->has_value()) return versions;
    versions.push_back(**next);
  }
}

TEST(ExportFormatTest, WhatIsWrittenReadsBackInOrder) {
  absl::StatusOr<std::vector<v1::ExportedVersion>> versions =
      ReadAll(SampleFile());
  ASSERT_THAT(versions, IsOk());
  ASSERT_EQ(versions->size(), 3u);
  EXPECT_EQ((*versions)[0].content(), "one");
  EXPECT_EQ((*versions)[1].source_revision(), 4);
  EXPECT_EQ((*versions)[2].content(), std::string(3000, 'b'));
}

TEST(ExportFormatTest, TheHeaderCarriesTheFormatVersionAndExportId) {
  std::istringstream in(SampleFile());
  ExportReader reader(in);
  absl::StatusOr<v1::ExportHeader> header = reader.ReadHeader();
  ASSERT_THAT(header, IsOk());
  EXPECT_EQ(header->format_version(), kExportFormatVersion);
  EXPECT_EQ(header->export_id(), "0123456789abcdef");
}

TEST(ExportFormatTest, AnEmptyStoreIsAValidFile) {
  absl::StatusOr<std::vector<v1::ExportedVersion>> versions =
      ReadAll(FileOf({}));
  ASSERT_THAT(versions, IsOk());
  EXPECT_TRUE(versions->empty());
}

TEST(ExportFormatTest, EveryTruncationIsRefused) {
  const std::string file = SampleFile();
  for (size_t length = 0; length < file.size(); ++length) {
    absl::StatusOr<std::vector<v1::ExportedVersion>> read =
        ReadAll(file.substr(0, length));
    ASSERT_FALSE(read.ok()) << "accepted the first " << length << " bytes";
    if (length >= sizeof(kExportMagic) - 1) {
      EXPECT_THAT(read, StatusIs(absl::StatusCode::kDataLoss)) << length;
    }
  }
}

TEST(ExportFormatTest, ATruncationSaysSo) {
  const std::string file = SampleFile();
  EXPECT_THAT(ReadAll(file.substr(0, file.size() - 3)),
              StatusIs(absl::StatusCode::kDataLoss, "truncated"));
}

TEST(ExportFormatTest, EveryChangedByteIsRefused) {
  const std::string file = SampleFile();
  for (size_t i = 0; i < file.size(); ++i) {
    std::string damaged = file;
    damaged[i] = static_cast<char>(damaged[i] ^ 0x20);
    EXPECT_FALSE(ReadAll(damaged).ok()) << "accepted a change at byte " << i;
  }
}

TEST(ExportFormatTest, BytesAfterTheTrailerAreRefused) {
  EXPECT_THAT(ReadAll(SampleFile() + "x"),
              StatusIs(absl::StatusCode::kDataLoss, "follow its trailer"));
}

TEST(ExportFormatTest, AFileThatIsNotAnExportIsRefused) {
  EXPECT_THAT(
      ReadAll("{\"resources\": []}\n"),
      StatusIs(absl::StatusCode::kInvalidArgument, "not an etagd export"));
}

TEST(ExportFormatTest, ANewerFormatVersionIsRefused) {
  v1::ExportRecord record;
  *record.mutable_header() = Header();
  record.mutable_header()->set_format_version(kExportFormatVersion + 1);
  absl::StatusOr<std::string> frame = FrameExportRecord(record);
  ASSERT_THAT(frame, IsOk());
  std::istringstream in(std::string(kExportMagic) + *frame);
  ExportReader reader(in);
  EXPECT_THAT(reader.ReadHeader(),
              StatusIs(absl::StatusCode::kInvalidArgument, "format version 2"));
}

TEST(ExportFormatTest, ResourcesOutOfOrderAreRefused) {
  EXPECT_THAT(ReadAll(FileOf({Version("b", 1, "x"), Version("a", 2, "y")})),
              StatusIs(absl::StatusCode::kDataLoss, "out of order"));
}

TEST(ExportFormatTest, VersionsOutOfOrderAreRefused) {
  EXPECT_THAT(ReadAll(FileOf({Version("a", 5, "x"), Version("a", 2, "y")})),
              StatusIs(absl::StatusCode::kDataLoss, "out of order"));
}

TEST(ExportFormatTest, ARecordOverTheLimitIsRefusedWithoutReadingIt) {
  std::istringstream in(SampleFile());
  ExportReader reader(in, /*max_frame_bytes=*/16);
  EXPECT_THAT(reader.ReadHeader(),
              StatusIs(absl::StatusCode::kDataLoss, "at most 16"));
}

}  // namespace
}  // namespace etagd
