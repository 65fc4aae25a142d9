// The only file that includes RocksDB headers; rocksdb::Status becomes
// absl::Status here.
//
// Layout, in three column families:
//   resources  name                        -> current record (live or deleted)
//   history    name '\0' big-endian(rev)   -> past record
//   default    "clock"                     -> big-endian(revision), big-endian(us)
//              "format"                    -> kFormat
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
#include "service/rocksdb_store.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <system_error>
#include <optional>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_set.h"
#include "absl/hash/hash.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "rocksdb/cache.h"
#include "rocksdb/db.h"
#include "rocksdb/env.h"
#include "rocksdb/file_system.h"
#include "rocksdb/filter_policy.h"
#include "rocksdb/merge_operator.h"
#include "rocksdb/options.h"
#include "rocksdb/table.h"
#include "rocksdb/utilities/checkpoint.h"
#include "rocksdb/utilities/table_properties_collectors.h"
#include "rocksdb/write_batch.h"
#include "service/record.pb.h"
#include "service/status_macros.h"

namespace etagd {
namespace {

constexpr char kResourcesFamily[] = "resources";
constexpr char kHistoryFamily[] = "history";
constexpr char kClockKey[] = "clock";
constexpr char kFormatKey[] = "format";
constexpr char kFormat[] = "etagd-store-1";
constexpr int kLockStripes = 1024;

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

std::string EncodeClock(int64_t revision, absl::Time time) {
  std::string out;
  AppendBigEndian64(static_cast<uint64_t>(revision), &out);
  AppendBigEndian64(static_cast<uint64_t>(absl::ToUnixMicros(time)), &out);
  return out;
}

// A value: 4-byte little-endian metadata length, StoredRecord, content.
std::string EncodeValue(const storage::StoredRecord& meta,
                        absl::string_view content) {
  std::string serialized = meta.SerializeAsString();
  std::string out;
  out.reserve(4 + serialized.size() + content.size());
  uint32_t n = static_cast<uint32_t>(serialized.size());
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out.append(serialized);
  out.append(content.data(), content.size());
  return out;
}

struct DecodedValue {
  storage::StoredRecord meta;
  absl::string_view content;
};

absl::StatusOr<DecodedValue> DecodeValue(absl::string_view value,
                                         absl::string_view key) {
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
  DecodedValue decoded;
  if (!decoded.meta.ParseFromArray(value.data() + 4, static_cast<int>(n))) {
    return absl::DataLossError("unparseable record metadata");
  }
  decoded.content = value.substr(4 + n);
  return decoded;
}

Record ToRecord(absl::string_view name, const DecodedValue& decoded,
                bool with_content) {
  const storage::StoredRecord& meta = decoded.meta;
  Record record;
  record.name = std::string(name);
  if (with_content) record.content = std::string(decoded.content);
  record.content_length = static_cast<int64_t>(decoded.content.size());
  record.content_type = meta.content_type();
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
  return record;
}

// ---------------------------------------------------------------------------
// Simulated power loss (RocksDbStoreOptions::simulate_power_loss_for_test).
//
// A power loss keeps what was synced and loses the rest: file data written
// but not synced, and directory entries (new files, renames, links) made
// since the directory's last sync. PowerLossFileSystem makes a kill -9 of
// this process lose the same:
// - A writable file keeps what is appended to it in this process's memory,
//   standing in for the page cache. Sync and Fsync write it to the real file
//   (and sync that), so a kill -9 loses exactly the unsynced suffix. Close
//   writes it too, without a sync (the file can be read back afterwards, as
//   from the page cache).
// - Names made since their directory's last sync are listed in
//   kUnsyncedNamesFile inside the data directory (test bookkeeping: the page
//   cache is enough for it). The next open with the option deletes them
//   before RocksDB looks.
// Simplifications: a rename over an existing file is undone by deleting the
// new name rather than bringing the old file back, deletions always stick,
// and data written and closed without a sync survives. RocksDB syncs every
// file before closing it except, with sync_writes off, the write-ahead log
// at shutdown: so after a clean shutdown nothing is lost here, where a real
// power loss soon after could still lose the unsynced writes.

constexpr char kUnsyncedNamesFile[] = "SIMULATED_POWER_LOSS_UNSYNCED_NAMES";

std::string NormalPath(const std::string& path) {
  std::string normal = std::filesystem::path(path).lexically_normal().string();
  while (normal.size() > 1 && normal.back() == '/') normal.pop_back();
  return normal;
}

// The names that a power loss would lose now. Thread-safe.
class UnsyncedNames {
 public:
  explicit UnsyncedNames(std::string list_path)
      : list_path_(std::move(list_path)) {}

