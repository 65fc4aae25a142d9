// The "committed up to" revision of a store whose writes take revisions in
// order but may commit out of order: every revision at or below it has
// committed or failed, so a reader of the change log up to it never skips a
// revision that is still committing, and never waits for one that failed.
#ifndef ETAGD_SERVICE_STORE_COMMIT_WATERMARK_H_
#define ETAGD_SERVICE_STORE_COMMIT_WATERMARK_H_

#include <cstdint>
#include <set>

namespace etagd {

// Thread-compatible (the store holds the lock it hands out revisions under).
class CommitWatermark {
 public:
  // Every revision up to `committed` is settled.
  explicit CommitWatermark(int64_t committed)
      : last_begun_(committed), committed_(committed) {}

  // `revision` was handed out (each above the one before).
  void Begin(int64_t revision) {
    pending_.insert(revision);
    last_begun_ = revision;
  }

  // `revision`'s write committed or failed. Returns committed().
  int64_t Settle(int64_t revision) {
    pending_.erase(revision);
    committed_ = pending_.empty() ? last_begun_ : *pending_.begin() - 1;
    return committed_;
  }

  // One below the least revision begun and not settled; the last revision
  // begun if none is pending.
  int64_t committed() const { return committed_; }

 private:
  std::set<int64_t> pending_;
  int64_t last_begun_;
  int64_t committed_;
};

}  // namespace etagd

#endif  // ETAGD_SERVICE_STORE_COMMIT_WATERMARK_H_
