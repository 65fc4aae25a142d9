// The RocksDB engine's Store; rocksdb::Status becomes
// absl::Status here.
//
// Layout, in four column families:
//   resources  name                        -> current record (live or deleted)
//   history    name '\0' big-endian(rev)   -> past record
//   changes    big-endian(rev)             -> name and the record's metadata
//   default    "clock"                     -> big-endian(revision),
//   big-endian(us)
//              "format"                    -> kFormat
//              "change_floor"              -> big-endian(oldest revision the
//                                             change log serves)
// Names never contain '\0' (they are validated before they get here), so a
// history key sorts with its name and then by revision.
//
// Atomic compare-and-write: striped mutexes over a plain DB rather than a
// TransactionDB. A write holds its name's stripe while it reads the current
// record, checks the expected revision and commits one WriteBatch; writes to
// other names proceed in parallel, and concurrent synced writes are grouped
// by RocksDB's write thread into one WAL sync. A TransactionDB would add a
// lock manager and per-transaction buffers for the same single-key guarantee.
//
// The revision counter: each write takes the next revision and a
// non-decreasing timestamp under one small mutex, and records them in its
// batch with a merge whose operator keeps the maximum. Batches can commit in
// another order than their revisions were handed out; the max merge makes
// the persisted counter the largest revision ever committed regardless, so a
// restart never hands out a revision twice.
//
// The change log (Store::ReadChanges): each write puts its record's
// metadata (no content: a feed reads it from the current or past record
// while it is retained) under its revision in its own batch. Since batches
// commit out of order, the store tracks the revisions handed out and not
// yet committed or failed; committed_revision is one below the least of
// them (or the last handed out if none), so a reader of the log up to it
// never misses a revision that is still committing. A pruning thread moves
// the floor up (in memory first, then persisted with one DeleteRange below
// it), and a page read is checked against the floor after it is read, so a
// reader never takes a page with a pruned gap for a complete one. Pruning
// takes no lock writers take.
//
// Space: writes are refused before the disk fills (SpaceGuard), and RocksDB
// is kept from aborting or wedging when it fills all the same; see "Running
// out of space" below.
#include "service/store/rocksdb/rocksdb_store.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <set>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "google/protobuf/arena.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "rocksdb/snapshot.h"
#include "rocksdb/env.h"
#include "rocksdb/file_system.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/io_status.h"
#include "rocksdb/listener.h"
#include "rocksdb/merge_operator.h"
#include "rocksdb/options.h"
#include "rocksdb/slice_transform.h"
#include "rocksdb/table.h"
#include "rocksdb/utilities/checkpoint.h"
#include "rocksdb/utilities/table_properties_collectors.h"
#include "rocksdb/write_batch.h"
#include "service/log.h"
#include "service/store/commit_watermark.h"
#include "service/store/rocksdb/power_loss_file_system.h"
#include "service/store/rocksdb/record.pb.h"
#include "service/store/rocksdb/space_guard.h"
#include "service/status_macros.h"
#include "service/store/stored_metadata.h"

