#include "service/store/rocksdb/space_guard.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "etagd/v1/etagd.pb.h"
#include "service/error_details.h"
#include "service/log.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

}  // namespace

SpaceVerdict EvaluateSpace(const SpaceLimits& limits, const SpaceSample& sample,
                           int64_t bytes) {
  if (sample.free_bytes - bytes < limits.reserve_bytes)
    return SpaceVerdict::kDisk;
  if (limits.quota_bytes > 0 &&
      sample.store_bytes + bytes > limits.quota_bytes) {
    return SpaceVerdict::kQuota;
  }
  return SpaceVerdict::kRoom;
}

bool DeleteFits(const SpaceLimits& limits, const SpaceSample& sample,
                int64_t bytes) {
  return sample.free_bytes - bytes >= limits.reserve_bytes / 2;
}

std::string DescribeBytes(int64_t bytes) {
  constexpr int64_t kKiB = 1024;
  constexpr int64_t kMiB = kKiB << 10;
  constexpr int64_t kGiB = kMiB << 10;
  const int64_t magnitude = bytes < 0 ? -bytes : bytes;
  if (magnitude >= kGiB) {
    return absl::StrFormat("%d bytes (%.1f GiB)", bytes,
                           static_cast<double>(bytes) / kGiB);
  }
  if (magnitude >= kMiB) {
    return absl::StrFormat("%d bytes (%.1f MiB)", bytes,
                           static_cast<double>(bytes) / kMiB);
  }
  if (magnitude >= kKiB) {
    return absl::StrFormat("%d bytes (%.1f KiB)", bytes,
                           static_cast<double>(bytes) / kKiB);
  }
  return absl::StrCat(bytes, " bytes");
}

SpaceGuard::SpaceGuard(SpaceLimits limits, std::string directory)
    : limits_(limits), directory_(std::move(directory)) {
  // Until the first measurement, assume room: the store measures before it
  // serves.
  estimate_.free_bytes = INT64_MAX / 2;
}

void SpaceGuard::Update(const SpaceSample& sample) {
  std::optional<Transition> line;
  {
    absl::MutexLock lock(&mu_);
    estimate_ = sample;
    line = EnterLocked(ReassessLocked());
  }
  if (line.has_value()) Log(line->level, line->text);
}

void SpaceGuard::SetEngineProblem(std::string message) {
  std::optional<Transition> line;
  {
    absl::MutexLock lock(&mu_);
    engine_problem_ = std::move(message);
    line = EnterLocked(State::kEngine);
  }
  if (line.has_value()) Log(line->level, line->text);
}

void SpaceGuard::ClearEngineProblem() {
  std::optional<Transition> line;
  {
    absl::MutexLock lock(&mu_);
    if (!engine_problem_.has_value()) return;
    engine_problem_.reset();
    line = EnterLocked(ReassessLocked());
  }
  if (line.has_value()) Log(line->level, line->text);
}

absl::Status SpaceGuard::AdmitPut(int64_t bytes) {
  std::optional<Transition> line;
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    if (state_ == State::kRoom) {
      switch (EvaluateSpace(limits_, estimate_, bytes)) {
        case SpaceVerdict::kRoom:
          estimate_.store_bytes += bytes;
          estimate_.free_bytes -= bytes;
          return absl::OkStatus();
        case SpaceVerdict::kQuota:
          line = EnterLocked(State::kQuota);
          break;
        case SpaceVerdict::kDisk:
          line = EnterLocked(State::kDisk);
          break;
      }
    }
    refused = RefusalLocked();
  }
  if (line.has_value()) Log(line->level, line->text);
  return refused;
}

absl::Status SpaceGuard::AdmitDelete(int64_t bytes) {
  std::optional<Transition> line;
  absl::Status refused;
  {
    absl::MutexLock lock(&mu_);
    if (state_ == State::kEngine) return RefusalLocked();
    if (DeleteFits(limits_, estimate_, bytes)) {
      estimate_.store_bytes += bytes;
      estimate_.free_bytes -= bytes;
      // A delete that copies its content into the history can fill the
      // store; it goes ahead, and the writes after it are refused.
      if (state_ == State::kRoom) line = EnterLocked(ReassessLocked());
    } else {
      line = EnterLocked(State::kDisk);
      v1::StorageFull detail;
      detail.set_reason(v1::StorageFull::REASON_DISK);
      detail.set_store_bytes(estimate_.store_bytes);
      detail.set_quota_bytes(limits_.quota_bytes);
      detail.set_free_bytes(estimate_.free_bytes);
      detail.set_reserve_bytes(limits_.reserve_bytes);
      refused = StorageFullError(
          absl::StrCat("disk full: ", DescribeBytes(estimate_.free_bytes),
                       " free on the data volume, less than half of the ",
                       DescribeBytes(limits_.reserve_bytes),
                       " etagd keeps free (--disk_reserve_bytes); deletes "
                       "wait too until space is freed"),
          detail);
    }
  }
  if (line.has_value()) Log(line->level, line->text);
  return refused;
}

