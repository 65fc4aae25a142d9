// The expected state of a store under crash tests, kept the way RocksDB's
// db_stress keeps it: every write is journaled as pending before it is sent
// and as acknowledged (with the ETag and revision of the reply) when the
// reply comes. After the server is killed and restarted, Verify() reads every
// key back and checks the store against the journal.
#ifndef ETAGD_TESTS_CRASH_WRITE_JOURNAL_H_
#define ETAGD_TESTS_CRASH_WRITE_JOURNAL_H_

#include <cstdint>
#include <deque>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "client/client.h"

namespace etagd {

// One write as the writer sends it.
struct JournaledWrite {
  // Which writer thread sends it (writers send one write at a time).
  int writer = 0;
  // The process lifetime (crash cycle) it is sent in.
  int cycle = 0;
  std::string key;
  bool is_delete = false;
  // Unique among all writes; a Put's content is MakeContent(tag, size).
  std::string tag;
  // Put only: the content's size and media type.
  size_t content_size = 0;
  std::string content_type;
};

// Counts over the whole journal.
struct JournalStats {
  int64_t writes = 0;
  int64_t acknowledged = 0;
  // Writes whose reply never came (the server died first).
  int64_t pending = 0;
  // Pending writes found in the store after the restart.
  int64_t pending_found = 0;
  // Acknowledged writes missing after a restart (only where allowed).
  int64_t acknowledged_lost = 0;
  // Acknowledged writes found lost, by the cycle that acknowledged them.
  absl::flat_hash_map<int, int64_t> lost_by_cycle;
  int64_t max_revision = 0;
};

// Thread-safe: writers journal concurrently; Verify() runs with no write in
// flight.
class WriteJournal {
 public:
  struct Options {
    // Where acknowledged writes may be lost (unsynced writes under a
    // simulated power loss), Verify() counts them instead of failing, and
    // checks that what was lost is a suffix: nothing sent after a lost write
    // was acknowledged survives it.
    bool acknowledged_writes_may_be_lost = false;
  };

  explicit WriteJournal(Options options) : options_(options) {}

  // The content of a Put: `tag`, a separator, and filler derived from the
  // tag up to `size` bytes in all (more if the tag is longer), so that any
  // value read back names the one write that stored it.
  static std::string MakeContent(const std::string& tag, size_t size);

  // Journals `write` as about to be sent; returns its id.
  int64_t Pending(JournaledWrite write) ABSL_LOCKS_EXCLUDED(mu_);
  // The reply to write `id` came: `etag` is the Put's ETag (a Delete's
  // deleted ETag), `revision` the write's revision. Checks that revisions go
  // forward and that no ETag is handed out twice.
  void Acknowledged(int64_t id, const std::string& etag, int64_t revision)
      ABSL_LOCKS_EXCLUDED(mu_);
  // Write `id` certainly changed nothing (a Delete answered NOT_FOUND).
  void NoEffect(int64_t id) ABSL_LOCKS_EXCLUDED(mu_);

  // Reads `keys` back through `client` and checks them against the journal:
  // - every acknowledged write's key holds that write (content, content
  //   type, ETag, revision) or a later write of the key; where it is still
  //   in the retained history, it is there unchanged;
  // - every version present (current or past) is one journaled write, whole;
  //   a pending write is either there whole or not at all;
  // - no ETag belongs to two different writes.
  // Settles every pending write (found or not) and, where allowed, marks
  // lost acknowledged writes. Then sets the revision floor: writes
  // acknowledged from now on must have revisions above every revision
  // acknowledged or found so far (above every one found, where losses are
  // allowed). Returns the violations found, also those found by
  // Acknowledged() since the last call.
  std::vector<std::string> Verify(Client& client,
                                  const std::vector<std::string>& keys)
      ABSL_LOCKS_EXCLUDED(mu_);

  JournalStats stats() const ABSL_LOCKS_EXCLUDED(mu_);

 private:
  enum class State {
    kPending,       // sent, no reply
    kAcknowledged,  // replied OK
    kFound,         // pending, then found in the store
    kAbsent,        // pending, then not found: it never happened
    kLost,          // acknowledged, then not found (only where allowed)
    kNoEffect,      // certainly changed nothing
  };
  struct Entry {
    JournaledWrite write;
    State state = State::kPending;
    std::string etag;
    int64_t revision = 0;
    // Order of journal events, for the "losses are a suffix" check.
    int64_t pending_sequence = 0;
    int64_t acknowledged_sequence = 0;
  };

  // Describes entry `id` for messages.
  std::string DescribeLocked(int64_t id) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Records that `etag` belongs to write `id`; a violation if another has it.
  void ClaimEtagLocked(const std::string& etag, int64_t id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void VerifyKey(Client& client, const std::string& key,
                 std::vector<std::string>& violations)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CheckLossesAreASuffixLocked(std::vector<std::string>& violations)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const Options options_;
  mutable absl::Mutex mu_;
  std::deque<Entry> entries_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, std::vector<int64_t>> by_key_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int64_t> by_tag_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int64_t> etag_owner_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<int, int64_t> last_revision_by_writer_
      ABSL_GUARDED_BY(mu_);
  int64_t sequence_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t revision_floor_ ABSL_GUARDED_BY(mu_) = 0;
  // The largest revision found by the Verify() in progress.
  int64_t found_max_revision_ ABSL_GUARDED_BY(mu_) = 0;
  std::vector<std::string> violations_ ABSL_GUARDED_BY(mu_);
  JournalStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace etagd

#endif  // ETAGD_TESTS_CRASH_WRITE_JOURNAL_H_
