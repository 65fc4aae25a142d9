// ThreadSanitizer's view of absl::Mutex and absl::CondVar, for tests built
// with --config=tsan (.bazelrc).
//
// Debian's Abseil is not built with TSan, so its Mutex synchronises through
// atomics and futexes that TSan never sees, and every access guarded by an
// absl::Mutex would be reported as a race. Abseil's own TSan build annotates
// Mutex from the inside; this does the same from the outside: it interposes
// the library's exported Mutex and CondVar functions (the test executable's
// definitions win over the shared library's), calls the real ones found with
// dlsym(RTLD_NEXT), and tells TSan about the happens-before edges:
//  - taking the lock acquires what earlier unlocks released;
//  - unlocking, and waiting (Await, CondVar::Wait, which unlock inside),
//    release the critical section to the next holder.
// Abseil evaluates a waiter's Condition inside Unlock, LockWhen and Await,
// on whichever thread holds the lock then, ordered by its own internals:
// reads made in there are not recorded (Conditions only read, and only
// what the lock guards). Lock-order (deadlock) detection stays Abseil's.

#include <dlfcn.h>
#include <sanitizer/tsan_interface.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "absl/base/options.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

#define ETAGD_TSAN_STRINGIFY_INNER(x) #x
#define ETAGD_TSAN_STRINGIFY(x) ETAGD_TSAN_STRINGIFY_INNER(x)

namespace {

// The library's definition of the function whose mangled name is
// "_ZN4absl" <inline namespace> `rest` (Itanium C++ ABI).
template <typename F>
F Real(const char* rest) {
  const std::string ns =
      ETAGD_TSAN_STRINGIFY(ABSL_OPTION_INLINE_NAMESPACE_NAME);
  const std::string name = "_ZN4absl" + std::to_string(ns.size()) + ns + rest;
  void* f = dlsym(RTLD_NEXT, name.c_str());
  if (f == nullptr) {
    std::fprintf(stderr, "tsan_absl_sync: %s not found in Abseil\n",
                 name.c_str());
    std::abort();
  }
  return reinterpret_cast<F>(f);
}

void Acquire(const void* mu) { __tsan_acquire(const_cast<void*>(mu)); }
void Release(const void* mu) { __tsan_release(const_cast<void*>(mu)); }

}  // namespace

// TSan's dynamic annotations (libtsan exports them).
extern "C" void AnnotateIgnoreReadsBegin(const char* file, int line);
extern "C" void AnnotateIgnoreReadsEnd(const char* file, int line);

namespace {

// While alive, this thread's reads are not recorded: Condition evaluations.
class IgnoreConditionReads {
 public:
  IgnoreConditionReads() { AnnotateIgnoreReadsBegin(__FILE__, __LINE__); }
  ~IgnoreConditionReads() { AnnotateIgnoreReadsEnd(__FILE__, __LINE__); }
  IgnoreConditionReads(const IgnoreConditionReads&) = delete;
  IgnoreConditionReads& operator=(const IgnoreConditionReads&) = delete;
};

}  // namespace

namespace absl {
ABSL_NAMESPACE_BEGIN

void Mutex::Lock() {
  static const auto real = Real<void (*)(Mutex*)>("5Mutex4LockEv");
  real(this);
  Acquire(this);
}

void Mutex::ReaderLock() {
  static const auto real = Real<void (*)(Mutex*)>("5Mutex10ReaderLockEv");
  real(this);
  Acquire(this);
}

bool Mutex::TryLock() {
  static const auto real = Real<bool (*)(Mutex*)>("5Mutex7TryLockEv");
  const bool locked = real(this);
  if (locked) Acquire(this);
  return locked;
}

bool Mutex::ReaderTryLock() {
  static const auto real = Real<bool (*)(Mutex*)>("5Mutex13ReaderTryLockEv");
  const bool locked = real(this);
  if (locked) Acquire(this);
  return locked;
}

void Mutex::Unlock() {
  static const auto real = Real<void (*)(Mutex*)>("5Mutex6UnlockEv");
  Release(this);
  IgnoreConditionReads ignore;
  real(this);
}

void Mutex::ReaderUnlock() {
  static const auto real = Real<void (*)(Mutex*)>("5Mutex12ReaderUnlockEv");
  Release(this);
  IgnoreConditionReads ignore;
  real(this);
}

void Mutex::LockWhen(const Condition& cond) {
  static const auto real = Real<void (*)(Mutex*, const Condition&)>(
      "5Mutex8LockWhenERKNS0_9ConditionE");
  {
    IgnoreConditionReads ignore;
    real(this, cond);
  }
  Acquire(this);
}

void Mutex::ReaderLockWhen(const Condition& cond) {
  static const auto real = Real<void (*)(Mutex*, const Condition&)>(
      "5Mutex14ReaderLockWhenERKNS0_9ConditionE");
  {
    IgnoreConditionReads ignore;
    real(this, cond);
  }
  Acquire(this);
}

bool Mutex::LockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, Duration)>(
      "5Mutex19LockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  bool met;
  {
    IgnoreConditionReads ignore;
    met = real(this, cond, timeout);
  }
  Acquire(this);
  return met;
}