  rocksdb::IOStatus Add(const std::string& path) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (!names_.insert(NormalPath(path)).second) return rocksdb::IOStatus::OK();
    return SaveLocked();
  }

  rocksdb::IOStatus Remove(const std::string& path) ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    if (names_.erase(NormalPath(path)) == 0) return rocksdb::IOStatus::OK();
    return SaveLocked();
  }

  rocksdb::IOStatus Rename(const std::string& from, const std::string& to)
      ABSL_LOCKS_EXCLUDED(mu_) {
    absl::MutexLock lock(&mu_);
    names_.erase(NormalPath(from));
    names_.insert(NormalPath(to));
    return SaveLocked();
  }

  // A sync of `directory` makes the names in it durable.
  rocksdb::IOStatus DirectorySynced(const std::string& directory)
      ABSL_LOCKS_EXCLUDED(mu_) {
    const std::string normal = NormalPath(directory);
    absl::MutexLock lock(&mu_);
    bool changed = false;
    for (auto it = names_.begin(); it != names_.end();) {
      if (std::filesystem::path(*it).parent_path().string() == normal) {
        it = names_.erase(it);
        changed = true;
      } else {
        ++it;
      }
    }
    return changed ? SaveLocked() : rocksdb::IOStatus::OK();
  }

 private:
  // Writes a new list and renames it over the old one, so that a kill -9
  // leaves one of them whole.
  rocksdb::IOStatus SaveLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const std::string temp = list_path_ + ".tmp";
    {
      std::ofstream out(temp, std::ios::trunc);
      for (const std::string& name : names_) out << name << '\n';
      out.flush();
      if (!out) return rocksdb::IOStatus::IOError("cannot write ", temp);
    }
    std::error_code error;
    std::filesystem::rename(temp, list_path_, error);
    if (error) return rocksdb::IOStatus::IOError(list_path_, error.message());
    return rocksdb::IOStatus::OK();
  }

  const std::string list_path_;
  absl::Mutex mu_;
  std::set<std::string> names_ ABSL_GUARDED_BY(mu_);
};

