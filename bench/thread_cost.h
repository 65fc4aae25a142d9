// What the calling thread has cost and waited for so far, from the kernel's
// per-thread counters: CPU time, time spent runnable but waiting for a CPU,
// and context switches. The difference of two samples around an operation
// splits its wall time into the thread's own work, waiting for a CPU
// (another thread or process ran), and the rest: blocked (a lock, a futex,
// I/O) or, in a virtual machine, the host's stolen time. A delta's CPU
// includes the later sample's own reads (SamplingCpuNs).
#ifndef ETAGD_BENCH_THREAD_COST_H_
#define ETAGD_BENCH_THREAD_COST_H_

#include <cstdint>

namespace etagd {

struct ThreadCost {
  // On a CPU (CLOCK_THREAD_CPUTIME_ID), and runnable but waiting on a run
  // queue (/proc/thread-self/schedstat).
  int64_t cpu_ns = 0;
  int64_t run_delay_ns = 0;
  // The thread blocked (voluntary) or was preempted (involuntary).
  int64_t voluntary_switches = 0;
  int64_t involuntary_switches = 0;

  // The calling thread's counters now (fields it cannot read stay 0).
  static ThreadCost Now();
  // The CPU one Now() costs, as a delta ending with it counts it.
  static int64_t SamplingCpuNs();

  ThreadCost operator-(const ThreadCost& earlier) const {
    return ThreadCost{cpu_ns - earlier.cpu_ns,
                      run_delay_ns - earlier.run_delay_ns,
                      voluntary_switches - earlier.voluntary_switches,
                      involuntary_switches - earlier.involuntary_switches};
  }
};

}  // namespace etagd

#endif  // ETAGD_BENCH_THREAD_COST_H_
