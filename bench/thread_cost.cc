#include "bench/thread_cost.h"

#include <fcntl.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <cstdio>

namespace etagd {

ThreadCost ThreadCost::Now() {
  ThreadCost cost;
  rusage usage{};
  if (getrusage(RUSAGE_THREAD, &usage) == 0) {
    cost.voluntary_switches = usage.ru_nvcsw;
    cost.involuntary_switches = usage.ru_nivcsw;
  }
  // "<on-cpu ns> <run-queue wait ns> <timeslices>".
  const int fd = open("/proc/thread-self/schedstat", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    char text[96];
    const ssize_t n = read(fd, text, sizeof(text) - 1);
    close(fd);
    if (n > 0) {
      text[n] = '\0';
      long long on_cpu = 0;
      long long waited = 0;
      if (std::sscanf(text, "%lld %lld", &on_cpu, &waited) == 2) {
        cost.run_delay_ns = waited;
      }
    }
  }
  // Last, so that a delta from this sample on counts none of its reads.
  // Exact to the nanosecond (schedstat's on-CPU time of a running thread
  // advances only at scheduler ticks).
  timespec cpu{};
  if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &cpu) == 0) {
    cost.cpu_ns = int64_t{cpu.tv_sec} * 1000000000 + cpu.tv_nsec;
  }
  return cost;
}

int64_t ThreadCost::SamplingCpuNs() {
  constexpr int kSamples = 100;
  const ThreadCost first = Now();
  ThreadCost last = first;
  for (int i = 0; i < kSamples; ++i) last = Now();
  return (last.cpu_ns - first.cpu_ns) / kSamples;
}

}  // namespace etagd
