#!/usr/bin/env python3
"""Who ran on a CPU while a thread waited for one.

Reads `perf script` of `perf record -a -e sched:sched_switch,sched:sched_wakeup`
on stdin. For every wait of a thread named --thread (from its wakeup, or its
preemption, until it runs again) it adds up, per command name, the time the
tasks that held that CPU meanwhile ran. Example, with feed-hub-bench running:
  perf record -a -e sched:sched_switch,sched:sched_wakeup -o s.data -- sleep 3
  perf script -i s.data | python3 bench/who_ran.py --thread=bench-writer
"""
import argparse
import collections
import re
import sys

SWITCH = re.compile(
    r"\[(\d+)\]\s+([\d.]+):\s+sched:sched_switch: prev_comm=(.*?) prev_pid=(\d+)"
    r" prev_prio=\d+ prev_state=(\S+) ==> next_comm=(.*?) next_pid=(\d+)")
WAKEUP = re.compile(
    r"\[(\d+)\]\s+([\d.]+):\s+sched:sched_wakeup: comm=(.*?) pid=(\d+)")


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--thread", default="bench-writer")
    thread = parser.parse_args().thread
    running = {}  # cpu -> (command, since)
    runs = collections.defaultdict(list)  # cpu -> [(start, end, command)]
    waiting = {}  # tid -> since
    waits = []  # (start, end, cpu)
    for line in sys.stdin:
        m = SWITCH.search(line)
        if m:
            cpu, t = int(m[1]), float(m[2])
            prev_comm, prev_pid, state, next_comm, next_pid = m[3], m[4], m[5], m[6], m[7]
            if cpu in running:
                command, since = running[cpu]
                runs[cpu].append((since, t, command))
            running[cpu] = (next_comm, t)
            if prev_comm == thread and state.startswith("R"):
                waiting[prev_pid] = t  # preempted
            if next_comm == thread and next_pid in waiting:
                waits.append((waiting.pop(next_pid), t, cpu))
            continue
        m = WAKEUP.search(line)
        if m and m[3] == thread:
            waiting[m[4]] = float(m[2])
    who = collections.Counter()
    for start, end, cpu in waits:
        for run_start, run_end, command in runs[cpu]:
            overlap = min(end, run_end) - max(start, run_start)
            if overlap > 0:
                who[command] += overlap
    total = sum(end - start for start, end, _ in waits)
    print(f"{thread}: {len(waits)} waits for a CPU, {total * 1e3:.1f} ms in all")
    for command, seconds in who.most_common(15):
        print(f"  {seconds * 1e3:9.1f} ms  {command}")


if __name__ == "__main__":
    main()
