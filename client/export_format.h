// The framing of etagctl's export files (proto/etagd/v1/export.proto states
// the format): a writer, and a reader that checks the structure as it goes,
// so that a corrupt, truncated or foreign file is refused with DATA_LOSS or
// INVALID_ARGUMENT before anything after the damage is used. Pure logic over
// iostreams: one frame in memory at a time.
#ifndef ETAGD_CLIENT_EXPORT_FORMAT_H_
#define ETAGD_CLIENT_EXPORT_FORMAT_H_

#include <cstdint>
#include <istream>
#include <optional>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "etagd/v1/export.pb.h"

namespace etagd {

// The format version this code writes and reads.
inline constexpr int kExportFormatVersion = 1;
// The first bytes of every export file.
inline constexpr char kExportMagic[] = "ETAGDX1\n";
// Largest frame a reader accepts by default: the largest content etagd
// stores (1 GiB) and room for the rest of the record.
inline constexpr uint32_t kMaxExportFrameBytes =
    (uint32_t{1} << 30) + (1 << 20);

// One frame: length, checksum and the serialized `record`.
absl::StatusOr<std::string> FrameExportRecord(
    const etagd::v1::ExportRecord& record);

// Writes records to `out` (magic first). Thread-compatible.
class ExportWriter {
 public:
  explicit ExportWriter(std::ostream& out) : out_(out) {}

  // Writes the magic and `header` (its format_version is set here).
  absl::Status WriteHeader(etagd::v1::ExportHeader header);
  // A version; WriteHeader first. Order is the caller's (the reader checks).
  absl::Status WriteVersion(const etagd::v1::ExportedVersion& version);
  // The trailer, with the counts of what was written; nothing after it.
  absl::Status Finish();

  int64_t resources() const { return resources_; }
  int64_t versions() const { return versions_; }
  int64_t bytes() const { return bytes_; }

 private:
  absl::Status WriteFrame(const etagd::v1::ExportRecord& record);

  std::ostream& out_;
  bool started_ = false;
  std::string last_name_;
  int64_t resources_ = 0;
  int64_t versions_ = 0;
  int64_t max_revision_ = 0;
  int64_t bytes_ = 0;
};

// Reads and checks records from `in`. Thread-compatible.
class ExportReader {
 public:
  explicit ExportReader(std::istream& in,
                        uint32_t max_frame_bytes = kMaxExportFrameBytes)
      : in_(in), max_frame_bytes_(max_frame_bytes) {}

  // The header. INVALID_ARGUMENT if the input is not an export file or its
  // format version is not kExportFormatVersion; DATA_LOSS if damaged.
  absl::StatusOr<etagd::v1::ExportHeader> ReadHeader();

  // The next version, or nullopt once the trailer has been read and checked
  // (counts match, nothing follows it). DATA_LOSS if the input ends before
  // the trailer (truncated), a frame's checksum or payload is bad, or the
  // versions are out of order (names ascending, revisions ascending within
  // a name).
  absl::StatusOr<std::optional<etagd::v1::ExportedVersion>> Next();

  // Bytes read so far.
  int64_t bytes() const { return bytes_; }
  int64_t resources() const { return resources_; }
  int64_t versions() const { return versions_; }

 private:
  // The next frame's record; nullopt at a clean end of input (no byte of a
  // frame read).
  absl::StatusOr<std::optional<etagd::v1::ExportRecord>> ReadFrame();

  std::istream& in_;
  const uint32_t max_frame_bytes_;
  bool header_read_ = false;
  bool done_ = false;
  std::string last_name_;
  int64_t last_revision_ = 0;
  int64_t resources_ = 0;
  int64_t versions_ = 0;
  int64_t max_revision_ = 0;
  int64_t bytes_ = 0;
};

}  // namespace etagd

#endif  // ETAGD_CLIENT_EXPORT_FORMAT_H_
