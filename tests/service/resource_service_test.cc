#include "service/resource_service.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "etagd/v1/etagd.pb.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "service/entity_tag.h"
#include "service/error_details.h"
#include "service/get_query.h"
#include "service/request_validation.h"
#include "service/store/rocksdb/rocksdb_store.h"
#include "tests/testing/forwarding_store.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;

constexpr absl::StatusCode kInvalidArgument =
    absl::StatusCode::kInvalidArgument;
constexpr absl::StatusCode kNotFound = absl::StatusCode::kNotFound;
constexpr absl::StatusCode kFailedPrecondition =
    absl::StatusCode::kFailedPrecondition;

absl::Time ToTime(const google::protobuf::Timestamp& t) {
  return absl::FromUnixSeconds(t.seconds()) + absl::Nanoseconds(t.nanos());
}

google::protobuf::Timestamp Seconds(int64_t seconds) {
  google::protobuf::Timestamp t;
  t.set_seconds(seconds);
  return t;
}

class ResourceServiceTest : public testing::Test {
 protected:
  void SetUp() override {
    RocksDbStoreOptions options;
    options.path = TestPath("db");
    // Durability across power loss is not what these tests are about.
    options.sync_writes = false;
    absl::StatusOr<std::unique_ptr<Store>> store = OpenRocksDbStore(options);
    ASSERT_THAT(store, IsOk());
    store_ = *std::move(store);
    StartService(ResourceServiceOptions());
  }

  void StartService(const ResourceServiceOptions& options) {
    service_ = std::make_unique<ResourceService>(*store_, options);
  }

  static v1::PutResourceRequest PutRequest(const std::string& name,
                                           const std::string& content) {
    v1::PutResourceRequest request;
    request.set_name(name);
    request.set_content(content);
    request.set_content_type("text/plain");
    return request;
  }

  // An unconditional Put that must succeed.
  v1::PutResourceResponse MustPut(const std::string& name,
                                  const std::string& content) {
    return MustPut(PutRequest(name, content));
  }

  v1::PutResourceResponse MustPut(const v1::PutResourceRequest& request) {
    absl::StatusOr<v1::PutResourceResponse> response = service_->Put(request);
    EXPECT_THAT(response, IsOk());
    return response.ok() ? *response : v1::PutResourceResponse();
  }

  static v1::GetResourceRequest GetRequest(const std::string& name) {
    v1::GetResourceRequest request;
    request.set_name(name);
    return request;
  }

  absl::StatusOr<v1::GetResourceResponse> Get(const std::string& name) {
    return service_->Get(GetRequest(name));
  }

  // The current resource, which must exist.
  v1::Resource MustGet(const std::string& name) {
    absl::StatusOr<v1::GetResourceResponse> response = Get(name);
    EXPECT_THAT(response, IsOk());
    if (!response.ok()) return v1::Resource();
    EXPECT_TRUE(response->has_resource()) << response->DebugString();
    return response->resource();
  }

  static v1::DeleteResourceRequest DeleteRequest(const std::string& name) {
    v1::DeleteResourceRequest request;
    request.set_name(name);
    return request;
  }

  v1::DeleteResourceResponse MustDelete(const std::string& name) {
    absl::StatusOr<v1::DeleteResourceResponse> response =
        service_->Delete(DeleteRequest(name));
    EXPECT_THAT(response, IsOk());
    return response.ok() ? *response : v1::DeleteResourceResponse();
  }

  // Every version of `name`, newest first, in one page.
  std::vector<v1::Version> AllVersions(const std::string& name) {
    v1::ListVersionsRequest request;
    request.set_name(name);
    absl::StatusOr<v1::ListVersionsResponse> response =
        service_->ListVersions(request);
    EXPECT_THAT(response, IsOk());
    if (!response.ok()) return {};
    EXPECT_EQ(response->next_page_token(), "");
    return {response->versions().begin(), response->versions().end()};
  }

  // The PreconditionFailure of a FAILED_PRECONDITION answer.
  template <typename T>
  static v1::PreconditionFailure FailureOf(const absl::StatusOr<T>& result) {
    EXPECT_THAT(result, StatusIs(kFailedPrecondition));
    auto detail = GetPreconditionFailure(result.status());
    EXPECT_TRUE(detail.has_value()) << result.status();
    return detail.has_value() ? *detail : v1::PreconditionFailure();
  }

  std::unique_ptr<Store> store_;
  std::unique_ptr<ResourceService> service_;
};

// ---------------------------------------------------------------------------
// Put and Get.

TEST_F(ResourceServiceTest, PutCreatesTheResource) {
  const absl::Time before =
      absl::FromUnixMicros(absl::ToUnixMicros(absl::Now()));
  v1::PutResourceResponse put = MustPut("docs/a", "hello");
  const absl::Time after = absl::Now();

  EXPECT_TRUE(put.created());
  const v1::Resource& r = put.resource();
  EXPECT_EQ(r.name(), "docs/a");
  std::optional<EntityTag> tag = ParseEntityTag(r.etag());
  ASSERT_TRUE(tag.has_value()) << r.etag();
  EXPECT_FALSE(tag->weak);
  EXPECT_GT(r.revision(), 0);
  EXPECT_EQ(r.create_revision(), r.revision());
  EXPECT_EQ(r.version(), 1);
  EXPECT_EQ(r.content_length(), 5);
  EXPECT_EQ(r.content_type(), "text/plain");
  EXPECT_EQ(r.content(), "") << "Put replies carry metadata only";
  EXPECT_GE(ToTime(r.update_time()), before);
  EXPECT_LE(ToTime(r.update_time()), after);
  EXPECT_EQ(ToTime(r.create_time()), ToTime(r.update_time()));
}

TEST_F(ResourceServiceTest, PutReplacesAnExistingResource) {
  v1::PutResourceResponse first = MustPut("a", "one");
  v1::PutResourceResponse second = MustPut("a", "second");

  EXPECT_FALSE(second.created());
  const v1::Resource& r = second.resource();
  EXPECT_GT(r.revision(), first.resource().revision());
  EXPECT_NE(r.etag(), first.resource().etag());
  EXPECT_EQ(r.create_revision(), first.resource().revision());
  EXPECT_EQ(r.version(), 2);
  EXPECT_EQ(r.content_length(), 6);
  EXPECT_EQ(ToTime(r.create_time()), ToTime(first.resource().create_time()));
  EXPECT_GE(ToTime(r.update_time()), ToTime(first.resource().update_time()));
  EXPECT_EQ(MustGet("a").etag(), r.etag());
}

TEST_F(ResourceServiceTest, GetReturnsContentContentTypeAndMetadata) {
  v1::PutResourceRequest request = PutRequest("a", "{\"k\": 1}");
  request.set_content_type("application/json");
  v1::PutResourceResponse put = MustPut(request);

  v1::Resource r = MustGet("a");
  EXPECT_EQ(r.name(), "a");
  EXPECT_EQ(r.content(), "{\"k\": 1}");
  EXPECT_EQ(r.content_type(), "application/json");
  EXPECT_EQ(r.content_length(), 8);
  EXPECT_EQ(r.etag(), put.resource().etag());
  EXPECT_EQ(r.revision(), put.resource().revision());
  EXPECT_EQ(ToTime(r.update_time()), ToTime(put.resource().update_time()));
}

TEST_F(ResourceServiceTest, GetKeepsBinaryContentExactly) {
  const std::string binary("\x00\xFF\x01\r\n", 5);
  MustPut("bin", binary);
  EXPECT_EQ(MustGet("bin").content(), binary);
}

TEST_F(ResourceServiceTest, GetMetadataOnlyOmitsContentButKeepsLength) {
  v1::PutResourceResponse put = MustPut("a", "hello");
  v1::GetResourceRequest request = GetRequest("a");
  request.set_metadata_only(true);

  absl::StatusOr<v1::GetResourceResponse> got = service_->Get(request);
  ASSERT_THAT(got, IsOk());
  ASSERT_TRUE(got->has_resource());
  EXPECT_EQ(got->resource().content(), "");
  EXPECT_EQ(got->resource().content_length(), 5);
  EXPECT_EQ(got->resource().content_type(), "text/plain");
  EXPECT_EQ(got->resource().etag(), put.resource().etag());
}

TEST_F(ResourceServiceTest, GetOfAbsentResourceIsNotFound) {
  EXPECT_THAT(Get("nothing"), StatusIs(kNotFound, "does not exist"));
}

// RFC 9110 §13.2.1: preconditions are not evaluated when the request would
// fail without them; a GET of an absent resource is 404, not 412.
TEST_F(ResourceServiceTest, GetOfAbsentResourceIsNotFoundEvenWithIfMatchStar) {
  v1::GetResourceRequest request = GetRequest("nothing");
  request.mutable_preconditions()->add_if_match("*");
  EXPECT_THAT(service_->Get(request), StatusIs(kNotFound));
}