absl::Status SpaceGuard::AdmitCheckpoint() const {
  absl::MutexLock lock(&mu_);
  if (state_ == State::kDisk || state_ == State::kEngine)
    return RefusalLocked();
  return absl::OkStatus();
}

absl::Status SpaceGuard::Refusal() const {
  absl::MutexLock lock(&mu_);
  return RefusalLocked();
}

bool SpaceGuard::full() const {
  absl::MutexLock lock(&mu_);
  return state_ != State::kRoom;
}

bool SpaceGuard::DiskHasRoom() const {
  absl::MutexLock lock(&mu_);
  return estimate_.free_bytes - limits_.resume_bytes >= limits_.reserve_bytes;
}

StorageSpace SpaceGuard::space() const {
  absl::MutexLock lock(&mu_);
  StorageSpace space;
  space.store_bytes = estimate_.store_bytes;
  space.quota_bytes = limits_.quota_bytes;
  space.free_bytes = estimate_.free_bytes;
  space.reserve_bytes = limits_.reserve_bytes;
  space.full = state_ != State::kRoom;
  return space;
}

absl::Status SpaceGuard::RefusalLocked() const {
  v1::StorageFull detail;
  detail.set_store_bytes(estimate_.store_bytes);
  detail.set_quota_bytes(limits_.quota_bytes);
  detail.set_free_bytes(estimate_.free_bytes);
  detail.set_reserve_bytes(limits_.reserve_bytes);
  std::string message;
  switch (state_) {
    case State::kRoom:
      return absl::OkStatus();
    case State::kQuota:
      detail.set_reason(v1::StorageFull::REASON_QUOTA);
      message = absl::StrCat(
          "store full: its files take ", DescribeBytes(estimate_.store_bytes),
          " of the ", DescribeBytes(limits_.quota_bytes),
          " quota (--quota_bytes); reads and deletes still work, writes "
          "resume once deletes and compaction make room for a write of ",
          DescribeBytes(limits_.resume_bytes));
      break;
    case State::kDisk:
      detail.set_reason(v1::StorageFull::REASON_DISK);
      message = absl::StrCat(
          "disk full: ", DescribeBytes(estimate_.free_bytes),
          " free on the data volume, of which etagd keeps ",
          DescribeBytes(limits_.reserve_bytes),
          " (--disk_reserve_bytes); reads and deletes still work, writes "
          "resume once space is freed for a write of ",
          DescribeBytes(limits_.resume_bytes));
      break;
    case State::kEngine:
      detail.set_reason(v1::StorageFull::REASON_ENGINE);
      message = absl::StrCat(
          engine_problem_.value_or("the storage engine cannot write"), " (",
          DescribeBytes(estimate_.free_bytes),
          " free on the data volume); reads still work, writes resume once "
          "space is freed");
      break;
  }
  return StorageFullError(message, detail);
}

std::optional<SpaceGuard::Transition> SpaceGuard::EnterLocked(State state) {
  const State before = state_;
  state_ = state;
  if (before == State::kRoom && state != State::kRoom) {
    return Transition{
        LogLevel::kWarning,
        absl::StrCat("writes refused from now on: ", RefusalLocked().message(),
                     " (data directory ", directory_, ")")};
  }
  if (before != State::kRoom && state == State::kRoom) {
    return Transition{
        LogLevel::kInfo,
        absl::StrCat("writes accepted again: the store's files take ",
                     DescribeBytes(estimate_.store_bytes), " (quota ",
                     limits_.quota_bytes > 0
                         ? DescribeBytes(limits_.quota_bytes)
                         : "none",
                     "), ", DescribeBytes(estimate_.free_bytes),
                     " free on the data volume (reserve ",
                     DescribeBytes(limits_.reserve_bytes), ") (data directory ",
                     directory_, ")")};
  }
  return std::nullopt;
}

SpaceGuard::State SpaceGuard::ReassessLocked() const {
  if (engine_problem_.has_value()) return State::kEngine;
  // Leaving takes room for the largest write; staying out, room for a byte.
  const int64_t bytes = state_ == State::kRoom ? 1 : limits_.resume_bytes;
  switch (EvaluateSpace(limits_, estimate_, bytes)) {
    case SpaceVerdict::kRoom:
      return State::kRoom;
    case SpaceVerdict::kQuota:
      return State::kQuota;
    case SpaceVerdict::kDisk:
      return State::kDisk;
  }
  return State::kDisk;
}

}  // namespace etagd
