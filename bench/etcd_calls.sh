#!/usr/bin/env bash
# What one etagd operation over the etcd engine costs etcd, counted by etcd
# itself (its /metrics endpoint): RPCs by method, MVCC operations (puts,
# deletes, ranges, Txns), raft proposals and gRPC bytes each way, per
# operation. Counts, unlike throughput, do not move with the machine's load.
#
# One single-member etcd (the counts are those a cluster's members serve),
# one etagd --engine=etcd over it, and raw etcd for comparison. Each row is
# run twice by etagd-bench, one request at a time or 64 in flight (4
# connections x 16), for N1 and N2 operations after the same setup; the
# difference of the counters over the two runs divided by N2 - N1 is the
# cost of one operation, setup cancelling out (64 in flight: within the
# few operations still in flight when a run stops).
#
#   etagd Get 1 KiB (GetResource)          vs  etcd linearizable Range
#   etagd durable CAS (If-Match Put)       vs  etcd Txn compare-and-put
#
# --instructions adds etagd's own cost: instructions per operation, counted
# by valgrind's callgrind (user space, every thread) the same way, for Get
# and CAS one at a time and 16 in flight (where reads share a revision
# query and writes are batched).
#
# --etagd_flag=F (repeatable) passes F to the etagd under test, for example
# --etagd_flag=--etcd_record_cache=false for the reads without the cache.
#
# --keys=N (default 64) sets the resources each run writes first and works
# on; over a few thousand, a CAS shows whether the replica still remembers
# the record it last wrote (one Txn) or reads it first (two).
#
# Usage: bench/etcd_calls.sh [--n1=200] [--n2=1200] [--keys=64]
#                            [--instructions] [--skip_build]
#                            [--etagd_flag=F ...]
set -euo pipefail
cd "$(dirname "$0")/.."

n1=200
n2=1200
keys=64
build=1
instructions=0
etagd_flags=()
for arg in "$@"; do
  case "$arg" in
    --n1=*) n1="${arg#*=}" ;;
    --n2=*) n2="${arg#*=}" ;;
    --keys=*) keys="${arg#*=}" ;;
    --skip_build) build=0 ;;
    --instructions) instructions=1 ;;
    --etagd_flag=*) etagd_flags+=("${arg#*=}") ;;
    *) echo "usage: $0 [--n1=200] [--n2=1200] [--keys=64] [--instructions] [--skip_build] [--etagd_flag=F ...]" >&2; exit 2 ;;
  esac
done
if (( n2 <= n1 )); then echo "etcd_calls.sh: --n2 must exceed --n1" >&2; exit 2; fi

if (( build )); then
  bazel build -c opt //service:etagd //bench:etagd-bench >&2
fi
bin="$(bazel info -c opt bazel-bin 2>/dev/null)"
work="$(mktemp -d "${TMPDIR:-/var/tmp}/etagd-etcd-calls.XXXXXX")"
echo "etcd_calls.sh: work directory $work" >&2

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() {  # wait_http URL
  for _ in $(seq 1 1200); do
    curl -s -o /dev/null -f "$1" && return 0
    sleep 0.1
  done
  echo "etcd_calls.sh: $1 did not come up; see $work" >&2
  exit 1
}

client=$(port); peer=$(port); grpc=$(port); http=$(port)
etcd --name calls --data-dir "$work/etcd" \
  --listen-client-urls http://127.0.0.1:$client \
  --advertise-client-urls http://127.0.0.1:$client \
  --listen-peer-urls http://127.0.0.1:$peer \
  --initial-advertise-peer-urls http://127.0.0.1:$peer \
  --initial-cluster calls=http://127.0.0.1:$peer >"$work/etcd.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$client/health"
"$bin/service/etagd" --engine=etcd --etcd_endpoints=127.0.0.1:$client \
  --grpc_listen=127.0.0.1:$grpc --http_listen=127.0.0.1:$http \
  ${etagd_flags[@]+"${etagd_flags[@]}"} 2>"$work/etagd.log" &
pids+=($!)
wait_http "http://127.0.0.1:$http/readyz"

