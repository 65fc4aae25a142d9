#include "client/export_format.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "zlib.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

constexpr size_t kMagicBytes = sizeof(kExportMagic) - 1;
constexpr size_t kFrameHeadBytes = 8;
// Payloads are read in pieces of this size, so that a damaged length cannot
// make the reader allocate more than the input holds.
constexpr size_t kReadChunkBytes = 1 << 20;

uint32_t Crc32(const std::string& bytes) {
  uLong crc = crc32(0L, Z_NULL, 0);
  size_t done = 0;
  while (done < bytes.size()) {
    const uInt piece =
        static_cast<uInt>(std::min<size_t>(bytes.size() - done, uInt{1} << 30));
    crc =
        crc32(crc, reinterpret_cast<const Bytef*>(bytes.data() + done), piece);
    done += piece;
  }
  return static_cast<uint32_t>(crc);
}

void PutFixed32(uint32_t value, char* out) {
  for (int i = 0; i < 4; ++i)
    out[i] = static_cast<char>((value >> (8 * i)) & 0xff);
}

uint32_t GetFixed32(const char* in) {
  uint32_t value = 0;
  for (int i = 0; i < 4; ++i) {
    value |= static_cast<uint32_t>(static_cast<unsigned char>(in[i]))
             << (8 * i);
  }
  return value;
}

absl::Status Truncated(int64_t offset) {
  return absl::DataLossError(
      absl::StrCat("the export file is truncated: it ends at byte ", offset,
                   " before its trailer (was the export interrupted?)"));
}

}  // namespace

absl::StatusOr<std::string> FrameExportRecord(const v1::ExportRecord& record) {
  std::string payload;
  if (!record.SerializeToString(&payload)) {
    return absl::InternalError("cannot serialize an export record");
  }
  if (payload.size() > kMaxExportFrameBytes) {
    return absl::ResourceExhaustedError("an export record is over 1 GiB");
  }
  std::string frame(kFrameHeadBytes, '\0');
  PutFixed32(static_cast<uint32_t>(payload.size()), frame.data());
  PutFixed32(Crc32(payload), frame.data() + 4);
  frame += payload;
  return frame;
}

absl::Status ExportWriter::WriteFrame(const v1::ExportRecord& record) {
  absl::StatusOr<std::string> frame = FrameExportRecord(record);
  if (!frame.ok()) return frame.status();
  out_.write(frame->data(), static_cast<std::streamsize>(frame->size()));
  if (!out_) return absl::UnavailableError("cannot write the export output");
  bytes_ += static_cast<int64_t>(frame->size());
  return absl::OkStatus();
}

absl::Status ExportWriter::WriteHeader(v1::ExportHeader header) {
  if (started_) return absl::FailedPreconditionError("header already written");
  started_ = true;
  out_.write(kExportMagic, kMagicBytes);
  bytes_ += kMagicBytes;
  header.set_format_version(kExportFormatVersion);
  v1::ExportRecord record;
  *record.mutable_header() = std::move(header);
  return WriteFrame(record);
}

absl::Status ExportWriter::WriteVersion(const v1::ExportedVersion& version) {
  if (!started_) return absl::FailedPreconditionError("no header written");
  if (versions_ == 0 || version.name() != last_name_) {
    ++resources_;
    last_name_ = version.name();
  }
  ++versions_;
  max_revision_ = std::max(max_revision_, version.source_revision());
  v1::ExportRecord record;
  *record.mutable_version() = version;
  return WriteFrame(record);
}

absl::Status ExportWriter::Finish() {
  if (!started_) return absl::FailedPreconditionError("no header written");
  v1::ExportRecord record;
  v1::ExportTrailer* trailer = record.mutable_trailer();
  trailer->set_resource_count(resources_);
  trailer->set_version_count(versions_);
  trailer->set_max_source_revision(max_revision_);
  absl::Status written = WriteFrame(record);
  if (!written.ok()) return written;
  out_.flush();
  if (!out_) return absl::UnavailableError("cannot write the export output");
  return absl::OkStatus();
}

