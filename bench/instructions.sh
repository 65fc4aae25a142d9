#!/usr/bin/env bash
# Instructions per request, counted by valgrind's callgrind (user space,
# every thread): a measure that does not move with the machine's load or
# its CPU model, unlike throughput. Each server runs twice under callgrind,
# once serving N1 requests and once N2 (same client, same payload, one
# request at a time); the difference of the two totals divided by N2 - N1
# is the cost of one request.
#
# For etagd and the echo server only the serving is counted: each starts
# with instrumentation off, and callgrind_control turns it on once the
# server is up and its payload stored, and off again once the client is
# done, before shutdown. Every thread is counted while it is on (timer and
# background threads included; for etagd's HTTP rows they add well under
# 100 instructions a request). Counting start-up and shutdown too
# (RocksDB's open and close, absl::Mutex spinning while threads start) made
# the difference move by several hundred instructions a request between
# runs of one binary.
# nginx is counted whole, start-up included: one thread, deterministic
# (runs agree within about 20), and callgrind_control cannot reach it
# while it sleeps in epoll_wait (it has no other thread to wake).
#
# glibc gives each thread its own malloc arena, and free() takes a longer
# path for memory another thread's arena gave out; how much of that a run
# does depends on which thread allocated first, so etagd's HTTP figure
# moves by up to ~600 between runs of one binary (arena.c:free,
# _int_malloc). --malloc_arenas=1 (GLIBC_TUNABLES glibc.malloc.arena_max=1)
# takes that out: three runs of one binary spanned under 200, 300-600
# below the default. It is for comparing two builds' HTTP rows, not a
# figure of etagd as it runs; it also inflates the gRPC rows, whose threads
# then share one arena's lock (Get 82,883 against 71,106 by default).
# nginx (one thread) is the same either way.
#
#   etagd HTTP GET 200 and 304 (1 KiB)    vs  nginx (one worker, no master)
#   etagd gRPC Get (1 KiB)                vs  the gRPC echo server (floor)
#   etagd durable CAS (If-Match Put)      vs  etcd is not run under valgrind
#                                             (Go); the CAS row stands alone
#   etagd durable CAS, 64 in flight       (4 connections x 16, one key per
#                                             worker: writes commit in
#                                             batches, as under load)
#   etagd durable CAS, 64, 10k keys       (the same over 10,000 keys, as
#                                             compare.sh runs it, after
#                                             20,000 uncounted CAS that fill
#                                             the memtables and the stripes'
#                                             kept records)
#
# Usage: bench/instructions.sh [--n1=300] [--n2=1300] [--only=http|grpc|cas]
#                              [--malloc_arenas=1|default] [--etagd=BIN]
#                              [--help]
# --only=cas runs the three durable CAS rows alone (about 5 minutes).
# --etagd=BIN counts that etagd binary instead of this tree's (another
# build's, for a before figure).
# Prints a table and keeps every callgrind file in the work directory.
# About 3 minutes on 2 cores.
set -euo pipefail
self="$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
cd "$(dirname "$0")/.."

n1=300
n2=1300
only=all
arenas=default
etagd_bin=""
for arg in "$@"; do
  case "$arg" in
    --etagd=*) etagd_bin="${arg#*=}" ;;
    --malloc_arenas=1|--malloc_arenas=default) arenas="${arg#*=}" ;;
    --n1=*) n1="${arg#*=}" ;;
    --n2=*) n2="${arg#*=}" ;;
    --only=http|--only=grpc|--only=cas) only="${arg#*=}" ;;
    -h|--help) sed -n '2,/^set -euo/{/^#/s/^# \{0,1\}//p}' "$self"; exit 0 ;;
    *) echo "usage: $0 [--n1=300] [--n2=1300] [--only=http|grpc|cas] [--malloc_arenas=1|default] [--etagd=BIN] [--help]" >&2; exit 2 ;;
  esac
done
if (( n2 <= n1 )); then echo "instructions.sh: --n2 must exceed --n1" >&2; exit 2; fi

.ci/install --bench >&2
bazel build -c opt //service:etagd //bench:etagd-bench //bench:echo-server >&2
bin="$(bazel info -c opt bazel-bin 2>/dev/null)"
etagd_bin="${etagd_bin:-$bin/service/etagd}"
work="$(mktemp -d "${TMPDIR:-/var/tmp}/etagd-instructions.XXXXXX")"
echo "instructions.sh: work directory $work" >&2

pid=""
cleanup() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi; }
trap cleanup EXIT

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

wait_http() {  # wait_http URL
  for _ in $(seq 1 600); do
    curl -s -o /dev/null "$1" && return 0
    sleep 0.1
  done
  echo "instructions.sh: $1 did not come up; see $work" >&2
  exit 1
}