// Thread-safe (IsSyncThreadSafe): RocksDB may sync a WAL while appending.
class PowerLossWritableFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  // `size` bytes are already in the file, durably.
  PowerLossWritableFile(std::unique_ptr<rocksdb::FSWritableFile> target,
                        uint64_t size)
      : FSWritableFileOwnerWrapper(std::move(target)),
        written_(size),
        size_(size) {}

  ~PowerLossWritableFile() override {
    // A file dropped without Close hands its data to the kernel all the
    // same, as the exit of a process would.
    bool closed;
    {
      absl::MutexLock order(&sync_mu_);
      closed = closed_;
    }
    if (!closed) {
      // Nobody is left to hear of a failure.
      Close(rocksdb::IOOptions(), nullptr).PermitUncheckedError();
    }
  }

  rocksdb::IOStatus Append(const rocksdb::Slice& data,
                           const rocksdb::IOOptions& /*options*/,
                           rocksdb::IODebugContext* /*dbg*/) override {
    absl::MutexLock lock(&mu_);
    unsynced_.append(data.data(), data.size());
    size_ += data.size();
    return rocksdb::IOStatus::OK();
  }
  rocksdb::IOStatus Append(const rocksdb::Slice& data,
                           const rocksdb::IOOptions& options,
                           const rocksdb::DataVerificationInfo& /*info*/,
                           rocksdb::IODebugContext* dbg) override {
    return Append(data, options, dbg);
  }
  // Only for direct I/O, which the store does not use.
  rocksdb::IOStatus PositionedAppend(const rocksdb::Slice& /*data*/,
                                     uint64_t /*offset*/,
                                     const rocksdb::IOOptions& /*options*/,
                                     rocksdb::IODebugContext* /*dbg*/) override {
    return rocksdb::IOStatus::NotSupported("PositionedAppend");
  }
  rocksdb::IOStatus PositionedAppend(
      const rocksdb::Slice& /*data*/, uint64_t /*offset*/,
      const rocksdb::IOOptions& /*options*/,
      const rocksdb::DataVerificationInfo& /*info*/,
      rocksdb::IODebugContext* /*dbg*/) override {
    return rocksdb::IOStatus::NotSupported("PositionedAppend");
  }
  bool use_direct_io() const override { return false; }

  // Handing data to the kernel makes it no more durable than keeping it
  // here: both are lost on power loss.
  rocksdb::IOStatus Flush(const rocksdb::IOOptions& /*options*/,
                          rocksdb::IODebugContext* /*dbg*/) override {
    return rocksdb::IOStatus::OK();
  }
  // Only starts write-back on a real file system; never a durability point.
  rocksdb::IOStatus RangeSync(uint64_t /*offset*/, uint64_t /*nbytes*/,
                              const rocksdb::IOOptions& /*options*/,
                              rocksdb::IODebugContext* /*dbg*/) override {
    return rocksdb::IOStatus::OK();
  }

  rocksdb::IOStatus Sync(const rocksdb::IOOptions& options,
                         rocksdb::IODebugContext* dbg) override {
    return WriteThrough(options, dbg, Then::kSync);
  }
  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* dbg) override {
    return WriteThrough(options, dbg, Then::kFsync);
  }
  rocksdb::IOStatus Close(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* dbg) override {
    return WriteThrough(options, dbg, Then::kClose);
  }
  bool IsSyncThreadSafe() const override { return true; }

  rocksdb::IOStatus Truncate(uint64_t size, const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
    absl::MutexLock order(&sync_mu_);
    absl::MutexLock lock(&mu_);
    size_ = size;
    if (size >= written_) {
      unsynced_.resize(size - written_);
      return rocksdb::IOStatus::OK();
    }
    unsynced_.clear();
    written_ = size;
    return target()->Truncate(size, options, dbg);
  }

  uint64_t GetFileSize(const rocksdb::IOOptions& /*options*/,
                       rocksdb::IODebugContext* /*dbg*/) override {
    absl::MutexLock lock(&mu_);
    return size_;
  }

 private:
  enum class Then { kSync, kFsync, kClose };

  // Writes the data kept so far to the real file, then syncs or closes it.
  // sync_mu_ keeps concurrent callers' writes in order; appends go on
  // meanwhile.
  rocksdb::IOStatus WriteThrough(const rocksdb::IOOptions& options,
                                 rocksdb::IODebugContext* dbg, Then then)
      ABSL_LOCKS_EXCLUDED(mu_, sync_mu_) {
    absl::MutexLock order(&sync_mu_);
    if (closed_) return rocksdb::IOStatus::OK();
    std::string data;
    {
      absl::MutexLock lock(&mu_);
      data.swap(unsynced_);
    }
    if (!data.empty()) {
      rocksdb::IOStatus s = target()->Append(data, options, dbg);
      if (s.ok()) s = target()->Flush(options, dbg);
      if (!s.ok()) return s;
      written_ += data.size();
    }
    switch (then) {
      case Then::kSync:
        return target()->Sync(options, dbg);
      case Then::kFsync:
        return target()->Fsync(options, dbg);
      case Then::kClose:
        closed_ = true;
        return target()->Close(options, dbg);
    }
    return rocksdb::IOStatus::OK();
  }

  // Lock order: sync_mu_, then mu_.
  absl::Mutex sync_mu_;
  uint64_t written_ ABSL_GUARDED_BY(sync_mu_);
  bool closed_ ABSL_GUARDED_BY(sync_mu_) = false;
  absl::Mutex mu_ ABSL_ACQUIRED_AFTER(sync_mu_);
  std::string unsynced_ ABSL_GUARDED_BY(mu_);
  uint64_t size_ ABSL_GUARDED_BY(mu_);
};

