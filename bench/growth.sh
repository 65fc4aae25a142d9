#!/usr/bin/env bash
# Growth: does etagd stay fast as it holds more resources? In one run, for a
# small store (10,000 resources) and a large one (1,000,000 by default),
# each in a fresh data directory on disk with durable writes: load the
# resources (1 KiB each), measure gRPC Get and durable compare-and-set with
# etagd-bench, report RSS and disk per resource, then restart etagd and time
# how long until it is ready to serve (GET /readyz answers 200).
#
# Usage: bench/growth.sh [--resources=1000000] [--duration=10s]
#                        [--etagd_flags="--record_cache_mb=2048 ..."]
#   --etagd_flags: extra flags for etagd, the same for both sizes (e.g.
#   caches sized for the large store's working set).
set -euo pipefail
cd "$(dirname "$0")/.."

resources=1000000
duration=10s
etagd_flags=""
for arg in "$@"; do
  case "$arg" in
    --resources=*) resources="${arg#*=}" ;;
    --duration=*) duration="${arg#*=}" ;;
    --etagd_flags=*) etagd_flags="${arg#*=}" ;;
    *) echo "usage: $0 [--resources=1000000] [--duration=10s] [--etagd_flags=...]" >&2; exit 2 ;;
  esac
done

.ci/install --build-only >&2
bazel build -c opt //service:etagd //bench:etagd-bench >&2
bin="$(bazel info -c opt bazel-bin 2>/dev/null)"
work="$(mktemp -d "${TMPDIR:-/var/tmp}/etagd-growth.XXXXXX")"
echo "growth.sh: work directory $work; etagd flags: ${etagd_flags:-(defaults)}" >&2

pid=""
cleanup() {
  if [[ -n $pid ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
}
trap cleanup EXIT

base=$((20000 + RANDOM % 20000))
grpc_port=$base; http_port=$((base + 1))

start_etagd() {  # start_etagd data_dir log
  "$bin/service/etagd" --grpc_listen=127.0.0.1:$grpc_port \
    --http_listen=127.0.0.1:$http_port --data_dir="$1" $etagd_flags 2>>"$2" &
  pid=$!
}

# Milliseconds from now until /readyz answers 200.
wait_ready_ms() {
  local start now
  start=$(date +%s%N)
  for _ in $(seq 1 3000); do
    if [[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$http_port/readyz") == 200 ]]; then
      now=$(date +%s%N)
      echo $(( (now - start) / 1000000 ))
      return 0
    fi
    sleep 0.01
  done
  echo "growth.sh: etagd did not become ready; see $work" >&2
  exit 1
}

stop_etagd() {
  kill -TERM "$pid"
  wait "$pid" || true
  pid=""
}

rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$pid/status"; }

bench() {  # bench n op setup
  "$bin/bench/etagd-bench" --system=etagd --target=127.0.0.1:$grpc_port \
    --op="$2" --setup="$3" --keys="$1" --connections=4 --in_flight=16 \
    --duration="$duration" --warmup=2s --progress_every=0 \
    --key_prefix=growth/ --json_out="$work/$1-$2.json" >&2
}

for n in 10000 "$resources"; do
  dir="$work/data-$n"
  log="$work/etagd-$n.log"
  echo "growth.sh: $n resources" >&2
  start_etagd "$dir" "$log"
  wait_ready_ms >/dev/null
  rss_empty=$(rss_kib)
  load_start=$(date +%s%N)
  # The setup writes every resource (256 in flight), then Gets are measured.
  bench "$n" get put
  load_s=$(( ($(date +%s%N) - load_start) / 1000000000 ))
  bench "$n" cas read
  rss_loaded=$(rss_kib)
  stop_etagd
  disk=$(du -sb "$dir" | cut -f1)
  start_etagd "$dir" "$log"
  restart_ms=$(wait_ready_ms)
  rss_restarted=$(rss_kib)
  stop_etagd
  echo "$n $rss_empty $rss_loaded $rss_restarted $disk $restart_ms $load_s" >>"$work/sizes.txt"
done

python3 - "$work" <<'PY'
import json, sys
work = sys.argv[1]
rows = {}
for line in open(f"{work}/sizes.txt"):
    n, empty, loaded, restarted, disk, restart_ms, load_s = map(int, line.split())
    get = json.load(open(f"{work}/{n}-get.json"))
    cas = json.load(open(f"{work}/{n}-cas.json"))
    rows[n] = dict(get=get["ops_per_sec"], get_p99=get["latency_us"]["p99"],
                   cas=cas["ops_per_sec"], cas_p99=cas["latency_us"]["p99"],
                   rss=loaded, rss_per=(loaded - empty) * 1024 / n,
                   disk_per=disk / n, restart=restart_ms / 1000, restarted=restarted,
                   errors=sum(get["errors"].values()) + sum(cas["errors"].values()))
small, large = sorted(rows)
print(f"\n{'resources':>10} {'Get/s':>8} {'p99us':>6} {'CAS/s':>8} {'p99us':>6} "
      f"{'RSS MiB':>8} {'RSS B/res':>9} {'disk B/res':>10} {'restart s':>9} errors")
for n in (small, large):
    r = rows[n]
    print(f"{n:>10} {r['get']:>8.0f} {r['get_p99']:>6.0f} {r['cas']:>8.0f} {r['cas_p99']:>6.0f} "
          f"{r['rss'] / 1024:>8.0f} {r['rss_per']:>9.0f} {r['disk_per']:>10.0f} "
          f"{r['restart']:>9.2f} {r['errors']}")
def verdict(ok):
    return "ok" if ok else "BELOW"
g = rows[large]["get"] / rows[small]["get"]
c = rows[large]["cas"] / rows[small]["cas"]
print(f"\nGet at {large} / at {small}: {g:.2f} (target >= 0.80) {verdict(g >= 0.8)}")
print(f"CAS at {large} / at {small}: {c:.2f} (target >= 0.80) {verdict(c >= 0.8)}")
print(f"restart with {large}: {rows[large]['restart']:.2f} s (target < 2 s) "
      f"{verdict(rows[large]['restart'] < 2)}")
PY
echo "growth.sh: raw results in $work" >&2
