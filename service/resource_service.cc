#include "service/resource_service.h"

#include <algorithm>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/time.h"
#include "service/error_details.h"
#include "service/precondition.h"
#include "service/request_validation.h"
#include "service/status_macros.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

constexpr int kDefaultPageSize = 100;
constexpr int kMaxPageSize = 1000;

void SetTimestamp(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t micros = absl::ToUnixMicros(t);
  int64_t seconds = micros / 1000000;
  int64_t rest = micros % 1000000;
  if (rest < 0) {
    rest += 1000000;
    --seconds;
  }
  out->set_seconds(seconds);
  out->set_nanos(static_cast<int32_t>(rest * 1000));
}

// The API form of `metadata`, whose strings are moved out.
void ToHttpMetadata(HttpMetadata& metadata, v1::HttpMetadata* out) {
  out->set_cache_control(std::move(metadata.cache_control));
  out->set_content_disposition(std::move(metadata.content_disposition));
  out->set_content_encoding(std::move(metadata.content_encoding));
  out->set_content_language(std::move(metadata.content_language));
  if (metadata.expires.has_value()) {
    SetTimestamp(*metadata.expires, out->mutable_expires());
  }
  for (auto& [key, value] : metadata.user) {
    (*out->mutable_user_metadata())[key] = std::move(value);
  }
}

// The API form of a live record, whose strings (content, name, tag, media
// type, metadata) are moved out: it is not read after.
void ToResource(Record& record, v1::Resource* out) {
  out->set_name(std::move(record.name));
  out->set_content(std::move(record.content));
  out->set_content_type(std::move(record.content_type));
  out->set_etag(std::move(record.etag));
  out->set_revision(record.revision);
  out->set_create_revision(record.create_revision);
  out->set_version(record.version);
  SetTimestamp(record.create_time, out->mutable_create_time());
  SetTimestamp(record.update_time, out->mutable_update_time());
  out->set_content_length(record.content_length);
  if (!record.metadata.empty()) {
    ToHttpMetadata(record.metadata, out->mutable_http_metadata());
  }
}

// The API form of Get's answer, whose strings are moved out.
v1::GetResourceResponse ToResponse(GetAnswer& answer) {
  v1::GetResourceResponse response;
  Record& version = answer.version;
  if (!answer.not_modified) {
    ToResource(version, response.mutable_resource());
    return response;
  }
  v1::NotModified* not_modified = response.mutable_not_modified();
  not_modified->set_etag(std::move(version.etag));
  not_modified->set_revision(version.revision);
  SetTimestamp(version.update_time, not_modified->mutable_update_time());
  if (!version.metadata.empty()) {
    ToHttpMetadata(version.metadata, not_modified->mutable_http_metadata());
  }
  not_modified->set_content_type(std::move(version.content_type));
  not_modified->set_content_length(version.content_length);
  return response;
}

std::string Quote(absl::string_view name) {
  return absl::StrCat("\"", absl::Utf8SafeCHexEscape(name), "\"");
}

// Whether the coded forms' tags can change how `conditions` evaluate
// against a version tagged `own`: only through an entity-tag list
// (If-Match, If-None-Match) none of whose tags matches `own` under its
// comparison. A list naming `own` holds (If-Match) or fails
// (If-None-Match) whatever the other tags of the version are.
bool NeedsCodedTags(const Preconditions& conditions, const EntityTag& own) {
  auto undecided = [&own](const std::optional<EntityTagCondition>& list,
                          auto match) {
    return list.has_value() && !list->any &&
           std::none_of(list->tags.begin(), list->tags.end(),
                        [&](const EntityTag& tag) { return match(tag, own); });
  };
  return undecided(conditions.if_match, StrongMatch) ||
         undecided(conditions.if_none_match, WeakMatch);
}