wait_port() {  # wait_port PORT
  for _ in $(seq 1 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "instructions.sh: port $1 did not open; see $work" >&2
  exit 1
}

# The total instruction count of a finished callgrind run (its "totals"
# line: "summary" stays 0 when instrumentation starts off).
total() { sed -n 's/^totals: *//p' "$1" | head -n1 | awk '{print $1}'; }

# Runs "$@" under callgrind in the background, writing $work/$label.out;
# with `serving`, instrumentation is off until `counting on`.
callgrind() {  # callgrind LABEL whole|serving COMMAND...
  local label=$1 mode=$2
  shift 2
  local options=() environment=()
  [ "$mode" = whole ] || options=(--instr-atstart=no)
  [ "$arenas" = default ] || environment=(GLIBC_TUNABLES=glibc.malloc.arena_max=1)
  env "${environment[@]}" valgrind --tool=callgrind "${options[@]}" \
    --callgrind-out-file="$work/$label.out" \
    "$@" >"$work/$label.log" 2>&1 &
  pid=$!
}

counting() {  # counting on|off: callgrind's instrumentation of the server
  callgrind_control --instr="$1" "$pid" >/dev/null
}

exited() {  # exited PID: gone, or a zombie waiting to be reaped
  [ ! -e "/proc/$1" ] || grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null
}

# stop SIGNAL [again]: ends the server under callgrind and waits for its
# file. With `again`, the signal is sent again every 2 s until the server
# exits: under valgrind, nginx can take a TERM just before it sleeps in
# epoll_wait with no timer, and then sleeps on (it hung the script).
stop() {
  kill -"$1" "$pid"
  if [ "${2:-}" = again ]; then
    for _ in $(seq 1 30); do
      exited "$pid" && break
      sleep 2
      kill -"$1" "$pid" 2>/dev/null || true
    done
  fi
  wait "$pid" || true
  pid=""
}

payload="$work/payload"
head -c 1024 /dev/zero | tr '\0' 'v' >"$payload"

# `count` GETs of `url`, one at a time, with If-None-Match: `etag` if given.
requests() {  # requests LABEL COUNT URL [ETAG]
  local headers=()
  [ -z "${4:-}" ] || headers=(-H "If-None-Match: $4")
  h2load --h1 -n "$2" -c 1 "${headers[@]}" "$3" >"$work/$1.h2load" 2>&1
}

# etagd under callgrind serving `count` HTTP requests; prints its total.
etagd_http() {  # etagd_http LABEL COUNT CONDITIONAL(0|1)
  local label=$1 count=$2 conditional=$3 grpc http
  grpc=$(port); http=$(port)
  rm -rf "$work/data-$label"
  callgrind "$label" serving "$etagd_bin" --grpc_listen=127.0.0.1:"$grpc" \
    --http_listen=127.0.0.1:"$http" --http_threads=1 --data_dir="$work/data-$label"
  wait_http "http://127.0.0.1:$http/healthz"
  local url="http://127.0.0.1:$http/v1/resources/bench/payload"
  local etag
  etag=$(curl -s -D - -o /dev/null -X PUT --data-binary @"$payload" "$url" |
         sed -n 's/^[Ee][Tt]ag: *\([^[:space:]]*\).*/\1/p')
  counting on
  requests "$label" "$count" "$url" "$([ "$conditional" = 1 ] && echo "$etag")"
  counting off
  stop TERM
  total "$work/$label.out"
}

# nginx (one worker, no master) under callgrind serving `count` requests.
nginx_http() {  # nginx_http LABEL COUNT CONDITIONAL(0|1)
  local label=$1 count=$2 conditional=$3 http
  http=$(port)
  mkdir -p "$work/www"
  cp "$payload" "$work/www/payload"
  chmod a+rx "$work" "$work/www"; chmod a+r "$work/www/payload"
  cat >"$work/nginx-$label.conf" <<EOF
master_process off;
worker_processes 1;
daemon off;
pid $work/nginx-$label.pid;
error_log $work/nginx-$label-error.log;
events { worker_connections 64; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$http;
    root $work/www;
    etag on;
    add_header Cache-Control no-cache;
  }
}
EOF
  callgrind "$label" whole nginx -c "$work/nginx-$label.conf" -p "$work"
  wait_http "http://127.0.0.1:$http/payload"
  local url="http://127.0.0.1:$http/payload" etag
  etag=$(curl -s -D - -o /dev/null "$url" | sed -n 's/^[Ee][Tt]ag: *\([^[:space:]]*\).*/\1/p')
  requests "$label" "$count" "$url" "$([ "$conditional" = 1 ] && echo "$etag")"
  stop TERM again
  total "$work/$label.out"
}