namespace etagd {
namespace {

constexpr char kResourcesFamily[] = "resources";
constexpr char kHistoryFamily[] = "history";
constexpr char kChangesFamily[] = "changes";
constexpr char kChangeFloorKey[] = "change_floor";
constexpr char kClockKey[] = "clock";
constexpr char kFormatKey[] = "format";
constexpr char kFormat[] = "etagd-store-1";
// Enough that two batches of a few dozen names, committing at once
// (WritePipelineOptions::committers), rarely share a stripe and so rarely
// wait for each other's log sync; and that names written in turn rarely
// share one, since a stripe keeps one name's record (LastWrite) and a write
// whose name's record is not kept reads and decodes it (bench/RESULTS.md,
// durable CAS round two).
constexpr int kLockStripes = 65536;
// The current records the stripes keep (LastWrite): values up to this
// size, this many bytes of them in all (values and their decoded
// metadata; about 14,000 records of 1 KiB).
constexpr size_t kLastWriteMaxValueBytes = 8 * 1024;
constexpr int64_t kLastWriteBudgetBytes = int64_t{32} << 20;

absl::Status FromRocks(const rocksdb::Status& status, absl::string_view what) {
  if (status.ok()) return absl::OkStatus();
  std::string message = absl::StrCat(what, ": ", status.ToString());
  switch (status.code()) {
    case rocksdb::Status::kNotFound:
      return absl::NotFoundError(message);
    case rocksdb::Status::kCorruption:
      return absl::DataLossError(message);
    case rocksdb::Status::kInvalidArgument:
    case rocksdb::Status::kNotSupported:
      return absl::InvalidArgumentError(message);
    case rocksdb::Status::kBusy:
    case rocksdb::Status::kTryAgain:
    case rocksdb::Status::kTimedOut:
      return absl::UnavailableError(message);
    default:
      return absl::InternalError(message);
  }
}

void AppendBigEndian64(uint64_t v, std::string* out) {
  for (int shift = 56; shift >= 0; shift -= 8) {
    out->push_back(static_cast<char>((v >> shift) & 0xff));
  }
}

uint64_t ReadBigEndian64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = (v << 8) | static_cast<unsigned char>(p[i]);
  return v;
}

std::string ChangeKey(int64_t revision) {
  std::string key;
  AppendBigEndian64(static_cast<uint64_t>(revision), &key);
  return key;
}

std::string HistoryPrefix(absl::string_view name) {
  std::string key(name);
  key.push_back('\0');
  return key;
}

std::string HistoryKey(absl::string_view name, int64_t revision) {
  std::string key = HistoryPrefix(name);
  AppendBigEndian64(static_cast<uint64_t>(revision), &key);
  return key;
}

// Keeps the bytewise-largest operand: with fixed-width big-endian encoding,
// the largest revision (and with it the latest time).
class MaxMergeOperator : public rocksdb::AssociativeMergeOperator {
 public:
  bool Merge(const rocksdb::Slice& /*key*/, const rocksdb::Slice* existing,
             const rocksdb::Slice& value, std::string* new_value,
             rocksdb::Logger* /*logger*/) const override {
    if (existing == nullptr || existing->compare(value) < 0) {
      new_value->assign(value.data(), value.size());
    } else {
      new_value->assign(existing->data(), existing->size());
    }
    return true;
  }
  const char* Name() const override { return "etagd.MaxMergeOperator"; }
};

// The memtables' insert hints (ColumnFamilyOptions::
// memtable_insert_with_hint_prefix_extractor): a write's keys go next to the
// last ones inserted with the same prefix, found from there rather than from
// the top of the skip list. A history key's prefix is its name and the '\0'
// after it: a new past record goes after the name's others, its pruned one
// among them. (A current record's prefix is its whole name, whose versions
// sit side by side: rocksdb::NewNoopTransform. The change log's keys
// ascend, which the skip list's own splice of its last insert serves.)
// The cost: each memtable keeps a hint per distinct prefix, about 250 bytes
// (RocksDB's figure) not charged to write_buffer_size: a quarter more than
// the memtable holds for records of 1 KiB, more for smaller ones. What it
// saves: 150,517 against 157,075 instructions a durable CAS at 64 in flight
// without the current records' hint (bench/instructions.sh --only=cas).
class HistoryNamePrefix final : public rocksdb::SliceTransform {
 public:
  const char* Name() const override { return "etagd.HistoryNamePrefix"; }
  rocksdb::Slice Transform(const rocksdb::Slice& key) const override {
    const void* end = std::memchr(key.data(), '\0', key.size());
    return rocksdb::Slice(
        key.data(), static_cast<const char*>(end) - key.data() + 1);
  }
  bool InDomain(const rocksdb::Slice& key) const override {
    return std::memchr(key.data(), '\0', key.size()) != nullptr;
  }
};

std::string EncodeClock(int64_t revision, absl::Time time) {
  std::string out;
  AppendBigEndian64(static_cast<uint64_t>(revision), &out);
  AppendBigEndian64(static_cast<uint64_t>(absl::ToUnixMicros(time)), &out);
  return out;
}

// A value: 4-byte little-endian metadata length, StoredRecord, content.
// Appended to `out`, the metadata serialized in place.
void AppendValue(const storage::StoredRecord& meta, absl::string_view content,
                 std::string* out) {
  const size_t n = meta.ByteSizeLong();
  const size_t start = out->size();
  out->resize(start + 4 + n + content.size());
  char* p = &(*out)[start];
  for (int i = 0; i < 4; ++i) p[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  meta.SerializeWithCachedSizesToArray(reinterpret_cast<uint8_t*>(p + 4));
  if (!content.empty()) std::memcpy(p + 4 + n, content.data(), content.size());
}

std::string EncodeValue(const storage::StoredRecord& meta,
                        absl::string_view content) {
  std::string out;
  AppendValue(meta, content, &out);
  return out;
}

// A new record's entity-tag: the revision in hex, '-', the nonce in 16 hex
// digits, quoted (what absl::StrFormat("\"%x-%016x\"") makes, without
// interpreting a format for every write).
std::string NewEntityTag(int64_t revision, uint64_t nonce) {
  static constexpr char kHex[] = "0123456789abcdef";
  char buffer[2 + 16 + 1 + 16 + 1];
  char* end = buffer + sizeof(buffer);
  char* p = end;
  *--p = '"';
  for (int i = 0; i < 16; ++i, nonce >>= 4) *--p = kHex[nonce & 0xf];
  *--p = '-';
  uint64_t r = static_cast<uint64_t>(revision);
  do {
    *--p = kHex[r & 0xf];
    r >>= 4;
  } while (r != 0);
  *--p = '"';
  return std::string(p, end);
}

// Debian's libprotobuf is built without ThreadSanitizer, and its map fields
// have another layout in code that is (map_field.h's access counters): an
// arena freeing a message with a map then crashes (seen in CI's TSan run).
// So ThreadSanitizer builds keep records on the heap, others on arenas.
#if defined(__SANITIZE_THREAD__)
constexpr bool kRecordsOnArenas = false;
#else
constexpr bool kRecordsOnArenas = true;
#endif

// A new StoredRecord on `arena`, or on the heap (the caller's to delete)
// where !kRecordsOnArenas.
storage::StoredRecord* NewStoredRecord(google::protobuf::Arena* arena) {
  return google::protobuf::Arena::CreateMessage<storage::StoredRecord>(
      kRecordsOnArenas ? arena : nullptr);
}

struct DecodedValue {
  storage::StoredRecord meta;
  absl::string_view content;
};

// The current record a stripe's last committed write left, kept so that
// the next write of that name reads and decodes nothing: exact while the
// stripe is held, since only a write holding the name's stripe changes a
// current record, and it replaces the entry once its batch is committed.
// A write stages its record's metadata in the LastWrite it will leave, so
// the metadata is built once, on the entry's arena: one allocation or a few
// instead of one per field (the history lists hold a string per past
// record).
struct LastWrite {
  LastWrite()
      : arena(initial_block, sizeof(initial_block)),
        meta(*NewStoredRecord(&arena)) {}
  ~LastWrite() {
    if (meta.GetArena() == nullptr) delete &meta;
  }
  LastWrite(const LastWrite&) = delete;
  LastWrite& operator=(const LastWrite&) = delete;

  // What the entry takes from the stripes' budget (see KeepLastWriteLocked):
  // itself, its value and the arena's blocks beyond the first.
  int64_t bytes() const {
    const uint64_t arena_bytes = arena.SpaceAllocated();
    return static_cast<int64_t>(
        sizeof(*this) + value.size() +
        (arena_bytes > sizeof(initial_block)
             ? arena_bytes - sizeof(initial_block)
             : 0));
  }

  std::string name;
  // The record's value as stored.
  std::string value;
  // The arena's first block, which a record with a full history list fits:
  // making and dropping the entry's metadata then allocates nothing more.
  alignas(8) char initial_block[1024];
  google::protobuf::Arena arena;
  // The record's metadata, on `arena`.
  storage::StoredRecord& meta;
};

// Parses `value`'s metadata into `meta`; returns its content.
absl::StatusOr<absl::string_view> DecodeValueInto(absl::string_view value,
                                                  absl::string_view key,
                                                  storage::StoredRecord& meta) {
  if (value.size() < 4) {
    return absl::DataLossError(absl::StrCat("truncated record for key of ",
                                            key.size(), " bytes"));
  }
  uint32_t n = 0;
  for (int i = 0; i < 4; ++i) {
    n |= static_cast<uint32_t>(static_cast<unsigned char>(value[i])) << (8 * i);
  }
  if (value.size() - 4 < n) {
    return absl::DataLossError("record metadata length exceeds the value");
  }
  if (!meta.ParseFromArray(value.data() + 4, static_cast<int>(n))) {
    return absl::DataLossError("unparseable record metadata");
  }
  return value.substr(4 + n);
}

absl::StatusOr<DecodedValue> DecodeValue(absl::string_view value,
                                         absl::string_view key) {
  DecodedValue decoded;
  ETAGD_ASSIGN_OR_RETURN(decoded.content,
                         DecodeValueInto(value, key, decoded.meta));
  return decoded;
}

// Fills `record`, a new one, from a stored record.
void FillRecord(absl::string_view name, const storage::StoredRecord& meta,
                absl::string_view content, bool with_content, Record& record) {
  record.name.assign(name.data(), name.size());
  if (with_content) record.content.assign(content.data(), content.size());
  record.content_length = static_cast<int64_t>(content.size());
  record.content_type = meta.content_type();
  record.metadata = LoadHttpMetadata(meta);
  record.revision = meta.revision();
  record.create_revision = meta.create_revision();
  record.version = meta.version();
  record.create_time = absl::FromUnixMicros(meta.create_time_us());
  record.update_time = absl::FromUnixMicros(meta.update_time_us());
  record.etag = meta.etag();
  record.deleted = meta.deleted();
  record.request_id = meta.request_id();
  record.created = meta.created();
  for (int i = 0; i < meta.history_request_ids_size() &&
                  i < meta.history_revisions_size();
       ++i) {
    if (!meta.history_request_ids(i).empty()) {
      record.past_request_ids.emplace_back(meta.history_revisions(i),
                                           meta.history_request_ids(i));
    }
  }
}

Record ToRecord(absl::string_view name, const storage::StoredRecord& meta,
                absl::string_view content, bool with_content) {
  Record record;
  FillRecord(name, meta, content, with_content, record);
  return record;
}

Record ToRecord(absl::string_view name, const DecodedValue& decoded,
                bool with_content) {
  return ToRecord(name, decoded.meta, decoded.content, with_content);
}

// A change log entry: 4-byte little-endian name length, the name, the
// content's length (8 bytes, big-endian), then the record's value without
// its content or history lists.
std::string EncodeChange(absl::string_view name,
                         const storage::StoredRecord& meta,
                         int64_t content_length) {
  if (meta.history_revisions_size() > 0 || meta.history_request_ids_size() > 0) {
    storage::StoredRecord logged = meta;
    logged.clear_history_revisions();
    logged.clear_history_request_ids();
    return EncodeChange(name, logged, content_length);
  }
  std::string out;
  const uint32_t n = static_cast<uint32_t>(name.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out.append(name.data(), name.size());
  AppendBigEndian64(static_cast<uint64_t>(content_length), &out);
  AppendValue(meta, absl::string_view(), &out);
  return out;
}

// Decodes change log entries (EncodeChange), parsing each one's metadata
// on one arena that it then resets: a page of entries is decoded without an
// allocation per field. Not thread-safe.
class ChangeDecoder {
 public:
  ChangeDecoder() : arena_(initial_block_, sizeof(initial_block_)) {}

  // Decodes `entry` into `record`, a new one.
  absl::Status Decode(absl::string_view entry, Record& record) {
    if (entry.size() < 4) return absl::DataLossError("truncated change entry");
    uint32_t n = 0;
    for (int i = 0; i < 4; ++i) {
      n |= static_cast<uint32_t>(static_cast<unsigned char>(entry[i]))
           << (8 * i);
    }
    if (entry.size() - 4 < static_cast<size_t>(n) + 8) {
      return absl::DataLossError("truncated change entry");
    }
    const absl::string_view name = entry.substr(4, n);
    const int64_t content_length =
        static_cast<int64_t>(ReadBigEndian64(entry.data() + 4 + n));
    std::unique_ptr<storage::StoredRecord> on_heap(
        kRecordsOnArenas ? nullptr : NewStoredRecord(nullptr));
    storage::StoredRecord& meta =
        on_heap != nullptr ? *on_heap : *NewStoredRecord(&arena_);
    absl::StatusOr<absl::string_view> content =
        DecodeValueInto(entry.substr(4 + n + 8), name, meta);
    if (!content.ok()) {
      arena_.Reset();
      return content.status();
    }
    FillRecord(name, meta, *content, /*with_content=*/false, record);
    record.content_length = content_length;
    arena_.Reset();
    return absl::OkStatus();
  }

 private:
  // An entry's metadata fits; Reset() keeps it.
  alignas(8) char initial_block_[1024];
  google::protobuf::Arena arena_;
};

// ---------------------------------------------------------------------------
// Running out of space.
//
// The store's SpaceGuard refuses writes before RocksDB runs out (see
// space_guard.h and RocksDbStoreOptions::space). What follows keeps RocksDB
// from aborting or wedging when it runs out all the same (the reserve taken
// by another process, a volume smaller than it says), and brings the store
// back by itself once space returns:
// - RocksDB's own info log aborts assertion-enabled builds (Debian's) on the
//   first line after a write of it failed: its WritableFileWriter asserts
//   that a writer which saw an error is not used again
//   (AssertFalseAndGetStatusForPrevError, "sync_without_flush_called_").
//   StoreLogger replaces it and drops the lines it cannot write.
// - A write or flush that fails with NoSpace stops RocksDB's writes (a
//   "hard" background error; reads go on). NoSpaceListener tells the guard,
//   which then refuses every write, and turns off RocksDB's own automatic
//   recovery from it: that one waits for a memtable's worth of free space
//   whatever the reserve, and meanwhile DB::Resume() answers Busy. The
//   store's periodic space check calls DB::Resume() (which flushes the
//   memtables to a new write-ahead log and drops the failed one) once the
//   volume has room again. Nothing acknowledged is lost on the way: a
//   failed write was never acknowledged, and everything before it is in the
//   write-ahead log, which Resume() flushes.
// - Opening: recovery replays the write-ahead log without flushing it
//   (avoid_flush_during_recovery), so a restart needs room only for a new
//   MANIFEST, an OPTIONS file and an empty log. If even that fails for lack
//   of space, the store opens read-only, and the periodic check reopens it
//   read-write once there is room.

// The largest LOG before it is moved to LOG.old and started again.
constexpr uint64_t kMaxInfoLogBytes = uint64_t{64} << 20;

// RocksDB's info log, in <data dir>/LOG (the one before in LOG.old).
// Thread-safe. A line that cannot be written (a full disk) is dropped.
// FATAL lines also go to etagd's own log; ERROR ones do not, as RocksDB
// repeats them every second while a compaction waits for room (the
// listener below logs what matters once).
class StoreLogger final : public rocksdb::Logger {
 public:
  StoreLogger(std::shared_ptr<rocksdb::FileSystem> fs,
              const std::string& directory)
      : Logger(rocksdb::InfoLogLevel::INFO_LEVEL),
        fs_(std::move(fs)),
        path_(directory + "/LOG"),
        old_path_(directory + "/LOG.old") {
    absl::MutexLock lock(&mu_);
    StartFileLocked();
  }

  ~StoreLogger() override {
    absl::MutexLock lock(&mu_);
    CloseFileLocked();
  }

  void Logv(const char* format, va_list ap) override {
    Logv(rocksdb::InfoLogLevel::INFO_LEVEL, format, ap);
  }

  void Logv(const rocksdb::InfoLogLevel level, const char* format,
            va_list ap) override {
    if (level < GetInfoLogLevel()) return;
    std::string message = Format(format, ap);
    if (level == rocksdb::InfoLogLevel::FATAL_LEVEL) {
      Log(LogLevel::kError, absl::StrCat("RocksDB: ", message));
    }
    std::string line =
        absl::StrCat(absl::FormatTime("%Y/%m/%d-%H:%M:%E6S ", absl::Now(),
                                      absl::LocalTimeZone()),
                     LevelTag(level), message);
    if (line.back() != '\n') line.push_back('\n');
    absl::MutexLock lock(&mu_);
    if (file_ != nullptr && size_ + line.size() > kMaxInfoLogBytes) {
      CloseFileLocked();
      StartFileLocked();
    }
    if (file_ == nullptr) return;
    rocksdb::IOStatus s = file_->Append(line, rocksdb::IOOptions(), nullptr);
    if (s.ok()) {
      size_ += line.size();
      s = file_->Flush(rocksdb::IOOptions(), nullptr);
    }
    // A full disk: this line is lost, the next one may make it.
    s.PermitUncheckedError();
  }

 protected:
  rocksdb::Status CloseImpl() override {
    absl::MutexLock lock(&mu_);
    CloseFileLocked();
    return rocksdb::Status::OK();
  }

 private:
  static std::string Format(const char* format, va_list ap) {
    char buffer[512];
    va_list copy;
    va_copy(copy, ap);
    const int n = std::vsnprintf(buffer, sizeof(buffer), format, copy);
    va_end(copy);
    if (n < 0) return format;
    if (static_cast<size_t>(n) < sizeof(buffer)) return std::string(buffer, n);
    std::string message(static_cast<size_t>(n) + 1, '\0');
    std::vsnprintf(message.data(), message.size(), format, ap);
    message.resize(static_cast<size_t>(n));
    return message;
  }

  static absl::string_view LevelTag(rocksdb::InfoLogLevel level) {
    switch (level) {
      case rocksdb::InfoLogLevel::DEBUG_LEVEL:
        return "[DEBUG] ";
      case rocksdb::InfoLogLevel::WARN_LEVEL:
        return "[WARN] ";
      case rocksdb::InfoLogLevel::ERROR_LEVEL:
        return "[ERROR] ";
      case rocksdb::InfoLogLevel::FATAL_LEVEL:
        return "[FATAL] ";
      default:
        return "";
    }
  }

  // Moves the current LOG (if any) to LOG.old and starts a new one; without
  // room for it, lines are dropped until the next start.
  void StartFileLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const rocksdb::IOOptions io;
    if (fs_->FileExists(path_, io, nullptr).ok()) {
      // If it cannot be moved it is replaced: the log is for diagnosis only.
      fs_->RenameFile(path_, old_path_, io, nullptr).PermitUncheckedError();
    }
    rocksdb::FileOptions options;
    options.use_mmap_writes = false;
    std::unique_ptr<rocksdb::FSWritableFile> file;
    if (fs_->NewWritableFile(path_, options, &file, nullptr).ok()) {
      file_ = std::move(file);
    }
    size_ = 0;
  }

  void CloseFileLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (file_ == nullptr) return;
    // Closing only releases the file here: there is nothing to flush.
    file_->Close(rocksdb::IOOptions(), nullptr).PermitUncheckedError();
    file_.reset();
  }

  const std::shared_ptr<rocksdb::FileSystem> fs_;
  const std::string path_;
  const std::string old_path_;
  absl::Mutex mu_;
  std::unique_ptr<rocksdb::FSWritableFile> file_ ABSL_GUARDED_BY(mu_);
  uint64_t size_ ABSL_GUARDED_BY(mu_) = 0;
};

absl::string_view ReasonName(rocksdb::BackgroundErrorReason reason) {
  switch (reason) {
    case rocksdb::BackgroundErrorReason::kFlush:
    case rocksdb::BackgroundErrorReason::kFlushNoWAL:
      return "flushing a memtable";
    case rocksdb::BackgroundErrorReason::kCompaction:
      return "compacting";
    case rocksdb::BackgroundErrorReason::kWriteCallback:
      return "writing the write-ahead log";
    case rocksdb::BackgroundErrorReason::kMemTable:
      return "writing a memtable";
    case rocksdb::BackgroundErrorReason::kManifestWrite:
    case rocksdb::BackgroundErrorReason::kManifestWriteNoWAL:
      return "writing the MANIFEST";
  }
  return "working";
}

constexpr char kOpenedReadOnly[] =
    "disk full: the disk was too full to open the store read-write when "
    "etagd started, so it is open read-only";

constexpr char kEngineNoSpace[] =
    "disk full: RocksDB ran out of space writing its files and stopped "
    "writing";

// Tells the guard when RocksDB stops writing for lack of space, and leaves
// the recovery from that to the store (see above). A compaction's lack of
// space is "soft": writes and flushes go on, and RocksDB's own recovery is
// kept for it, because it also makes compactions wait until there is room
// for them instead of failing again every second. Thread-safe: RocksDB
// calls it on its background threads, and on a writer's thread when a
// write-ahead-log append fails, without its own mutex held.
class NoSpaceListener final : public rocksdb::EventListener {
 public:
  explicit NoSpaceListener(SpaceGuard& guard) : guard_(guard) {}