class PowerLossDirectory final : public rocksdb::FSDirectoryWrapper {
 public:
  PowerLossDirectory(std::unique_ptr<rocksdb::FSDirectory> target,
                     std::string path, UnsyncedNames& names)
      : FSDirectoryWrapper(std::move(target)),
        path_(std::move(path)),
        names_(names) {}

  rocksdb::IOStatus Fsync(const rocksdb::IOOptions& options,
                          rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = FSDirectoryWrapper::Fsync(options, dbg);
    return s.ok() ? names_.DirectorySynced(path_) : s;
  }
  rocksdb::IOStatus FsyncWithDirOptions(
      const rocksdb::IOOptions& options, rocksdb::IODebugContext* dbg,
      const rocksdb::DirFsyncOptions& dir_options) override {
    rocksdb::IOStatus s =
        FSDirectoryWrapper::FsyncWithDirOptions(options, dbg, dir_options);
    return s.ok() ? names_.DirectorySynced(path_) : s;
  }

 private:
  const std::string path_;
  UnsyncedNames& names_;
};

// Thread-safe.
class PowerLossFileSystem final : public rocksdb::FileSystemWrapper {
 public:
  PowerLossFileSystem(const std::shared_ptr<rocksdb::FileSystem>& target,
                      const std::string& unsynced_names_path)
      : FileSystemWrapper(target), names_(unsynced_names_path) {}

  static const char* kClassName() { return "etagd.PowerLossFileSystem"; }
  const char* Name() const override { return kClassName(); }

  rocksdb::IOStatus NewWritableFile(
      const std::string& path, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override {
    std::unique_ptr<rocksdb::FSWritableFile> file;
    rocksdb::IOStatus s = target()->NewWritableFile(path, options, &file, dbg);
    if (s.ok()) s = names_.Add(path);
    if (!s.ok()) return s;
    *result = std::make_unique<PowerLossWritableFile>(std::move(file), 0);
    return s;
  }

  rocksdb::IOStatus ReopenWritableFile(
      const std::string& path, const rocksdb::FileOptions& options,
      std::unique_ptr<rocksdb::FSWritableFile>* result,
      rocksdb::IODebugContext* dbg) override {
    uint64_t size = 0;
    rocksdb::IOStatus s =
        target()->GetFileSize(path, rocksdb::IOOptions(), &size, dbg);
    const bool existed = s.ok();
    std::unique_ptr<rocksdb::FSWritableFile> file;
    s = target()->ReopenWritableFile(path, options, &file, dbg);
    if (s.ok() && !existed) s = names_.Add(path);
    if (!s.ok()) return s;
    *result = std::make_unique<PowerLossWritableFile>(std::move(file), size);
    return s;
  }

  // These would write around the simulation; RocksDB uses them only for
  // recycled logs and external file ingestion, which the store does not use.
  rocksdb::IOStatus ReuseWritableFile(
      const std::string& /*path*/, const std::string& /*old_path*/,
      const rocksdb::FileOptions& /*options*/,
      std::unique_ptr<rocksdb::FSWritableFile>* /*result*/,
      rocksdb::IODebugContext* /*dbg*/) override {
    return rocksdb::IOStatus::NotSupported("ReuseWritableFile");
  }
  rocksdb::IOStatus NewRandomRWFile(
      const std::string& /*path*/, const rocksdb::FileOptions& /*options*/,
      std::unique_ptr<rocksdb::FSRandomRWFile>* /*result*/,
      rocksdb::IODebugContext* /*dbg*/) override {
    return rocksdb::IOStatus::NotSupported("NewRandomRWFile");
  }

  rocksdb::IOStatus NewDirectory(const std::string& path,
                                 const rocksdb::IOOptions& options,
                                 std::unique_ptr<rocksdb::FSDirectory>* result,
                                 rocksdb::IODebugContext* dbg) override {
    std::unique_ptr<rocksdb::FSDirectory> directory;
    rocksdb::IOStatus s =
        target()->NewDirectory(path, options, &directory, dbg);
    if (!s.ok()) return s;
    *result = std::make_unique<PowerLossDirectory>(std::move(directory), path,
                                                   names_);
    return s;
  }

  rocksdb::IOStatus DeleteFile(const std::string& path,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->DeleteFile(path, options, dbg);
    return s.ok() ? names_.Remove(path) : s;
  }
  rocksdb::IOStatus RenameFile(const std::string& from, const std::string& to,
                               const rocksdb::IOOptions& options,
                               rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->RenameFile(from, to, options, dbg);
    return s.ok() ? names_.Rename(from, to) : s;
  }
  rocksdb::IOStatus LinkFile(const std::string& from, const std::string& to,
                             const rocksdb::IOOptions& options,
                             rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->LinkFile(from, to, options, dbg);
    return s.ok() ? names_.Add(to) : s;
  }

 private:
  UnsyncedNames names_;
};

class RocksDbStore final : public Store {
 public:
  // `env` (may be null) is the one `db` was opened with.
  RocksDbStore(const RocksDbStoreOptions& options,
               std::unique_ptr<rocksdb::Env> env,
               std::unique_ptr<rocksdb::DB> db,
               std::vector<rocksdb::ColumnFamilyHandle*> families,
               int64_t last_revision, absl::Time last_time)
      : options_(options),
        env_(std::move(env)),
        db_(std::move(db)),
        families_(std::move(families)),
        last_revision_(last_revision),
        last_time_(last_time) {
    write_options_.sync = options.sync_writes;
  }

