// The storage interface: versioned records with an atomic compare-and-write.
// It has no engine or RPC types in it, so another engine can implement it
// without touching the service.
#ifndef ETAGD_SERVICE_STORE_STORE_H_
#define ETAGD_SERVICE_STORE_STORE_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "service/store/record.h"

namespace etagd {

// A write, applied only if the resource's current record still has
// `expected_revision`. It borrows its strings: they must outlive Write().
struct WriteRequest {
  absl::string_view name;
  // Revision of the current record (live or deleted) the caller's decision
  // was based on; 0 if the caller saw no record at all.
  int64_t expected_revision = 0;
  // Delete instead of put; content and content_type are then unused.
  bool is_delete = false;
  absl::string_view content;
  absl::string_view content_type;
  absl::string_view request_id;
};

struct ListPage {
  std::vector<Record> records;
  // True if records after the last one returned may exist.
  bool more = false;
};

// How much space a store takes and may take (for metrics).
struct StorageSpace {
  // Bytes the store's files take (what the quota limits).
  int64_t store_bytes = 0;
  // Most bytes they may take; 0 if there is no quota.
  int64_t quota_bytes = 0;
  // Free bytes on the volume that holds the store.
  int64_t free_bytes = 0;
  // Free bytes the store keeps on that volume: writes stop before.
  int64_t reserve_bytes = 0;
  // Writes are refused for lack of space (quota, disk or engine).
  bool full = false;
  // The store is open read-only (the disk was full when it was opened).
  bool read_only = false;
};

// Implementations are safe for concurrent use without external
// synchronization.
class Store {
 public:
  virtual ~Store() = default;

  // The current record of `name`: a live version, a deletion (deleted ==
  // true), or nullopt if the name was never written (or its deletion has
  // been forgotten). Without `with_content`, content is left empty.
  virtual absl::StatusOr<std::optional<Record>> ReadCurrent(
      absl::string_view name, bool with_content) = 0;

  // The record `name` got at `revision`, with content: the current one or a
  // retained past one. NOT_FOUND if there is no such record.
  virtual absl::StatusOr<Record> ReadRevision(absl::string_view name,
                                              int64_t revision) = 0;

  // Atomically, with respect to every other write of the same name: if the
  // current record's revision (0 if none) equals request.expected_revision,
  // writes the next revision and returns the new record (without content);
  // otherwise returns ABORTED and writes nothing. A put makes the previous
  // record (live or deleted) a past version; a delete of a live record
  // writes a deletion record. The result is durable when this returns if
  // the store is configured for durable writes.
  virtual absl::StatusOr<Record> Write(const WriteRequest& request) = 0;

  // Writes of distinct names, each checked and made as Write() would, with
  // the results in request order; an engine may commit them together (one
  // write-ahead-log sync for all). A failed check fails that write alone;
  // if the commit fails, every write it held fails with its error. The
  // default makes one Write() after the other.
  virtual std::vector<absl::StatusOr<Record>> WriteMany(
      absl::Span<const WriteRequest> requests) {
    std::vector<absl::StatusOr<Record>> results;
    results.reserve(requests.size());
    for (const WriteRequest& request : requests) results.push_back(Write(request));
    return results;
  }

  // Live resources whose names start with `prefix` and sort after
  // `start_after` (all if empty), in byte order, at most `limit`.
  virtual absl::StatusOr<ListPage> List(absl::string_view prefix,
                                        absl::string_view start_after,
                                        int limit, bool with_content) = 0;

  // The records of `name` (current first, then past ones), newest first,
  // those with revision < `before_revision` (all if 0), at most `limit`,
  // without content.
  virtual absl::StatusOr<ListPage> ListVersions(absl::string_view name,
                                                int64_t before_revision,
                                                int limit) = 0;

  // Writes a consistent copy of the whole store into `directory`, which must
  // not exist, while writes continue; every write acknowledged before the
  // call is in it. Returns the highest revision committed at that point.
  // UNIMPLEMENTED for engines that cannot.
  virtual absl::StatusOr<int64_t> Checkpoint(const std::string& directory) = 0;

  // The store's latest measure of its space; nullopt for engines that do not
  // track it. Cheap: it measures nothing itself.
  virtual std::optional<StorageSpace> Space() { return std::nullopt; }
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_STORE_STORE_H_