# The counters of interest, one "name value" line each.
snapshot() {  # snapshot FILE
  curl -s "http://127.0.0.1:$client/metrics" | awk '
    /^grpc_server_handled_total\{/ && /grpc_service="etcdserverpb\.(KV|Lease)"/ {
      match($0, /grpc_method="[A-Za-z]+"/)
      method = substr($0, RSTART + 13, RLENGTH - 14)
      rpc[method] += $NF
      next
    }
    /^etcd_mvcc_(put|delete|range|txn)_total / { print $1, $2; next }
    /^etcd_server_proposals_committed_total / { print "proposals", $2; next }
    /^etcd_network_client_grpc_received_bytes_total / { print "bytes_in", $2; next }
    /^etcd_network_client_grpc_sent_bytes_total / { print "bytes_out", $2; next }
    END { for (m in rpc) print "rpc_" m, rpc[m] }' | sort >"$1"
}

# run SYSTEM TARGET OP N IN_FLIGHT: the counters' growth over one
# etagd-bench run (IN_FLIGHT 64: 4 connections x 16).
run() {
  local tag="$1-$3-$4-$5" connections=1 in_flight=1
  if (( $5 == 64 )); then connections=4; in_flight=16; fi
  snapshot "$work/$tag.before"
  "$bin/bench/etagd-bench" --system="$1" --target="$2" --op="$3" \
    --connections=$connections --in_flight=$in_flight --keys="$keys" --setup=put \
    --warmup=0s --duration=600s --ops="$4" --key_prefix="calls-$tag/" \
    --progress_every=0s >"$work/$tag.bench" 2>&1
  snapshot "$work/$tag.after"
  join -a 2 -e 0 -o 0,1.2,2.2 "$work/$tag.before" "$work/$tag.after" |
    awk '{ print $1, $3 - $2 }' >"$work/$tag.delta"
}

for system in etagd etcd; do
  if [[ $system == etagd ]]; then target=127.0.0.1:$grpc; else target=127.0.0.1:$client; fi
  for op in get cas; do
    for in_flight in 1 64; do
      run "$system" "$target" "$op" "$n1" "$in_flight"
      run "$system" "$target" "$op" "$n2" "$in_flight"
    done
  done
done

python3 - "$work" "$n1" "$n2" <<'EOF'
import sys
work, n1, n2 = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def delta(tag):
    out = {}
    for line in open(f"{work}/{tag}.delta"):
        name, value = line.split()
        out[name] = float(value)
    return out
columns = ["rpc_Range", "rpc_Txn", "rpc_Put", "rpc_DeleteRange", "rpc_LeaseGrant",
           "etcd_mvcc_range_total", "etcd_mvcc_txn_total", "etcd_mvcc_put_total",
           "etcd_mvcc_delete_total", "proposals", "bytes_in", "bytes_out"]
short = ["Range", "Txn", "Put", "DelRange", "Lease", "mvcc range", "mvcc txn",
         "mvcc put", "mvcc delete", "proposals", "bytes in", "bytes out"]
print(f"per operation, (counts over {n2} ops - counts over {n1}) / {n2 - n1}\n")
print("| op | in flight | " + " | ".join(short) + " |")
print("|---|---:|" + "---:|" * len(short))
for system, name in (("etagd", "etagd"), ("etcd", "raw etcd")):
    for op in ("get", "cas"):
      for in_flight in (1, 64):
        a = delta(f"{system}-{op}-{n1}-{in_flight}")
        b = delta(f"{system}-{op}-{n2}-{in_flight}")
        cells = []
        for c in columns:
            v = (b.get(c, 0) - a.get(c, 0)) / (n2 - n1)
            cells.append(f"{v:.0f}" if c.startswith("bytes") else f"{v:.2f}")
        print(f"| {name} {op} | {in_flight} | " + " | ".join(cells) + " |")
EOF

(( instructions )) || exit 0

# etagd under callgrind serving COUNT operations OP, IN_FLIGHT at a time,
# over a prefix of its own; prints its total instruction count.
etagd_instructions() {  # etagd_instructions OP COUNT IN_FLIGHT
  local label="callgrind-$1-$2-$3" g h
  g=$(port); h=$(port)
  valgrind --tool=callgrind --callgrind-out-file="$work/$label.out" \
    "$bin/service/etagd" --engine=etcd --etcd_endpoints=127.0.0.1:$client \
    --etcd_prefix="/$label/" --grpc_listen=127.0.0.1:$g \
    --http_listen=127.0.0.1:$h ${etagd_flags[@]+"${etagd_flags[@]}"} \
    >"$work/$label.log" 2>&1 &
  local pid=$!
  wait_http "http://127.0.0.1:$h/readyz"
  "$bin/bench/etagd-bench" --system=etagd --target=127.0.0.1:$g --op="$1" \
    --connections=1 --in_flight="$3" --keys=64 --setup=put --warmup=0s \
    --duration=600s --ops="$2" --progress_every=0s >"$work/$label.bench" 2>&1
  kill -TERM "$pid"
  wait "$pid" || true
  sed -n 's/^summary: *//p; s/^totals: *//p' "$work/$label.out" | head -n1 | awk '{print $1}'
}

echo
echo "etagd instructions per operation (callgrind, (total over $n2 ops - over $n1) / $((n2 - n1)))"
echo
echo "| op | in flight | instructions |"
echo "|---|---:|---:|"
for spec in "get 1" "get 16" "cas 1" "cas 16"; do
  set -- $spec
  a=$(etagd_instructions "$1" "$n1" "$2")
  b=$(etagd_instructions "$1" "$n2" "$2")
  echo "| $1 | $2 | $(( (b - a) / (n2 - n1) )) |"
done