  const char* Name() const override { return "etagd.NoSpaceListener"; }

  // Whether RocksDB stopped writing for lack of space and waits for
  // DB::Resume().
  bool needs_resume() const { return stopped_.load(); }

  // DB::Resume() succeeded.
  void Resumed() {
    stopped_.store(false);
    guard_.ClearEngineProblem();
  }

  void OnBackgroundError(rocksdb::BackgroundErrorReason reason,
                         rocksdb::Status* error) override {
    if (error == nullptr || !error->IsNoSpace()) return;
    if (Stops(*error)) {
      guard_.SetEngineProblem(kEngineNoSpace);
      if (!stopped_.exchange(true)) {
        Log(LogLevel::kError,
            absl::StrCat("RocksDB ran out of space ", ReasonName(reason), ": ",
                         error->ToString(),
                         "; it stops writing until space is freed"));
      }
    } else if (!compaction_short_.exchange(true)) {
      Log(LogLevel::kWarning,
          absl::StrCat("RocksDB ran out of space ", ReasonName(reason), ": ",
                       error->ToString(),
                       "; writes go on, compactions wait for room"));
    }
  }

  void OnErrorRecoveryBegin(rocksdb::BackgroundErrorReason /*reason*/,
                            rocksdb::Status error,
                            bool* auto_recovery) override {
    if (error.IsNoSpace() && Stops(error)) *auto_recovery = false;
  }

  void OnErrorRecoveryEnd(
      const rocksdb::BackgroundErrorRecoveryInfo& info) override {
    if (!info.new_bg_error.ok()) return;
    compaction_short_.store(false);
    if (stopped_.exchange(false)) guard_.ClearEngineProblem();
  }

 private:
  static bool Stops(const rocksdb::Status& error) {
    return error.severity() >= rocksdb::Status::Severity::kHardError;
  }

  SpaceGuard& guard_;
  std::atomic<bool> stopped_{false};
  std::atomic<bool> compaction_short_{false};
};

// One open RocksDB instance and its column families.
struct Engine {
  Engine(std::unique_ptr<rocksdb::DB> db_in,
         std::vector<rocksdb::ColumnFamilyHandle*> families_in,
         bool read_only_in)
      : db(std::move(db_in)),
        families(std::move(families_in)),
        read_only(read_only_in) {}

  ~Engine() { Close(); }

  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  void Close() {
    if (db == nullptr) return;
    for (rocksdb::ColumnFamilyHandle* family : families) {
      // Failure to destroy a handle only leaks it; nothing to recover.
      db->DestroyColumnFamilyHandle(family).PermitUncheckedError();
    }
    families.clear();
    // Close() syncs nothing we need (every write is in the WAL); its status
    // is only informative at shutdown.
    db->Close().PermitUncheckedError();
    db.reset();
  }

  rocksdb::ColumnFamilyHandle* meta() const { return families[0]; }
  rocksdb::ColumnFamilyHandle* resources() const { return families[1]; }
  rocksdb::ColumnFamilyHandle* history() const { return families[2]; }
  rocksdb::ColumnFamilyHandle* changes() const { return families[3]; }

  std::unique_ptr<rocksdb::DB> db;
  // default, resources, history, changes.
  std::vector<rocksdb::ColumnFamilyHandle*> families;
  const bool read_only;
  // Reads in progress on a read-only engine (see EngineRef).
  std::atomic<int64_t> readers{0};
};

// A read's or write's hold on the store's engine. A store opened read-only
// replaces its engine when it reopens read-write; RocksDB leaves a read-only
// instance beside a read-write one undefined (and it would keep the space of
// deleted files), so the old one is closed once no read is left on it. Only
// those reads are counted: a read-write engine is never replaced.
class EngineRef {
 public:
  explicit EngineRef(const std::atomic<Engine*>& current) {
    while (true) {
      engine_ = current.load();
      if (!engine_->read_only) return;
      engine_->readers.fetch_add(1);
      if (current.load() == engine_) break;
      // Replaced meanwhile: this engine may be closing.
      engine_->readers.fetch_sub(1);
    }
    counted_ = true;
  }
  ~EngineRef() {
    if (counted_) engine_->readers.fetch_sub(1);
  }
  EngineRef(const EngineRef&) = delete;
  EngineRef& operator=(const EngineRef&) = delete;

  Engine& operator*() const { return *engine_; }
  Engine* operator->() const { return engine_; }

 private:
  Engine* engine_ = nullptr;
  bool counted_ = false;
};

// What opening takes, kept to reopen read-write.
struct OpenContext {
  std::string path;
  rocksdb::DBOptions db_options;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
};

struct Opened {
  rocksdb::Status status;
  std::unique_ptr<Engine> engine;
};

Opened OpenEngine(const OpenContext& context, bool read_only) {
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  Opened opened;
  opened.status =
      read_only
          ? rocksdb::DB::OpenForReadOnly(context.db_options, context.path,
                                         context.descriptors, &handles, &raw,
                                         /*error_if_wal_file_exists=*/false)
          : rocksdb::DB::Open(context.db_options, context.path,
                              context.descriptors, &handles, &raw);
  if (opened.status.ok()) {
    opened.engine = std::make_unique<Engine>(std::unique_ptr<rocksdb::DB>(raw),
                                             std::move(handles), read_only);
  }
  return opened;
}

struct Clock {
  int64_t revision = 0;
  absl::Time time = absl::UnixEpoch();
  // The change log's oldest revision.
  int64_t change_floor = 1;
};

// The persisted revision counter and time floor.
absl::StatusOr<Clock> ReadClock(Engine& engine, const std::string& path) {
  Clock clock;
  std::string value;
  rocksdb::Status s =
      engine.db->Get(rocksdb::ReadOptions(), engine.meta(), kClockKey, &value);
  if (s.IsNotFound()) return clock;
  ETAGD_RETURN_IF_ERROR(
      FromRocks(s, absl::StrCat("reading the revision counter in ", path)));
  if (value.size() != 16) {
    return absl::DataLossError(
        absl::StrCat("the revision counter in ", path, " is corrupt"));
  }
  clock.revision = static_cast<int64_t>(ReadBigEndian64(value.data()));
  clock.time = absl::FromUnixMicros(
      static_cast<int64_t>(ReadBigEndian64(value.data() + 8)));
  return clock;
}

// The change log's floor, stored the first time (a new store, or one
// written before the change log existed): one past the last revision, since
// nothing before it is logged.
absl::StatusOr<int64_t> ReadChangeFloor(Engine& engine, const std::string& path,
                                        int64_t revision) {
  std::string value;
  rocksdb::Status s = engine.db->Get(rocksdb::ReadOptions(), engine.meta(),
                                     kChangeFloorKey, &value);
  if (s.IsNotFound()) {
    const int64_t floor = revision + 1;
    if (!engine.read_only) {
      rocksdb::WriteOptions sync;
      sync.sync = true;
      ETAGD_RETURN_IF_ERROR(FromRocks(
          engine.db->Put(sync, engine.meta(), kChangeFloorKey, ChangeKey(floor)),
          absl::StrCat("starting the change log in ", path)));
    }
    return floor;
  }
  ETAGD_RETURN_IF_ERROR(
      FromRocks(s, absl::StrCat("reading the change log's floor in ", path)));
  if (value.size() != 8) {
    return absl::DataLossError(
        absl::StrCat("the change log's floor in ", path, " is corrupt"));
  }
  return static_cast<int64_t>(ReadBigEndian64(value.data()));
}

// Checks the store format, writing it into a new store.
absl::Status CheckFormat(Engine& engine, const std::string& path) {
  std::string format;
  rocksdb::Status s = engine.db->Get(rocksdb::ReadOptions(), engine.meta(),
                                     kFormatKey, &format);
  if (s.IsNotFound()) {
    if (engine.read_only) {
      return absl::UnavailableError(absl::StrCat("cannot create a store in ",
                                                 path, ": the disk is full"));
    }
    rocksdb::WriteOptions sync;
    sync.sync = true;
    s = engine.db->Put(sync, engine.meta(), kFormatKey, kFormat);
    format = kFormat;
  }
  ETAGD_RETURN_IF_ERROR(
      FromRocks(s, absl::StrCat("reading the store format in ", path)));
  if (format != kFormat) {
    return absl::FailedPreconditionError(
        absl::StrCat("data directory ", path, " holds store format '", format,
                     "', this etagd reads '", kFormat, "'"));
  }
  return absl::OkStatus();
}

constexpr int64_t kMaxMemtableBytes = int64_t{64} << 20;
constexpr int64_t kMinMemtableBytes = int64_t{1} << 20;

// limits.reserve_bytes, or if it is negative a tenth of the volume holding
// `path`, at most 1 GiB.
int64_t ReserveBytes(const SpaceLimits& limits, const std::string& path) {
  if (limits.reserve_bytes >= 0) return limits.reserve_bytes;
  constexpr int64_t kMaxAutomaticReserve = int64_t{1} << 30;
  std::error_code error;
  const std::filesystem::space_info space = std::filesystem::space(path, error);
  if (error) return kMaxAutomaticReserve;
  return std::min(kMaxAutomaticReserve,
                  static_cast<int64_t>(space.capacity / 10));
}

// The bytes a write adds to the write-ahead log: its record, and the copy of
// the record it replaces when that goes into the history.
int64_t WriteBytes(const WriteRequest& request, size_t history_copy) {
  // The record's metadata, the revision counter's entry, key encodings, and
  // the change log's entry (the metadata again, with the name; it is
  // pruned by retention, not by the write).
  constexpr int64_t kOverheadBytes = 256;
  return kOverheadBytes + 2 * static_cast<int64_t>(request.name.size()) +
         static_cast<int64_t>(request.content.size() +
                              request.content_type.size() +
                              HttpMetadataBytes(request.metadata) +
                              request.request_id.size() + history_copy);
}

class RocksDbStore final : public Store {
 public:
  // `env` (may be null) and `fs` are the ones `engine` was opened with;
  // `directory_lock` (may be null) is held on the directory while `engine`
  // is read-only, which takes no lock of its own.
  RocksDbStore(const RocksDbStoreOptions& options,
               std::unique_ptr<rocksdb::Env> env,
               std::shared_ptr<rocksdb::FileSystem> fs, OpenContext context,
               std::unique_ptr<SpaceGuard> guard,
               std::shared_ptr<NoSpaceListener> listener,
               std::unique_ptr<Engine> engine,
               rocksdb::FileLock* directory_lock, Clock clock)
      : options_(options),
        env_(std::move(env)),
        fs_(std::move(fs)),
        context_(std::move(context)),
        guard_(std::move(guard)),
        listener_(std::move(listener)),
        engine_(engine.get()),
        directory_lock_(directory_lock),
        last_revision_(clock.revision),
        last_time_(clock.time),
        watermark_(clock.revision),
        committed_(clock.revision),
        change_floor_(clock.change_floor) {
    engines_.push_back(std::move(engine));
    write_options_.sync = options.sync_writes;
  }

