#include "tests/crash/kill_cycles.h"

#include <signal.h>

#include <atomic>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <random>
#include <thread>
#include <utility>

#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "tests/testing/subprocess.h"

namespace etagd {
namespace {

namespace v1 = ::etagd::v1;

// Bounds a hang; not an expected duration.
constexpr absl::Duration kTimeout = absl::Seconds(60);

// What the writers of one cycle share.
struct Cycle {
  int number = 0;
  Client* client = nullptr;
  WriteJournal* journal = nullptr;
  const std::vector<std::string>* keys = nullptr;
  uint64_t seed = 0;

  // Set just before the kill: errors from then on are expected.
  std::atomic<bool> killing{false};
  std::atomic<bool> stop{false};

  absl::Mutex mu;
  int64_t acknowledged ABSL_GUARDED_BY(mu) = 0;
  std::vector<std::string> errors ABSL_GUARDED_BY(mu);
};

size_t ContentSize(absl::BitGen& bitgen) {
  const double p = absl::Uniform(bitgen, 0.0, 1.0);
  // Mostly small; some span the log's 32 KiB blocks.
  if (p < 0.90) return absl::Uniform<size_t>(bitgen, 16, 2048);
  if (p < 0.99) return absl::Uniform<size_t>(bitgen, 2048, 16384);
  return absl::Uniform<size_t>(bitgen, 16384, 262144);
}

void Write(Cycle& cycle, int writer) {
  std::seed_seq seq = {static_cast<uint32_t>(cycle.seed),
                       static_cast<uint32_t>(cycle.seed >> 32),
                       static_cast<uint32_t>(cycle.number),
                       static_cast<uint32_t>(writer)};
  absl::BitGen bitgen(seq);
  for (int64_t n = 0; !cycle.stop.load(); ++n) {
    JournaledWrite write;
    write.writer = writer;
    write.cycle = cycle.number;
    write.key = (*cycle.keys)[absl::Uniform<size_t>(bitgen, 0, cycle.keys->size())];
    write.is_delete = absl::Bernoulli(bitgen, 0.1);
    absl::Status status;
    if (write.is_delete) {
      v1::DeleteResourceRequest request;
      request.set_name(write.key);
      const int64_t id = cycle.journal->Pending(write);
      absl::StatusOr<v1::DeleteResourceResponse> reply =
          cycle.client->Delete(request);
      if (reply.ok()) {
        cycle.journal->Acknowledged(id, reply->deleted_etag(),
                                    reply->revision());
      } else if (absl::IsNotFound(reply.status())) {
        cycle.journal->NoEffect(id);
      } else {
        status = reply.status();
      }
    } else {
      write.tag = absl::StrCat("c", cycle.number, "w", writer, "n", n);
      write.content_size = ContentSize(bitgen);
      write.content_type =
          absl::StrCat("application/x-crash-test; writer=", writer);
      v1::PutResourceRequest request;
      request.set_name(write.key);
      request.set_content(
          WriteJournal::MakeContent(write.tag, write.content_size));
      request.set_content_type(write.content_type);
      const int64_t id = cycle.journal->Pending(std::move(write));
      absl::StatusOr<v1::PutResourceResponse> reply = cycle.client->Put(request);
      if (reply.ok()) {
        cycle.journal->Acknowledged(id, reply->resource().etag(),
                                    reply->resource().revision());
      } else {
        status = reply.status();
      }
    }
    absl::MutexLock lock(&cycle.mu);
    if (!status.ok()) {
      // The write stays pending; this writer is done for the cycle, so
      // that it leaves at most one write in flight.
      if (!cycle.killing.load()) {
        cycle.errors.push_back(absl::StrCat(
            "writer ", writer, " in cycle ", cycle.number,
            ": unexpected error before the kill: ", status.ToString()));
      }
      return;
    }
    ++cycle.acknowledged;
  }
}

std::string StderrTail(const Subprocess& process) {
  const std::string& text = process.stderr_text();
  return text.size() <= 4000 ? text : text.substr(text.size() - 4000);
}

}  // namespace

KillCyclesResult RunKillCycles(const std::string& data_dir,
                               const KillCyclesOptions& options) {
  const absl::Time start = absl::Now();
  KillCyclesResult result;
  WriteJournal::Options journal_options;
  journal_options.acknowledged_writes_may_be_lost =
      options.acknowledged_writes_may_be_lost;
  WriteJournal journal(journal_options);
  std::vector<std::string> keys;
  for (int i = 0; i < options.keys; ++i) {
    keys.push_back(absl::StrFormat("crash/key-%03d", i));
  }
  absl::BitGen bitgen(std::seed_seq{static_cast<uint32_t>(options.seed),
                                    static_cast<uint32_t>(options.seed >> 32)});

  for (int number = 1; number <= options.cycles + 1; ++number) {
    absl::StatusOr<EtagdProcess> etagd =
        StartEtagd(data_dir, options.etagd_flags(number), kTimeout);
    if (!etagd.ok()) {
      result.violations.push_back(absl::StrCat(
          "etagd did not start in cycle ", number,
          " (after a kill -9): ", etagd.status().ToString()));
      break;
    }
    ClientOptions client_options;
    client_options.timeout = kTimeout;
    std::unique_ptr<Client> client =
        Client::Connect(etagd->target(), client_options);
    result.violations = journal.Verify(*client, keys);
    if (!result.violations.empty() || number > options.cycles) {
      if (!result.violations.empty()) {
        result.violations.push_back(absl::StrCat(
            "checked after the kill of cycle ", number - 1, "; seed ",
            options.seed, "; etagd's stderr ends:\n",
            StderrTail(*etagd->process)));
      }
      break;
    }

    Cycle cycle;
    cycle.number = number;
    cycle.client = client.get();
    cycle.journal = &journal;
    cycle.keys = &keys;
    cycle.seed = options.seed;
    const int64_t kill_after = absl::Uniform<int64_t>(
        absl::IntervalClosed, bitgen, options.min_acknowledged,
        options.max_acknowledged);
    std::vector<std::thread> writers;
    for (int writer = 0; writer < options.writers; ++writer) {
      writers.emplace_back(Write, std::ref(cycle), writer);
    }
    bool reached;
    {
      absl::MutexLock lock(&cycle.mu);
      auto enough = [&cycle, kill_after]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(
                        cycle.mu) {
        return cycle.acknowledged >= kill_after || !cycle.errors.empty();
      };
      reached = cycle.mu.AwaitWithTimeout(absl::Condition(&enough), kTimeout);
    }
    cycle.killing = true;
    absl::Status killed = etagd->process->Signal(SIGKILL);
    cycle.stop = true;
    for (std::thread& writer : writers) writer.join();
    // Reaps it; the status is ABORTED (killed by signal 9) by design.
    etagd->process->Wait(kTimeout).IgnoreError();

    absl::MutexLock lock(&cycle.mu);
    result.violations = cycle.errors;
    if (!killed.ok()) result.violations.push_back(killed.ToString());
    if (!reached) {
      result.violations.push_back(absl::StrCat(
          "cycle ", number, ": only ", cycle.acknowledged, " of ", kill_after,
          " writes acknowledged within ", absl::FormatDuration(kTimeout)));
    }
    if (!result.violations.empty()) break;
    result.cycles = number;
  }
  result.stats = journal.stats();
  result.elapsed = absl::Now() - start;
  return result;
}

int CrashCyclesFromEnvironment(int default_cycles) {
  const char* value = std::getenv("ETAGD_CRASH_CYCLES");
  int cycles = 0;
  if (value != nullptr && absl::SimpleAtoi(value, &cycles) && cycles > 0) {
    return cycles;
  }
  return default_cycles;
}

uint64_t CrashSeedFromEnvironment() {
  const char* value = std::getenv("ETAGD_CRASH_SEED");
  uint64_t seed = 0;
  if (value == nullptr || !absl::SimpleAtoi(value, &seed)) {
    absl::BitGen bitgen;
    seed = absl::Uniform<uint64_t>(bitgen);
  }
  std::cerr << "crash test seed: " << seed
            << " (replay with --test_env=ETAGD_CRASH_SEED=" << seed << ")\n";
  return seed;
}

}  // namespace etagd