  ~RocksDbStore() override {
    for (rocksdb::ColumnFamilyHandle* family : families_) {
      // Failure to destroy a handle only leaks it; nothing to recover.
      db_->DestroyColumnFamilyHandle(family).PermitUncheckedError();
    }
    // Close() syncs nothing we need (every write is in the WAL); its status
    // is only informative at shutdown.
    db_->Close().PermitUncheckedError();
  }

  absl::StatusOr<std::optional<Record>> ReadCurrent(absl::string_view name,
                                                    bool with_content) override {
    rocksdb::PinnableSlice value;
    rocksdb::Status s =
        db_->Get(rocksdb::ReadOptions(), resources(), ToSlice(name), &value);
    if (s.IsNotFound()) return std::optional<Record>();
    ETAGD_RETURN_IF_ERROR(FromRocks(s, "reading a resource"));
    ETAGD_ASSIGN_OR_RETURN(DecodedValue decoded,
                           DecodeValue(ToView(value), name));
    return std::optional<Record>(ToRecord(name, decoded, with_content));
  }

  absl::StatusOr<Record> ReadRevision(absl::string_view name,
                                      int64_t revision) override {
    ETAGD_ASSIGN_OR_RETURN(std::optional<Record> current,
                           ReadCurrent(name, /*with_content=*/true));
    if (current.has_value() && current->revision == revision) {
      return *std::move(current);
    }
    rocksdb::PinnableSlice value;
    std::string key = HistoryKey(name, revision);
    rocksdb::Status s =
        db_->Get(rocksdb::ReadOptions(), history(), key, &value);
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
    rocksdb::WriteBatch batch;
    absl::flat_hash_set<absl::string_view> names;
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
      results.push_back(StageLocked(request, &batch));
      rocksdb::Status undone = results.back().ok() ? batch.PopSavePoint()
                                                   : batch.RollbackToSavePoint();
      if (!undone.ok()) {
        results.back() = FromRocks(undone, "batching");
      }
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
          batch.Merge(families_[0], kClockKey, EncodeClock(revision, time)),
          "batching");
      if (committed.ok()) {
        committed = FromRocks(db_->Write(write_options_, &batch), "writing");
      }
      if (!committed.ok()) {
        for (absl::StatusOr<Record>& result : results) {
          if (result.ok()) result = committed;
        }
      }
    }
    for (auto it = stripes.rbegin(); it != stripes.rend(); ++it) {
      stripes_[*it].Unlock();
    }
    return results;
  }

  // The compare part of a compare-and-write: checks `request` against the
  // current record and adds its write to `batch`. Returns the record the
  // write makes once `batch` is committed. Callers hold the name's stripe.
  absl::StatusOr<Record> StageLocked(const WriteRequest& request,
                                     rocksdb::WriteBatch* batch) {

    rocksdb::PinnableSlice current_value;
    rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), resources(),
                                 ToSlice(request.name), &current_value);
    std::optional<DecodedValue> current;
    if (!s.IsNotFound()) {
      ETAGD_RETURN_IF_ERROR(FromRocks(s, "reading a resource"));
      ETAGD_ASSIGN_OR_RETURN(current,
                             DecodeValue(ToView(current_value), request.name));
    }
    const int64_t current_revision =
        current.has_value() ? current->meta.revision() : 0;
    if (current_revision != request.expected_revision &&
        !options_.non_atomic_writes_for_test) {
      return absl::AbortedError(absl::StrCat(
          "the resource changed (revision ", current_revision,
          ", expected ", request.expected_revision, ")"));
    }
    const bool live = current.has_value() && !current->meta.deleted();
    if (request.is_delete && !live) {
      return absl::NotFoundError("the resource does not exist");
    }
    auto [revision, now, nonce] = NextRevision();
    storage::StoredRecord next;
    next.set_revision(revision);
    next.set_update_time_us(absl::ToUnixMicros(now));
    next.set_request_id(std::string(request.request_id));
    if (request.is_delete) {
      next.set_deleted(true);
      next.set_etag(current->meta.etag());
    } else {
      next.set_content_type(std::string(request.content_type));
      next.set_etag(absl::StrFormat("\"%x-%016x\"", revision, nonce));
      next.set_created(!live);
      next.set_create_revision(live ? current->meta.create_revision() : revision);
      next.set_version(live ? current->meta.version() + 1 : 1);
      next.set_create_time_us(live ? current->meta.create_time_us()
                                   : next.update_time_us());
    }

    if (current.has_value()) {
      AddToHistory(request.name, *current, ToView(current_value), &next, batch);
    }
    std::string value = EncodeValue(
        next, request.is_delete ? absl::string_view() : request.content);
    ETAGD_RETURN_IF_ERROR(FromRocks(
        batch->Put(resources(), ToSlice(request.name), value), "batching"));

    DecodedValue written{std::move(next), request.is_delete
                                              ? absl::string_view()
                                              : request.content};
    return ToRecord(request.name, written, /*with_content=*/false);
  }

  absl::StatusOr<ListPage> List(absl::string_view prefix,
                                absl::string_view start_after, int limit,
                                bool with_content) override {
    ListPage page;
    if (limit <= 0) return page;
    rocksdb::ReadOptions read_options;
    std::unique_ptr<rocksdb::Iterator> it(
        db_->NewIterator(read_options, resources()));
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
    ETAGD_ASSIGN_OR_RETURN(std::optional<Record> current,
                           ReadCurrent(name, /*with_content=*/false));
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
        db_->NewIterator(read_options, history()));
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
    // Read the counter first: every write acknowledged before this call has
    // a revision at or below it and is committed, so it is in the copy.
    int64_t revision;
    {
      absl::MutexLock lock(&clock_mu_);
      revision = last_revision_;
    }
    rocksdb::Checkpoint* raw = nullptr;
    ETAGD_RETURN_IF_ERROR(
        FromRocks(rocksdb::Checkpoint::Create(db_.get(), &raw), "checkpoint"));
    std::unique_ptr<rocksdb::Checkpoint> checkpoint(raw);
    // Flushing first keeps the copy's WAL short; the WAL is copied as well,
    // so unflushed writes are not lost either way.
    ETAGD_RETURN_IF_ERROR(FromRocks(checkpoint->CreateCheckpoint(directory),
                                    absl::StrCat("checkpoint into ", directory)));
    return revision;
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

  rocksdb::ColumnFamilyHandle* resources() const { return families_[1]; }
  rocksdb::ColumnFamilyHandle* history() const { return families_[2]; }

  static size_t StripeIndex(absl::string_view name) {
    return absl::Hash<absl::string_view>()(name) % kLockStripes;
  }

  // The next revision, a time no earlier than any handed out before (the
  // wall clock may step back), and the random part of the entity-tag, which
  // keeps tags unique even if a store restored from an old backup hands out
  // a revision again.
  Allocation NextRevision() ABSL_LOCKS_EXCLUDED(clock_mu_) {
    absl::MutexLock lock(&clock_mu_);
    Allocation allocation;
    allocation.revision = ++last_revision_;
    absl::Time now =
        absl::FromUnixMicros(absl::ToUnixMicros(options_.clock()));
    last_time_ = std::max(last_time_, now);
    allocation.time = last_time_;
    allocation.nonce = absl::Uniform<uint64_t>(bitgen_);
    return allocation;
  }

  // Moves the current record `current` (encoded as `current_value`) into
  // history and prunes the oldest past records beyond the configured depth.
  // Updates next->history_revisions accordingly.
  void AddToHistory(absl::string_view name, const DecodedValue& current,
                    absl::string_view current_value,
                    storage::StoredRecord* next, rocksdb::WriteBatch* batch) {
    const storage::StoredRecord& meta = current.meta;
    std::vector<std::pair<int64_t, std::string>> kept;
    for (int i = 0; i < meta.history_revisions_size(); ++i) {
      kept.emplace_back(meta.history_revisions(i),
                        i < meta.history_request_ids_size()
                            ? meta.history_request_ids(i)
                            : std::string());
    }
    kept.emplace_back(meta.revision(), meta.request_id());
    size_t depth = static_cast<size_t>(std::max(0, options_.history_depth));
    size_t drop = kept.size() > depth ? kept.size() - depth : 0;
    for (size_t i = 0; i < kept.size(); ++i) {
      if (i < drop) {
        // A batch operation fails only on a corrupt batch, which Write() on
        // the same batch would report.
        batch->Delete(history(), HistoryKey(name, kept[i].first))
            .PermitUncheckedError();
      } else {
        next->add_history_revisions(kept[i].first);
        next->add_history_request_ids(kept[i].second);
      }
    }
    if (depth > 0) {
      batch->Put(history(), HistoryKey(name, current.meta.revision()),
                 ToSlice(current_value))
          .PermitUncheckedError();
    }
  }

  const RocksDbStoreOptions options_;
  // Outlives db_.
  const std::unique_ptr<rocksdb::Env> env_;
  const std::unique_ptr<rocksdb::DB> db_;
  // default, resources, history.
  const std::vector<rocksdb::ColumnFamilyHandle*> families_;
  rocksdb::WriteOptions write_options_;
  std::array<absl::Mutex, kLockStripes> stripes_;

  absl::Mutex clock_mu_;
  int64_t last_revision_ ABSL_GUARDED_BY(clock_mu_);
  absl::Time last_time_ ABSL_GUARDED_BY(clock_mu_);
  absl::BitGen bitgen_ ABSL_GUARDED_BY(clock_mu_);
};

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

