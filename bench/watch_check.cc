#include "bench/watch_check.h"

#include <algorithm>
#include <cstddef>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace etagd {
namespace {

constexpr absl::string_view kHeader = "# watch-bench write log v1";

}  // namespace

std::string FormatWriteLog(const WriteLog& log) {
  std::string out = absl::StrCat(kHeader, "\nbegin ", log.begin_nanos, "\nfailed ",
                                 log.failed, "\n");
  for (int64_t revision : log.revisions) absl::StrAppend(&out, revision, "\n");
  absl::StrAppend(&out, "end ", log.revisions.size(), "\n");
  return out;
}

absl::StatusOr<WriteLog> ParseWriteLog(absl::string_view text) {
  std::vector<absl::string_view> lines =
      absl::StrSplit(text, '\n', absl::SkipEmpty());
  if (lines.size() < 4 || lines[0] != kHeader) {
    return absl::InvalidArgumentError("not a watch-bench write log (no header)");
  }
  absl::string_view end = lines.back();
  size_t count = 0;
  if (!absl::ConsumePrefix(&end, "end ") || !absl::SimpleAtoi(end, &count) ||
      count != lines.size() - 4) {
    return absl::InvalidArgumentError("write log: cut short (no end line with its count)");
  }
  WriteLog log;
  absl::string_view begin = lines[1], failed = lines[2];
  if (!absl::ConsumePrefix(&begin, "begin ") || !absl::SimpleAtoi(begin, &log.begin_nanos) ||
      !absl::ConsumePrefix(&failed, "failed ") || !absl::SimpleAtoi(failed, &log.failed) ||
      log.failed < 0) {
    return absl::InvalidArgumentError("write log: bad begin or failed line");
  }
  for (size_t i = 3; i + 1 < lines.size(); ++i) {
    int64_t revision = 0;
    if (!absl::SimpleAtoi(lines[i], &revision) || revision <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("write log line ", i + 1, ": not a revision: ", lines[i]));
    }
    log.revisions.push_back(revision);
  }
  std::sort(log.revisions.begin(), log.revisions.end());
  auto repeat = std::adjacent_find(log.revisions.begin(), log.revisions.end());
  if (repeat != log.revisions.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("two writes acknowledged at revision ", *repeat));
  }
  return log;
}

void DeliveryRecord::Add(int64_t revision) {
  ++received_;
  if (revision <= last_) ++out_of_order_;
  last_ = std::max(last_, revision);
  const int64_t offset = revision - first_;
  if (offset < 0 || offset >= kMaxSpan) {
    ++out_of_range_;
    return;
  }
  const size_t word = static_cast<size_t>(offset / 64);
  const uint64_t bit = uint64_t{1} << (offset % 64);
  if (word >= bits_.size()) bits_.resize(std::max(word + 1, bits_.size() * 2));
  if ((bits_[word] & bit) == 0) ++distinct_;
  bits_[word] |= bit;
}

bool DeliveryRecord::Contains(int64_t revision) const {
  const int64_t offset = revision - first_;
  if (offset < 0 || offset >= kMaxSpan) return false;
  const size_t word = static_cast<size_t>(offset / 64);
  return word < bits_.size() && (bits_[word] & (uint64_t{1} << (offset % 64))) != 0;
}

DeliveryVerdict CheckDeliveries(const DeliveryRecord& record, const WriteLog& writes) {
  DeliveryVerdict verdict;
  int64_t acknowledged_received = 0;
  for (int64_t revision : writes.revisions) {
    if (record.Contains(revision)) {
      ++acknowledged_received;
    } else {
      ++verdict.missed;
    }
  }
  verdict.out_of_order = record.out_of_order();
  const int64_t others = record.distinct() - acknowledged_received;
  verdict.unexpected = std::max<int64_t>(0, others - writes.failed) + record.out_of_range();
  return verdict;
}

}  // namespace etagd
