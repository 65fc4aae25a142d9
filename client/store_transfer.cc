#include "client/store_transfer.h"

#include <algorithm>
#include <deque>
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/random/random.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/export_format.h"
#include "google/protobuf/util/time_util.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

constexpr int kPageSize = 1000;

bool Retryable(const absl::Status& status) {
  return absl::IsUnavailable(status) || absl::IsDeadlineExceeded(status) ||
         absl::IsAborted(status);
}

// Calls `call` until it succeeds, fails for good, or has been tried
// options.max_attempts times, backing off between attempts.
template <typename Call>
auto WithRetries(const TransferOptions& options, const Call& call)
    -> decltype(call()) {
  absl::Duration backoff = absl::Milliseconds(100);
  for (int attempt = 1;; ++attempt) {
    auto result = call();
    if (result.ok() || !Retryable(result.status()) ||
        attempt >= options.max_attempts) {
      return result;
    }
    absl::SleepFor(backoff);
    backoff = std::min(backoff * 2, absl::Seconds(5));
  }
}

std::string Mib(int64_t bytes) {
  return absl::StrFormat("%.1f MiB", static_cast<double>(bytes) / (1 << 20));
}

// Reports progress at most every interval (and always when `final`).
class Progress {
 public:
  Progress(const TransferOptions& options, std::string verb)
      : options_(options), verb_(std::move(verb)), start_(absl::Now()) {}

  // `final`: the last report, ending with `end`.
  void Update(const TransferStats& stats, bool final,
              absl::string_view end = " (done)") {
    if (!options_.progress) return;
    const absl::Time now = absl::Now();
    if (!final && now - last_ < options_.progress_interval) return;
    last_ = now;
    std::string line =
        absl::StrCat(verb_, " ", stats.versions, " versions of ",
                     stats.resources, " resources, ", Mib(stats.bytes));
    if (stats.already_imported > 0) {
      absl::StrAppend(&line, ", ", stats.already_imported, " already imported");
    }
    if (stats.skipped > 0) {
      absl::StrAppend(&line, ", ", stats.skipped, " leading deletions skipped");
    }
    absl::StrAppend(&line, " in ",
                    absl::FormatDuration(
                        absl::Trunc(now - start_, absl::Milliseconds(100))),
                    final ? end : "");
    options_.progress(line);
  }

 private:
  const TransferOptions& options_;
  const std::string verb_;
  const absl::Time start_;
  absl::Time last_ = absl::InfinitePast();
};

std::string NewExportId() {
  absl::BitGen bitgen;
  return absl::StrFormat("%016x", absl::Uniform<uint64_t>(bitgen));
}

std::string Quoted(absl::string_view name) {
  return absl::StrCat("\"", absl::CHexEscape(name), "\"");
}

// The retained versions of `name`, newest first, without content.
absl::StatusOr<std::vector<v1::Version>> ListAllVersions(
    Client& source, const std::string& name, const TransferOptions& options) {
  std::vector<v1::Version> versions;
  v1::ListVersionsRequest request;
  request.set_name(name);
  request.set_page_size(kPageSize);
  do {
    absl::StatusOr<v1::ListVersionsResponse> page =
        WithRetries(options, [&] { return source.ListVersions(request); });
    if (!page.ok()) return page.status();
    for (v1::Version& version : *page->mutable_versions()) {
      versions.push_back(std::move(version));
    }
    request.set_page_token(page->next_page_token());
  } while (!request.page_token().empty());
  return versions;
}

// The export record of `version` of `name`, content read from the source;
// nullopt if the source no longer has it (pruned or deleted since listed).
absl::StatusOr<std::optional<v1::ExportedVersion>> ReadVersion(
    Client& source, const std::string& name, const v1::Version& version,
    const TransferOptions& options) {
  v1::ExportedVersion out;
  out.set_name(name);
  out.set_source_revision(version.resource().revision());
  *out.mutable_update_time() = version.resource().update_time();
  if (version.deleted()) {
    out.set_deleted(true);
    return std::optional<v1::ExportedVersion>(std::move(out));
  }
  v1::GetResourceRequest get;
  get.set_name(name);
  get.set_revision(version.resource().revision());
  absl::StatusOr<v1::GetResourceResponse> got =
      WithRetries(options, [&] { return source.Get(get); });
  if (absl::IsNotFound(got.status()))
    return std::optional<v1::ExportedVersion>();
  if (!got.ok()) return got.status();
  if (!got->has_resource()) {
    return absl::InternalError(
        absl::StrCat("the source answered Not Modified for ", Quoted(name)));
  }
  v1::Resource& resource = *got->mutable_resource();
  out.set_content(std::move(*resource.mutable_content()));
  out.set_content_type(resource.content_type());
  *out.mutable_http_metadata() = resource.http_metadata();
  *out.mutable_create_time() = resource.create_time();
  *out.mutable_update_time() = resource.update_time();
  out.set_source_etag(resource.etag());
  return std::optional<v1::ExportedVersion>(std::move(out));
}