// Sets `validators` (nullopt) to those of `record` for evaluating
// `conditions`, built in place: its coded forms' tags are made only if
// they can change the outcome (NeedsCodedTags).
absl::Status SetValidators(const std::optional<Record>& record,
                           const Preconditions& conditions,
                           std::optional<Validators>& validators) {
  if (!record.has_value() || record->deleted) return absl::OkStatus();
  std::optional<EntityTag> tag = ParseEntityTag(record->etag);
  if (!tag.has_value()) {
    return absl::DataLossError(absl::StrCat(
        "stored entity-tag of ", Quote(record->name), " is malformed"));
  }
  validators.emplace();
  validators->etag = *std::move(tag);
  validators->last_modified = record->update_time;
  // Content already coded is sent as it is: it has no coded forms.
  if (record->metadata.content_encoding.empty() &&
      NeedsCodedTags(conditions, validators->etag)) {
    validators->coded_etags.reserve(std::size(kRepresentationCodings));
    for (absl::string_view coding : kRepresentationCodings) {
      validators->coded_etags.push_back(CodedEntityTag(validators->etag, coding));
    }
  }
  return absl::OkStatus();
}

// The FAILED_PRECONDITION answer for `condition`, telling the client the
// current state of `name` (`live` is its current version, null if absent).
absl::Status PreconditionFailed(FailedCondition condition,
                                absl::string_view name, const Record* live) {
  v1::PreconditionFailure detail;
  std::string what;
  switch (condition) {
    case FailedCondition::kIfMatch:
      detail.set_reason(v1::PreconditionFailure::REASON_IF_MATCH_FAILED);
      what = "If-Match";
      break;
    case FailedCondition::kIfUnmodifiedSince:
      detail.set_reason(v1::PreconditionFailure::REASON_IF_UNMODIFIED_SINCE_FAILED);
      what = "If-Unmodified-Since";
      break;
    case FailedCondition::kIfNoneMatch:
      detail.set_reason(v1::PreconditionFailure::REASON_IF_NONE_MATCH_FAILED);
      what = "If-None-Match";
      break;
    case FailedCondition::kNone:
    case FailedCondition::kIfModifiedSince:
      return absl::InternalError("precondition failure without a cause");
  }
  std::string state;
  if (live != nullptr) {
    detail.set_exists(true);
    detail.set_current_etag(live->etag);
    detail.set_current_revision(live->revision);
    SetTimestamp(live->update_time, detail.mutable_current_update_time());
    state = absl::StrCat("its current ETag is ", live->etag, ", last modified ",
                         absl::FormatTime(absl::RFC3339_sec, live->update_time,
                                          absl::UTCTimeZone()));
  } else {
    state = "it does not exist";
  }
  return PreconditionFailedError(
      absl::StrCat(what, " failed for ", Quote(name), ": ", state), detail);
}

absl::StatusOr<int> PageSize(int32_t requested) {
  if (requested < 0) {
    return absl::InvalidArgumentError("page_size must not be negative");
  }
  if (requested == 0) return kDefaultPageSize;
  return requested > kMaxPageSize ? kMaxPageSize : requested;
}

// Page tokens are opaque to clients: web-safe base64 of a kind letter and a
// position, so a token from one kind of listing is refused by the other.
std::string EncodePageToken(char kind, absl::string_view position) {
  return absl::WebSafeBase64Escape(absl::StrCat(std::string(1, kind), position));
}

absl::StatusOr<std::string> DecodePageToken(char kind, absl::string_view token) {
  std::string raw;
  if (!absl::WebSafeBase64Unescape(token, &raw) || raw.empty() ||
      raw[0] != kind) {
    return absl::InvalidArgumentError(
        "page_token is not a token from this kind of listing");
  }
  return raw.substr(1);
}

absl::Status RequestIdReused(absl::string_view request_id) {
  return absl::InvalidArgumentError(absl::StrCat(
      "request_id ", absl::CHexEscape(request_id),
      " was already used by a different kind of write"));
}

}  // namespace

absl::StatusOr<std::optional<Record>> ResourceService::PriorWrite(
    const std::optional<Record>& current, absl::string_view name,
    absl::string_view request_id) {
  if (request_id.empty() || !current.has_value()) return std::nullopt;
  if (current->request_id == request_id) return current;
  for (const auto& [revision, id] : current->past_request_ids) {
    if (id != request_id) continue;
    absl::StatusOr<Record> past = store_.ReadRevision(name, revision);
    // Pruned since the current record was read: too old to recognise.
    if (absl::IsNotFound(past.status())) return std::nullopt;
    ETAGD_RETURN_IF_ERROR(past.status());
    past->content.clear();
    return std::optional<Record>(*std::move(past));
  }
  return std::nullopt;
}

ResourceService::ResourceService(Store& store, ResourceServiceOptions options)
    : store_(store), options_(options) {}

