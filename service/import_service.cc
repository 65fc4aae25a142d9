#include "service/import_service.h"

#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "google/protobuf/util/time_util.h"
#include "service/request_validation.h"
#include "service/status_macros.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;
using ::google::protobuf::util::TimeUtil;

constexpr absl::string_view kMarkPrefix = "etagd-import/";
constexpr size_t kImportIdLength = 16;
// Lost races before giving up (another writer of the same name).
constexpr int kMaxAttempts = 20;

absl::StatusOr<absl::Time> ParseTime(const google::protobuf::Timestamp& t,
                                     absl::string_view field) {
  if (t.seconds() < TimeUtil::kTimestampMinSeconds ||
      t.seconds() > TimeUtil::kTimestampMaxSeconds || t.nanos() < 0 ||
      t.nanos() > 999'999'999) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, " is not a valid time"));
  }
  return absl::FromUnixMicros(TimeUtil::TimestampToMicroseconds(t));
}

// The response for `record`, the written version (without content).
v1::ImportVersionResponse Written(const Record& record) {
  v1::ImportVersionResponse response;
  v1::Resource* resource = response.mutable_resource();
  resource->set_name(record.name);
  resource->set_revision(record.revision);
  *resource->mutable_update_time() =
      TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(record.update_time));
  if (record.deleted) return response;
  resource->set_etag(record.etag);
  resource->set_content_type(record.content_type);
  resource->set_create_revision(record.create_revision);
  resource->set_version(record.version);
  resource->set_content_length(record.content_length);
  *resource->mutable_create_time() =
      TimeUtil::MicrosecondsToTimestamp(absl::ToUnixMicros(record.create_time));
  return response;
}

}  // namespace

std::string ImportRequestId(absl::string_view import_id,
                            int64_t source_revision) {
  return absl::StrCat(kMarkPrefix, import_id, "/", source_revision);
}

std::optional<ImportMark> ParseImportRequestId(absl::string_view request_id) {
  if (!absl::ConsumePrefix(&request_id, kMarkPrefix)) return std::nullopt;
  std::vector<absl::string_view> parts = absl::StrSplit(request_id, '/');
  ImportMark mark;
  if (parts.size() != 2 || !ValidateImportId(parts[0]).ok() ||
      !absl::SimpleAtoi(parts[1], &mark.source_revision) ||
      mark.source_revision <= 0) {
    return std::nullopt;
  }
  mark.import_id = std::string(parts[0]);
  return mark;
}

absl::Status ValidateImportId(absl::string_view import_id) {
  bool valid = import_id.size() == kImportIdLength;
  for (char c : import_id) {
    valid = valid && (absl::ascii_isdigit(static_cast<unsigned char>(c)) ||
                      (c >= 'a' && c <= 'f'));
  }
  return valid ? absl::OkStatus()
               : absl::InvalidArgumentError(
                     "import_id must be 16 lowercase hex digits");
}

absl::StatusOr<v1::ImportVersionResponse> ImportService::ImportVersion(
    const v1::ImportVersionRequest& request) {
  ETAGD_RETURN_IF_ERROR(ValidateNewName(request.name()));
  ETAGD_RETURN_IF_ERROR(ValidateImportId(request.import_id()));
  if (request.source_revision() <= 0) {
    return absl::InvalidArgumentError("source_revision must be positive");
  }
  if (!request.has_update_time()) {
    return absl::InvalidArgumentError("update_time is required");
  }
  WriteRequest write;
  write.name = request.name();
  write.is_delete = request.deleted();
  ETAGD_ASSIGN_OR_RETURN(write.import_update_time,
                         ParseTime(request.update_time(), "update_time"));
  if (!request.deleted()) {
    if (static_cast<int64_t>(request.content().size()) >
        options_.max_content_bytes) {
      return absl::ResourceExhaustedError(
          absl::StrCat("content is ", request.content().size(),
                       " bytes, over this server's --max_content_bytes=",
                       options_.max_content_bytes));
    }
    ETAGD_RETURN_IF_ERROR(ValidateContentType(request.content_type()));
    ETAGD_ASSIGN_OR_RETURN(write.metadata,
                           ParseHttpMetadata(request.http_metadata()));
    write.content = request.content();
    write.content_type = request.content_type();
    if (request.has_create_time()) {
      ETAGD_ASSIGN_OR_RETURN(write.import_create_time,
                             ParseTime(request.create_time(), "create_time"));
    }
  }
  const std::string request_id =
      ImportRequestId(request.import_id(), request.source_revision());
  write.request_id = request_id;

  for (int attempt = 0; attempt < kMaxAttempts; ++attempt) {
    ETAGD_ASSIGN_OR_RETURN(std::optional<Record> current,
                           store_.ReadCurrent(request.name(), false));
    if (current.has_value()) {
      std::optional<ImportMark> mark =
          ParseImportRequestId(current->request_id);
      const bool this_import =
          mark.has_value() && mark->import_id == request.import_id();
      if (this_import && mark->source_revision >= request.source_revision()) {
        v1::ImportVersionResponse done;
        done.set_already_imported(true);
        return done;
      }
      if (!this_import && !request.overwrite()) {
        return absl::AlreadyExistsError(absl::StrCat(
            "the target already has a resource named \"",
            absl::CHexEscape(request.name()),
            "\" that this import did not write (import with --overwrite to "
            "add the imported versions after it)"));
      }
    }
    if (request.deleted() && (!current.has_value() || current->deleted)) {
      v1::ImportVersionResponse skipped;
      skipped.set_skipped(true);
      return skipped;
    }
    write.expected_revision = current.has_value() ? current->revision : 0;
    absl::StatusOr<Record> written = store_.Write(write);
    if (absl::IsAborted(written.status()))
      continue;  // Lost a race: decide again.
    ETAGD_RETURN_IF_ERROR(written.status());
    return Written(*written);
  }
  return absl::AbortedError(absl::StrCat("gave up importing \"",
                                         absl::CHexEscape(request.name()),
                                         "\": other writers kept changing it"));
}

}  // namespace etagd