bool Mutex::ReaderLockWhenWithTimeout(const Condition& cond, Duration timeout) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, Duration)>(
      "5Mutex25ReaderLockWhenWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  bool met;
  {
    IgnoreConditionReads ignore;
    met = real(this, cond, timeout);
  }
  Acquire(this);
  return met;
}

bool Mutex::LockWhenWithDeadline(const Condition& cond, Time deadline) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, Time)>(
      "5Mutex20LockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  bool met;
  {
    IgnoreConditionReads ignore;
    met = real(this, cond, deadline);
  }
  Acquire(this);
  return met;
}

bool Mutex::ReaderLockWhenWithDeadline(const Condition& cond, Time deadline) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, Time)>(
      "5Mutex26ReaderLockWhenWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  bool met;
  {
    IgnoreConditionReads ignore;
    met = real(this, cond, deadline);
  }
  Acquire(this);
  return met;
}

void Mutex::Await(const Condition& cond) {
  static const auto real = Real<void (*)(Mutex*, const Condition&)>(
      "5Mutex5AwaitERKNS0_9ConditionE");
  Release(this);  // Await unlocks while it waits.
  {
    IgnoreConditionReads ignore;
    real(this, cond);
  }
  Acquire(this);
}

bool Mutex::AwaitWithTimeout(const Condition& cond, Duration timeout) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, Duration)>(
      "5Mutex16AwaitWithTimeoutERKNS0_9ConditionENS0_8DurationE");
  Release(this);  // Await unlocks while it waits.
  bool met;
  {
    IgnoreConditionReads ignore;
    met = real(this, cond, timeout);
  }
  Acquire(this);
  return met;
}

bool Mutex::AwaitWithDeadline(const Condition& cond, Time deadline) {
  static const auto real = Real<bool (*)(Mutex*, const Condition&, Time)>(
      "5Mutex17AwaitWithDeadlineERKNS0_9ConditionENS0_4TimeE");
  Release(this);  // Await unlocks while it waits.
  bool met;
  {
    IgnoreConditionReads ignore;
    met = real(this, cond, deadline);
  }
  Acquire(this);
  return met;
}

void CondVar::Wait(Mutex* mu) {
  static const auto real =
      Real<void (*)(CondVar*, Mutex*)>("7CondVar4WaitEPNS0_5MutexE");
  Release(mu);
  real(this, mu);
  Acquire(mu);
}

bool CondVar::WaitWithTimeout(Mutex* mu, Duration timeout) {
  static const auto real = Real<bool (*)(CondVar*, Mutex*, Duration)>(
      "7CondVar15WaitWithTimeoutEPNS0_5MutexENS0_8DurationE");
  Release(mu);
  const bool timed_out = real(this, mu, timeout);
  Acquire(mu);
  return timed_out;
}

bool CondVar::WaitWithDeadline(Mutex* mu, Time deadline) {
  static const auto real = Real<bool (*)(CondVar*, Mutex*, Time)>(
      "7CondVar16WaitWithDeadlineEPNS0_5MutexENS0_4TimeE");
  Release(mu);
  const bool timed_out = real(this, mu, deadline);
  Acquire(mu);
  return timed_out;
}

ABSL_NAMESPACE_END
}  // namespace absl