absl::StatusOr<GetQuery> ResourceService::ParseGet(
    const v1::GetResourceRequest& request) const {
  ETAGD_RETURN_IF_ERROR(ValidateName(request.name()));
  GetQuery query;
  ETAGD_ASSIGN_OR_RETURN(query.preconditions,
                         ParsePreconditions(request.preconditions()));
  if (request.revision() < 0) {
    return absl::InvalidArgumentError("revision must not be negative");
  }
  query.name = request.name();
  query.revision = request.revision();
  query.metadata_only = request.metadata_only();
  return query;
}

absl::Status ResourceService::CheckQuery(const GetQuery& query) const {
  ETAGD_RETURN_IF_ERROR(ValidateName(query.name));
  ETAGD_RETURN_IF_ERROR(ValidatePreconditions(query.preconditions));
  if (query.revision < 0) {
    return absl::InvalidArgumentError("revision must not be negative");
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::GetResourceResponse> ResourceService::Get(
    const v1::GetResourceRequest& request) {
  ETAGD_ASSIGN_OR_RETURN(const GetQuery query, ParseGet(request));
  ETAGD_ASSIGN_OR_RETURN(GetAnswer answer, GetChecked(query));
  return ToResponse(answer);
}

absl::StatusOr<GetAnswer> ResourceService::Get(const GetQuery& query) {
  ETAGD_RETURN_IF_ERROR(CheckQuery(query));
  return GetChecked(query);
}

absl::StatusOr<GetAnswer> ResourceService::GetChecked(const GetQuery& query) {
  if (query.revision == 0) {
    return AnswerGetOfCurrent(
        query, store_.ReadCurrent(query.name, !query.metadata_only));
  }
  absl::StatusOr<Record> past = store_.ReadRevision(query.name, query.revision);
  if (absl::IsNotFound(past.status())) {
    return absl::NotFoundError(absl::StrCat(Quote(query.name),
                                            " has no retained version at revision ",
                                            query.revision));
  }
  ETAGD_RETURN_IF_ERROR(past.status());
  if (past->deleted) {
    return absl::NotFoundError(absl::StrCat("revision ", query.revision, " of ",
                                            Quote(query.name), " is its deletion"));
  }
  std::optional<Record> selected = *std::move(past);
  if (query.metadata_only) selected->content.clear();
  return AnswerGet(query, selected);
}

bool ResourceService::GetsWithoutBlocking(
    const v1::GetResourceRequest& request) const {
  return request.revision() == 0 && store_.ReadsCurrentWithoutBlocking();
}

bool ResourceService::GetsWithoutBlocking(const GetQuery& query) const {
  return query.revision == 0 && store_.ReadsCurrentWithoutBlocking();
}

void ResourceService::GetAsync(
    const v1::GetResourceRequest& request,
    std::function<void(absl::StatusOr<v1::GetResourceResponse>)> done) {
  absl::StatusOr<GetQuery> query = ParseGet(request);
  if (!query.ok()) return done(query.status());
  // The query is the answer's to keep until it is given.
  auto owned = std::make_shared<const GetQuery>(*std::move(query));
  GetCheckedAsync(*owned, [owned, done = std::move(done)](
                              absl::StatusOr<GetAnswer> answer) {
    if (!answer.ok()) return done(answer.status());
    done(ToResponse(*answer));
  });
}

void ResourceService::GetAsync(
    const GetQuery& query, std::function<void(absl::StatusOr<GetAnswer>)> done) {
  if (absl::Status checked = CheckQuery(query); !checked.ok()) {
    return done(checked);
  }
  GetCheckedAsync(query, std::move(done));
}

void ResourceService::GetCheckedAsync(
    const GetQuery& query, std::function<void(absl::StatusOr<GetAnswer>)> done) {
  if (query.revision != 0) return done(GetChecked(query));
  store_.ReadCurrentAsync(
      query.name, !query.metadata_only,
      [this, &query, done = std::move(done)](
          absl::StatusOr<std::optional<Record>> current) {
        done(AnswerGetOfCurrent(query, std::move(current)));
      });
}

absl::StatusOr<GetAnswer> ResourceService::AnswerGetOfCurrent(
    const GetQuery& query, absl::StatusOr<std::optional<Record>>&& current) const {
  ETAGD_RETURN_IF_ERROR(current.status());
  std::optional<Record>& selected = *current;
  if (selected.has_value() && selected->deleted) selected.reset();
  return AnswerGet(query, selected);
}

absl::StatusOr<GetAnswer> ResourceService::AnswerGet(
    const GetQuery& query, std::optional<Record>& selected) const {
  std::optional<Validators> validators;
  ETAGD_RETURN_IF_ERROR(SetValidators(selected, query.preconditions, validators));
  const Evaluation evaluation = EvaluatePreconditions(
      query.metadata_only ? Method::kHead : Method::kGet, query.preconditions,
      validators);
  if (!selected.has_value()) {
    return absl::NotFoundError(absl::StrCat(Quote(query.name), " does not exist"));
  }
  if (evaluation.verdict == Verdict::kPreconditionFailed) {
    return PreconditionFailed(evaluation.condition, query.name, &*selected);
  }
  // Built in place: the record is moved once, into the answer.
  absl::StatusOr<GetAnswer> answer(absl::in_place);
  answer->not_modified = evaluation.verdict == Verdict::kNotModified;
  if (answer->not_modified) selected->content.clear();
  answer->version = *std::move(selected);
  return answer;
}

ResourceService::PutPlan ResourceService::PlanPut(
    const v1::PutResourceRequest& request) {
  if (store_.WritePlansMayBeStale()) {
    PutPlan plan = PlanPutOn(request, /*current=*/false);
    if (!plan.answered()) return plan;
  }
  return PlanPutOn(request, /*current=*/true);
}

ResourceService::PutPlan ResourceService::PlanPutOn(
    const v1::PutResourceRequest& request, bool current_record) {
  PutPlan plan;
  auto answer = [&plan](absl::StatusOr<v1::PutResourceResponse> a) {
    plan.answer = std::move(a);
    return std::move(plan);
  };
  if (absl::Status valid = ValidateNewName(request.name()); !valid.ok()) {
    return answer(valid);
  }
  if (static_cast<int64_t>(request.content().size()) >
      options_.max_content_bytes) {
    return answer(absl::ResourceExhaustedError(absl::StrCat(
        "content is ", request.content().size(), " bytes; the limit is ",
        options_.max_content_bytes)));
  }
  if (absl::Status valid = ValidateContentType(request.content_type());
      !valid.ok()) {
    return answer(valid);
  }
  if (absl::Status valid = ValidateRequestId(request.request_id()); !valid.ok()) {
    return answer(valid);
  }
  absl::StatusOr<HttpMetadata> metadata =
      ParseHttpMetadata(request.http_metadata());
  if (!metadata.ok()) return answer(metadata.status());
  absl::StatusOr<Preconditions> conditions =
      ParsePreconditions(request.preconditions());
  if (!conditions.ok()) return answer(conditions.status());

  absl::StatusOr<std::optional<Record>> current =
      current_record ? store_.ReadCurrent(request.name(), false)
                     : store_.ReadForWritePlan(request.name());
  if (!current.ok()) return answer(current.status());
  const bool live = current->has_value() && !(*current)->deleted;

  // A retry of a write that already happened (AIP-155; RFC 9110 §13.1.1
  // allows a 2xx here) answers as the first attempt would have.
  absl::StatusOr<std::optional<Record>> prior =
      PriorWrite(*current, request.name(), request.request_id());
  if (!prior.ok()) return answer(prior.status());
  if (prior->has_value()) {
    if ((*prior)->deleted) return answer(RequestIdReused(request.request_id()));
    v1::PutResourceResponse response;
    response.set_created((*prior)->created);
    ToResource(**prior, response.mutable_resource());
    return answer(std::move(response));
  }

  std::optional<Validators> validators;
  if (absl::Status set = SetValidators(*current, *conditions, validators);
      !set.ok()) {
    return answer(set);
  }
  const Evaluation evaluation =
      EvaluatePreconditions(Method::kPut, *conditions, validators);
  if (evaluation.verdict != Verdict::kProceed) {
    return answer(PreconditionFailed(evaluation.condition, request.name(),
                                     live ? &**current : nullptr));
  }

  plan.write.name = request.name();
  // A deletion record is still the record the write must find unchanged.
  plan.write.expected_revision = current->has_value() ? (*current)->revision : 0;
  plan.write.content = request.content();
  plan.write.content_type = request.content_type();
  plan.write.metadata = *std::move(metadata);
  plan.write.request_id = request.request_id();
  return plan;
}

absl::StatusOr<v1::PutResourceResponse> ResourceService::CompletePut(
    absl::StatusOr<Record> written) {
  ETAGD_RETURN_IF_ERROR(written.status());
  v1::PutResourceResponse response;
  response.set_created(written->created);
  ToResource(*written, response.mutable_resource());
  return response;
}

absl::Status ResourceService::GaveUp(absl::string_view what,
                                     absl::string_view name) const {
  return absl::AbortedError(absl::StrCat(
      "gave up ", what, " ", Quote(name), " after ",
      options_.max_write_attempts,
      " attempts lost races with other writers; retry"));
}

absl::StatusOr<v1::PutResourceResponse> ResourceService::Put(
    const v1::PutResourceRequest& request) {
  for (int attempt = 0; attempt < options_.max_write_attempts; ++attempt) {
    PutPlan plan = PlanPut(request);
    if (plan.answered()) return *std::move(plan.answer);
    absl::StatusOr<Record> written = store_.Write(plan.write);
    if (absl::IsAborted(written.status())) continue;  // Lost a race: re-plan.
    return CompletePut(std::move(written));
  }
  return GaveUp("writing", request.name());
}

ResourceService::DeletePlan ResourceService::PlanDelete(
    const v1::DeleteResourceRequest& request) {
  if (store_.WritePlansMayBeStale()) {
    DeletePlan plan = PlanDeleteOn(request, /*current=*/false);
    if (!plan.answered()) return plan;
  }
  return PlanDeleteOn(request, /*current=*/true);
}

ResourceService::DeletePlan ResourceService::PlanDeleteOn(
    const v1::DeleteResourceRequest& request, bool current_record) {
  DeletePlan plan;
  auto answer = [&plan](absl::StatusOr<v1::DeleteResourceResponse> a) {
    plan.answer = std::move(a);
    return std::move(plan);
  };
  if (absl::Status valid = ValidateName(request.name()); !valid.ok()) {
    return answer(valid);
  }
  if (absl::Status valid = ValidateRequestId(request.request_id()); !valid.ok()) {
    return answer(valid);
  }
  absl::StatusOr<Preconditions> conditions =
      ParsePreconditions(request.preconditions());
  if (!conditions.ok()) return answer(conditions.status());

  absl::StatusOr<std::optional<Record>> current =
      current_record ? store_.ReadCurrent(request.name(), false)
                     : store_.ReadForWritePlan(request.name());
  if (!current.ok()) return answer(current.status());
  absl::StatusOr<std::optional<Record>> prior =
      PriorWrite(*current, request.name(), request.request_id());
  if (!prior.ok()) return answer(prior.status());
  if (prior->has_value()) {
    if (!(*prior)->deleted) return answer(RequestIdReused(request.request_id()));
    v1::DeleteResourceResponse response;
    response.set_revision((*prior)->revision);
    response.set_deleted_etag((*prior)->etag);
    return answer(std::move(response));
  }
  if (!current->has_value() || (*current)->deleted) {
    // RFC 9110 §13.2.1: 404 whatever the preconditions say.
    return answer(absl::NotFoundError(
        absl::StrCat(Quote(request.name()), " does not exist")));
  }
  std::optional<Validators> validators;
  if (absl::Status set = SetValidators(*current, *conditions, validators);
      !set.ok()) {
    return answer(set);
  }
  const Evaluation evaluation =
      EvaluatePreconditions(Method::kDelete, *conditions, validators);
  if (evaluation.verdict != Verdict::kProceed) {
    return answer(
        PreconditionFailed(evaluation.condition, request.name(), &**current));
  }
  plan.write.name = request.name();
  plan.write.expected_revision = (*current)->revision;
  plan.write.is_delete = true;
  plan.write.request_id = request.request_id();
  return plan;
}

absl::StatusOr<v1::DeleteResourceResponse> ResourceService::CompleteDelete(
    absl::StatusOr<Record> written) {
  ETAGD_RETURN_IF_ERROR(written.status());
  v1::DeleteResourceResponse response;
  response.set_revision(written->revision);
  response.set_deleted_etag(written->etag);
  return response;
}

absl::StatusOr<v1::DeleteResourceResponse> ResourceService::Delete(
    const v1::DeleteResourceRequest& request) {
  for (int attempt = 0; attempt < options_.max_write_attempts; ++attempt) {
    DeletePlan plan = PlanDelete(request);
    if (plan.answered()) return *std::move(plan.answer);
    absl::StatusOr<Record> written = store_.Write(plan.write);
    if (absl::IsAborted(written.status())) continue;
    return CompleteDelete(std::move(written));
  }
  return GaveUp("deleting", request.name());
}

absl::StatusOr<v1::ListResourcesResponse> ResourceService::List(
    const v1::ListResourcesRequest& request) {
  ETAGD_RETURN_IF_ERROR(ValidatePrefix(request.prefix()));
  ETAGD_ASSIGN_OR_RETURN(int page_size, PageSize(request.page_size()));
  std::string start_after;
  int64_t at_revision = 0;
  if (!request.page_token().empty()) {
    // The token holds the listing's prefix, the last name returned and the
    // revision of the listing's first page, separated by '\0' (which names
    // never contain). Tokens of earlier releases have no revision: their
    // pages are read at the latest.
    ETAGD_ASSIGN_OR_RETURN(std::string position,
                           DecodePageToken('n', request.page_token()));
    std::vector<absl::string_view> parts =
        absl::StrSplit(position, absl::ByChar('\0'));
    if (parts.size() < 2 || parts.size() > 3 || parts[0] != request.prefix()) {
      return absl::InvalidArgumentError(
          "page_token belongs to a listing with another prefix");
    }
    if (parts.size() == 3 &&
        (!absl::SimpleAtoi(parts[2], &at_revision) || at_revision <= 0)) {
      return absl::InvalidArgumentError("page_token is malformed");
    }
    start_after = std::string(parts[1]);
  }
  ETAGD_ASSIGN_OR_RETURN(
      ListPage page, store_.List(request.prefix(), start_after, page_size,
                                 request.include_content(), at_revision));
  v1::ListResourcesResponse response;
  for (Record& record : page.records) {
    ToResource(record, response.add_resources());
  }
  if (page.more && !page.records.empty()) {
    // Every page of a listing is read at its first page's revision.
    const int64_t pinned = at_revision > 0 ? at_revision : page.revision;
    // The records' names were moved into the response.
    const v1::Resource& last = *response.resources().rbegin();
    const char separator[] = {'\0'};
    const absl::string_view sep(separator, 1);
    response.set_next_page_token(EncodePageToken(
        'n', pinned > 0 ? absl::StrCat(request.prefix(), sep, last.name(), sep, pinned)
                        : absl::StrCat(request.prefix(), sep, last.name())));
  }
  return response;
}

absl::StatusOr<v1::ListVersionsResponse> ResourceService::ListVersions(
    const v1::ListVersionsRequest& request) {
  ETAGD_RETURN_IF_ERROR(ValidateName(request.name()));
  ETAGD_ASSIGN_OR_RETURN(int page_size, PageSize(request.page_size()));
  int64_t before = 0;
  if (!request.page_token().empty()) {
    ETAGD_ASSIGN_OR_RETURN(std::string position,
                           DecodePageToken('v', request.page_token()));
    if (!absl::SimpleAtoi(position, &before) || before <= 0) {
      return absl::InvalidArgumentError("page_token is malformed");
    }
  }
  ETAGD_ASSIGN_OR_RETURN(ListPage page,
                         store_.ListVersions(request.name(), before, page_size));
  if (page.records.empty() && before == 0) {
    return absl::NotFoundError(
        absl::StrCat(Quote(request.name()), " has no versions"));
  }
  v1::ListVersionsResponse response;
  for (Record& record : page.records) {
    v1::Version* version = response.add_versions();
    version->set_deleted(record.deleted);
    if (record.deleted) {
      v1::Resource* resource = version->mutable_resource();
      resource->set_name(record.name);
      resource->set_revision(record.revision);
      SetTimestamp(record.update_time, resource->mutable_update_time());
    } else {
      ToResource(record, version->mutable_resource());
    }
  }
  if (page.more && !page.records.empty()) {
    response.set_next_page_token(
        EncodePageToken('v', absl::StrCat(page.records.back().revision)));
  }
  return response;
}

}  // namespace etagd
