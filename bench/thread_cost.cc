#include "bench/thread_cost.h"

#include <fcntl.h>
#include <sys/resource.h>
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
        cost.cpu_ns = on_cpu;
        cost.run_delay_ns = waited;
      }
    }
  }
  return cost;
}

}  // namespace etagd
