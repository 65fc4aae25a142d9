// etagctl export / import between real etagd processes: RocksDB to the etcd
// engine (a real etcd) and RocksDB to RocksDB (backup and restore). What
// must survive (content, content type, HTTP metadata, create and update
// times, retained history with its deletions) is compared version by
// version; what must not (revisions, ETags) is checked to never match.
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "etagd/v1/etagd.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "gtest/gtest.h"
#include "tests/testing/etcd_cluster.h"
#include "tests/testing/http_client.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/subprocess.h"
#include "tests/testing/temp_dir.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;
using ::testing::HasSubstr;
using ::testing::Not;

constexpr absl::Duration kTimeout = absl::Seconds(60);

// What must survive of one version (deletions: update_time only).
struct Kept {
  bool deleted = false;
  std::string content;
  std::string content_type;
  std::string http_metadata;  // Serialized deterministically.
  int64_t create_time_us = 0;
  int64_t update_time_us = 0;

  friend bool operator==(const Kept& a, const Kept& b) {
    return a.deleted == b.deleted && a.content == b.content &&
           a.content_type == b.content_type &&
           a.http_metadata == b.http_metadata &&
           a.create_time_us == b.create_time_us &&
           a.update_time_us == b.update_time_us;
  }
  friend std::ostream& operator<<(std::ostream& out, const Kept& k) {
    return out << (k.deleted ? "deleted" : "live") << " content=" << k.content
               << " type=" << k.content_type << " created=" << k.create_time_us
               << " updated=" << k.update_time_us;
  }
};

int64_t Micros(const google::protobuf::Timestamp& t) {
  return t.seconds() * 1'000'000 + t.nanos() / 1000;
}

std::string Deterministic(const v1::HttpMetadata& metadata) {
  std::string out;
  google::protobuf::io::StringOutputStream stream(&out);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  metadata.SerializeToCodedStream(&coded);
  coded.Trim();
  return out;
}

// Every current resource: its versions, oldest first.
using Snapshot = std::map<std::string, std::vector<Kept>>;

Snapshot Take(Client& client) {
  Snapshot snapshot;
  v1::ListResourcesRequest list;
  do {
    absl::StatusOr<v1::ListResourcesResponse> page = client.List(list);
    EXPECT_THAT(page, IsOk());
    if (!page.ok()) return snapshot;
    for (const v1::Resource& resource : page->resources()) {
      v1::ListVersionsRequest history;
      history.set_name(resource.name());
      absl::StatusOr<v1::ListVersionsResponse> versions =
          client.ListVersions(history);
      EXPECT_THAT(versions, IsOk());
      if (!versions.ok()) continue;
      EXPECT_TRUE(versions->next_page_token().empty());
      std::vector<Kept>& kept = snapshot[resource.name()];
      for (auto it = versions->versions().rbegin();
           it != versions->versions().rend(); ++it) {
        Kept k;
        k.deleted = it->deleted();
        k.update_time_us = Micros(it->resource().update_time());
        if (!k.deleted) {
          v1::GetResourceRequest get;
          get.set_name(resource.name());
          get.set_revision(it->resource().revision());
          absl::StatusOr<v1::GetResourceResponse> got = client.Get(get);
          EXPECT_THAT(got, IsOk());
          if (!got.ok()) continue;
          k.content = got->resource().content();
          k.content_type = got->resource().content_type();
          k.http_metadata = Deterministic(got->resource().http_metadata());
          k.create_time_us = Micros(got->resource().create_time());
        }
        kept.push_back(std::move(k));
      }
    }
    list.set_page_token(page->next_page_token());
  } while (!list.page_token().empty());
  return snapshot;
}

// The newest `n` versions of each resource.
Snapshot Newest(Snapshot snapshot, size_t n) {
  for (auto& [name, versions] : snapshot) {
    if (versions.size() > n)
      versions.erase(versions.begin(), versions.end() - n);
  }
  return snapshot;
}

CommandResult Etagctl(const std::vector<std::string>& args) {
  absl::StatusOr<CommandResult> result = RunCommand(
      DataBinaryPath("client/etagctl"), args, absl::nullopt, kTimeout);
  EXPECT_THAT(result, IsOk());
  return result.ok() ? *std::move(result) : CommandResult{};
}