TEST_F(ResourceServiceTest, GetWithMatchingIfNoneMatchAnswersNotModified) {
  v1::PutResourceResponse put = MustPut("a", "hello");
  v1::GetResourceRequest request = GetRequest("a");
  request.mutable_preconditions()->add_if_none_match("\"other\"");
  request.mutable_preconditions()->add_if_none_match(put.resource().etag());

  absl::StatusOr<v1::GetResourceResponse> got = service_->Get(request);
  ASSERT_THAT(got, IsOk());
  ASSERT_TRUE(got->has_not_modified()) << got->DebugString();
  EXPECT_EQ(got->not_modified().etag(), put.resource().etag());
  EXPECT_EQ(got->not_modified().revision(), put.resource().revision());
  EXPECT_EQ(ToTime(got->not_modified().update_time()),
            ToTime(put.resource().update_time()));
}

// The gateway's coded representations (entity_tag.h, CodedEntityTag) name
// the version too, so gRPC and HTTP clients agree on what they saw.
std::string CodedTag(const std::string& etag, const std::string& coding) {
  return etag.substr(0, etag.size() - 1) + "-" + coding + "\"";
}

TEST_F(ResourceServiceTest, PutIfMatchAcceptsACodedRepresentationsTag) {
  v1::PutResourceResponse first = MustPut("a", "one");
  v1::PutResourceRequest request = PutRequest("a", "two");
  request.mutable_preconditions()->add_if_match(
      CodedTag(first.resource().etag(), "gzip"));
  EXPECT_THAT(service_->Put(request), IsOk());
  // Now stale.
  EXPECT_THAT(service_->Put(request), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(ResourceServiceTest, GetIfNoneMatchOfACodedTagAnswersNotModified) {
  v1::PutResourceRequest put_request = PutRequest("a", "hello");
  put_request.set_content_type("text/plain");
  v1::PutResourceResponse put = MustPut(put_request);
  v1::GetResourceRequest request = GetRequest("a");
  request.mutable_preconditions()->add_if_none_match(
      CodedTag(put.resource().etag(), "br"));
  absl::StatusOr<v1::GetResourceResponse> got = service_->Get(request);
  ASSERT_THAT(got, IsOk());
  ASSERT_TRUE(got->has_not_modified()) << got->DebugString();
  // What a gateway needs to pick the representation its 304 names.
  EXPECT_EQ(got->not_modified().etag(), put.resource().etag());
  EXPECT_EQ(got->not_modified().content_type(), "text/plain");
  EXPECT_EQ(got->not_modified().content_length(), 5);
}

TEST_F(ResourceServiceTest, ContentStoredCodedHasNoCodedTags) {
  v1::PutResourceRequest put_request = PutRequest("a", "gzipped");
  put_request.mutable_http_metadata()->set_content_encoding("gzip");
  v1::PutResourceResponse put = MustPut(put_request);
  v1::PutResourceRequest request = PutRequest("a", "two");
  request.mutable_preconditions()->add_if_match(
      CodedTag(put.resource().etag(), "gzip"));
  EXPECT_THAT(service_->Put(request), StatusIs(absl::StatusCode::kFailedPrecondition));
}

TEST_F(ResourceServiceTest, HttpMetadataIsStoredAndReturned) {
  v1::PutResourceRequest request = PutRequest("a", "hello");
  request.mutable_http_metadata()->set_cache_control("max-age=60");
  request.mutable_http_metadata()->mutable_expires()->set_seconds(2000000000);
  (*request.mutable_http_metadata()->mutable_user_metadata())["owner"] = "alice";
  v1::PutResourceResponse put = MustPut(request);
  EXPECT_EQ(put.resource().http_metadata().cache_control(), "max-age=60");
  v1::Resource got = MustGet("a");
  EXPECT_EQ(got.http_metadata().cache_control(), "max-age=60");
  EXPECT_EQ(got.http_metadata().expires().seconds(), 2000000000);
  EXPECT_EQ(got.http_metadata().user_metadata().at("owner"), "alice");
  v1::GetResourceRequest conditional = GetRequest("a");
  conditional.mutable_preconditions()->add_if_none_match(got.etag());
  absl::StatusOr<v1::GetResourceResponse> not_modified = service_->Get(conditional);
  ASSERT_THAT(not_modified, IsOk());
  EXPECT_EQ(not_modified->not_modified().http_metadata().cache_control(),
            "max-age=60");
}

TEST_F(ResourceServiceTest, PutWithInvalidHttpMetadataIsInvalidArgument) {
  v1::PutResourceRequest request = PutRequest("a", "hello");
  (*request.mutable_http_metadata()->mutable_user_metadata())["Bad Key"] = "v";
  EXPECT_THAT(service_->Put(request), StatusIs(absl::StatusCode::kInvalidArgument));
}

// RFC 9110 §13.1.2: If-None-Match uses the weak comparison.
TEST_F(ResourceServiceTest,
       GetWithWeakIfNoneMatchOfCurrentEtagAnswersNotModified) {
  v1::PutResourceResponse put = MustPut("a", "hello");
  v1::GetResourceRequest request = GetRequest("a");
  request.mutable_preconditions()->add_if_none_match("W/" +
                                                     put.resource().etag());

  absl::StatusOr<v1::GetResourceResponse> got = service_->Get(request);
  ASSERT_THAT(got, IsOk());
  ASSERT_TRUE(got->has_not_modified()) << got->DebugString();
  EXPECT_EQ(got->not_modified().etag(), put.resource().etag());
}

TEST_F(ResourceServiceTest, GetWithStaleIfNoneMatchReturnsTheResource) {
  v1::PutResourceResponse first = MustPut("a", "one");
  MustPut("a", "two");
  v1::GetResourceRequest request = GetRequest("a");
  request.mutable_preconditions()->add_if_none_match(first.resource().etag());

  absl::StatusOr<v1::GetResourceResponse> got = service_->Get(request);
  ASSERT_THAT(got, IsOk());
  ASSERT_TRUE(got->has_resource()) << got->DebugString();
  EXPECT_EQ(got->resource().content(), "two");
}

TEST_F(ResourceServiceTest, HeadWithMatchingIfNoneMatchAnswersNotModified) {
  v1::PutResourceResponse put = MustPut("a", "hello");
  v1::GetResourceRequest request = GetRequest("a");
  request.set_metadata_only(true);
  request.mutable_preconditions()->add_if_none_match("*");

  absl::StatusOr<v1::GetResourceResponse> got = service_->Get(request);
  ASSERT_THAT(got, IsOk());
  ASSERT_TRUE(got->has_not_modified()) << got->DebugString();
  EXPECT_EQ(got->not_modified().revision(), put.resource().revision());
}

// RFC 9110 §13.1.3, at the one-second resolution of an HTTP-date: the
// resource was not modified after its own update second.
TEST_F(ResourceServiceTest,
       GetIfModifiedSinceTheUpdateSecondAnswersNotModified) {
  v1::PutResourceResponse put = MustPut("a", "hello");
  v1::GetResourceRequest request = GetRequest("a");
  *request.mutable_preconditions()->mutable_if_modified_since() =
      Seconds(put.resource().update_time().seconds());

  absl::StatusOr<v1::GetResourceResponse> got = service_->Get(request);
  ASSERT_THAT(got, IsOk());
  ASSERT_TRUE(got->has_not_modified()) << got->DebugString();
  EXPECT_EQ(got->not_modified().etag(), put.resource().etag());
  EXPECT_EQ(got->not_modified().revision(), put.resource().revision());
  EXPECT_EQ(ToTime(got->not_modified().update_time()),
            ToTime(put.resource().update_time()));
}

TEST_F(ResourceServiceTest, GetIfModifiedSinceALaterTimeAnswersNotModified) {
  v1::PutResourceResponse put = MustPut("a", "hello");
  v1::GetResourceRequest request = GetRequest("a");
  *request.mutable_preconditions()->mutable_if_modified_since() =
      Seconds(put.resource().update_time().seconds() + 3600);

  absl::StatusOr<v1::GetResourceResponse> got = service_->Get(request);
  ASSERT_THAT(got, IsOk());
  EXPECT_TRUE(got->has_not_modified()) << got->DebugString();
}

TEST_F(ResourceServiceTest,
       GetIfModifiedSinceASecondEarlierReturnsTheResource) {
  v1::PutResourceResponse put = MustPut("a", "hello");
  v1::GetResourceRequest request = GetRequest("a");
  *request.mutable_preconditions()->mutable_if_modified_since() =
      Seconds(put.resource().update_time().seconds() - 1);

  absl::StatusOr<v1::GetResourceResponse> got = service_->Get(request);
  ASSERT_THAT(got, IsOk());
  ASSERT_TRUE(got->has_resource()) << got->DebugString();
  EXPECT_EQ(got->resource().content(), "hello");
}

// RFC 9110 §13.1.3: If-Modified-Since is ignored when If-None-Match is
// present.
TEST_F(ResourceServiceTest, GetIgnoresIfModifiedSinceWithIfNoneMatch) {
  v1::PutResourceResponse put = MustPut("a", "hello");
  v1::GetResourceRequest request = GetRequest("a");
  request.mutable_preconditions()->add_if_none_match("\"not-current\"");
  *request.mutable_preconditions()->mutable_if_modified_since() =
      Seconds(put.resource().update_time().seconds());

  absl::StatusOr<v1::GetResourceResponse> got = service_->Get(request);
  ASSERT_THAT(got, IsOk());
  EXPECT_TRUE(got->has_resource()) << got->DebugString();
}

TEST_F(ResourceServiceTest,
       GetWithFailingIfMatchIsFailedPreconditionWithDetail) {
  v1::PutResourceResponse put = MustPut("a", "hello");
  v1::GetResourceRequest request = GetRequest("a");
  request.mutable_preconditions()->add_if_match("\"stale\"");

  absl::StatusOr<v1::GetResourceResponse> got = service_->Get(request);
  EXPECT_THAT(got, StatusIs(kFailedPrecondition, "If-Match"));
  v1::PreconditionFailure detail = FailureOf(got);
  EXPECT_EQ(detail.reason(), v1::PreconditionFailure::REASON_IF_MATCH_FAILED);
  EXPECT_TRUE(detail.exists());
  EXPECT_EQ(detail.current_etag(), put.resource().etag());
  EXPECT_EQ(detail.current_revision(), put.resource().revision());
  EXPECT_EQ(ToTime(detail.current_update_time()),
            ToTime(put.resource().update_time()));
}

// RFC 9110 §13.1.4 applies to every method, GET included.
TEST_F(ResourceServiceTest, GetIfUnmodifiedSinceBeforeTheUpdateFails) {
  v1::PutResourceResponse put = MustPut("a", "hello");
  v1::GetResourceRequest request = GetRequest("a");
  *request.mutable_preconditions()->mutable_if_unmodified_since() =
      Seconds(put.resource().update_time().seconds() - 1);

  v1::PreconditionFailure detail = FailureOf(service_->Get(request));
  EXPECT_EQ(detail.reason(),
            v1::PreconditionFailure::REASON_IF_UNMODIFIED_SINCE_FAILED);
  EXPECT_EQ(detail.current_revision(), put.resource().revision());
}

TEST_F(ResourceServiceTest, GetWithMatchingIfMatchReturnsTheResource) {
  v1::PutResourceResponse put = MustPut("a", "hello");
  v1::GetResourceRequest request = GetRequest("a");
  request.mutable_preconditions()->add_if_match(put.resource().etag());

  absl::StatusOr<v1::GetResourceResponse> got = service_->Get(request);
  ASSERT_THAT(got, IsOk());
  ASSERT_TRUE(got->has_resource());
  EXPECT_EQ(got->resource().content(), "hello");
}

TEST_F(ResourceServiceTest, GetWithMalformedIfNoneMatchIsInvalidArgument) {
  MustPut("a", "hello");
  v1::GetResourceRequest request = GetRequest("a");
  request.mutable_preconditions()->add_if_none_match("unquoted");
  EXPECT_THAT(service_->Get(request),
              StatusIs(kInvalidArgument, "if_none_match[0]"));
}

// ---------------------------------------------------------------------------
// Conditional Put.

TEST_F(ResourceServiceTest, PutWithCurrentIfMatchReplaces) {
  v1::PutResourceResponse first = MustPut("a", "one");
  v1::PutResourceRequest request = PutRequest("a", "two");
  request.mutable_preconditions()->add_if_match(first.resource().etag());

  absl::StatusOr<v1::PutResourceResponse> put = service_->Put(request);
  ASSERT_THAT(put, IsOk());
  EXPECT_FALSE(put->created());
  EXPECT_EQ(MustGet("a").content(), "two");
}

TEST_F(ResourceServiceTest, PutWithStaleIfMatchFailsAndStoresNothing) {
  v1::PutResourceResponse first = MustPut("a", "one");
  v1::PutResourceResponse second = MustPut("a", "two");
  v1::PutResourceRequest request = PutRequest("a", "three");
  request.mutable_preconditions()->add_if_match(first.resource().etag());

  absl::StatusOr<v1::PutResourceResponse> put = service_->Put(request);
  v1::PreconditionFailure detail = FailureOf(put);
  EXPECT_EQ(detail.reason(), v1::PreconditionFailure::REASON_IF_MATCH_FAILED);
  EXPECT_TRUE(detail.exists());
  EXPECT_EQ(detail.current_etag(), second.resource().etag());
  EXPECT_EQ(detail.current_revision(), second.resource().revision());

  v1::Resource current = MustGet("a");
  EXPECT_EQ(current.content(), "two");
  EXPECT_EQ(current.revision(), second.resource().revision());
  EXPECT_EQ(AllVersions("a").size(), 2u);
}

// RFC 9110 §13.1.1: If-Match uses the strong comparison, so a weak tag never
// matches, not even the current one.
TEST_F(ResourceServiceTest, PutWithWeakIfMatchOfCurrentEtagFails) {
  v1::PutResourceResponse first = MustPut("a", "one");
  v1::PutResourceRequest request = PutRequest("a", "two");
  request.mutable_preconditions()->add_if_match("W/" + first.resource().etag());

  absl::StatusOr<v1::PutResourceResponse> put = service_->Put(request);
  EXPECT_EQ(FailureOf(put).reason(), v1::PreconditionFailure::REASON_IF_MATCH_FAILED);
  EXPECT_EQ(MustGet("a").content(), "one");
}

TEST_F(ResourceServiceTest, PutIfNoneMatchStarCreatesWhenAbsent) {
  v1::PutResourceRequest request = PutRequest("a", "new");
  request.mutable_preconditions()->add_if_none_match("*");

  absl::StatusOr<v1::PutResourceResponse> put = service_->Put(request);
  ASSERT_THAT(put, IsOk());
  EXPECT_TRUE(put->created());
  EXPECT_EQ(MustGet("a").content(), "new");
}

TEST_F(ResourceServiceTest, PutIfNoneMatchStarFailsWhenPresent) {
  v1::PutResourceResponse first = MustPut("a", "old");
  v1::PutResourceRequest request = PutRequest("a", "new");
  request.mutable_preconditions()->add_if_none_match("*");

  absl::StatusOr<v1::PutResourceResponse> put = service_->Put(request);
  EXPECT_THAT(put, StatusIs(kFailedPrecondition, "If-None-Match"));
  v1::PreconditionFailure detail = FailureOf(put);
  EXPECT_EQ(detail.reason(), v1::PreconditionFailure::REASON_IF_NONE_MATCH_FAILED);
  EXPECT_TRUE(detail.exists());
  EXPECT_EQ(detail.current_etag(), first.resource().etag());
  EXPECT_EQ(MustGet("a").content(), "old");
}

TEST_F(ResourceServiceTest, PutIfNoneMatchStarCreatesAfterADelete) {
  MustPut("a", "old");
  MustDelete("a");
  v1::PutResourceRequest request = PutRequest("a", "new");
  request.mutable_preconditions()->add_if_none_match("*");

  absl::StatusOr<v1::PutResourceResponse> put = service_->Put(request);
  ASSERT_THAT(put, IsOk());
  EXPECT_TRUE(put->created());
}

TEST_F(ResourceServiceTest, PutIfMatchStarOnAbsentFailsSayingItDoesNotExist) {
  v1::PutResourceRequest request = PutRequest("a", "new");
  request.mutable_preconditions()->add_if_match("*");

  absl::StatusOr<v1::PutResourceResponse> put = service_->Put(request);
  EXPECT_THAT(put, StatusIs(kFailedPrecondition, "does not exist"));
  v1::PreconditionFailure detail = FailureOf(put);
  EXPECT_EQ(detail.reason(), v1::PreconditionFailure::REASON_IF_MATCH_FAILED);
  EXPECT_FALSE(detail.exists());
  EXPECT_EQ(detail.current_etag(), "");
  EXPECT_EQ(detail.current_revision(), 0);
  EXPECT_FALSE(detail.has_current_update_time());
  EXPECT_THAT(Get("a"), StatusIs(kNotFound));
}

TEST_F(ResourceServiceTest, PutIfMatchStarOnDeletedFailsSayingItDoesNotExist) {
  MustPut("a", "old");
  MustDelete("a");
  v1::PutResourceRequest request = PutRequest("a", "new");
  request.mutable_preconditions()->add_if_match("*");

  v1::PreconditionFailure detail = FailureOf(service_->Put(request));
  EXPECT_EQ(detail.reason(), v1::PreconditionFailure::REASON_IF_MATCH_FAILED);
  EXPECT_FALSE(detail.exists());
  EXPECT_EQ(detail.current_etag(), "");
  EXPECT_THAT(Get("a"), StatusIs(kNotFound));
}

TEST_F(ResourceServiceTest, PutIfUnmodifiedSinceBeforeTheUpdateFails) {
  v1::PutResourceResponse first = MustPut("a", "one");
  v1::PutResourceRequest request = PutRequest("a", "two");
  *request.mutable_preconditions()->mutable_if_unmodified_since() =
      Seconds(first.resource().update_time().seconds() - 1);

  absl::StatusOr<v1::PutResourceResponse> put = service_->Put(request);
  EXPECT_THAT(put, StatusIs(kFailedPrecondition, "If-Unmodified-Since"));
  v1::PreconditionFailure detail = FailureOf(put);
  EXPECT_EQ(detail.reason(),
            v1::PreconditionFailure::REASON_IF_UNMODIFIED_SINCE_FAILED);
  EXPECT_EQ(detail.current_etag(), first.resource().etag());
  EXPECT_EQ(MustGet("a").content(), "one");
}

TEST_F(ResourceServiceTest, PutIfUnmodifiedSinceTheUpdateSecondReplaces) {
  v1::PutResourceResponse first = MustPut("a", "one");
  v1::PutResourceRequest request = PutRequest("a", "two");
  *request.mutable_preconditions()->mutable_if_unmodified_since() =
      Seconds(first.resource().update_time().seconds());

  ASSERT_THAT(service_->Put(request), IsOk());
  EXPECT_EQ(MustGet("a").content(), "two");
}

// RFC 9110 §13.1.3: If-Modified-Since applies to GET and HEAD only. A date
// after the update would make a GET answer "not modified"; a Put proceeds.
TEST_F(ResourceServiceTest, PutIgnoresIfModifiedSince) {
  v1::PutResourceResponse first = MustPut("a", "one");
  v1::PutResourceRequest request = PutRequest("a", "two");
  *request.mutable_preconditions()->mutable_if_modified_since() =
      Seconds(first.resource().update_time().seconds() + 3600);

  absl::StatusOr<v1::PutResourceResponse> put = service_->Put(request);
  ASSERT_THAT(put, IsOk());
  EXPECT_FALSE(put->created());
  EXPECT_EQ(MustGet("a").content(), "two");
}

TEST_F(ResourceServiceTest,
       PutOverMaxContentBytesIsResourceExhaustedAndStoresNothing) {
  ResourceServiceOptions options;
  options.max_content_bytes = 8;
  StartService(options);

  EXPECT_THAT(service_->Put(PutRequest("a", "123456789")),
              StatusIs(absl::StatusCode::kResourceExhausted, "content"));
  EXPECT_THAT(Get("a"), StatusIs(kNotFound));
}

TEST_F(ResourceServiceTest, PutOfExactlyMaxContentBytesSucceeds) {
  ResourceServiceOptions options;
  options.max_content_bytes = 8;
  StartService(options);

  absl::StatusOr<v1::PutResourceResponse> put =
      service_->Put(PutRequest("a", "12345678"));
  ASSERT_THAT(put, IsOk());
  EXPECT_EQ(put->resource().content_length(), 8);
}

TEST_F(ResourceServiceTest, PutWithEmptyNameIsInvalidArgument) {
  EXPECT_THAT(service_->Put(PutRequest("", "x")),
              StatusIs(kInvalidArgument, "name"));
}

TEST_F(ResourceServiceTest, PutWithControlCharacterInNameIsInvalidArgument) {
  EXPECT_THAT(service_->Put(PutRequest("a\nb", "x")),
              StatusIs(kInvalidArgument, "name"));
  EXPECT_THAT(service_->Put(PutRequest(std::string("a\0b", 3), "x")),
              StatusIs(kInvalidArgument, "name"));
}

TEST_F(ResourceServiceTest, PutWithInvalidUtf8NameIsInvalidArgument) {
  EXPECT_THAT(service_->Put(PutRequest("a\xFF", "x")),
              StatusIs(kInvalidArgument, "name is not valid UTF-8"));
}

TEST_F(ResourceServiceTest,
       PutWithMalformedIfMatchIsInvalidArgumentAndStoresNothing) {
  v1::PutResourceRequest request = PutRequest("a", "x");
  request.mutable_preconditions()->add_if_match("W/unquoted");

  EXPECT_THAT(service_->Put(request),
              StatusIs(kInvalidArgument, "if_match[0]"));
  EXPECT_THAT(Get("a"), StatusIs(kNotFound));
}

TEST_F(ResourceServiceTest, PutWithStarAndATagInIfMatchIsInvalidArgument) {
  v1::PutResourceRequest request = PutRequest("a", "x");
  request.mutable_preconditions()->add_if_match("*");
  request.mutable_preconditions()->add_if_match("\"v\"");
  EXPECT_THAT(service_->Put(request), StatusIs(kInvalidArgument, "if_match"));
}

TEST_F(ResourceServiceTest, PutWithBadContentTypeIsInvalidArgument) {
  v1::PutResourceRequest request = PutRequest("a", "x");
  request.set_content_type("text/plain\r\nX-Injected: 1");
  EXPECT_THAT(service_->Put(request),
              StatusIs(kInvalidArgument, "content_type"));
  EXPECT_THAT(Get("a"), StatusIs(kNotFound));
}

TEST_F(ResourceServiceTest, PutWithBadRequestIdIsInvalidArgument) {
  v1::PutResourceRequest request = PutRequest("a", "x");
  request.set_request_id("has space");
  EXPECT_THAT(service_->Put(request), StatusIs(kInvalidArgument, "request_id"));
}

TEST_F(ResourceServiceTest, PutWithEmptyContentTypeStoresItEmpty) {
  v1::PutResourceRequest request = PutRequest("a", "x");
  request.set_content_type("");
  MustPut(request);
  EXPECT_EQ(MustGet("a").content_type(), "");
}

// ---------------------------------------------------------------------------
// Delete.

TEST_F(ResourceServiceTest, DeleteThenGetIsNotFound) {
  v1::PutResourceResponse put = MustPut("a", "hello");
  v1::DeleteResourceResponse deleted = MustDelete("a");

  EXPECT_GT(deleted.revision(), put.resource().revision());
  EXPECT_EQ(deleted.deleted_etag(), put.resource().etag());
  EXPECT_THAT(Get("a"), StatusIs(kNotFound));
}

// RFC 9110 §13.2.1: a DELETE of an absent resource is 404 whatever its
// preconditions say.
TEST_F(ResourceServiceTest, DeleteOfAbsentIsNotFoundEvenWithIfMatchStar) {
  v1::DeleteResourceRequest request = DeleteRequest("nothing");
  request.mutable_preconditions()->add_if_match("*");
  EXPECT_THAT(service_->Delete(request), StatusIs(kNotFound));
}

TEST_F(ResourceServiceTest, DeleteOfDeletedResourceIsNotFound) {
  MustPut("a", "hello");
  MustDelete("a");
  EXPECT_THAT(service_->Delete(DeleteRequest("a")), StatusIs(kNotFound));
}

TEST_F(ResourceServiceTest, DeleteWithCurrentIfMatchDeletes) {
  v1::PutResourceResponse put = MustPut("a", "hello");
  v1::DeleteResourceRequest request = DeleteRequest("a");
  request.mutable_preconditions()->add_if_match(put.resource().etag());

  ASSERT_THAT(service_->Delete(request), IsOk());
  EXPECT_THAT(Get("a"), StatusIs(kNotFound));
}

TEST_F(ResourceServiceTest, DeleteWithStaleIfMatchFailsAndTheResourceSurvives) {
  v1::PutResourceResponse first = MustPut("a", "one");
  v1::PutResourceResponse second = MustPut("a", "two");
  v1::DeleteResourceRequest request = DeleteRequest("a");
  request.mutable_preconditions()->add_if_match(first.resource().etag());

  absl::StatusOr<v1::DeleteResourceResponse> deleted =
      service_->Delete(request);
  v1::PreconditionFailure detail = FailureOf(deleted);
  EXPECT_EQ(detail.reason(), v1::PreconditionFailure::REASON_IF_MATCH_FAILED);
  EXPECT_TRUE(detail.exists());
  EXPECT_EQ(detail.current_etag(), second.resource().etag());

  v1::Resource current = MustGet("a");
  EXPECT_EQ(current.content(), "two");
  EXPECT_EQ(current.etag(), second.resource().etag());
}

// RFC 9110 §13.1.2: on methods other than GET and HEAD a matching
// If-None-Match is 412.
TEST_F(ResourceServiceTest,
       DeleteWithMatchingIfNoneMatchFailsAndTheResourceSurvives) {
  v1::PutResourceResponse put = MustPut("a", "hello");
  v1::DeleteResourceRequest request = DeleteRequest("a");
  request.mutable_preconditions()->add_if_none_match("W/" +
                                                     put.resource().etag());

  v1::PreconditionFailure detail = FailureOf(service_->Delete(request));
  EXPECT_EQ(detail.reason(), v1::PreconditionFailure::REASON_IF_NONE_MATCH_FAILED);
  EXPECT_EQ(detail.current_etag(), put.resource().etag());
  EXPECT_EQ(MustGet("a").content(), "hello");
}

// RFC 9110 §13.1.3: If-Modified-Since applies to GET and HEAD only.
TEST_F(ResourceServiceTest, DeleteIgnoresIfModifiedSince) {
  v1::PutResourceResponse put = MustPut("a", "hello");
  v1::DeleteResourceRequest request = DeleteRequest("a");
  *request.mutable_preconditions()->mutable_if_modified_since() =
      Seconds(put.resource().update_time().seconds() + 3600);

  ASSERT_THAT(service_->Delete(request), IsOk());
  EXPECT_THAT(Get("a"), StatusIs(kNotFound));
}

TEST_F(ResourceServiceTest, DeleteWithInvalidNameIsInvalidArgument) {
  EXPECT_THAT(service_->Delete(DeleteRequest("")),
              StatusIs(kInvalidArgument, "name"));
}

// No ABA: a resource deleted and created again never gets back an ETag it
// had before, so a client holding an old ETag cannot overwrite the new life.
TEST_F(ResourceServiceTest, RecreateAfterDeleteGetsAnEtagNeverSeenBefore) {
  std::set<std::string> seen;
  seen.insert(MustPut("a", "same").resource().etag());
  seen.insert(MustPut("a", "same").resource().etag());
  MustDelete("a");

  v1::PutResourceResponse again = MustPut("a", "same");
  EXPECT_TRUE(again.created());
  EXPECT_EQ(again.resource().version(), 1);
  EXPECT_EQ(again.resource().create_revision(), again.resource().revision());
  EXPECT_EQ(seen.count(again.resource().etag()), 0u) << again.resource().etag();
}

TEST_F(ResourceServiceTest,
       EtagFromBeforeADeleteDoesNotMatchTheRecreatedResource) {
  v1::PutResourceResponse old = MustPut("a", "same");
  MustDelete("a");
  MustPut("a", "same");

  v1::PutResourceRequest request = PutRequest("a", "overwrite");
  request.mutable_preconditions()->add_if_match(old.resource().etag());
  EXPECT_EQ(FailureOf(service_->Put(request)).reason(),
            v1::PreconditionFailure::REASON_IF_MATCH_FAILED);
  EXPECT_EQ(MustGet("a").content(), "same");
}

// ---------------------------------------------------------------------------
// Request ids (AIP-155): a retry answers the original result.

TEST_F(ResourceServiceTest,
       PutRetryWithSameRequestIdReturnsTheOriginalResponse) {
  v1::PutResourceResponse first = MustPut("a", "one");
  v1::PutResourceRequest request = PutRequest("a", "two");
  request.mutable_preconditions()->add_if_match(first.resource().etag());
  request.set_request_id("req-1");
  v1::PutResourceResponse original = MustPut(request);

  // The retry's If-Match names the etag the original write replaced.
  absl::StatusOr<v1::PutResourceResponse> retry = service_->Put(request);
  ASSERT_THAT(retry, IsOk());
  EXPECT_EQ(retry->created(), original.created());
  EXPECT_FALSE(retry->created());
  EXPECT_EQ(retry->resource().etag(), original.resource().etag());
  EXPECT_EQ(retry->resource().revision(), original.resource().revision());
  EXPECT_EQ(retry->resource().version(), original.resource().version());
  EXPECT_EQ(retry->resource().content_length(),
            original.resource().content_length());
  EXPECT_EQ(ToTime(retry->resource().update_time()),
            ToTime(original.resource().update_time()));
  EXPECT_EQ(MustGet("a").revision(), original.resource().revision());
  EXPECT_EQ(AllVersions("a").size(), 2u);
}

TEST_F(ResourceServiceTest, PutRetryOfACreateAnswersCreated) {
  v1::PutResourceRequest request = PutRequest("a", "one");
  request.mutable_preconditions()->add_if_none_match("*");
  request.set_request_id("create-1");
  v1::PutResourceResponse original = MustPut(request);
  ASSERT_TRUE(original.created());

  absl::StatusOr<v1::PutResourceResponse> retry = service_->Put(request);
  ASSERT_THAT(retry, IsOk());
  EXPECT_TRUE(retry->created());
  EXPECT_EQ(retry->resource().etag(), original.resource().etag());
  EXPECT_EQ(AllVersions("a").size(), 1u);
}

TEST_F(ResourceServiceTest,
       PutRetryAfterASupersedingWriteReturnsTheOriginalResult) {
  v1::PutResourceRequest request = PutRequest("a", "mine");
  request.set_request_id("req-1");
  v1::PutResourceResponse original = MustPut(request);
  v1::PutResourceResponse later = MustPut("a", "someone else's");

  absl::StatusOr<v1::PutResourceResponse> retry = service_->Put(request);
  ASSERT_THAT(retry, IsOk());
  EXPECT_TRUE(retry->created());
  EXPECT_EQ(retry->resource().etag(), original.resource().etag());
  EXPECT_EQ(retry->resource().revision(), original.resource().revision());
  EXPECT_EQ(retry->resource().content(), "");
  // Not written again: the later write is still current.
  EXPECT_EQ(AllVersions("a").size(), 2u);
  v1::Resource current = MustGet("a");
  EXPECT_EQ(current.etag(), later.resource().etag());
  EXPECT_EQ(current.content(), "someone else's");
}

TEST_F(ResourceServiceTest, PutWithANewRequestIdWritesAgain) {
  v1::PutResourceRequest request = PutRequest("a", "x");
  request.set_request_id("req-1");
  v1::PutResourceResponse first = MustPut(request);
  request.set_request_id("req-2");
  v1::PutResourceResponse second = MustPut(request);

  EXPECT_NE(second.resource().etag(), first.resource().etag());
  EXPECT_EQ(AllVersions("a").size(), 2u);
}

TEST_F(ResourceServiceTest,
       DeleteRetryWithSameRequestIdReturnsTheOriginalResult) {
  v1::PutResourceResponse put = MustPut("a", "hello");
  v1::DeleteResourceRequest request = DeleteRequest("a");
  request.mutable_preconditions()->add_if_match(put.resource().etag());
  request.set_request_id("del-1");
  absl::StatusOr<v1::DeleteResourceResponse> original =
      service_->Delete(request);
  ASSERT_THAT(original, IsOk());

  absl::StatusOr<v1::DeleteResourceResponse> retry = service_->Delete(request);
  ASSERT_THAT(retry, IsOk());
  EXPECT_EQ(retry->revision(), original->revision());
  EXPECT_EQ(retry->deleted_etag(), put.resource().etag());
  EXPECT_EQ(AllVersions("a").size(), 2u);
}

TEST_F(ResourceServiceTest, DeleteRetryAfterARecreateReturnsTheOriginalResult) {
  v1::PutResourceResponse put = MustPut("a", "hello");
  v1::DeleteResourceRequest request = DeleteRequest("a");
  request.set_request_id("del-1");
  absl::StatusOr<v1::DeleteResourceResponse> original =
      service_->Delete(request);
  ASSERT_THAT(original, IsOk());
  v1::PutResourceResponse recreated = MustPut("a", "again");

  absl::StatusOr<v1::DeleteResourceResponse> retry = service_->Delete(request);
  ASSERT_THAT(retry, IsOk());
  EXPECT_EQ(retry->revision(), original->revision());
  EXPECT_EQ(retry->deleted_etag(), put.resource().etag());
  EXPECT_EQ(MustGet("a").etag(), recreated.resource().etag());
}

TEST_F(ResourceServiceTest, RequestIdOfAPutReusedForADeleteIsInvalidArgument) {
  v1::PutResourceRequest put = PutRequest("a", "hello");
  put.set_request_id("shared");
  v1::PutResourceResponse written = MustPut(put);

  v1::DeleteResourceRequest request = DeleteRequest("a");
  request.set_request_id("shared");
  EXPECT_THAT(service_->Delete(request),
              StatusIs(kInvalidArgument, "request_id"));
  EXPECT_EQ(MustGet("a").etag(), written.resource().etag());
}

TEST_F(ResourceServiceTest, RequestIdOfADeleteReusedForAPutIsInvalidArgument) {
  MustPut("a", "hello");
  v1::DeleteResourceRequest request = DeleteRequest("a");
  request.set_request_id("shared");
  ASSERT_THAT(service_->Delete(request), IsOk());

  v1::PutResourceRequest put = PutRequest("a", "again");
  put.set_request_id("shared");
  EXPECT_THAT(service_->Put(put), StatusIs(kInvalidArgument, "request_id"));
  EXPECT_THAT(Get("a"), StatusIs(kNotFound));
}

// ---------------------------------------------------------------------------
// Reading past versions.

TEST_F(ResourceServiceTest, GetByRevisionReturnsAPastVersion) {
  v1::PutResourceRequest first_request = PutRequest("a", "one");
  first_request.set_content_type("text/x-first");
  v1::PutResourceResponse first = MustPut(first_request);
  MustPut("a", "two");

  v1::GetResourceRequest request = GetRequest("a");
  request.set_revision(first.resource().revision());
  absl::StatusOr<v1::GetResourceResponse> got = service_->Get(request);
  ASSERT_THAT(got, IsOk());
  ASSERT_TRUE(got->has_resource());
  EXPECT_EQ(got->resource().content(), "one");
  EXPECT_EQ(got->resource().content_type(), "text/x-first");
  EXPECT_EQ(got->resource().etag(), first.resource().etag());
  EXPECT_EQ(got->resource().revision(), first.resource().revision());
  EXPECT_EQ(got->resource().version(), 1);
}

TEST_F(ResourceServiceTest, GetByRevisionOfADeletionIsNotFound) {
  MustPut("a", "one");
  v1::DeleteResourceResponse deleted = MustDelete("a");
  MustPut("a", "two");

  v1::GetResourceRequest request = GetRequest("a");
  request.set_revision(deleted.revision());
  EXPECT_THAT(service_->Get(request), StatusIs(kNotFound, "deletion"));
}

TEST_F(ResourceServiceTest, GetByRevisionOfTheCurrentDeletionIsNotFound) {
  MustPut("a", "one");
  v1::DeleteResourceResponse deleted = MustDelete("a");

  v1::GetResourceRequest request = GetRequest("a");
  request.set_revision(deleted.revision());
  EXPECT_THAT(service_->Get(request), StatusIs(kNotFound));
}

TEST_F(ResourceServiceTest, GetByUnknownRevisionIsNotFound) {
  v1::PutResourceResponse put = MustPut("a", "one");

  v1::GetResourceRequest request = GetRequest("a");
  request.set_revision(put.resource().revision() + 1000);
  EXPECT_THAT(service_->Get(request), StatusIs(kNotFound));
}

TEST_F(ResourceServiceTest, GetByRevisionOfAnotherResourceIsNotFound) {
  MustPut("a", "one");
  v1::PutResourceResponse other = MustPut("b", "other");

  v1::GetResourceRequest request = GetRequest("a");
  request.set_revision(other.resource().revision());
  EXPECT_THAT(service_->Get(request), StatusIs(kNotFound));
}

TEST_F(ResourceServiceTest, GetByNegativeRevisionIsInvalidArgument) {
  MustPut("a", "one");
  v1::GetResourceRequest request = GetRequest("a");
  request.set_revision(-1);
  EXPECT_THAT(service_->Get(request), StatusIs(kInvalidArgument, "revision"));
}

TEST_F(ResourceServiceTest, GetByRevisionMetadataOnlyOmitsContent) {
  v1::PutResourceResponse first = MustPut("a", "one");
  MustPut("a", "two");

  v1::GetResourceRequest request = GetRequest("a");
  request.set_revision(first.resource().revision());
  request.set_metadata_only(true);
  absl::StatusOr<v1::GetResourceResponse> got = service_->Get(request);
  ASSERT_THAT(got, IsOk());
  ASSERT_TRUE(got->has_resource());
  EXPECT_EQ(got->resource().content(), "");
  EXPECT_EQ(got->resource().content_length(), 3);
}

// ---------------------------------------------------------------------------
// List.

TEST_F(ResourceServiceTest, ListWalksEveryPageExactlyOnce) {
  MustPut("o", "outside, before");
  for (const char* name : {"p/a", "p/b", "p/c", "p/d", "p/e", "p/f", "p/g"}) {
    MustPut(name, name);
  }
  MustPut("q", "outside, after");
  MustDelete("p/d");

  std::vector<std::string> names;
  std::string token;
  int pages = 0;
  do {
    v1::ListResourcesRequest request;
    request.set_prefix("p/");
    request.set_page_size(2);
    request.set_page_token(token);
    absl::StatusOr<v1::ListResourcesResponse> page = service_->List(request);
    ASSERT_THAT(page, IsOk());
    EXPECT_LE(page->resources_size(), 2);
    for (const v1::Resource& r : page->resources()) names.push_back(r.name());
    token = page->next_page_token();
    ASSERT_LT(++pages, 10) << "the listing does not end";
  } while (!token.empty());

  EXPECT_THAT(names, ElementsAre("p/a", "p/b", "p/c", "p/e", "p/f", "p/g"));
  EXPECT_GE(pages, 3);
}

TEST_F(ResourceServiceTest, ListWithEmptyPrefixListsEverythingInNameOrder) {
  for (const char* name : {"b", "a/x", "c", "a"}) MustPut(name, "x");

  v1::ListResourcesRequest request;
  absl::StatusOr<v1::ListResourcesResponse> page = service_->List(request);
  ASSERT_THAT(page, IsOk());
  std::vector<std::string> names;
  for (const v1::Resource& r : page->resources()) names.push_back(r.name());
  EXPECT_THAT(names, ElementsAre("a", "a/x", "b", "c"));
  EXPECT_EQ(page->next_page_token(), "");
}

TEST_F(ResourceServiceTest, ListPageTokenFromAnotherPrefixIsInvalidArgument) {
  for (const char* name : {"p/a", "p/b", "p/c", "q/a"}) MustPut(name, "x");
  v1::ListResourcesRequest request;
  request.set_prefix("p/");
  request.set_page_size(1);
  absl::StatusOr<v1::ListResourcesResponse> first = service_->List(request);
  ASSERT_THAT(first, IsOk());
  ASSERT_NE(first->next_page_token(), "");

  request.set_prefix("q/");
  request.set_page_token(first->next_page_token());
  EXPECT_THAT(service_->List(request),
              StatusIs(kInvalidArgument, "page_token"));
}

TEST_F(ResourceServiceTest, ListPageTokenFromALongerPrefixIsInvalidArgument) {
  // A token from prefix "p/" must not continue a listing of prefix "p",
  // which would skip "p" and "p-x".
  for (const char* name : {"p", "p-x", "p/a", "p/b", "p/c"}) MustPut(name, "x");
  v1::ListResourcesRequest request;
  request.set_prefix("p/");
  request.set_page_size(1);
  absl::StatusOr<v1::ListResourcesResponse> first = service_->List(request);
  ASSERT_THAT(first, IsOk());
  ASSERT_NE(first->next_page_token(), "");

  request.set_prefix("p");
  request.set_page_token(first->next_page_token());
  EXPECT_THAT(service_->List(request),
              StatusIs(kInvalidArgument, "page_token"));
}

// Tokens of releases before pinned listings carry no revision; they go on
// at the latest one.
TEST_F(ResourceServiceTest, ListAcceptsAPageTokenWithoutARevision) {
  for (const char* name : {"p/a", "p/b"}) MustPut(name, "x");
  v1::ListResourcesRequest request;
  request.set_prefix("p/");
  request.set_page_token(absl::WebSafeBase64Escape(
      absl::StrCat("np/", std::string(1, '\0'), "p/a")));
  absl::StatusOr<v1::ListResourcesResponse> page = service_->List(request);
  ASSERT_THAT(page, IsOk());
  ASSERT_EQ(page->resources_size(), 1);
  EXPECT_EQ(page->resources(0).name(), "p/b");
}

// A token naming a revision this store never reached (one from the store
// the data was moved from) is refused, not read at the wrong revision.
TEST_F(ResourceServiceTest, ListPageTokenFromAnotherStoreIsInvalidArgument) {
  for (const char* name : {"p/a", "p/b"}) MustPut(name, "x");
  const std::string sep(1, '\0');
  v1::ListResourcesRequest request;
  request.set_prefix("p/");
  request.set_page_token(absl::WebSafeBase64Escape(
      absl::StrCat("np/", sep, "p/a", sep, "1000000")));
  EXPECT_THAT(service_->List(request),
              StatusIs(kInvalidArgument, "another store"));
}

TEST_F(ResourceServiceTest, ListGarbagePageTokenIsInvalidArgument) {
  MustPut("a", "x");
  v1::ListResourcesRequest request;
  request.set_page_token("%%not a token%%");
  EXPECT_THAT(service_->List(request),
              StatusIs(kInvalidArgument, "page_token"));
}

TEST_F(ResourceServiceTest, ListRefusesAListVersionsPageToken) {
  for (int i = 0; i < 3; ++i) MustPut("a", "x");
  v1::ListVersionsRequest versions;
  versions.set_name("a");
  versions.set_page_size(1);
  absl::StatusOr<v1::ListVersionsResponse> page =
      service_->ListVersions(versions);
  ASSERT_THAT(page, IsOk());
  ASSERT_NE(page->next_page_token(), "");

  v1::ListResourcesRequest request;
  request.set_page_token(page->next_page_token());
  EXPECT_THAT(service_->List(request),
              StatusIs(kInvalidArgument, "page_token"));
}

TEST_F(ResourceServiceTest, ListNegativePageSizeIsInvalidArgument) {
  v1::ListResourcesRequest request;
  request.set_page_size(-1);
  EXPECT_THAT(service_->List(request), StatusIs(kInvalidArgument, "page_size"));
}

TEST_F(ResourceServiceTest, ListInvalidPrefixIsInvalidArgument) {
  v1::ListResourcesRequest request;
  request.set_prefix("p\x01");
  EXPECT_THAT(service_->List(request), StatusIs(kInvalidArgument, "prefix"));
}

TEST_F(ResourceServiceTest, ListIncludeContentReturnsContent) {
  MustPut("a", "alpha");
  MustPut("b", "beta");
  v1::ListResourcesRequest request;
  request.set_include_content(true);

  absl::StatusOr<v1::ListResourcesResponse> page = service_->List(request);
  ASSERT_THAT(page, IsOk());
  ASSERT_EQ(page->resources_size(), 2);
  EXPECT_EQ(page->resources(0).content(), "alpha");
  EXPECT_EQ(page->resources(1).content(), "beta");
}

TEST_F(ResourceServiceTest,
       ListWithoutIncludeContentOmitsContentButKeepsMetadata) {
  v1::PutResourceResponse put = MustPut("a", "alpha");
  v1::ListResourcesRequest request;

  absl::StatusOr<v1::ListResourcesResponse> page = service_->List(request);
  ASSERT_THAT(page, IsOk());
  ASSERT_EQ(page->resources_size(), 1);
  const v1::Resource& r = page->resources(0);
  EXPECT_EQ(r.content(), "");
  EXPECT_EQ(r.content_length(), 5);
  EXPECT_EQ(r.etag(), put.resource().etag());
  EXPECT_EQ(r.revision(), put.resource().revision());
  EXPECT_EQ(r.content_type(), "text/plain");
}

// ---------------------------------------------------------------------------
// ListVersions.

TEST_F(ResourceServiceTest, ListVersionsIsNewestFirstWithDeletionsFlagged) {
  v1::PutResourceResponse put1 = MustPut("a", "one");
  v1::PutResourceResponse put2 = MustPut("a", "two");
  v1::DeleteResourceResponse deleted = MustDelete("a");
  v1::PutResourceResponse put3 = MustPut("a", "three");

  std::vector<v1::Version> versions = AllVersions("a");
  ASSERT_EQ(versions.size(), 4u);
  std::vector<int64_t> revisions;
  std::vector<bool> flags;
  for (const v1::Version& v : versions) {
    revisions.push_back(v.resource().revision());
    flags.push_back(v.deleted());
  }
  EXPECT_THAT(
      revisions,
      ElementsAre(put3.resource().revision(), deleted.revision(),
                  put2.resource().revision(), put1.resource().revision()));
  EXPECT_THAT(flags, ElementsAre(false, true, false, false));

  EXPECT_EQ(versions[0].resource().etag(), put3.resource().etag());
  EXPECT_EQ(versions[0].resource().content(), "");
  EXPECT_EQ(versions[0].resource().content_length(), 5);
  EXPECT_EQ(versions[2].resource().etag(), put2.resource().etag());
  // A deletion carries its name, revision and time, and nothing else.
  const v1::Resource& deletion = versions[1].resource();
  EXPECT_EQ(deletion.name(), "a");
  EXPECT_EQ(deletion.etag(), "");
  EXPECT_GE(ToTime(deletion.update_time()),
            ToTime(put2.resource().update_time()));
}

TEST_F(ResourceServiceTest, ListVersionsPaginatesWithoutGapsOrRepeats) {
  std::vector<int64_t> expected;
  for (int i = 0; i < 4; ++i) {
    expected.push_back(MustPut("a", std::to_string(i)).resource().revision());
  }
  expected.push_back(MustDelete("a").revision());
  std::reverse(expected.begin(), expected.end());

  std::vector<int64_t> revisions;
  std::string token;
  int pages = 0;
  do {
    v1::ListVersionsRequest request;
    request.set_name("a");
    request.set_page_size(2);
    request.set_page_token(token);
    absl::StatusOr<v1::ListVersionsResponse> page =
        service_->ListVersions(request);
    ASSERT_THAT(page, IsOk());
    EXPECT_LE(page->versions_size(), 2);
    for (const v1::Version& v : page->versions()) {
      revisions.push_back(v.resource().revision());
    }
    token = page->next_page_token();
    ASSERT_LT(++pages, 10) << "the listing does not end";
  } while (!token.empty());

  EXPECT_THAT(revisions, ElementsAreArray(expected));
  EXPECT_EQ(pages, 3);
}

TEST_F(ResourceServiceTest, ListVersionsOfANeverWrittenNameIsNotFound) {
  MustPut("other", "x");
  v1::ListVersionsRequest request;
  request.set_name("never");
  EXPECT_THAT(service_->ListVersions(request), StatusIs(kNotFound));
}

TEST_F(ResourceServiceTest, ListVersionsKeepsToItsOwnName) {
  MustPut("a", "1");
  MustPut("a/b", "1");
  MustPut("a/b", "2");
  MustPut("a b", "1");
  MustPut("a", "2");

  std::vector<v1::Version> versions = AllVersions("a");
  ASSERT_EQ(versions.size(), 2u);
  for (const v1::Version& v : versions) EXPECT_EQ(v.resource().name(), "a");
}

TEST_F(ResourceServiceTest, ListVersionsOfADeletedResourceListsItsHistory) {
  MustPut("a", "x");
  MustDelete("a");
  std::vector<v1::Version> versions = AllVersions("a");
  ASSERT_EQ(versions.size(), 2u);
  EXPECT_TRUE(versions[0].deleted());
  EXPECT_FALSE(versions[1].deleted());
}

TEST_F(ResourceServiceTest, ListVersionsNegativePageSizeIsInvalidArgument) {
  MustPut("a", "x");
  v1::ListVersionsRequest request;
  request.set_name("a");
  request.set_page_size(-5);
  EXPECT_THAT(service_->ListVersions(request),
              StatusIs(kInvalidArgument, "page_size"));
}

TEST_F(ResourceServiceTest, ListVersionsGarbagePageTokenIsInvalidArgument) {
  MustPut("a", "x");
  v1::ListVersionsRequest request;
  request.set_name("a");
  request.set_page_token("garbage!");
  EXPECT_THAT(service_->ListVersions(request),
              StatusIs(kInvalidArgument, "page_token"));
}

TEST_F(ResourceServiceTest, ListVersionsRefusesAListPageToken) {
  for (const char* name : {"a", "b"}) MustPut(name, "x");
  v1::ListResourcesRequest list;
  list.set_page_size(1);
  absl::StatusOr<v1::ListResourcesResponse> page = service_->List(list);
  ASSERT_THAT(page, IsOk());
  ASSERT_NE(page->next_page_token(), "");

  v1::ListVersionsRequest request;
  request.set_name("a");
  request.set_page_token(page->next_page_token());
  EXPECT_THAT(service_->ListVersions(request),
              StatusIs(kInvalidArgument, "page_token"));
}

// ValidateNewName: a Put may not store a name whose URL normalization
// would change (RFC 3986 §5.2.4), but a resource stored under such a name
// before the rule existed is still readable and deletable.
TEST_F(ResourceServiceTest, PutOfANameWithADotSegmentIsInvalidAndStoresNothing) {
  EXPECT_THAT(service_->Put(PutRequest("a/../b/doc", "x")),
              StatusIs(kInvalidArgument, "'..' segment"));
  v1::ListResourcesRequest list;
  absl::StatusOr<v1::ListResourcesResponse> listed = service_->List(list);
  ASSERT_THAT(listed, IsOk());
  EXPECT_EQ(listed->resources_size(), 0);
}

TEST_F(ResourceServiceTest, AResourceStoredUnderALegacyNameStaysReadableAndDeletable) {
  WriteRequest legacy;
  legacy.name = "old//name/..";
  legacy.content = "kept";
  ASSERT_THAT(store_->Write(legacy), IsOk());

  v1::GetResourceRequest get;
  get.set_name("old//name/..");
  absl::StatusOr<v1::GetResourceResponse> got = service_->Get(get);
  ASSERT_THAT(got, IsOk());
  EXPECT_EQ(got->resource().content(), "kept");

  v1::DeleteResourceRequest del;
  del.set_name("old//name/..");
  EXPECT_THAT(service_->Delete(del), IsOk());
  EXPECT_THAT(service_->Get(get), StatusIs(kNotFound));
}

// ---------------------------------------------------------------------------
// Writes planned on a record that may be stale (Store::ReadForWritePlan).

// Plans writes on the record of `name` as it was when Freeze() was called,
// as an engine that remembers records would, until a write fails its
// compare (ABORTED): from then on, as such an engine learns the record, on
// the current one.
class StalePlanStore : public ForwardingStore {
 public:
  using ForwardingStore::ForwardingStore;

  void Freeze(const std::string& name) {
    absl::StatusOr<std::optional<Record>> now = ReadCurrent(name, false);
    ASSERT_THAT(now, IsOk());
    frozen_ = *now;
  }

  absl::StatusOr<std::optional<Record>> ReadForWritePlan(
      absl::string_view name) override {
    if (frozen_.has_value()) return *frozen_;
    return ReadCurrent(name, false);
  }
  bool WritePlansMayBeStale() const override { return true; }

  absl::StatusOr<Record> Write(const WriteRequest& request) override {
    absl::StatusOr<Record> written = ForwardingStore::Write(request);
    if (absl::IsAborted(written.status())) frozen_.reset();
    ++writes_;
    return written;
  }

  int writes() const { return writes_; }

 private:
  std::optional<std::optional<Record>> frozen_;
  int writes_ = 0;
};

class StalePlanTest : public ResourceServiceTest {
 protected:
  void SetUp() override {
    ResourceServiceTest::SetUp();
    auto stale = std::make_unique<StalePlanStore>(std::move(store_));
    stale_ = stale.get();
    store_ = std::move(stale);
    StartService(ResourceServiceOptions());
  }

  StalePlanStore* stale_ = nullptr;
};

TEST_F(StalePlanTest, PutIfMatchOfTheCurrentTagSucceedsWhereTheStaleOneFails) {
  MustPut("a", "one");
  stale_->Freeze("a");
  v1::PutResourceResponse second = MustPut("a", "two");
  v1::PutResourceRequest request = PutRequest("a", "three");
  request.mutable_preconditions()->add_if_match(second.resource().etag());

  ASSERT_THAT(service_->Put(request), IsOk());
  EXPECT_EQ(MustGet("a").content(), "three");
}

TEST_F(StalePlanTest, PutIfMatchOfTheStaleRecordFailsWithTheCurrentOne) {
  v1::PutResourceResponse first = MustPut("a", "one");
  stale_->Freeze("a");
  v1::PutResourceResponse second = MustPut("a", "two");
  const int writes = stale_->writes();
  v1::PutResourceRequest request = PutRequest("a", "three");
  request.mutable_preconditions()->add_if_match(first.resource().etag());

  v1::PreconditionFailure detail = FailureOf(service_->Put(request));
  EXPECT_EQ(detail.reason(), v1::PreconditionFailure::REASON_IF_MATCH_FAILED);
  EXPECT_EQ(detail.current_etag(), second.resource().etag());
  // The plan on the stale record wrote, and its compare refused.
  EXPECT_EQ(stale_->writes(), writes + 1);
  EXPECT_EQ(MustGet("a").content(), "two");
}

TEST_F(StalePlanTest, PutIfNoneMatchStarFailsOnTheCurrentRecordWhenThePlanSawNone) {
  stale_->Freeze("a");
  v1::PutResourceResponse first = MustPut("a", "one");
  v1::PutResourceRequest request = PutRequest("a", "two");
  request.mutable_preconditions()->add_if_none_match("*");

  v1::PreconditionFailure detail = FailureOf(service_->Put(request));
  EXPECT_EQ(detail.current_etag(), first.resource().etag());
  EXPECT_EQ(MustGet("a").content(), "one");
}

TEST_F(StalePlanTest, DeleteIfMatchOfTheCurrentTagDeletesWhereTheStaleOneFails) {
  MustPut("a", "one");
  stale_->Freeze("a");
  v1::PutResourceResponse second = MustPut("a", "two");
  v1::DeleteResourceRequest request = DeleteRequest("a");
  request.mutable_preconditions()->add_if_match(second.resource().etag());

  ASSERT_THAT(service_->Delete(request), IsOk());
  EXPECT_THAT(Get("a"), StatusIs(kNotFound));
}

TEST_F(StalePlanTest, ARetriedRequestIdNewerThanThePlansRecordIsNotWrittenAgain) {
  MustPut("a", "one");
  stale_->Freeze("a");
  v1::PutResourceRequest request = PutRequest("a", "two");
  request.set_request_id("req-1");
  v1::PutResourceResponse first = MustPut(request);

  v1::PutResourceResponse retried = MustPut(request);
  EXPECT_EQ(retried.resource().etag(), first.resource().etag());
  EXPECT_EQ(AllVersions("a").size(), 2u);
}

// ---------------------------------------------------------------------------
// Get of a GetQuery (get_query.h): the in-process gateway's form of a Get
// answers as the request it stands for does.

namespace query_test {

// A query and the GetResourceRequest it stands for.
struct QueryCase {
  std::string label;
  GetQuery query;
  v1::GetResourceRequest request;
};

QueryCase Case(std::string label, absl::string_view name) {
  QueryCase c;
  c.label = std::move(label);
  c.query.name = name;
  c.request.set_name(std::string(name));
  return c;
}

EntityTag Tag(const std::string& text) { return *ParseEntityTag(text); }

}  // namespace query_test

TEST_F(ResourceServiceTest, GetOfAQueryAnswersAsItsRequestDoes) {
  using query_test::Case;
  using query_test::QueryCase;
  using query_test::Tag;
  const v1::Resource put = MustPut("a", "hello").resource();
  const absl::Time modified = ToTime(put.update_time());
  std::vector<QueryCase> cases;
  cases.push_back(Case("unconditional", "a"));
  {
    QueryCase c = Case("If-None-Match names the version: 304", "a");
    c.query.preconditions.if_none_match =
        EntityTagCondition{false, {Tag("\"other\""), Tag(put.etag())}};
    c.request.mutable_preconditions()->add_if_none_match("\"other\"");
    c.request.mutable_preconditions()->add_if_none_match(put.etag());
    cases.push_back(std::move(c));
  }
  {
    QueryCase c = Case("If-None-Match names another version: 200", "a");
    c.query.preconditions.if_none_match = EntityTagCondition{false, {Tag("\"other\"")}};
    c.request.mutable_preconditions()->add_if_none_match("\"other\"");
    cases.push_back(std::move(c));
  }
  {
    QueryCase c = Case("If-Match fails: 412", "a");
    c.query.preconditions.if_match = EntityTagCondition{false, {Tag("\"other\"")}};
    c.request.mutable_preconditions()->add_if_match("\"other\"");
    cases.push_back(std::move(c));
  }
  {
    QueryCase c = Case("If-Modified-Since later, HEAD: 304", "a");
    c.query.metadata_only = true;
    c.request.set_metadata_only(true);
    c.query.preconditions.if_modified_since = modified + absl::Hours(1);
    *c.request.mutable_preconditions()->mutable_if_modified_since() =
        Seconds(absl::ToUnixSeconds(modified + absl::Hours(1)));
    cases.push_back(std::move(c));
  }
  {
    QueryCase c = Case("HEAD: no content", "a");
    c.query.metadata_only = true;
    c.request.set_metadata_only(true);
    cases.push_back(std::move(c));
  }
  {
    QueryCase c = Case("a retained revision", "a");
    c.query.revision = put.revision();
    c.request.set_revision(put.revision());
    cases.push_back(std::move(c));
  }
  cases.push_back(Case("absent: 404", "nothing"));
  {
    QueryCase c = Case("a revision not retained: 404", "a");
    c.query.revision = put.revision() + 100;
    c.request.set_revision(put.revision() + 100);
    cases.push_back(std::move(c));
  }

  for (const QueryCase& c : cases) {
    SCOPED_TRACE(c.label);
    const absl::StatusOr<v1::GetResourceResponse> by_request = service_->Get(c.request);
    const absl::StatusOr<GetAnswer> by_query = service_->Get(c.query);
    ASSERT_EQ(by_query.status(), by_request.status());
    if (!by_request.ok()) continue;
    const Record& version = by_query->version;
    ASSERT_EQ(by_query->not_modified, by_request->has_not_modified());
    if (by_query->not_modified) {
      const v1::NotModified& expected = by_request->not_modified();
      EXPECT_EQ(version.etag, expected.etag());
      EXPECT_EQ(version.revision, expected.revision());
      EXPECT_EQ(version.update_time, ToTime(expected.update_time()));
      EXPECT_EQ(version.content_type, expected.content_type());
      EXPECT_EQ(version.content_length, expected.content_length());
      EXPECT_EQ(version.content, "");
    } else {
      const v1::Resource& expected = by_request->resource();
      EXPECT_EQ(version.name, expected.name());
      EXPECT_EQ(version.etag, expected.etag());
      EXPECT_EQ(version.revision, expected.revision());
      EXPECT_EQ(version.content, expected.content());
      EXPECT_EQ(version.content_type, expected.content_type());
      EXPECT_EQ(version.content_length, expected.content_length());
      EXPECT_EQ(version.update_time, ToTime(expected.update_time()));
    }
  }
}

TEST_F(ResourceServiceTest, GetOfAQueryRefusesWhatItsRequestWouldWithTheSameError) {
  using query_test::Case;
  using query_test::QueryCase;
  using query_test::Tag;
  MustPut("a", "hello");
  std::vector<QueryCase> cases;
  cases.push_back(Case("empty name", ""));
  {
    QueryCase c = Case("negative revision", "a");
    c.query.revision = -1;
    c.request.set_revision(-1);
    cases.push_back(std::move(c));
  }
  {
    QueryCase c = Case("too many entity-tags", "a");
    c.query.preconditions.if_none_match.emplace();
    for (int i = 0; i <= kMaxEntityTags; ++i) {
      const std::string tag = absl::StrCat("\"t", i, "\"");
      c.query.preconditions.if_none_match->tags.push_back(Tag(tag));
      c.request.mutable_preconditions()->add_if_none_match(tag);
    }
    cases.push_back(std::move(c));
  }
  {
    QueryCase c = Case("a date before year 1", "a");
    const int64_t year_zero = -62135596800 - 86400;
    c.query.preconditions.if_unmodified_since = absl::FromUnixSeconds(year_zero);
    *c.request.mutable_preconditions()->mutable_if_unmodified_since() =
        Seconds(year_zero);
    cases.push_back(std::move(c));
  }
  for (const QueryCase& c : cases) {
    SCOPED_TRACE(c.label);
    const absl::Status by_request = service_->Get(c.request).status();
    EXPECT_THAT(by_request, StatusIs(kInvalidArgument));
    EXPECT_EQ(service_->Get(c.query).status(), by_request);
  }
}

}  // namespace
}  // namespace etagd