// Deletes the files whose names the last run with simulate_power_loss_for_test
// had not made durable (see UnsyncedNames), holding the database's lock
// meanwhile so that a running etagd is never touched.
absl::Status ApplySimulatedPowerLoss(rocksdb::FileSystem& fs,
                                     const std::string& path) {
  rocksdb::FileLock* lock = nullptr;
  rocksdb::IOStatus s =
      fs.LockFile(path + "/LOCK", rocksdb::IOOptions(), &lock, nullptr);
  if (!s.ok()) return OpenError(s, path);
  const std::string list = absl::StrCat(path, "/", kUnsyncedNamesFile);
  std::ifstream in(list);
  std::string name;
  std::error_code error;
  while (!error && std::getline(in, name)) {
    if (!name.empty()) std::filesystem::remove(name, error);
  }
  if (!error) std::filesystem::remove(list, error);
  // The lock is released at once by whoever holds it; nothing to recover.
  fs.UnlockFile(lock, rocksdb::IOOptions(), nullptr).PermitUncheckedError();
  if (error) {
    return absl::UnavailableError(absl::StrCat(
        "cannot simulate power loss in ", path, ": ", error.message()));
  }
  return absl::OkStatus();
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
  rocksdb::DBOptions db_options;
  std::unique_ptr<rocksdb::Env> env;
  if (options.simulate_power_loss_for_test) {
    std::shared_ptr<rocksdb::FileSystem> real = rocksdb::FileSystem::Default();
    ETAGD_RETURN_IF_ERROR(ApplySimulatedPowerLoss(*real, options.path));
    env = rocksdb::NewCompositeEnv(std::make_shared<PowerLossFileSystem>(
        real, absl::StrCat(options.path, "/", kUnsyncedNamesFile)));
    db_options.env = env.get();
  }
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.IncreaseParallelism(2);
  // Every write also touches the small default family (the revision
  // counter), which rarely fills a memtable; without a cap, old WAL files
  // would be kept (and replayed at startup) up to several GiB. Past this
  // size RocksDB flushes the families that pin the oldest WAL.
  db_options.max_total_wal_size = uint64_t{128} << 20;

  std::shared_ptr<rocksdb::Cache> cache =
      rocksdb::NewLRUCache(static_cast<size_t>(options.block_cache_bytes));
  rocksdb::BlockBasedTableOptions table_options;
  table_options.block_cache = cache;
  table_options.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));

  rocksdb::ColumnFamilyOptions meta_options;
  meta_options.merge_operator = std::make_shared<MaxMergeOperator>();

  rocksdb::ColumnFamilyOptions resource_options;
  resource_options.table_factory.reset(
      rocksdb::NewBlockBasedTableFactory(table_options));

  rocksdb::ColumnFamilyOptions history_options = resource_options;
  // Pruning deletes past records steadily; compact files dense with
  // deletions so that listing history does not wade through tombstones.
  history_options.table_properties_collector_factories.push_back(
      rocksdb::NewCompactOnDeletionCollectorFactory(128, 64));

  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors = {
      {rocksdb::kDefaultColumnFamilyName, meta_options},
      {kResourcesFamily, resource_options},
      {kHistoryFamily, history_options},
  };
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw_db = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(db_options, options.path, descriptors,
                                        &handles, &raw_db);
  if (!s.ok()) return OpenError(s, options.path);
  std::unique_ptr<rocksdb::DB> db(raw_db);

  auto close = [&]() {
    for (auto* handle : handles) {
      db->DestroyColumnFamilyHandle(handle).PermitUncheckedError();
    }
  };

  std::string format;
  s = db->Get(rocksdb::ReadOptions(), handles[0], kFormatKey, &format);
  if (s.IsNotFound()) {
    rocksdb::WriteOptions sync;
    sync.sync = true;
    s = db->Put(sync, handles[0], kFormatKey, kFormat);
    format = kFormat;
  }
  if (!s.ok()) {
    close();
    return FromRocks(s, absl::StrCat("reading the store format in ", options.path));
  }
  if (format != kFormat) {
    close();
    return absl::FailedPreconditionError(absl::StrCat(
        "data directory ", options.path, " holds store format '", format,
        "', this etagd reads '", kFormat, "'"));
  }

  int64_t last_revision = 0;
  absl::Time last_time = absl::UnixEpoch();
  std::string clock;
  s = db->Get(rocksdb::ReadOptions(), handles[0], kClockKey, &clock);
  if (s.ok() && clock.size() == 16) {
    last_revision = static_cast<int64_t>(ReadBigEndian64(clock.data()));
    last_time = absl::FromUnixMicros(
        static_cast<int64_t>(ReadBigEndian64(clock.data() + 8)));
  } else if (s.ok()) {
    close();
    return absl::DataLossError(absl::StrCat(
        "the revision counter in ", options.path, " is corrupt"));
  } else if (!s.IsNotFound()) {
    close();
    return FromRocks(s, absl::StrCat("reading the revision counter in ",
                                     options.path));
  }

  return std::unique_ptr<Store>(
      new RocksDbStore(options, std::move(env), std::move(db),
                       std::move(handles), last_revision, last_time));
}

}  // namespace etagd