// `name` as a URL path: bytes outside unreserved characters and '/' are
// percent-encoded.
std::string UrlPath(const std::string& name) {
  std::string out = "/v1/resources/";
  for (unsigned char c : name) {
    if (absl::ascii_isalnum(c) || c == '-' || c == '.' || c == '_' ||
        c == '~' || c == '/') {
      out.push_back(static_cast<char>(c));
    } else {
      absl::StrAppend(&out, absl::StrFormat("%%%02X", c));
    }
  }
  return out;
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

void WriteFile(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

class StoreTransferTest : public testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<EtagdProcess> source =
        StartEtagd(TestPath("source"), {"--history_depth=10"}, kTimeout);
    ASSERT_THAT(source, IsOk());
    source_ = *std::move(source);
    source_client_ = Client::Connect(source_.target());
    Populate();
    export_path_ = TestPath("store.etagdx");
    CommandResult exported =
        Etagctl({absl::StrCat("--target=", source_.target()), "export",
                 absl::StrCat("--output=", export_path_)});
    ASSERT_EQ(exported.exit_code, 0) << exported.stderr_text;
    ASSERT_THAT(exported.stderr_text, HasSubstr("(done)"));
  }

  // Several resources: history with changes of metadata and type, a delete
  // and re-create, a deleted resource, empty and binary content.
  void Populate() {
    v1::HttpMetadata first;
    first.set_cache_control("max-age=60");
    (*first.mutable_user_metadata())["owner"] = "ops";
    Put("docs/a", "version one", "text/plain", first);
    v1::HttpMetadata second;
    second.set_content_disposition("attachment; filename=\"a.json\"");
    second.set_content_language("en, de-CH");
    second.mutable_expires()->set_seconds(1'900'000'000);
    Put("docs/a", "{\"v\": 2}", "application/json", second);
    v1::HttpMetadata third;
    third.set_content_encoding("gzip");
    Put("docs/a", std::string("\x1f\x8b\x08\x00 not really gzip", 24),
        "application/octet-stream", third);
    Put("docs/b", "first life", "text/plain", {});
    Delete("docs/b");
    Put("docs/b", "second life", "text/plain", {});
    Put("gone", "deleted before the export", "", {});
    Delete("gone");
    Put("empty", "", "", {});
    Put("bin/\xc3\xbc", std::string("\0\1\2\xff", 4), "application/x-raw", {});
    for (int i = 0; i < 25; ++i) {
      Put(absl::StrCat("many/", i), absl::StrCat("item ", i), "text/plain", {});
    }
  }

  void Put(const std::string& name, const std::string& content,
           const std::string& content_type, const v1::HttpMetadata& metadata) {
    v1::PutResourceRequest put;
    put.set_name(name);
    put.set_content(content);
    put.set_content_type(content_type);
    *put.mutable_http_metadata() = metadata;
    absl::StatusOr<v1::PutResourceResponse> written = source_client_->Put(put);
    ASSERT_THAT(written, IsOk());
    old_etags_[name].push_back(written->resource().etag());
  }

  void Delete(const std::string& name) {
    v1::DeleteResourceRequest request;
    request.set_name(name);
    ASSERT_THAT(source_client_->Delete(request), IsOk());
  }

  EtagdProcess StartTarget(const std::string& name,
                           std::vector<std::string> flags = {}) {
    absl::StatusOr<EtagdProcess> target =
        StartEtagd(TestPath(name), flags, kTimeout);
    EXPECT_THAT(target, IsOk());
    return target.ok() ? *std::move(target) : EtagdProcess{};
  }

  EtagdProcess StartEtcdTarget() {
    absl::StatusOr<std::unique_ptr<EtcdCluster>> cluster =
        EtcdCluster::Start(TestPath("etcd"));
    EXPECT_THAT(cluster, IsOk());
    if (!cluster.ok()) return EtagdProcess{};
    etcd_ = *std::move(cluster);
    return StartTarget(
        "unused-data",
        {"--engine=etcd",
         absl::StrCat("--etcd_endpoints=", etcd_->ClientEndpoint(0)),
         "--etcd_prefix=/import-test/", "--history_depth=10"});
  }

  CommandResult Import(const EtagdProcess& target, const std::string& path,
                       std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {absl::StrCat("--target=", target.target()),
                                     "import", absl::StrCat("--input=", path)};
    args.insert(args.end(), extra.begin(), extra.end());
    return Etagctl(args);
  }

  Snapshot SourceSnapshot() { return Take(*source_client_); }

  EtagdProcess source_;
  std::unique_ptr<Client> source_client_;
  std::unique_ptr<EtcdCluster> etcd_;
  std::string export_path_;
  // Every ETag the source handed out, by name.
  std::map<std::string, std::vector<std::string>> old_etags_;
};

TEST_F(StoreTransferTest,
       RocksDbToEtcdKeepsEveryVersionWithItsMetadataAndTimes) {
  EtagdProcess target = StartEtcdTarget();
  ASSERT_NE(target.port, 0);
  CommandResult imported = Import(target, export_path_);
  ASSERT_EQ(imported.exit_code, 0) << imported.stderr_text;
  const Snapshot source = SourceSnapshot();
  ASSERT_EQ(source.count("gone"), 0u);
  ASSERT_EQ(source.at("docs/a").size(), 3u);
  ASSERT_EQ(source.at("docs/b").size(), 3u);  // Put, deletion, put.
  std::unique_ptr<Client> client = Client::Connect(target.target());
  EXPECT_EQ(Take(*client), source);
}

TEST_F(StoreTransferTest, RocksDbToRocksDbRestoreKeepsEveryVersion) {
  EtagdProcess target = StartTarget("restored", {"--history_depth=10"});
  CommandResult imported = Import(target, export_path_);
  ASSERT_EQ(imported.exit_code, 0) << imported.stderr_text;
  std::unique_ptr<Client> client = Client::Connect(target.target());
  EXPECT_EQ(Take(*client), SourceSnapshot());
}

TEST_F(StoreTransferTest, ADeletedResourceIsNotCarriedOver) {
  EtagdProcess target = StartTarget("restored");
  ASSERT_EQ(Import(target, export_path_).exit_code, 0);
  std::unique_ptr<Client> client = Client::Connect(target.target());
  v1::GetResourceRequest get;
  get.set_name("gone");
  EXPECT_THAT(client->Get(get), StatusIs(absl::StatusCode::kNotFound));
}

TEST_F(StoreTransferTest, ATargetWithLessHistoryKeepsTheNewestVersions) {
  EtagdProcess target = StartTarget("shallow", {"--history_depth=1"});
  CommandResult imported = Import(target, export_path_);
  ASSERT_EQ(imported.exit_code, 0) << imported.stderr_text;
  std::unique_ptr<Client> client = Client::Connect(target.target());
  EXPECT_EQ(Take(*client), Newest(SourceSnapshot(), 2));
}

// A client holding any ETag the source handed out gets a 200 (not a 304)
// for If-None-Match and a 412 for If-Match, over HTTP and gRPC, for every
// imported resource.
TEST_F(StoreTransferTest, NoOldEtagMatchesOnTheTarget) {
  EtagdProcess target = StartEtcdTarget();
  ASSERT_EQ(Import(target, export_path_).exit_code, 0);
  std::unique_ptr<Client> client = Client::Connect(target.target());
  HttpClient http(target.http_port);
  int checked = 0;
  for (const auto& [name, tags] : old_etags_) {
    if (name == "gone") continue;
    for (const std::string& tag : tags) {
      v1::GetResourceRequest get;
      get.set_name(name);
      get.mutable_preconditions()->add_if_none_match(tag);
      absl::StatusOr<v1::GetResourceResponse> got = client->Get(get);
      ASSERT_THAT(got, IsOk());
      EXPECT_TRUE(got->has_resource()) << name << " " << tag;

      v1::PutResourceRequest put;
      put.set_name(name);
      put.set_content("a lost update");
      put.mutable_preconditions()->add_if_match(tag);
      EXPECT_THAT(client->Put(put),
                  StatusIs(absl::StatusCode::kFailedPrecondition))
          << name << " " << tag;

      const std::string path = UrlPath(name);
      absl::StatusOr<HttpReply> conditional_get =
          http.Send("GET", path, {{"If-None-Match", tag}});
      ASSERT_THAT(conditional_get, IsOk());
      EXPECT_EQ(conditional_get->status, 200) << name << " " << tag;
      absl::StatusOr<HttpReply> conditional_put =
          http.Send("PUT", path, {{"If-Match", tag}}, "a lost update");
      ASSERT_THAT(conditional_put, IsOk());
      EXPECT_EQ(conditional_put->status, 412) << name << " " << tag;
      ++checked;
    }
  }
  EXPECT_GT(checked, 30);
  // And nothing was written by the refused conditional writes.
  EXPECT_EQ(Take(*client), SourceSnapshot());
}

TEST_F(StoreTransferTest, ATruncatedFileFailsAndTheWholeFileThenResumes) {
  EtagdProcess target = StartEtcdTarget();
  const std::string whole = ReadFile(export_path_);
  const std::string truncated_path = TestPath("truncated.etagdx");
  WriteFile(truncated_path, whole.substr(0, whole.size() / 2));
  CommandResult failed = Import(target, truncated_path);
  EXPECT_NE(failed.exit_code, 0);
  EXPECT_THAT(failed.stderr_text, HasSubstr("DATA_LOSS"));
  EXPECT_THAT(failed.stderr_text, HasSubstr("truncated"));

  CommandResult resumed = Import(target, export_path_);
  ASSERT_EQ(resumed.exit_code, 0) << resumed.stderr_text;
  EXPECT_THAT(resumed.stderr_text, HasSubstr("already imported"));
  std::unique_ptr<Client> client = Client::Connect(target.target());
  EXPECT_EQ(Take(*client), SourceSnapshot());
}

TEST_F(StoreTransferTest, RunningTheSameImportTwiceWritesNothingNew) {
  EtagdProcess target = StartTarget("restored");
  ASSERT_EQ(Import(target, export_path_).exit_code, 0);
  std::unique_ptr<Client> client = Client::Connect(target.target());
  const Snapshot once = Take(*client);
  CommandResult again = Import(target, export_path_);
  ASSERT_EQ(again.exit_code, 0) << again.stderr_text;
  EXPECT_EQ(Take(*client), once);
}

TEST_F(StoreTransferTest, AResourceTheTargetHasStopsTheImportUnlessOverwrite) {
  EtagdProcess target = StartTarget("occupied");
  std::unique_ptr<Client> client = Client::Connect(target.target());
  v1::PutResourceRequest put;
  put.set_name("docs/a");
  put.set_content("the target's own");
  ASSERT_THAT(client->Put(put), IsOk());

  CommandResult refused = Import(target, export_path_);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.stderr_text, HasSubstr("ALREADY_EXISTS"));
  EXPECT_THAT(refused.stderr_text, HasSubstr("--overwrite"));

  CommandResult overwritten = Import(target, export_path_, {"--overwrite"});
  ASSERT_EQ(overwritten.exit_code, 0) << overwritten.stderr_text;
  Snapshot imported = Take(*client);
  Snapshot source = SourceSnapshot();
  // docs/a's imported versions follow the target's own: their update times
  // are raised to its time, the rest is the source's.
  ASSERT_EQ(imported.at("docs/a").size(), 4u);
  EXPECT_EQ(imported.at("docs/a").back().content,
            source.at("docs/a").back().content);
  EXPECT_GE(imported.at("docs/a").back().update_time_us,
            imported.at("docs/a").front().update_time_us);
  imported.erase("docs/a");
  source.erase("docs/a");
  EXPECT_EQ(imported, source);
}