  ~RocksDbStore() override {
    cancel_compactions_.store(true);
    {
      absl::MutexLock lock(&stop_mu_);
      stopping_ = true;
    }
    if (space_checker_.joinable()) space_checker_.join();
    if (pruner_.joinable()) pruner_.join();
    absl::MutexLock lock(&check_mu_);
    engines_.clear();
    UnlockDirectoryLocked();
  }

  // Measures the space and, from then on, does so every
  // space_check_interval (if not zero) on a thread of its own.
  void StartSpaceChecks() {
    if (engine_.load()->read_only) {
      {
        absl::MutexLock lock(&check_mu_);
        absl::StatusOr<SpaceSample> sample = MeasureSpaceLocked();
        if (sample.ok()) guard_->Update(*sample);
      }
      guard_->SetEngineProblem(kOpenedReadOnly);
    }
    CheckSpace().IgnoreError();  // Logged; the next check tries again.
    if (options_.change_prune_interval > absl::ZeroDuration()) {
      pruner_ = std::thread([this] {
        absl::MutexLock lock(&stop_mu_);
        while (!stop_mu_.AwaitWithTimeout(absl::Condition(&stopping_),
                                          options_.change_prune_interval)) {
          stop_mu_.Unlock();
          absl::Status pruned = PruneChanges();
          if (!pruned.ok()) {
            // The next round tries again; say so once per kind of failure.
            LogPruneError(pruned);
          }
          stop_mu_.Lock();
        }
      });
    }
    if (options_.space_check_interval <= absl::ZeroDuration()) return;
    space_checker_ = std::thread([this] {
      absl::MutexLock lock(&stop_mu_);
      while (!stop_mu_.AwaitWithTimeout(absl::Condition(&stopping_),
                                        options_.space_check_interval)) {
        stop_mu_.Unlock();
        CheckSpace().IgnoreError();  // Logged; the next check tries again.
        stop_mu_.Lock();
      }
    });
  }