absl::Status ExportResource(Client& source, const std::string& name,
                            ExportWriter& writer, TransferStats& stats,
                            const TransferOptions& options) {
  absl::StatusOr<std::vector<v1::Version>> versions =
      ListAllVersions(source, name, options);
  if (absl::IsNotFound(versions.status())) return absl::OkStatus();  // Gone.
  if (!versions.ok()) return versions.status();
  bool any = false;
  for (auto it = versions->rbegin(); it != versions->rend(); ++it) {
    absl::StatusOr<std::optional<v1::ExportedVersion>> version =
        ReadVersion(source, name, *it, options);
    if (!version.ok()) {
      return absl::Status(
          version.status().code(),
          absl::StrCat("reading ", Quoted(name), " at revision ",
                       it->resource().revision(), ": ",
                       version.status().message()));
    }
    if (!version->has_value()) continue;
    if (absl::Status written = writer.WriteVersion(**version); !written.ok()) {
      return written;
    }
    any = true;
    ++stats.versions;
  }
  if (any) ++stats.resources;
  return absl::OkStatus();
}

v1::ImportVersionRequest ImportRequestOf(v1::ExportedVersion version,
                                         const std::string& import_id,
                                         bool overwrite) {
  v1::ImportVersionRequest request;
  request.set_name(std::move(*version.mutable_name()));
  request.set_deleted(version.deleted());
  request.set_content(std::move(*version.mutable_content()));
  request.set_content_type(version.content_type());
  *request.mutable_http_metadata() = version.http_metadata();
  if (version.has_create_time())
    *request.mutable_create_time() = version.create_time();
  *request.mutable_update_time() = version.update_time();
  request.set_import_id(import_id);
  request.set_source_revision(version.source_revision());
  request.set_overwrite(overwrite);
  return request;
}

// Imports versions on options.parallelism threads ("lanes"), each name
// always on the same lane so that its versions stay in file order; the
// versions waiting hold at most options.max_bytes_in_flight of content (one
// at least, whatever its size). After the first error no lane starts
// another version. Thread-safe.
class ImportLanes {
 public:
  ImportLanes(Client& target, const TransferOptions& options)
      : target_(target),
        options_(options),
        lanes_(static_cast<size_t>(std::max(1, options.parallelism))) {
    for (size_t i = 0; i < lanes_; ++i) {
      threads_.emplace_back([this, i] { Run(i); });
    }
  }

  ~ImportLanes() {
    Finish().IgnoreError();
  }  // Finish's status was taken, or is moot.

  // Queues `request` (the `resources`-th resource seen; `bytes` read so
  // far), waiting while the queues are full. The first error so far, if any.
  absl::Status Add(v1::ImportVersionRequest request, int64_t resources,
                   int64_t bytes) ABSL_LOCKS_EXCLUDED(mu_) {
    const int64_t size = static_cast<int64_t>(request.content().size());
    const size_t lane = std::hash<std::string>{}(request.name()) % lanes_;
    absl::MutexLock lock(&mu_);
    auto room = [&] {
      mu_.AssertHeld();
      return !error_.ok() || queued_bytes_ == 0 ||
             queued_bytes_ + size <= options_.max_bytes_in_flight;
    };
    mu_.Await(absl::Condition(&room));
    if (!error_.ok()) return error_;
    queued_bytes_ += size;
    queues_[lane].push_back(std::move(request));
    stats_.resources = resources;
    stats_.bytes = bytes;
    return absl::OkStatus();
  }

  // Waits until every queued version is imported (or dropped after an
  // error) and the lanes have stopped; the first error, if any.
  absl::Status Finish() ABSL_LOCKS_EXCLUDED(mu_) {
    {
      absl::MutexLock lock(&mu_);
      closed_ = true;
    }
    for (std::thread& thread : threads_) {
      if (thread.joinable()) thread.join();
    }
    absl::MutexLock lock(&mu_);
    return error_;
  }

