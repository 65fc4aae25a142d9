#include "tests/crash/write_journal.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

constexpr char kTagEnd = '|';

// True if `etag` has the form etagd hands out for `revision`:
// "<revision in hex>-<16 hex digits>" in quotes (service/store/rocksdb/rocksdb_store.cc).
bool IsEtagOfRevision(absl::string_view etag, int64_t revision) {
  if (etag.size() < 2 || etag.front() != '"' || etag.back() != '"') {
    return false;
  }
  etag = etag.substr(1, etag.size() - 2);
  const size_t dash = etag.find('-');
  if (dash == absl::string_view::npos) return false;
  uint64_t parsed = 0;
  if (!absl::SimpleHexAtoi(etag.substr(0, dash), &parsed) ||
      static_cast<int64_t>(parsed) != revision) {
    return false;
  }
  absl::string_view nonce = etag.substr(dash + 1);
  return nonce.size() == 16 &&
         std::all_of(nonce.begin(), nonce.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

}  // namespace

std::string WriteJournal::MakeContent(const std::string& tag, size_t size) {
  std::string content = tag;
  content.push_back(kTagEnd);
  // FNV-1a of the tag seeds a linear congruential filler.
  uint64_t state = 1469598103934665603ull;
  for (char c : tag) {
    state = (state ^ static_cast<unsigned char>(c)) * 1099511628211ull;
  }
  content.reserve(std::max(size, content.size()));
  while (content.size() < size) {
    state = state * 6364136223846793005ull + 1442695040888963407ull;
    content.push_back(static_cast<char>('a' + (state >> 33) % 26));
  }
  return content;
}

int64_t WriteJournal::Pending(JournaledWrite write) {
  absl::MutexLock lock(&mu_);
  const int64_t id = static_cast<int64_t>(entries_.size());
  by_key_[write.key].push_back(id);
  if (!write.tag.empty() && !by_tag_.emplace(write.tag, id).second) {
    violations_.push_back(absl::StrCat("test bug: tag ", write.tag, " reused"));
  }
  Entry entry;
  entry.write = std::move(write);
  entry.pending_sequence = ++sequence_;
  entries_.push_back(std::move(entry));
  ++stats_.writes;
  return id;
}

void WriteJournal::Acknowledged(int64_t id, const std::string& etag,
                                int64_t revision) {
  absl::MutexLock lock(&mu_);
  Entry& entry = entries_[id];
  entry.state = State::kAcknowledged;
  entry.etag = etag;
  entry.revision = revision;
  entry.acknowledged_sequence = ++sequence_;
  ++stats_.acknowledged;
  stats_.max_revision = std::max(stats_.max_revision, revision);
  if (revision <= revision_floor_) {
    violations_.push_back(absl::StrCat(
        DescribeLocked(id), " was acknowledged with a revision not above ",
        revision_floor_, ", a revision acknowledged or found before the "
        "restart: revisions went backwards"));
  }
  int64_t& last = last_revision_by_writer_[entry.write.writer];
  if (revision <= last) {
    violations_.push_back(absl::StrCat(
        DescribeLocked(id), " was acknowledged with a revision not above ",
        last, ", the revision of the same writer's previous write"));
  }
  last = revision;
  if (!entry.write.is_delete) {
    if (!IsEtagOfRevision(etag, revision)) {
      violations_.push_back(
          absl::StrCat(DescribeLocked(id), " got a malformed ETag"));
    }
    ClaimEtagLocked(etag, id);
  }
}

void WriteJournal::NoEffect(int64_t id) {
  absl::MutexLock lock(&mu_);
  entries_[id].state = State::kNoEffect;
}

std::string WriteJournal::DescribeLocked(int64_t id) const {
  const Entry& entry = entries_[id];
  static constexpr const char* kStates[] = {
      "pending", "acknowledged", "found after a crash", "absent after a crash",
      "lost", "without effect"};
  std::string text = absl::StrCat(
      entry.write.is_delete ? "Delete" : "Put", " #", id, " of \"",
      entry.write.key, "\" (writer ", entry.write.writer, ", cycle ",
      entry.write.cycle);
  if (!entry.write.is_delete) {
    absl::StrAppend(&text, ", tag ", entry.write.tag, ", ",
                    entry.write.content_size, " bytes");
  }
  absl::StrAppend(&text, "; ", kStates[static_cast<int>(entry.state)]);
  if (entry.revision != 0) {
    absl::StrAppend(&text, " at revision ", entry.revision);
  }
  if (!entry.etag.empty()) absl::StrAppend(&text, " with ETag ", entry.etag);
  absl::StrAppend(&text, ")");
  return text;
}

void WriteJournal::ClaimEtagLocked(const std::string& etag, int64_t id) {
  auto [it, inserted] = etag_owner_.emplace(etag, id);
  if (!inserted && it->second != id) {
    violations_.push_back(absl::StrCat("ETag ", etag, " was seen for ",
                                       DescribeLocked(it->second), " and for ",
                                       DescribeLocked(id)));
  }
}

std::vector<std::string> WriteJournal::Verify(
    Client& client, const std::vector<std::string>& keys) {
  absl::MutexLock lock(&mu_);
  for (const Entry& entry : entries_) {
    if (entry.state == State::kPending) ++stats_.pending;
  }
  std::vector<std::string> violations;
  found_max_revision_ = 0;
  for (const std::string& key : keys) VerifyKey(client, key, violations);
  if (options_.acknowledged_writes_may_be_lost) {
    CheckLossesAreASuffixLocked(violations);
  }

  // Everything found is durable now (recovery persisted it); acknowledged
  // writes that were not lost are among what was found.
  revision_floor_ = found_max_revision_;
  if (!options_.acknowledged_writes_may_be_lost) {
    for (const Entry& entry : entries_) {
      if (entry.state == State::kAcknowledged) {
        revision_floor_ = std::max(revision_floor_, entry.revision);
      }
    }
  }
  last_revision_by_writer_.clear();
  violations.insert(violations.begin(), violations_.begin(), violations_.end());
  violations_.clear();
  return violations;
}

void WriteJournal::VerifyKey(Client& client, const std::string& key,
                             std::vector<std::string>& violations) {
  const std::string where = absl::StrCat("\"", key, "\": ");
  v1::ListVersionsRequest list_request;
  list_request.set_name(key);
  list_request.set_page_size(1000);
  absl::StatusOr<v1::ListVersionsResponse> listed =
      client.ListVersions(list_request);
  std::vector<v1::Version> versions;
  if (listed.ok()) {
    versions.assign(listed->versions().begin(), listed->versions().end());
  } else if (!absl::IsNotFound(listed.status())) {
    violations.push_back(absl::StrCat(where, "ListVersions failed: ",
                                      listed.status().ToString()));
    return;
  }

  v1::GetResourceRequest get_request;
  get_request.set_name(key);
  absl::StatusOr<v1::GetResourceResponse> current = client.Get(get_request);
  if (versions.empty() || versions.front().deleted()) {
    if (!absl::IsNotFound(current.status())) {
      violations.push_back(absl::StrCat(
          where, "Get should be NOT_FOUND (no versions, or deleted), got ",
          current.ok() ? "a resource" : current.status().ToString()));
    }
  } else if (!current.ok()) {
    violations.push_back(
        absl::StrCat(where, "Get failed: ", current.status().ToString()));
  }

  std::vector<int64_t>& ids = by_key_[key];
  // Which write each version present is.
  absl::flat_hash_map<int64_t, int64_t> write_at_revision;
  for (size_t i = 0; i < versions.size(); ++i) {
    const v1::Version& version = versions[i];
    const int64_t revision = version.resource().revision();
    found_max_revision_ = std::max(found_max_revision_, revision);
    if (version.deleted()) {
      int64_t match = -1;
      for (int64_t id : ids) {
        const Entry& entry = entries_[id];
        if (entry.write.is_delete && entry.revision == revision &&
            (entry.state == State::kAcknowledged ||
             entry.state == State::kFound)) {
          match = id;
        }
      }
      for (size_t j = 0; match < 0 && j < ids.size(); ++j) {
        Entry& entry = entries_[ids[j]];
        if (entry.write.is_delete && entry.state == State::kPending) {
          match = ids[j];
          entry.state = State::kFound;
          entry.revision = revision;
          ++stats_.pending_found;
        }
      }
      if (match < 0) {
        violations.push_back(absl::StrCat(where, "a deletion at revision ",
                                          revision,
                                          " that no journaled Delete explains"));
      } else {
        write_at_revision[revision] = match;
      }
      continue;
    }

    v1::GetResourceRequest read;
    read.set_name(key);
    read.set_revision(revision);
    absl::StatusOr<v1::GetResourceResponse> got = client.Get(read);
    if (!got.ok()) {
      violations.push_back(absl::StrCat(where, "revision ", revision,
                                        " is listed but reading it failed: ",
                                        got.status().ToString()));
      continue;
    }
    const v1::Resource& resource = got->resource();
    const std::string& content = resource.content();
    if (resource.revision() != revision ||
        resource.etag() != version.resource().etag()) {
      violations.push_back(absl::StrCat(
          where, "revision ", revision, " reads back as revision ",
          resource.revision(), " with ETag ", resource.etag(),
          "; ListVersions said ETag ", version.resource().etag()));
    }
    const std::string tag = content.substr(0, content.find(kTagEnd));
    auto owner = by_tag_.find(tag);
    if (owner == by_tag_.end() || entries_[owner->second].write.key != key) {
      violations.push_back(absl::StrCat(
          where, "revision ", revision,
          " holds content no Put of this key stored (it starts \"",
          content.substr(0, 40), "\")"));
      continue;
    }
    const int64_t id = owner->second;
    Entry& entry = entries_[id];
    write_at_revision[revision] = id;
    if (content != MakeContent(entry.write.tag, entry.write.content_size) ||
        resource.content_type() != entry.write.content_type) {
      violations.push_back(absl::StrCat(
          where, "revision ", revision, " holds ", DescribeLocked(id),
          " only in part: ", content.size(), " bytes of content type \"",
          resource.content_type(), "\""));
    }
    switch (entry.state) {
      case State::kAcknowledged:
      case State::kFound:
        if (entry.revision != revision || entry.etag != resource.etag()) {
          violations.push_back(absl::StrCat(
              where, DescribeLocked(id), " is stored at revision ", revision,
              " with ETag ", resource.etag()));
        }
        break;
      case State::kPending:
        entry.state = State::kFound;
        entry.revision = revision;
        entry.etag = resource.etag();
        ++stats_.pending_found;
        if (!IsEtagOfRevision(resource.etag(), revision)) {
          violations.push_back(absl::StrCat(where, DescribeLocked(id),
                                            " has a malformed ETag"));
        }
        ClaimEtagLocked(resource.etag(), id);
        break;
      case State::kAbsent:
      case State::kLost:
      case State::kNoEffect:
        violations.push_back(absl::StrCat(where, DescribeLocked(id),
                                          " reappeared at revision ",
                                          revision));
        break;
    }
    if (i == 0 && current.ok() &&
        (current->resource().content() != content ||
         current->resource().etag() != resource.etag())) {
      violations.push_back(absl::StrCat(
          where, "Get and Get at revision ", revision,
          " disagree about the current version"));
    }
  }

  const int64_t newest = versions.empty() ? 0 : versions.front().resource().revision();
  const int64_t oldest = versions.empty() ? 0 : versions.back().resource().revision();
  for (int64_t id : ids) {
    Entry& entry = entries_[id];
    if (entry.state == State::kPending) {
      entry.state = State::kAbsent;
      continue;
    }
    if (entry.state != State::kAcknowledged && entry.state != State::kFound) {
      continue;
    }
    if (entry.revision > newest) {
      if (options_.acknowledged_writes_may_be_lost &&
          entry.state == State::kAcknowledged) {
        entry.state = State::kLost;
        ++stats_.acknowledged_lost;
        ++stats_.lost_by_cycle[entry.write.cycle];
      } else {
        violations.push_back(absl::StrCat(
            where, DescribeLocked(id), " is lost: the newest version is ",
            newest == 0 ? "none" : absl::StrCat("revision ", newest)));
      }
    } else if (entry.revision >= oldest) {
      auto at = write_at_revision.find(entry.revision);
      if (at == write_at_revision.end() || at->second != id) {
        violations.push_back(absl::StrCat(
            where, DescribeLocked(id),
            " is missing from the retained versions (revisions ", oldest,
            " to ", newest, ")"));
      }
    }
  }
}

void WriteJournal::CheckLossesAreASuffixLocked(
    std::vector<std::string>& violations) {
  // Within one process lifetime the write-ahead log keeps writes in the
  // order they committed, and a power loss cuts it at a sync: if an
  // acknowledged write is lost, so is every write sent after it was
  // acknowledged.
  int last_cycle = 0;
  for (const Entry& entry : entries_) {
    last_cycle = std::max(last_cycle, entry.write.cycle);
  }
  int64_t first_lost = -1;
  for (int64_t id = 0; id < static_cast<int64_t>(entries_.size()); ++id) {
    const Entry& entry = entries_[id];
    if (entry.write.cycle == last_cycle && entry.state == State::kLost &&
        (first_lost < 0 || entry.acknowledged_sequence <
                               entries_[first_lost].acknowledged_sequence)) {
      first_lost = id;
    }
  }
  if (first_lost < 0) return;
  for (int64_t id = 0; id < static_cast<int64_t>(entries_.size()); ++id) {
    const Entry& entry = entries_[id];
    if (entry.write.cycle == last_cycle &&
        (entry.state == State::kAcknowledged ||
         entry.state == State::kFound) &&
        entry.pending_sequence > entries_[first_lost].acknowledged_sequence) {
      violations.push_back(absl::StrCat(
          DescribeLocked(id), " survived, but it was sent after ",
          DescribeLocked(first_lost), " was acknowledged, which was lost"));
    }
  }
}

JournalStats WriteJournal::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

}  // namespace etagd