  // Measures the store's files and the volume's free space, and recovers
  // from being full if it can: reopens a read-only store read-write,
  // resumes RocksDB after a no-space error, or (while the store is full)
  // flushes the memtables and has RocksDB compact what deletes freed.
  absl::Status CheckSpace() ABSL_LOCKS_EXCLUDED(check_mu_) {
    absl::MutexLock lock(&check_mu_);
    absl::StatusOr<SpaceSample> sample = MeasureSpaceLocked();
    if (!sample.ok()) {
      LogChangeLocked(
          LogLevel::kWarning,
          absl::StrCat("cannot measure the space of ", options_.path, ": ",
                       sample.status().message()));
      return sample.status();
    }
    guard_->Update(*sample);
    Engine& engine = *engine_.load();
    if (engine.read_only) {
      if (guard_->DiskHasRoom()) ReopenReadWriteLocked();
      return absl::OkStatus();
    }
    if (listener_->needs_resume()) {
      if (guard_->DiskHasRoom()) ResumeLocked(engine);
      return absl::OkStatus();
    }
    if (guard_->full()) {
      ReclaimLocked(engine);
    } else {
      flushed_while_full_ = false;
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::optional<Record>> ReadCurrent(absl::string_view name,
                                                    bool with_content) override {
    EngineRef engine(engine_);
    return ReadCurrentFrom(*engine, name, with_content);
  }

  absl::StatusOr<Record> ReadRevision(absl::string_view name,
                                      int64_t revision) override {
    EngineRef engine(engine_);
    ETAGD_ASSIGN_OR_RETURN(
        std::optional<Record> current,
        ReadCurrentFrom(*engine, name, /*with_content=*/true));
    if (current.has_value() && current->revision == revision) {
      return *std::move(current);
    }
    rocksdb::PinnableSlice value;
    std::string key = HistoryKey(name, revision);
    rocksdb::Status s =
        engine->db->Get(rocksdb::ReadOptions(), engine->history(), key, &value);
    if (s.IsNotFound()) {
      return absl::NotFoundError(
          absl::StrCat("no version of the resource at revision ", revision));
    }
    ETAGD_RETURN_IF_ERROR(FromRocks(s, "reading a past version"));
    ETAGD_ASSIGN_OR_RETURN(DecodedValue decoded, DecodeValue(ToView(value), key));
    return ToRecord(name, decoded, /*with_content=*/true);
  }

  absl::StatusOr<Record> Write(const WriteRequest& request) override {
    return std::move(WriteMany(absl::MakeConstSpan(&request, 1))[0]);
  }

  // One WriteBatch, hence one WAL sync, for all of `requests`, under the
  // stripes of all their names (taken in index order, so that concurrent
  // calls cannot deadlock).
  std::vector<absl::StatusOr<Record>> WriteMany(
      absl::Span<const WriteRequest> requests) override {
    // Held shared from the first revision handed out to the last one
    // settled, so that View() finds no commit in flight.
    absl::ReaderMutexLock gate(&commit_gate_);
    EngineRef engine(engine_);
    std::vector<int64_t> allocated;
    // While the store is full, deletes drop the resource's past versions
    // rather than add to them: they free space instead of using it.
    const bool full = guard_->full();
    std::vector<size_t> stripes;
    if (!options_.non_atomic_writes_for_test) {
      for (const WriteRequest& request : requests) {
        stripes.push_back(StripeIndex(request.name));
      }
      std::sort(stripes.begin(), stripes.end());
      stripes.erase(std::unique(stripes.begin(), stripes.end()), stripes.end());
    }
    for (size_t stripe : stripes) stripes_[stripe].Lock();
    std::vector<absl::StatusOr<Record>> results;
    results.reserve(requests.size());
    // Room for the batch up front, so that it is not copied as it grows.
    rocksdb::WriteBatch batch(BatchBytes(requests));
    absl::flat_hash_set<absl::string_view> names;
    // What each staged write leaves as the current record, kept once the
    // batch is committed.
    std::vector<std::unique_ptr<LastWrite>> staged;
    for (const WriteRequest& request : requests) {
      // Each write checks against the committed record: a second write of
      // a name in one batch would check against a stale one.
      if (!names.insert(request.name).second) {
        results.push_back(absl::InvalidArgumentError(
            "a name may be written once per batch"));
        continue;
      }
      // A write that fails while adding to the batch must add nothing.
      batch.SetSavePoint();
      auto last = std::make_unique<LastWrite>();
      results.push_back(
          StageLocked(*engine, request, full, &batch, &allocated, last.get()));
      rocksdb::Status undone = results.back().ok() ? batch.PopSavePoint()
                                                   : batch.RollbackToSavePoint();
      if (!undone.ok()) {
        results.back() = FromRocks(undone, "batching");
      }
      if (results.back().ok()) staged.push_back(std::move(last));
    }
    if (batch.Count() > 0) {
      // The clock entry: the batch's highest revision and time (the max
      // merge keeps the highest across batches committed out of order).
      int64_t revision = 0;
      absl::Time time = absl::UnixEpoch();
      for (const absl::StatusOr<Record>& result : results) {
        if (!result.ok()) continue;
        revision = std::max(revision, result->revision);
        time = std::max(time, result->update_time);
      }
      absl::Status committed = FromRocks(
          batch.Merge(engine->meta(), kClockKey, EncodeClock(revision, time)),
          "batching");
      if (committed.ok()) {
        committed = CommitError(engine->db->Write(write_options_, &batch));
      }
      if (!committed.ok()) {
        for (absl::StatusOr<Record>& result : results) {
          if (result.ok()) result = committed;
        }
      } else {
        for (std::unique_ptr<LastWrite>& last : staged) {
          KeepLastWriteLocked(std::move(last));
        }
        if (full) NoteDeletes(requests, results);
      }
    }
    for (auto it = stripes.rbegin(); it != stripes.rend(); ++it) {
      stripes_[*it].Unlock();
    }
    if (!allocated.empty()) SettleRevisions(allocated);
    return results;
  }

  absl::StatusOr<ChangeWindow> Changes() override {
    ChangeWindow window;
    window.oldest_revision = change_floor_.load();
    window.committed_revision = committed_.load();
    return window;
  }

  absl::StatusOr<ChangePage> ReadChanges(int64_t from_revision,
                                         int64_t up_to_revision, int limit,
                                         bool with_content) override {
    ETAGD_RETURN_IF_ERROR(CheckFloor(from_revision));
    ChangePage page;
    up_to_revision = std::min(up_to_revision, committed_.load());
    page.next_revision = std::max(from_revision, up_to_revision + 1);
    if (limit <= 0 || up_to_revision < from_revision) {
      page.next_revision = from_revision;
      return page;
    }
    EngineRef engine(engine_);
    const std::string upper = ChangeKey(up_to_revision + 1);
    const rocksdb::Slice upper_bound(upper);
    rocksdb::ReadOptions read_options;
    read_options.iterate_upper_bound = &upper_bound;
    std::unique_ptr<rocksdb::Iterator> it(
        engine->db->NewIterator(read_options, engine->changes()));
    // A feed reads a batch's worth of changes at a time; a reader far
    // behind gets its page in a few steps.
    constexpr int64_t kReservedChanges = 1024;
    page.changes.reserve(static_cast<size_t>(std::min<int64_t>(
        {limit, up_to_revision - from_revision + 1, kReservedChanges})));
    ChangeDecoder decoder;
    for (it->Seek(ChangeKey(from_revision)); it->Valid(); it->Next()) {
      ETAGD_RETURN_IF_ERROR(
          decoder.Decode(ToView(it->value()), page.changes.emplace_back()));
      if (static_cast<int>(page.changes.size()) == limit) {
        page.next_revision = page.changes.back().revision + 1;
        break;
      }
    }
    ETAGD_RETURN_IF_ERROR(FromRocks(it->status(), "reading the change log"));
    it.reset();
    if (with_content) {
      for (Record& record : page.changes) {
        if (record.deleted) continue;
        absl::StatusOr<Record> version =
            ReadRevision(record.name, record.revision);
        // No longer retained: the change goes out without its content.
        if (absl::IsNotFound(version.status())) continue;
        ETAGD_RETURN_IF_ERROR(version.status());
        record.content = std::move(version->content);
      }
    }
    // The page is whole only if the floor did not pass it meanwhile.
    ETAGD_RETURN_IF_ERROR(CheckFloor(from_revision));
    return page;
  }

  absl::StatusOr<std::unique_ptr<StoreView>> View() override;

  void SetCommitListener(std::function<void()> listener) override {
    absl::MutexLock lock(&listener_mu_);
    commit_listener_ = std::move(listener);
  }

  // Moves the change log's floor up to what the retention allows and drops
  // the entries below it. Never holds a lock a writer takes.
  absl::Status PruneChanges() ABSL_LOCKS_EXCLUDED(prune_mu_) {
    absl::MutexLock prune_lock(&prune_mu_);
    EngineRef engine(engine_);
    if (engine->read_only) return absl::OkStatus();
    const int64_t committed = committed_.load();
    const int64_t floor = change_floor_.load();
    int64_t target = floor;
    if (options_.change_retention_revisions > 0) {
      target = std::max(target,
                        committed - options_.change_retention_revisions + 1);
    }
    if (options_.change_retention > absl::ZeroDuration()) {
      // Entries are in revision order, hence in update-time order.
      const absl::Time cutoff = options_.clock() - options_.change_retention;
      const std::string upper = ChangeKey(committed + 1);
      const rocksdb::Slice upper_bound(upper);
      rocksdb::ReadOptions read_options;
      read_options.iterate_upper_bound = &upper_bound;
      std::unique_ptr<rocksdb::Iterator> it(
          engine->db->NewIterator(read_options, engine->changes()));
      ChangeDecoder decoder;
      for (it->Seek(ChangeKey(target)); it->Valid(); it->Next()) {
        Record record;
        ETAGD_RETURN_IF_ERROR(decoder.Decode(ToView(it->value()), record));
        if (record.update_time >= cutoff) break;
        target = record.revision + 1;
      }
      ETAGD_RETURN_IF_ERROR(FromRocks(it->status(), "reading the change log"));
    }
    target = std::min(target, committed + 1);
    if (target <= floor) return absl::OkStatus();
    // Readers check the floor after reading: raised before anything goes.
    change_floor_.store(target);
    rocksdb::WriteBatch batch;
    ETAGD_RETURN_IF_ERROR(FromRocks(
        batch.Put(engine->meta(), kChangeFloorKey, ChangeKey(target)),
        "batching"));
    ETAGD_RETURN_IF_ERROR(FromRocks(
        batch.DeleteRange(engine->changes(), ChangeKey(0), ChangeKey(target)),
        "batching"));
    // Not synced: after a crash the floor and the entries come back together.
    return FromRocks(engine->db->Write(rocksdb::WriteOptions(), &batch),
                     "pruning the change log");
  }

  // A listing's later pages read the latest state, not at_revision's:
  // RocksDB snapshots are not kept across calls (see Store::List).
  using Store::List;
  absl::StatusOr<ListPage> List(absl::string_view prefix,
                                absl::string_view start_after, int limit,
                                bool with_content, int64_t at_revision) override {
    EngineRef engine(engine_);
    rocksdb::ManagedSnapshot snapshot(engine->db.get());
    // Read after the snapshot was taken: every revision in it was allocated
    // by then.
    int64_t revision = 0;
    {
      absl::MutexLock lock(&clock_mu_);
      revision = last_revision_;
    }
    if (at_revision > revision) {
      return absl::InvalidArgumentError(absl::StrCat(
          "the listing's revision ", at_revision,
          " is beyond this store's latest (", revision,
          "): the position is from another store"));
    }
    rocksdb::ReadOptions read_options;
    read_options.snapshot = snapshot.snapshot();
    ETAGD_ASSIGN_OR_RETURN(ListPage page, ListFrom(*engine, read_options, prefix,
                                                   start_after, limit, with_content));
    page.revision = revision;
    return page;
  }

  // List() with `read_options` (a snapshot's).
  static absl::StatusOr<ListPage> ListFrom(Engine& engine,
                                           const rocksdb::ReadOptions& read_options,
                                           absl::string_view prefix,
                                           absl::string_view start_after,
                                           int limit, bool with_content) {
    ListPage page;
    if (limit <= 0) return page;
    std::unique_ptr<rocksdb::Iterator> it(
        engine.db->NewIterator(read_options, engine.resources()));
    if (start_after.empty() || start_after < prefix) {
      it->Seek(ToSlice(prefix));
    } else {
      it->Seek(ToSlice(start_after));
      if (it->Valid() && ToView(it->key()) == start_after) it->Next();
    }
    for (; it->Valid(); it->Next()) {
      absl::string_view key = ToView(it->key());
      if (key.substr(0, prefix.size()) != prefix) break;
      if (static_cast<int>(page.records.size()) == limit) {
        page.more = true;
        break;
      }
      ETAGD_ASSIGN_OR_RETURN(DecodedValue decoded,
                             DecodeValue(ToView(it->value()), key));
      if (decoded.meta.deleted()) continue;
      page.records.push_back(ToRecord(key, decoded, with_content));
    }
    ETAGD_RETURN_IF_ERROR(FromRocks(it->status(), "listing resources"));
    return page;
  }

  absl::StatusOr<ListPage> ListVersions(absl::string_view name,
                                        int64_t before_revision,
                                        int limit) override {
    ListPage page;
    if (limit <= 0) return page;
    EngineRef engine(engine_);
    ETAGD_ASSIGN_OR_RETURN(
        std::optional<Record> current,
        ReadCurrentFrom(*engine, name, /*with_content=*/false));
    if (!current.has_value()) return page;
    if (before_revision == 0 || current->revision < before_revision) {
      page.records.push_back(*std::move(current));
    }

    const std::string lower = HistoryPrefix(name);
    std::string upper(name);
    upper.push_back('\1');
    rocksdb::Slice upper_bound(upper);
    rocksdb::ReadOptions read_options;
    read_options.iterate_upper_bound = &upper_bound;
    std::unique_ptr<rocksdb::Iterator> it(
        engine->db->NewIterator(read_options, engine->history()));
    if (before_revision == 0) {
      it->SeekToLast();
    } else {
      it->SeekForPrev(HistoryKey(name, before_revision - 1));
    }
    for (; it->Valid(); it->Prev()) {
      absl::string_view key = ToView(it->key());
      if (key.size() != lower.size() + 8 ||
          key.substr(0, lower.size()) != lower) {
        break;
      }
      if (static_cast<int>(page.records.size()) == limit) {
        page.more = true;
        break;
      }
      ETAGD_ASSIGN_OR_RETURN(DecodedValue decoded,
                             DecodeValue(ToView(it->value()), key));
      page.records.push_back(ToRecord(name, decoded, /*with_content=*/false));
    }
    ETAGD_RETURN_IF_ERROR(FromRocks(it->status(), "listing versions"));
    return page;
  }

  absl::StatusOr<int64_t> Checkpoint(const std::string& directory) override {
    // A checkpoint flushes the memtables and copies the write-ahead log: it
    // needs the disk, and a writable engine.
    ETAGD_RETURN_IF_ERROR(guard_->AdmitCheckpoint());
    EngineRef engine(engine_);
    if (engine->read_only) return guard_->Refusal();
    // Read the counter first: every write acknowledged before this call has
    // a revision at or below it and is committed, so it is in the copy.
    int64_t revision;
    {
      absl::MutexLock lock(&clock_mu_);
      revision = last_revision_;
    }
    rocksdb::Checkpoint* raw = nullptr;
    ETAGD_RETURN_IF_ERROR(FromRocks(
        rocksdb::Checkpoint::Create(engine->db.get(), &raw), "checkpoint"));
    std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
    // Flushing first keeps the copy's WAL short; the WAL is copied as well,
    // so unflushed writes are not lost either way.
    rocksdb::Status s = checkpoint->CreateCheckpoint(directory);
    if (s.IsNoSpace()) return CommitError(s);
    ETAGD_RETURN_IF_ERROR(
        FromRocks(s, absl::StrCat("checkpoint into ", directory)));
    return revision;
  }

  std::optional<StorageSpace> Space() override {
    StorageSpace space = guard_->space();
    space.read_only = engine_.load()->read_only;
    return space;
  }

 private:
  struct Allocation {
    int64_t revision;
    absl::Time time;
    uint64_t nonce;
  };

  static rocksdb::Slice ToSlice(absl::string_view s) {
    return rocksdb::Slice(s.data(), s.size());
  }
  static absl::string_view ToView(const rocksdb::Slice& s) {
    return absl::string_view(s.data(), s.size());
  }

  // About the bytes `requests` add to a WriteBatch: each record, the one
  // it replaces going into the history (taken to be as large), the change
  // log entry, and the keys.
  static size_t BatchBytes(absl::Span<const WriteRequest> requests) {
    constexpr size_t kOverheadBytes = 512;
    // A reservation, not a bound: a batch of large contents grows past it
    // rather than reserving twice their size (a history copy) up front.
    constexpr size_t kMaxReservedBytes = 8 << 20;
    size_t bytes = 64;
    for (const WriteRequest& request : requests) {
      bytes += kOverheadBytes + 4 * request.name.size() +
               2 * (request.content.size() + request.request_id.size());
    }
    return std::min(bytes, kMaxReservedBytes);
  }

  static size_t StripeIndex(absl::string_view name) {
    return absl::Hash<absl::string_view>()(name) % kLockStripes;
  }

  static absl::StatusOr<std::optional<Record>> ReadCurrentFrom(
      Engine& engine, absl::string_view name, bool with_content) {
    rocksdb::PinnableSlice value;
    rocksdb::Status s = engine.db->Get(
        rocksdb::ReadOptions(), engine.resources(), ToSlice(name), &value);
    if (s.IsNotFound()) return std::optional<Record>();
    ETAGD_RETURN_IF_ERROR(FromRocks(s, "reading a resource"));
    ETAGD_ASSIGN_OR_RETURN(DecodedValue decoded,
                           DecodeValue(ToView(value), name));
    return std::optional<Record>(ToRecord(name, decoded, with_content));
  }

  // The compare part of a compare-and-write: checks `request` against the
  // current record, asks the guard for room, and adds its write to `batch`.
  // Returns the record the write makes once `batch` is committed. Callers
  // hold the name's stripe.
  // `last` receives the current record the write leaves, for
  // KeepLastWriteLocked once the batch is committed.
  absl::StatusOr<Record> StageLocked(Engine& engine,
                                     const WriteRequest& request, bool full,
                                     rocksdb::WriteBatch* batch,
                                     std::vector<int64_t>* allocated,
                                     LastWrite* last) {
    // The current record's metadata (null if there is none) and its value
    // as stored: the stripe's kept record, or read and decoded.
    const storage::StoredRecord* current = nullptr;
    absl::string_view current_value;
    rocksdb::PinnableSlice read_value;
    std::optional<DecodedValue> decoded;
    if (const LastWrite* kept = LastWriteLocked(request.name);
        kept != nullptr) {
      current = &kept->meta;
      current_value = kept->value;
    } else {
      rocksdb::Status s =
          engine.db->Get(rocksdb::ReadOptions(), engine.resources(),
                         ToSlice(request.name), &read_value);
      if (!s.IsNotFound()) {
        ETAGD_RETURN_IF_ERROR(FromRocks(s, "reading a resource"));
        current_value = ToView(read_value);
        ETAGD_ASSIGN_OR_RETURN(decoded,
                               DecodeValue(current_value, request.name));
        current = &decoded->meta;
      }
    }
    const int64_t current_revision =
        current != nullptr ? current->revision() : 0;
    if (current_revision != request.expected_revision &&
        !options_.non_atomic_writes_for_test) {
      return absl::AbortedError(absl::StrCat("the resource changed (revision ",
                                             current_revision, ", expected ",
                                             request.expected_revision, ")"));
    }
    const bool live = current != nullptr && !current->deleted();
    if (request.is_delete && !live) {
      return absl::NotFoundError("the resource does not exist");
    }
    // Before a revision is taken: a refused write leaves no gap.
    const bool forget_history = request.is_delete && full;
    const size_t history_copy =
        current != nullptr && options_.history_depth > 0 && !forget_history
            ? current_value.size()
            : 0;
    const int64_t bytes = WriteBytes(request, history_copy);
    ETAGD_RETURN_IF_ERROR(request.is_delete ? guard_->AdmitDelete(bytes)
                                            : guard_->AdmitPut(bytes));

    // An import's time, never before the record it replaces.
    std::optional<absl::Time> imported_time;
    if (request.import_update_time.has_value()) {
      imported_time = absl::FromUnixMicros(
          absl::ToUnixMicros(*request.import_update_time));
      if (current != nullptr) {
        imported_time = std::max(
            *imported_time, absl::FromUnixMicros(current->update_time_us()));
      }
    }
    auto [revision, now, nonce] = NextRevision(allocated, imported_time);
    storage::StoredRecord& next = last->meta;
    next.set_revision(revision);
    next.set_update_time_us(absl::ToUnixMicros(now));
    next.set_request_id(std::string(request.request_id));
    if (request.is_delete) {
      next.set_deleted(true);
      next.set_etag(current->etag());
    } else {
      next.set_content_type(std::string(request.content_type));
      StoreHttpMetadata(request.metadata, &next);
      next.set_etag(NewEntityTag(revision, nonce));
      next.set_created(!live);
      next.set_create_revision(live ? current->create_revision()
                                    : revision);
      next.set_version(live ? current->version() + 1 : 1);
      next.set_create_time_us(
          live ? current->create_time_us()
          : imported_time.has_value() && request.import_create_time.has_value()
              ? absl::ToUnixMicros(*request.import_create_time)
              : next.update_time_us());
    }

    // Before the history lists join `next`: the entry leaves them out.
    const std::string change = EncodeChange(
        request.name, next,
        request.is_delete ? 0 : static_cast<int64_t>(request.content.size()));
    if (current != nullptr) {
      AddToHistory(engine, request.name, *current, current_value,
                   forget_history, &next, batch);
    }
    std::string value = EncodeValue(
        next, request.is_delete ? absl::string_view() : request.content);
    ETAGD_RETURN_IF_ERROR(
        FromRocks(batch->Put(engine.resources(), ToSlice(request.name), value),
                  "batching"));
    ETAGD_RETURN_IF_ERROR(FromRocks(
        batch->Put(engine.changes(), ChangeKey(revision), change),
        "batching"));

    Record record = ToRecord(
        request.name, next,
        request.is_delete ? absl::string_view() : request.content,
        /*with_content=*/false);
    last->name = std::string(request.name);
    last->value = std::move(value);
    return record;
  }

  // The stripe's kept record if it is `name`'s. The caller holds the
  // name's stripe.
  const LastWrite* LastWriteLocked(absl::string_view name) const {
    if (options_.non_atomic_writes_for_test) return nullptr;  // No stripes.
    const LastWrite* kept = last_writes_[StripeIndex(name)].get();
    return kept != nullptr && kept->name == name ? kept : nullptr;
  }

  // Keeps `last`, a committed write's record, for the next write of its
  // name, in place of its stripe's previous one; drops it instead if it is
  // large or the budget is spent (the next write then reads the record).
  // The caller holds the name's stripe.
  void KeepLastWriteLocked(std::unique_ptr<LastWrite> last) {
    if (options_.non_atomic_writes_for_test) return;
    std::unique_ptr<LastWrite>& slot = last_writes_[StripeIndex(last->name)];
    if (slot != nullptr) {
      last_write_bytes_.fetch_sub(slot->bytes());
      slot.reset();
    }
    const int64_t bytes = last->bytes();
    if (last->value.size() > kLastWriteMaxValueBytes ||
        last_write_bytes_.fetch_add(bytes) + bytes > kLastWriteBudgetBytes) {
      if (last->value.size() <= kLastWriteMaxValueBytes) {
        last_write_bytes_.fetch_sub(bytes);
      }
      return;
    }
    slot = std::move(last);
  }

  // The next revision, a time no earlier than any handed out before (the
  // wall clock may step back), and the random part of the entity-tag, which
  // keeps tags unique even if a store restored from an old backup hands out
  // a revision again.
  // The revision is pending (holds committed_revision below it) until
  // SettleRevisions; it is appended to `allocated`. An import's
  // `imported_time` is the write's time instead, and no later write gets an
  // earlier one.
  Allocation NextRevision(std::vector<int64_t>* allocated,
                          std::optional<absl::Time> imported_time)
      ABSL_LOCKS_EXCLUDED(clock_mu_) {
    absl::MutexLock lock(&clock_mu_);
    Allocation allocation;
    allocation.revision = ++last_revision_;
    watermark_.Begin(allocation.revision);
    allocated->push_back(allocation.revision);
    absl::Time now =
        absl::FromUnixMicros(absl::ToUnixMicros(options_.clock()));
    last_time_ = std::max(last_time_, now);
    if (imported_time.has_value()) {
      last_time_ = std::max(last_time_, *imported_time);
      allocation.time = *imported_time;
    } else {
      allocation.time = last_time_;
    }
    allocation.nonce = absl::Uniform<uint64_t>(bitgen_);
    return allocation;
  }

  // Marks `revisions` committed or failed (their batch is done either way),
  // advances committed_revision past every revision no longer pending, and
  // tells the listener.
  void SettleRevisions(const std::vector<int64_t>& revisions)
      ABSL_LOCKS_EXCLUDED(clock_mu_, listener_mu_) {
    {
      absl::MutexLock lock(&clock_mu_);
      for (int64_t revision : revisions) watermark_.Settle(revision);
      committed_.store(watermark_.committed());
    }
    absl::ReaderMutexLock lock(&listener_mu_);
    if (commit_listener_) commit_listener_();
  }

  absl::Status CheckFloor(int64_t from_revision) const {
    const int64_t floor = change_floor_.load();
    if (from_revision >= floor) return absl::OkStatus();
    return absl::OutOfRangeError(absl::StrCat(
        "revision ", from_revision,
        " is no longer in the change log; its oldest revision is ", floor));
  }

  void LogPruneError(const absl::Status& status) {
    std::string line =
        absl::StrCat("cannot prune the change log: ", status.message());
    absl::MutexLock lock(&prune_mu_);
    if (line == last_prune_log_) return;
    Log(LogLevel::kWarning, line);
    last_prune_log_ = std::move(line);
  }

  // Moves the current record, `meta` (encoded as `current_value`), into
  // history and prunes the oldest past records beyond the configured depth;
  // with `forget`, drops every past record instead and keeps none. Updates
  // next->history_revisions accordingly.
  void AddToHistory(Engine& engine, absl::string_view name,
                    const storage::StoredRecord& meta,
                    absl::string_view current_value, bool forget,
                    storage::StoredRecord* next, rocksdb::WriteBatch* batch) {
    const size_t depth =
        forget ? 0 : static_cast<size_t>(std::max(0, options_.history_depth));
    // The past records, oldest first, then the current one, which joins
    // them only if some of the history is kept.
    const int past = meta.history_revisions_size();
    const size_t listed = static_cast<size_t>(past) + (depth > 0 ? 1 : 0);
    const size_t drop = listed > depth ? listed - depth : 0;
    next->mutable_history_revisions()->Reserve(
        static_cast<int>(listed - drop));
    next->mutable_history_request_ids()->Reserve(
        static_cast<int>(listed - drop));
    for (size_t i = 0; i < listed; ++i) {
      const int index = static_cast<int>(i);
      const bool is_current = index == past;
      const int64_t revision =
          is_current ? meta.revision() : meta.history_revisions(index);
      if (i < drop) {
        // A batch operation fails only on a corrupt batch, which Write() on
        // the same batch would report.
        batch->Delete(engine.history(), HistoryKey(name, revision))
            .PermitUncheckedError();
        continue;
      }
      next->add_history_revisions(revision);
      if (is_current) {
        next->add_history_request_ids(meta.request_id());
      } else if (index < meta.history_request_ids_size()) {
        next->add_history_request_ids(meta.history_request_ids(index));
      } else {
        next->add_history_request_ids();
      }
    }
    if (depth > 0) {
      batch
          ->Put(engine.history(), HistoryKey(name, meta.revision()),
                ToSlice(current_value))
          .PermitUncheckedError();
    }
  }

  // The status of a failed commit (or checkpoint): for lack of space, the
  // guard's refusal, which names what is full.
  absl::Status CommitError(const rocksdb::Status& s) {
    if (s.ok() || !s.IsNoSpace()) return FromRocks(s, "writing");
    // The listener has told the guard by now (RocksDB reports the error to
    // listeners before it returns it); this is for an error it did not see.
    if (guard_->Refusal().ok()) guard_->SetEngineProblem(kEngineNoSpace);
    return guard_->Refusal();
  }

  // Remembers the names that committed deletes freed while the store was
  // full, for ReclaimLocked.
  void NoteDeletes(absl::Span<const WriteRequest> requests,
                   const std::vector<absl::StatusOr<Record>>& results)
      ABSL_LOCKS_EXCLUDED(deleted_mu_) {
    absl::MutexLock lock(&deleted_mu_);
    for (size_t i = 0; i < requests.size(); ++i) {
      if (!requests[i].is_delete || !results[i].ok()) continue;
      const std::string name(requests[i].name);
      if (!deleted_.has_value()) {
        deleted_.emplace(name, name);
      } else {
        deleted_->first = std::min(deleted_->first, name);
        deleted_->second = std::max(deleted_->second, name);
      }
    }
  }

  // Bytes of the files in the data directory (their sizes, not the blocks
  // preallocated beyond them), and the volume's free space.
  absl::StatusOr<SpaceSample> MeasureSpaceLocked()
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(check_mu_) {
    const rocksdb::IOOptions io;
    uint64_t free_bytes = 0;
    ETAGD_RETURN_IF_ERROR(
        FromRocks(fs_->GetFreeSpace(options_.path, io, &free_bytes, nullptr),
                  "measuring the free space"));
    std::vector<std::string> children;
    ETAGD_RETURN_IF_ERROR(
        FromRocks(fs_->GetChildren(options_.path, io, &children, nullptr),
                  "listing the data directory"));
    SpaceSample sample;
    sample.free_bytes =
        static_cast<int64_t>(std::min<uint64_t>(free_bytes, INT64_MAX / 2));
    for (const std::string& child : children) {
      uint64_t size = 0;
      // A file may be gone since the listing (compaction, a new log).
      if (fs_->GetFileSize(absl::StrCat(options_.path, "/", child), io, &size,
                           nullptr)
              .ok()) {
        sample.store_bytes += static_cast<int64_t>(size);
      }
    }
    return sample;
  }

  void ResumeLocked(Engine& engine) ABSL_EXCLUSIVE_LOCKS_REQUIRED(check_mu_) {
    rocksdb::Status s = engine.db->Resume();
    if (s.ok()) {
      listener_->Resumed();
      LogChangeLocked(LogLevel::kInfo,
                      "RocksDB writes again: space was freed and it flushed "
                      "its memtables");
      return;
    }
    LogChangeLocked(LogLevel::kWarning,
                    absl::StrCat("RocksDB cannot write again yet: ",
                                 s.ToString(), "; retrying"));
  }

  // While the store is full: flushes the memtables once (the write-ahead log
  // they pin can then go), and after deletes compacts the range of names
  // they freed, through every level, so that the versions they replaced are
  // dropped; then measures again. The compaction runs on this thread (the
  // store's destructor cancels it); a lack of space there is a compaction's
  // "soft" error, reported to the listener, and the next check tries again.
  void ReclaimLocked(Engine& engine) ABSL_EXCLUSIVE_LOCKS_REQUIRED(check_mu_) {
    std::optional<std::pair<std::string, std::string>> deleted;
    {
      absl::MutexLock lock(&deleted_mu_);
      deleted.swap(deleted_);
    }
    if (flushed_while_full_ && !deleted.has_value()) return;
    flushed_while_full_ = true;
    rocksdb::FlushOptions flush;
    flush.wait = !deleted.has_value();
    flush.allow_write_stall = true;
    rocksdb::Status s = engine.db->Flush(flush, engine.families);
    if (s.ok() && deleted.has_value()) {
      rocksdb::CompactRangeOptions compact;
      compact.bottommost_level_compaction =
          rocksdb::BottommostLevelCompaction::kForceOptimized;
      compact.allow_write_stall = true;
      compact.canceled = &cancel_compactions_;
      const rocksdb::Slice first(deleted->first);
      const rocksdb::Slice last(deleted->second);
      s = engine.db->CompactRange(compact, engine.resources(), &first, &last);
      // History keys are name '\0' revision; names hold no control bytes.
      const std::string history_first = deleted->first + '\0';
      const std::string history_last = deleted->second + '\1';
      const rocksdb::Slice hfirst(history_first);
      const rocksdb::Slice hlast(history_last);
      if (s.ok()) {
        s = engine.db->CompactRange(compact, engine.history(), &hfirst, &hlast);
      }
    }
    if (!s.ok()) {
      LogChangeLocked(LogLevel::kWarning,
                      absl::StrCat("cannot flush or compact to free space: ",
                                   s.ToString()));
      return;
    }
    absl::StatusOr<SpaceSample> sample = MeasureSpaceLocked();
    if (sample.ok()) guard_->Update(*sample);
  }

  // Opens the store read-write in place of the read-only engine, which is
  // closed once the reads on it are done.
  void ReopenReadWriteLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(check_mu_) {
    UnlockDirectoryLocked();  // DB::Open takes the lock itself.
    Opened opened = OpenEngine(context_, /*read_only=*/false);
    absl::StatusOr<Clock> clock = absl::UnknownError("not read");
    if (opened.status.ok()) clock = ReadClock(*opened.engine, options_.path);
    if (!opened.status.ok() || !clock.ok()) {
      opened.engine.reset();
      LockDirectoryLocked();
      LogChangeLocked(LogLevel::kWarning,
                      absl::StrCat("the store stays read-only: ",
                                   opened.status.ok()
                                       ? std::string(clock.status().message())
                                       : opened.status.ToString()));
      return;
    }
    // A store first opened read-only has its change log's floor in memory
    // only; this stores it (a failure leaves it to the next open).
    ReadChangeFloor(*opened.engine, options_.path, clock->revision)
        .IgnoreError();
    {
      // Nothing was written meanwhile (the read-only engine refuses every
      // write, and the directory stayed locked); this is belt and braces.
      absl::MutexLock lock(&clock_mu_);
      last_revision_ = std::max(last_revision_, clock->revision);
      last_time_ = std::max(last_time_, clock->time);
    }
    Engine* read_only = engine_.load();
    engine_.store(opened.engine.get());
    engines_.push_back(std::move(opened.engine));
    // Reads that took the read-only engine before the switch are short: a
    // point read or one page of a listing.
    while (read_only->readers.load() > 0) absl::SleepFor(absl::Milliseconds(1));
    read_only->Close();
    LogChangeLocked(LogLevel::kInfo,
                    absl::StrCat("the store in ", options_.path,
                                 " is open read-write again: the disk has "
                                 "room"));
    guard_->ClearEngineProblem();
  }

  void LockDirectoryLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(check_mu_) {
    if (directory_lock_ != nullptr) return;
    rocksdb::IOStatus s =
        fs_->LockFile(absl::StrCat(options_.path, "/LOCK"),
                      rocksdb::IOOptions(), &directory_lock_, nullptr);
    if (!s.ok()) {
      directory_lock_ = nullptr;
      Log(LogLevel::kError,
          absl::StrCat("cannot lock the data directory ", options_.path,
                       " again: ", s.ToString()));
    }
  }

  void UnlockDirectoryLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(check_mu_) {
    if (directory_lock_ == nullptr) return;
    // Released by the kernel at exit anyway; nothing to recover.
    fs_->UnlockFile(directory_lock_, rocksdb::IOOptions(), nullptr)
        .PermitUncheckedError();
    directory_lock_ = nullptr;
  }

  // Logs `line` unless it is what the space check logged last: a state that
  // persists is logged once, not at every check.
  void LogChangeLocked(LogLevel level, std::string line)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(check_mu_) {
    if (line == last_check_log_) return;
    Log(level, line);
    last_check_log_ = std::move(line);
  }

  const RocksDbStoreOptions options_;
  // Outlives the engines.
  const std::unique_ptr<rocksdb::Env> env_;
  const std::shared_ptr<rocksdb::FileSystem> fs_;
  const OpenContext context_;
  // Outlive the engines, whose RocksDB instances call the listener.
  const std::unique_ptr<SpaceGuard> guard_;
  const std::shared_ptr<NoSpaceListener> listener_;

  rocksdb::WriteOptions write_options_;
  std::array<absl::Mutex, kLockStripes> stripes_;
  // Each stripe's last committed write, if kept (LastWrite); guarded by
  // that stripe.
  std::array<std::unique_ptr<LastWrite>, kLockStripes> last_writes_;
  // Bytes of value the last_writes_ hold, at most kLastWriteBudgetBytes.
  std::atomic<int64_t> last_write_bytes_{0};

  // The engine reads and writes use; one of engines_.
  std::atomic<Engine*> engine_;

  // One space check at a time.
  absl::Mutex check_mu_;
  // Every engine opened, the current one last (a replaced one is closed but
  // kept: a read may still look at it, see EngineRef).
  std::vector<std::unique_ptr<Engine>> engines_ ABSL_GUARDED_BY(check_mu_);
  rocksdb::FileLock* directory_lock_ ABSL_GUARDED_BY(check_mu_);
  bool flushed_while_full_ ABSL_GUARDED_BY(check_mu_) = false;
  std::string last_check_log_ ABSL_GUARDED_BY(check_mu_);

  absl::Mutex deleted_mu_ ABSL_ACQUIRED_AFTER(check_mu_);
  // The first and last names deleted while the store was full, since the
  // last ReclaimLocked.
  std::optional<std::pair<std::string, std::string>> deleted_
      ABSL_GUARDED_BY(deleted_mu_);

  // Writers hold it shared, View() exclusively (see WriteMany).
  absl::Mutex commit_gate_ ABSL_ACQUIRED_BEFORE(clock_mu_);

  absl::Mutex clock_mu_;
  int64_t last_revision_ ABSL_GUARDED_BY(clock_mu_);
  absl::Time last_time_ ABSL_GUARDED_BY(clock_mu_);
  absl::BitGen bitgen_ ABSL_GUARDED_BY(clock_mu_);
  // Revisions handed out whose batch is not done yet.
  CommitWatermark watermark_ ABSL_GUARDED_BY(clock_mu_);

  // Every revision up to it is committed or failed (written under clock_mu_).
  std::atomic<int64_t> committed_;
  // The change log's oldest revision (raised by PruneChanges only).
  std::atomic<int64_t> change_floor_;
  absl::Mutex prune_mu_;
  std::string last_prune_log_ ABSL_GUARDED_BY(prune_mu_);
  absl::Mutex listener_mu_;
  std::function<void()> commit_listener_ ABSL_GUARDED_BY(listener_mu_);
  std::thread pruner_;

  // Cancels ReclaimLocked's compactions at shutdown.
  std::atomic<bool> cancel_compactions_{false};
  absl::Mutex stop_mu_;
  bool stopping_ ABSL_GUARDED_BY(stop_mu_) = false;
  std::thread space_checker_;
};

// A snapshot of the resources at one revision. Must not outlive its store.
class RocksDbView final : public StoreView {
 public:
  RocksDbView(const std::atomic<Engine*>& engine, int64_t revision)
      : engine_(engine), revision_(revision) {
    snapshot_ = engine_->db->GetSnapshot();
  }
  ~RocksDbView() override { engine_->db->ReleaseSnapshot(snapshot_); }

  int64_t revision() const override { return revision_; }

  absl::StatusOr<ListPage> List(absl::string_view prefix,
                                absl::string_view start_after, int limit,
                                bool with_content) override {
    rocksdb::ReadOptions read_options;
    read_options.snapshot = snapshot_;
    return RocksDbStore::ListFrom(*engine_, read_options, prefix, start_after,
                                  limit, with_content);
  }

 private:
  // Holds the engine (a read-only one is not replaced while held).
  EngineRef engine_;
  const int64_t revision_;
  const rocksdb::Snapshot* snapshot_ = nullptr;
};

absl::StatusOr<std::unique_ptr<StoreView>> RocksDbStore::View() {
  // No batch is between its first revision and its commit while the gate is
  // held: the snapshot holds exactly the revisions up to committed_.
  absl::MutexLock gate(&commit_gate_);
  return std::unique_ptr<StoreView>(
      std::make_unique<RocksDbView>(engine_, committed_.load()));
}

absl::Status OpenError(const rocksdb::Status& status, const std::string& path) {
  std::string detail = status.ToString();
  if (status.IsIOError() && (detail.find("lock") != std::string::npos ||
                             detail.find("LOCK") != std::string::npos)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "data directory ", path,
        " is locked by another process (is another etagd running on it?): ",
        detail));
  }
  return absl::UnavailableError(
      absl::StrCat("cannot open the database in ", path, ": ", detail));
}

}  // namespace