  TransferStats Stats() ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    return stats_;
  }

 private:
  void Run(size_t index) ABSL_LOCKS_EXCLUDED(mu_) {
    while (true) {
      v1::ImportVersionRequest request;
      {
        absl::MutexLock lock(&mu_);
        auto ready = [&] {
          mu_.AssertHeld();
          return !queues_[index].empty() || closed_ || !error_.ok();
        };
        mu_.Await(absl::Condition(&ready));
        if (!error_.ok() || queues_[index].empty()) return;
        request = std::move(queues_[index].front());
        queues_[index].pop_front();
      }
      const int64_t size = static_cast<int64_t>(request.content().size());
      absl::StatusOr<v1::ImportVersionResponse> imported =
          WithRetries(options_, [&] { return target_.ImportVersion(request); });
      absl::MutexLock lock(&mu_);
      queued_bytes_ -= size;
      if (!imported.ok()) {
        if (error_.ok()) {
          error_ = absl::Status(
              imported.status().code(),
              absl::StrCat("importing ", Quoted(request.name()),
                           " (source revision ", request.source_revision(),
                           "): ", imported.status().message()));
        }
        return;
      }
      ++stats_.versions;
      if (imported->already_imported()) ++stats_.already_imported;
      if (imported->skipped()) ++stats_.skipped;
    }
  }

  Client& target_;
  const TransferOptions& options_;
  absl::Mutex mu_;
  const size_t lanes_;
  // One queue per lane.
  std::vector<std::deque<v1::ImportVersionRequest>> queues_ ABSL_GUARDED_BY(
      mu_) = std::vector<std::deque<v1::ImportVersionRequest>>(lanes_);
  int64_t queued_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status error_ ABSL_GUARDED_BY(mu_);
  TransferStats stats_ ABSL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

}  // namespace

absl::StatusOr<TransferStats> ExportStore(Client& source,
                                          absl::string_view prefix,
                                          std::ostream& out,
                                          const TransferOptions& options) {
  ExportWriter writer(out);
  v1::ExportHeader header;
  header.set_export_id(NewExportId());
  header.set_prefix(std::string(prefix));
  *header.mutable_export_time() =
      google::protobuf::util::TimeUtil::MicrosecondsToTimestamp(
          absl::ToUnixMicros(absl::Now()));
  if (absl::Status written = writer.WriteHeader(header); !written.ok()) {
    return written;
  }
  TransferStats stats;
  Progress progress(options, "exported");
  v1::ListResourcesRequest list;
  list.set_prefix(std::string(prefix));
  list.set_page_size(kPageSize);
  do {
    absl::StatusOr<v1::ListResourcesResponse> page =
        WithRetries(options, [&] { return source.List(list); });
    if (!page.ok()) return page.status();
    for (const v1::Resource& resource : page->resources()) {
      if (absl::Status exported =
              ExportResource(source, resource.name(), writer, stats, options);
          !exported.ok()) {
        return exported;
      }
      stats.bytes = writer.bytes();
      progress.Update(stats, false);
    }
    list.set_page_token(page->next_page_token());
  } while (!list.page_token().empty());
  if (absl::Status finished = writer.Finish(); !finished.ok()) return finished;
  stats.bytes = writer.bytes();
  progress.Update(stats, true);
  return stats;
}

absl::StatusOr<TransferStats> ImportStore(Client& target, std::istream& in,
                                          const TransferOptions& options) {
  ExportReader reader(in);
  absl::StatusOr<v1::ExportHeader> header = reader.ReadHeader();
  if (!header.ok()) return header.status();
  Progress progress(options, "imported");
  ImportLanes lanes(target, options);
  std::string last_name;
  int64_t resources = 0;
  absl::Status failed = absl::OkStatus();
  while (failed.ok()) {
    absl::StatusOr<std::optional<v1::ExportedVersion>> next = reader.Next();
    if (!next.ok()) {
      failed = next.status();
      break;
    }
    if (!next->has_value()) break;
    if (resources == 0 || (*next)->name() != last_name) {
      last_name = (*next)->name();
      ++resources;
    }
    failed = lanes.Add(ImportRequestOf(**std::move(next), header->export_id(),
                                       options.overwrite),
                       resources, reader.bytes());
    progress.Update(lanes.Stats(), false);
  }
  absl::Status finished = lanes.Finish();
  if (failed.ok()) failed = finished;
  TransferStats stats = lanes.Stats();
  progress.Update(stats, true, failed.ok() ? " (done)" : " (stopped)");
  if (!failed.ok()) return failed;
  return stats;
}

}  // namespace etagd