TEST_F(StoreTransferTest, ContentOverTheTargetsLimitStopsTheImportNamingIt) {
  EtagdProcess target = StartTarget("small", {"--max_content_bytes=12"});
  CommandResult refused = Import(target, export_path_);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.stderr_text, HasSubstr("RESOURCE_EXHAUSTED"));
  EXPECT_THAT(refused.stderr_text, HasSubstr("--max_content_bytes=12"));
  EXPECT_THAT(refused.stderr_text, HasSubstr("importing \""));
}

TEST_F(StoreTransferTest, AFileThatIsNotAnExportIsRefused) {
  EtagdProcess target = StartTarget("restored");
  const std::string path = TestPath("not-an-export");
  WriteFile(path, "name,content\n");
  CommandResult refused = Import(target, path);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_THAT(refused.stderr_text, HasSubstr("not an etagd export file"));
}

TEST_F(StoreTransferTest, ExportToStandardOutputImportsFromStandardInput) {
  CommandResult exported = Etagctl({absl::StrCat("--target=", source_.target()),
                                    "export", "--output=-", "docs/"});
  ASSERT_EQ(exported.exit_code, 0) << exported.stderr_text;
  EtagdProcess target = StartTarget("restored");
  absl::StatusOr<CommandResult> imported = RunCommand(
      DataBinaryPath("client/etagctl"),
      {absl::StrCat("--target=", target.target()), "import", "--input=-"},
      exported.stdout_text, kTimeout);
  ASSERT_THAT(imported, IsOk());
  ASSERT_EQ(imported->exit_code, 0) << imported->stderr_text;
  std::unique_ptr<Client> client = Client::Connect(target.target());
  Snapshot docs = SourceSnapshot();
  for (auto it = docs.begin(); it != docs.end();) {
    it = it->first.rfind("docs/", 0) == 0 ? std::next(it) : docs.erase(it);
  }
  EXPECT_EQ(Take(*client), docs);
}

TEST_F(StoreTransferTest, ImportNeedsAnAdminToken) {
  const std::string tokens = TestPath("tokens");
  WriteFile(tokens,
            "admin-0123456789abcdef read-write\n"
            "tenant-0123456789abcdef read-write docs/\n");
  WriteFile(TestPath("tenant.token"), "tenant-0123456789abcdef\n");
  EtagdProcess target =
      StartTarget("guarded", {absl::StrCat("--tokens_file=", tokens)});
  CommandResult denied =
      Import(target, export_path_,
             {absl::StrCat("--bearer_token_file=", TestPath("tenant.token"))});
  EXPECT_EQ(denied.exit_code, 1);
  EXPECT_THAT(denied.stderr_text, HasSubstr("PERMISSION_DENIED"));
}

}  // namespace
}  // namespace etagd