absl::StatusOr<std::unique_ptr<Store>> OpenRocksDbStore(
    const RocksDbStoreOptions& options) {
  if (options.path.empty()) {
    return absl::InvalidArgumentError("the data directory path is empty");
  }
  // RocksDB creates the directory but not its parents.
  std::error_code mkdir_error;
  std::filesystem::create_directories(options.path, mkdir_error);
  if (mkdir_error) {
    return absl::UnavailableError(absl::StrCat(
        "cannot create the data directory ", options.path, ": ",
        mkdir_error.message()));
  }
  OpenContext context;
  context.path = options.path;
  rocksdb::DBOptions& db_options = context.db_options;
  std::shared_ptr<rocksdb::FileSystem> fs =
      options.file_system_for_test != nullptr ? options.file_system_for_test
                                              : rocksdb::FileSystem::Default();
  if (options.simulate_power_loss_for_test) {
    ETAGD_ASSIGN_OR_RETURN(fs, SimulatePowerLoss(fs, options.path));
  }
  std::unique_ptr<rocksdb::Env> env;
  if (fs != rocksdb::FileSystem::Default()) {
    env = rocksdb::NewCompositeEnv(fs);
    db_options.env = env.get();
  }
  SpaceLimits limits = options.space;
  limits.reserve_bytes = ReserveBytes(options.space, options.path);
  auto guard = std::make_unique<SpaceGuard>(limits, options.path);
  auto listener = std::make_shared<NoSpaceListener>(*guard);
  db_options.listeners.push_back(listener);
  db_options.info_log = std::make_shared<StoreLogger>(fs, options.path);
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.IncreaseParallelism(2);
  // A restart replays the write-ahead log into memtables and flushes them
  // later, as usual: opening then needs no room for new table files.
  db_options.avoid_flush_during_recovery = true;

  // What RocksDB writes beside the data is sized from the reserve (at
  // RocksDB's defaults from 1 GiB of reserve up), so that it fits in it:
  // memtables of a sixteenth of it (flushing the two of each large family,
  // one full and one filling, takes a quarter), table files as large, and a
  // first level and single compactions of a quarter (compacting the first
  // levels, the largest compaction, takes at most half).
  // Without a reserve, RocksDB's defaults.
  const int64_t reserve = limits.reserve_bytes;
  const int64_t memtable_bytes =
      reserve > 0
          ? std::clamp(reserve / 16, kMinMemtableBytes, kMaxMemtableBytes)
          : kMaxMemtableBytes;
  const int64_t level_bytes =
      reserve > 0 ? std::clamp(reserve / 4, 4 * kMinMemtableBytes,
                               4 * kMaxMemtableBytes)
                  : 4 * kMaxMemtableBytes;
  // Every write also touches the small default family (the revision
  // counter), which rarely fills a memtable; without a cap, old WAL files
  // would be kept (and replayed at startup) up to several GiB. Past this
  // size (128 MiB with the largest memtables) RocksDB flushes the families
  // that pin the oldest WAL.
  db_options.max_total_wal_size = static_cast<uint64_t>(2 * memtable_bytes);

  std::shared_ptr<rocksdb::Cache> cache =
      rocksdb::NewLRUCache(static_cast<size_t>(options.block_cache_bytes));
  rocksdb::BlockBasedTableOptions table_options;
  table_options.block_cache = cache;
  table_options.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));

  rocksdb::ColumnFamilyOptions meta_options;
  meta_options.merge_operator = std::make_shared<MaxMergeOperator>();
  meta_options.memtable_insert_with_hint_prefix_extractor.reset(
      rocksdb::NewNoopTransform());

  rocksdb::ColumnFamilyOptions resource_options;
  resource_options.table_factory.reset(
      rocksdb::NewBlockBasedTableFactory(table_options));
  resource_options.write_buffer_size = static_cast<size_t>(memtable_bytes);
  resource_options.target_file_size_base =
      static_cast<uint64_t>(memtable_bytes);
  resource_options.max_bytes_for_level_base =
      static_cast<uint64_t>(level_bytes);
  resource_options.max_compaction_bytes = static_cast<uint64_t>(level_bytes);
  resource_options.memtable_insert_with_hint_prefix_extractor.reset(
      rocksdb::NewNoopTransform());

  rocksdb::ColumnFamilyOptions changes_options;
  changes_options.write_buffer_size = static_cast<size_t>(memtable_bytes);
  changes_options.target_file_size_base = static_cast<uint64_t>(memtable_bytes);

  rocksdb::ColumnFamilyOptions history_options = resource_options;
  // Pruning deletes past records steadily; compact files dense with
  // deletions so that listing history does not wade through tombstones.
  history_options.table_properties_collector_factories.push_back(
      rocksdb::NewCompactOnDeletionCollectorFactory(128, 64));
  history_options.memtable_insert_with_hint_prefix_extractor =
      std::make_shared<HistoryNamePrefix>();

  context.descriptors = {
      {rocksdb::kDefaultColumnFamilyName, meta_options},
      {kResourcesFamily, resource_options},
      {kHistoryFamily, history_options},
      {kChangesFamily, changes_options},
  };

  Opened opened = OpenEngine(context, /*read_only=*/false);
  rocksdb::FileLock* directory_lock = nullptr;
  auto unlock = [&] {
    if (directory_lock == nullptr) return;
    // Released by the kernel at exit anyway; nothing to recover.
    fs->UnlockFile(directory_lock, rocksdb::IOOptions(), nullptr)
        .PermitUncheckedError();
    directory_lock = nullptr;
  };
  if (!opened.status.ok() && opened.status.IsNoSpace()) {
    // A read-only instance writes nothing, and takes no lock: hold the
    // directory's lock meanwhile, so that no other etagd opens it.
    Log(LogLevel::kWarning,
        absl::StrCat("the disk is too full to open the store in ", options.path,
                     " read-write (", opened.status.ToString(),
                     "); opening it read-only"));
    rocksdb::IOStatus locked =
        fs->LockFile(absl::StrCat(options.path, "/LOCK"), rocksdb::IOOptions(),
                     &directory_lock, nullptr);
    if (!locked.ok()) return OpenError(locked, options.path);
    Opened read_only = OpenEngine(context, /*read_only=*/true);
    if (!read_only.status.ok()) {
      unlock();
      return OpenError(opened.status, options.path);
    }
    opened = std::move(read_only);
  }
  if (!opened.status.ok()) return OpenError(opened.status, options.path);

  absl::Status format = CheckFormat(*opened.engine, options.path);
  absl::StatusOr<Clock> clock = absl::UnknownError("not read");
  if (format.ok()) clock = ReadClock(*opened.engine, options.path);
  if (clock.ok()) {
    absl::StatusOr<int64_t> floor =
        ReadChangeFloor(*opened.engine, options.path, clock->revision);
    if (floor.ok()) {
      clock->change_floor = *floor;
    } else {
      clock = floor.status();
    }
  }
  if (!format.ok() || !clock.ok()) {
    opened.engine.reset();
    unlock();
    return format.ok() ? clock.status() : format;
  }

  auto store = std::make_unique<RocksDbStore>(
      options, std::move(env), std::move(fs), std::move(context),
      std::move(guard), std::move(listener), std::move(opened.engine),
      directory_lock, *clock);
  store->StartSpaceChecks();
  return std::unique_ptr<Store>(std::move(store));
}

absl::Status PruneChangesForTest(Store& store) {
  auto* rocksdb_store = dynamic_cast<RocksDbStore*>(&store);
  if (rocksdb_store == nullptr) {
    return absl::InvalidArgumentError("not a store from OpenRocksDbStore");
  }
  return rocksdb_store->PruneChanges();
}

absl::Status CheckSpaceForTest(Store& store) {
  auto* rocksdb_store = dynamic_cast<RocksDbStore*>(&store);
  if (rocksdb_store == nullptr) {
    return absl::InvalidArgumentError("not a store from OpenRocksDbStore");
  }
  return rocksdb_store->CheckSpace();
}

}  // namespace etagd
