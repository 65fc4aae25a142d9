#!/usr/bin/env bash
# Change feeds side by side, in one run, on loopback: etagd (RocksDB on disk,
# durable writes) and etcd 3.4 single node (data on the same disk), both
# driven by watch-bench the same way (one gRPC stream per watcher, the same
# connections, the same steady write schedule).
#
#   fan-out     1,000 watchers of one prefix: put-to-delivery latency (p50,
#               p99) and deliveries per second.
#   slow        10,000 watchers of which 1 % never read: every reading
#               watcher must get every event, the server's peak RSS, and the
#               write p99 next to the same writes with no watcher at all.
#
# Usage: bench/watch.sh [--duration=10s] [--rate=200] [--watchers=10000]
#                       [--fanout=1000] [--quick]
#   --quick: 3 s, 1,000 / 100 watchers (a smoke run, not a measurement).
# Exits non-zero if a reading watcher missed, repeated or reordered an event.
set -euo pipefail
cd "$(dirname "$0")/.."

duration=10s
rate=200
watchers=10000
fanout=1000
for arg in "$@"; do
  case "$arg" in
    --duration=*) duration="${arg#*=}" ;;
    --rate=*) rate="${arg#*=}" ;;
    --watchers=*) watchers="${arg#*=}" ;;
    --fanout=*) fanout="${arg#*=}" ;;
    --quick) duration=3s; watchers=1000; fanout=100 ;;
    *) echo "usage: $0 [--duration=10s] [--rate=200] [--watchers=10000] [--fanout=1000] [--quick]" >&2; exit 2 ;;
  esac
done
stalled=$((watchers / 100))

.ci/install --bench >&2
bazel build -c opt //service:etagd //bench:watch-bench >&2
bin="$(bazel info -c opt bazel-bin 2>/dev/null)"
work="$(mktemp -d "${TMPDIR:-/var/tmp}/etagd-watch.XXXXXX")"
echo "watch.sh: work directory $work" >&2

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

base=$((20000 + RANDOM % 20000))
etagd_grpc=$base; etagd_http=$((base + 1)); etcd_client=$((base + 2)); etcd_peer=$((base + 3))

# 10,000 streams need more descriptors than the usual soft limit of 1,024.
ulimit -n "$(ulimit -Hn)"
"$bin/service/etagd" --grpc_listen=127.0.0.1:$etagd_grpc \
  --http_listen=127.0.0.1:$etagd_http --data_dir="$work/etagd" \
  2>"$work/etagd.log" &
etagd_pid=$!
pids+=($etagd_pid)
etcd --name bench --data-dir "$work/etcd" \
  --listen-client-urls http://127.0.0.1:$etcd_client \
  --advertise-client-urls http://127.0.0.1:$etcd_client \
  --listen-peer-urls http://127.0.0.1:$etcd_peer \
  --initial-advertise-peer-urls http://127.0.0.1:$etcd_peer \
  --initial-cluster bench=http://127.0.0.1:$etcd_peer \
  >"$work/etcd.log" 2>&1 &
etcd_pid=$!
pids+=($etcd_pid)
for url in "http://127.0.0.1:$etagd_http/healthz" "http://127.0.0.1:$etcd_client/health"; do
  for _ in $(seq 1 100); do curl -s -o /dev/null "$url" && break; sleep 0.1; done
done

failed=0
run() {  # run name system watchers stalled
  local port=$etagd_grpc pid=$etagd_pid
  if [[ $2 == etcd ]]; then port=$etcd_client; pid=$etcd_pid; fi
  if ! "$bin/bench/watch-bench" --system="$2" --target=127.0.0.1:$port \
      --watchers="$3" --stalled="$4" --write_rate="$rate" --duration="$duration" \
      --prefix="$1/" --server_pid="$pid" --json_out="$work/$1-$2.json" >&2; then
    echo "watch.sh: $1 on $2 failed its checks; see $work/$1-$2.json" >&2
    failed=1
  fi
}

for system in etagd etcd; do
  run baseline "$system" 0 0
  run fanout "$system" "$fanout" 0
  run slow "$system" "$watchers" "$stalled"
done

python3 - "$work" "$fanout" "$watchers" "$stalled" "$rate" <<'EOF'
import json, sys
work, fanout, watchers, stalled, rate = sys.argv[1:]
r = {}
for name in ("baseline", "fanout", "slow"):
    for system in ("etagd", "etcd"):
        try:
            r[name, system] = json.load(open(f"{work}/{name}-{system}.json"))
        except (OSError, ValueError):
            r[name, system] = {}
def g(name, system, key):
    v = r[name, system].get(key)
    return "-" if v is None else f"{v:,.0f}"
print(f"\nchange feeds ({rate} writes/s; one stream per watcher)")
print(f"{'':44}{'etagd':>12}{'etcd':>12}")
rows = [
    (f"fan-out {fanout}: delivery p50 (us)", "fanout", "delivery_p50_us"),
    (f"fan-out {fanout}: delivery p99 (us)", "fanout", "delivery_p99_us"),
    (f"fan-out {fanout}: deliveries/s", "fanout", "deliveries_per_second"),
    (f"slow {watchers} ({stalled} stalled): complete", "slow", "complete"),
    (f"slow: server peak RSS (KiB)", "slow", "rss_peak_kib"),
    (f"slow: write p99 (us)", "slow", "write_p99_us"),
    (f"no watchers: write p99 (us)", "baseline", "write_p99_us"),
    (f"slow: delivery p99 (us)", "slow", "delivery_p99_us"),
]
for label, name, key in rows:
    print(f"{label:44}{g(name, 'etagd', key):>12}{g(name, 'etcd', key):>12}")
for system in ("etagd", "etcd"):
    slow, base = r["slow", system].get("write_p99_us"), r["baseline", system].get("write_p99_us")
    if slow and base:
        print(f"{system}: write p99 with {watchers} watchers is {slow / base:.2f}x the run without (target <= 1.10 for etagd)")
EOF
exit "$failed"
