// watch-bench's completeness check, apart from its I/O: the writer process
// records the revision of every write the server acknowledged (a WriteLog,
// passed as a file), each watcher in the watchers' process records the
// revisions it received (a DeliveryRecord), and CheckDeliveries says
// whether a watcher got every acknowledged write exactly once, in revision
// order. It cannot pass if an event is missed (an acknowledged revision not
// received), repeated or reordered (a revision not above the one before),
// or invented (a revision no write got).
#ifndef ETAGD_BENCH_WATCH_CHECK_H_
#define ETAGD_BENCH_WATCH_CHECK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace etagd {

// What the writer process hands the checker.
struct WriteLog {
  // When the first write was sent (Unix nanoseconds).
  int64_t begin_nanos = 0;
  // Writes that got no acknowledgement (an error or a timeout): each may or
  // may not have been applied, so as many unacknowledged events are allowed.
  int64_t failed = 0;
  // The revision of every acknowledged write, ascending, no two alike.
  std::vector<int64_t> revisions;
};

// The file format: a header line, "begin N", "failed N", one acknowledged
// revision per line (any order), and "end COUNT" (so a log cut short fails
// to parse).
std::string FormatWriteLog(const WriteLog& log);

// Parses FormatWriteLog's output, sorting the revisions. INVALID_ARGUMENT
// if a line is malformed, the header is missing, or two writes were
// acknowledged at one revision (which no server may do), or the end line is
// missing or counts other than the revisions before it.
absl::StatusOr<WriteLog> ParseWriteLog(absl::string_view text);

// The revisions one watcher received, from `first_revision` (its watch's
// start revision) on: a bit per revision, so 10,000 watchers of 2,000
// writes hold 2.5 MB. Thread-compatible.
class DeliveryRecord {
 public:
  explicit DeliveryRecord(int64_t first_revision) : first_(first_revision) {}

  // Records one event's revision. One not above the previous event's is
  // counted as out of order (a repeat or a reordering); one below
  // first_revision, or implausibly far above it, as out of range.
  void Add(int64_t revision);

  int64_t received() const { return received_; }
  int64_t out_of_order() const { return out_of_order_; }
  int64_t out_of_range() const { return out_of_range_; }
  bool Contains(int64_t revision) const;
  // Distinct revisions recorded (within range).
  int64_t distinct() const { return distinct_; }

 private:
  // No run writes this many revisions (200 writes a second for 5 hours); a
  // revision beyond is a bad event, and a watcher's bits stay under 512 KiB.
  static constexpr int64_t kMaxSpan = int64_t{1} << 22;

  const int64_t first_;
  int64_t last_ = 0;
  int64_t received_ = 0;
  int64_t out_of_order_ = 0;
  int64_t out_of_range_ = 0;
  int64_t distinct_ = 0;
  std::vector<uint64_t> bits_;
};

struct DeliveryVerdict {
  // Acknowledged writes the watcher did not get.
  int64_t missed = 0;
  // Events not above the one before (repeats and reorderings).
  int64_t out_of_order = 0;
  // Distinct events no acknowledged write made (beyond those allowed for
  // failed writes), or outside the watch's range.
  int64_t unexpected = 0;

  bool complete() const { return missed == 0 && out_of_order == 0 && unexpected == 0; }
};

// Compares what one watcher received with what was written.
DeliveryVerdict CheckDeliveries(const DeliveryRecord& record, const WriteLog& writes);

}  // namespace etagd

#endif  // ETAGD_BENCH_WATCH_CHECK_H_