# A gRPC server under callgrind serving `count` calls of etagd-bench's op,
# one at a time unless CONNECTIONS x IN_FLIGHT over KEYS are given. With
# WARMUP, that many calls go first, not counted; the counted run then
# reads every key to learn its ETag (the same reads for n1 and n2, so the
# difference leaves them out).
grpc_calls() {  # grpc_calls LABEL COUNT SYSTEM OP [CONNECTIONS IN_FLIGHT KEYS [WARMUP]]
  local label=$1 count=$2 system=$3 op=$4 grpc
  local connections=${5:-1} in_flight=${6:-1} keys=${7:-1} warmup=${8:-0}
  local setup=()
  grpc=$(port)
  rm -rf "$work/data-$label"
  if [ "$system" = echo ]; then
    callgrind "$label" serving "$bin/bench/echo-server" --listen=127.0.0.1:"$grpc"
  else
    callgrind "$label" serving "$etagd_bin" --grpc_listen=127.0.0.1:"$grpc" \
      --http_listen= --data_dir="$work/data-$label"
  fi
  wait_port "$grpc"
  if (( warmup > 0 )); then
    "$bin/bench/etagd-bench" --system="$system" --target=127.0.0.1:"$grpc" --op="$op" \
      --connections="$connections" --in_flight="$in_flight" --keys="$keys" --ops="$warmup" \
      --warmup=0s --duration=1200s --progress_every=0 >"$work/$label.warmup" 2>&1
    setup=(--setup=read)
  fi
  counting on
  "$bin/bench/etagd-bench" --system="$system" --target=127.0.0.1:"$grpc" --op="$op" \
    --connections="$connections" --in_flight="$in_flight" --keys="$keys" --ops="$count" --warmup=0s \
    "${setup[@]}" --duration=600s --progress_every=0 >"$work/$label.bench" 2>&1
  counting off
  stop TERM
  total "$work/$label.out"
}

per_request() {  # per_request TOTAL1 TOTAL2
  python3 -c "import sys; a, b = int(sys.argv[1]), int(sys.argv[2]); print(round((b - a) / ($n2 - $n1)))" "$1" "$2"
}

declare -A cost
measure() {  # measure NAME FUNCTION ARGS...: instructions per request
  local name=$1 fn=$2
  shift 2
  echo "instructions.sh: $name" >&2
  local a b
  a=$("$fn" "$name-n1" "$n1" "$@")
  b=$("$fn" "$name-n2" "$n2" "$@")
  cost[$name]=$(per_request "$a" "$b")
}

if [[ $only == all || $only == http ]]; then
  measure etagd-http-200 etagd_http 0
  measure nginx-200 nginx_http 0
  measure etagd-http-304 etagd_http 1
  measure nginx-304 nginx_http 1
fi
if [[ $only == all || $only == grpc ]]; then
  measure etagd-grpc-get grpc_calls etagd get
  measure echo-get grpc_calls echo get
fi
if [[ $only == all || $only == grpc || $only == cas ]]; then
  measure etagd-cas grpc_calls etagd cas
  measure etagd-cas-64 grpc_calls etagd cas 4 16 64
  measure etagd-cas-10k grpc_calls etagd cas 4 16 10000 20000
fi

row() {  # row LABEL OURS PEER TARGET
  local ours=${cost[$2]:-} peer=""
  [ -z "$3" ] || peer=${cost[$3]:-}
  [ -n "$ours" ] || return 0
  if [ -n "$peer" ]; then
    python3 -c "import sys; o, p, t = int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
r = o / p
print(f'{sys.argv[1]:<26}{o:>12}{p:>12}{r:>8.2f}  {t}')" "$1" "$ours" "$peer" "$4"
  else
    printf '%-26s%12s%12s%8s  %s\n' "$1" "$ours" "-" "-" "$4"
  fi
}

echo
echo "instructions per request (callgrind, user space, all threads while serving; n = $n1 and $n2; malloc arenas: $arenas)"
printf '%-26s%12s%12s%8s  %s\n' "" "etagd" "peer" "ratio" "target"
row "HTTP GET 200 vs nginx" etagd-http-200 nginx-200 "<= 1.5"
row "HTTP GET 304 vs nginx" etagd-http-304 nginx-304 "<= 1.5"
row "gRPC Get vs echo floor" etagd-grpc-get echo-get "<= 1.05"
row "durable CAS" etagd-cas "" "report"
row "durable CAS, 64 in flight" etagd-cas-64 "" "report"
row "durable CAS, 64, 10k keys" etagd-cas-10k "" "report"
echo "instructions.sh: callgrind files in $work" >&2