absl::StatusOr<std::optional<v1::ExportRecord>> ExportReader::ReadFrame() {
  char head[kFrameHeadBytes];
  in_.read(head, kFrameHeadBytes);
  const std::streamsize got = in_.gcount();
  if (got == 0 && in_.eof()) return std::optional<v1::ExportRecord>();
  if (got != static_cast<std::streamsize>(kFrameHeadBytes)) {
    return Truncated(bytes_ + got);
  }
  const uint32_t length = GetFixed32(head);
  const uint32_t crc = GetFixed32(head + 4);
  if (length > max_frame_bytes_) {
    return absl::DataLossError(absl::StrCat(
        "the export file is corrupt at byte ", bytes_, ": a record of ", length,
        " bytes (at most ", max_frame_bytes_, ")"));
  }
  const int64_t frame_start = bytes_;
  bytes_ += kFrameHeadBytes;
  std::string payload;
  while (payload.size() < length) {
    const size_t piece =
        std::min<size_t>(length - payload.size(), kReadChunkBytes);
    const size_t before = payload.size();
    payload.resize(before + piece);
    in_.read(payload.data() + before, static_cast<std::streamsize>(piece));
    const size_t read = static_cast<size_t>(in_.gcount());
    bytes_ += static_cast<int64_t>(read);
    if (read != piece) return Truncated(bytes_);
  }
  if (Crc32(payload) != crc) {
    return absl::DataLossError(
        absl::StrCat("the export file is corrupt: the record at byte ",
                     frame_start, " fails its checksum"));
  }
  v1::ExportRecord record;
  if (!record.ParseFromString(payload)) {
    return absl::DataLossError(
        absl::StrCat("the export file is corrupt: the record at byte ",
                     frame_start, " does not parse"));
  }
  return std::optional<v1::ExportRecord>(std::move(record));
}

absl::StatusOr<v1::ExportHeader> ExportReader::ReadHeader() {
  if (header_read_) return absl::FailedPreconditionError("header already read");
  char magic[kMagicBytes];
  in_.read(magic, kMagicBytes);
  const size_t got = static_cast<size_t>(in_.gcount());
  if (got != kMagicBytes ||
      std::memcmp(magic, kExportMagic, kMagicBytes) != 0) {
    return absl::InvalidArgumentError(
        "not an etagd export file (it does not start with \"ETAGDX1\")");
  }
  bytes_ = kMagicBytes;
  absl::StatusOr<std::optional<v1::ExportRecord>> record = ReadFrame();
  if (!record.ok()) return record.status();
  if (!record->has_value()) return Truncated(bytes_);
  if (!(*record)->has_header()) {
    return absl::DataLossError(
        "the export file does not begin with its header");
  }
  const v1::ExportHeader& header = (*record)->header();
  if (header.format_version() != kExportFormatVersion) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the export file has format version ", header.format_version(),
        "; this etagctl reads version ", kExportFormatVersion));
  }
  header_read_ = true;
  return header;
}

absl::StatusOr<std::optional<v1::ExportedVersion>> ExportReader::Next() {
  if (!header_read_)
    return absl::FailedPreconditionError("read the header first");
  if (done_) return std::optional<v1::ExportedVersion>();
  absl::StatusOr<std::optional<v1::ExportRecord>> record = ReadFrame();
  if (!record.ok()) return record.status();
  if (!record->has_value()) return Truncated(bytes_);
  v1::ExportRecord& r = **record;
  if (r.has_trailer()) {
    const v1::ExportTrailer& trailer = r.trailer();
    if (trailer.resource_count() != resources_ ||
        trailer.version_count() != versions_ ||
        trailer.max_source_revision() != max_revision_) {
      return absl::DataLossError(absl::StrCat(
          "the export file is corrupt: its trailer counts ",
          trailer.resource_count(), " resources and ", trailer.version_count(),
          " versions, the file holds ", resources_, " and ", versions_));
    }
    if (in_.peek() != std::istream::traits_type::eof()) {
      return absl::DataLossError(absl::StrCat(
          "the export file is corrupt: bytes follow its trailer at byte ",
          bytes_));
    }
    done_ = true;
    return std::optional<v1::ExportedVersion>();
  }
  if (!r.has_version()) {
    return absl::DataLossError(absl::StrCat(
        "the export file is corrupt: an unexpected record before byte ",
        bytes_));
  }
  v1::ExportedVersion& version = *r.mutable_version();
  const bool same_name = versions_ > 0 && version.name() == last_name_;
  if (versions_ > 0 && !same_name && version.name() <= last_name_) {
    return absl::DataLossError(
        absl::StrCat("the export file is corrupt: resource \"",
                     absl::CHexEscape(version.name()), "\" is out of order"));
  }
  if (same_name && version.source_revision() <= last_revision_) {
    return absl::DataLossError(
        absl::StrCat("the export file is corrupt: the versions of \"",
                     absl::CHexEscape(version.name()), "\" are out of order"));
  }
  if (!same_name) {
    ++resources_;
    last_name_ = version.name();
  }
  last_revision_ = version.source_revision();
  ++versions_;
  max_revision_ = std::max(max_revision_, version.source_revision());
  return std::optional<v1::ExportedVersion>(std::move(version));
}

}  // namespace etagd
