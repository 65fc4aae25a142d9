#!/usr/bin/env bash
# Fills a real etagd's data volume, a small real file system, with 1 MB PUTs
# and checks what README.md ("A full disk") promises:
#   1. PUTs are acknowledged (201) until the disk is down to etagd's reserve,
#      then answered 507 Insufficient Storage saying the disk is full;
#   2. meanwhile reads, listings, /healthz, /readyz and /metrics answer 200
#      (the metrics say the store is full), and deletes answer 204;
#   3. once space returns (other files on the volume are removed), PUTs are
#      acknowledged again, without a restart;
#   4. filled again and then to its last byte, etagd is killed with SIGKILL
#      and restarted on the full volume: it starts, serves every acknowledged
#      resource, and refuses PUTs with 507;
#   5. once space returns it takes PUTs again, and after a last restart every
#      acknowledged write is there, with its content and ETag.
# It needs root (it mounts the volume) and curl.
#
#   tests/crash/full_disk.sh [--fs=tmpfs|ext4] [--size_mb=128]
#                            [--etagd=PATH] [-- ETAGD_FLAGS...]
#
# --fs=tmpfs (the default) mounts a tmpfs with size=; --fs=ext4 a loop-mounted
# ext4 image without blocks reserved for root. 24 MiB is about the least that
# works. Without --etagd it builds
# //service:etagd with Bazel. etagd runs with its default limits (its disk
# reserve is then a tenth of the volume) unless ETAGD_FLAGS say otherwise.
# Prints one line per step and PASS, or FAIL with the reason (exit 1).
set -euo pipefail
cd "$(dirname "$0")/../.."

fs=tmpfs
size_mb=128
etagd=""
extra_flags=()
while [ $# -gt 0 ]; do
  case "$1" in
    --fs=*) fs="${1#--fs=}" ;;
    --size_mb=*) size_mb="${1#--size_mb=}" ;;
    --etagd=*) etagd="${1#--etagd=}" ;;
    --) shift; extra_flags=("$@"); break ;;
    *) echo "usage: $0 [--fs=tmpfs|ext4] [--size_mb=N] [--etagd=PATH] [-- ETAGD_FLAGS...]" >&2
       exit 2 ;;
  esac
  shift
done
[ "$(id -u)" = 0 ] || { echo "FAIL: needs root to mount the volume"; exit 1; }
command -v curl >/dev/null || { echo "FAIL: needs curl"; exit 1; }
if [ -z "$etagd" ]; then
  bazel build //service:etagd >/dev/null 2>&1 ||
    { echo "FAIL: bazel build //service:etagd"; exit 1; }
  etagd="$PWD/bazel-bin/service/etagd"
fi

work="$(mktemp -d /tmp/etagd-full-disk.XXXXXX)"
volume="$work/volume"
data="$volume/data"
mkdir -p "$volume" "$work/bodies" "$work/etags"
pid=""
starts=0
cleanup() {
  if [ -n "$pid" ]; then kill -9 "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  umount "$volume" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  if [ "$starts" -gt 0 ]; then
    echo "--- etagd's log:"; tail -n 20 "$work/etagd.$starts.log"
  fi
  exit 1
}

case "$fs" in
  tmpfs) mount -t tmpfs -o "size=${size_mb}m" etagd-full-disk "$volume" ;;
  ext4)
    truncate -s "${size_mb}M" "$work/volume.img"
    mkfs.ext4 -q -m 0 "$work/volume.img"
    mount -o loop "$work/volume.img" "$volume" ;;
  *) fail "--fs must be tmpfs or ext4" ;;
esac

free_bytes() { df -B1 --output=avail "$volume" | tail -n 1 | tr -d ' '; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
message() { sed -n 's/.*"message": "\(.*\)"}}/\1/p' "$work/answer"; }

# Other files on the volume: removing them is "space returns". At least room
# for etagd's largest write (--max_content_bytes, 4 MiB): writes resume once
# one fits.
ballast_mb=$((size_mb / 8 > 6 ? size_mb / 8 : 6))
ballast() { dd if=/dev/zero of="$volume/$1" bs=1M count="$ballast_mb" status=none; }

http_port=""
start_etagd() {
  starts=$((starts + 1))
  local log="$work/etagd.$starts.log" started line
  "$etagd" --data_dir="$data" --grpc_listen=127.0.0.1:0 \
    --http_listen=127.0.0.1:0 --space_check_interval=200ms \
    ${extra_flags[@]+"${extra_flags[@]}"} >"$log" 2>&1 &
  pid=$!
  started="$(now)"
  for _ in $(seq 1 300); do
    if line="$(grep -m 1 'serving gRPC on' "$log")"; then
      http_port="$(sed -n 's/.* and HTTP on [0-9.]*:\([0-9]*\);.*/\1/p' <<<"$line")"
      [ -n "$http_port" ] || fail "no HTTP port in the startup line: $line"
      echo "  started in $(since "$started"): ${line#*msg=}"
      return 0
    fi
    kill -0 "$pid" 2>/dev/null || fail "etagd exited at start"
    sleep 0.1
  done
  fail "etagd did not start within 30 s"
}

url() { echo "http://127.0.0.1:$http_port$1"; }

# PUTs $1 with a fresh 1 MB body; sets $status. An acknowledged write keeps
# its body's checksum and its ETag, to check later.
put() {
  head -c 1000000 /dev/urandom >"$work/body"
  status="$(curl -s -o "$work/answer" -D "$work/headers" -w '%{http_code}' \
    -X PUT --data-binary @"$work/body" "$(url "/v1/resources/$1")")"
  if [ "$status" = 201 ] || [ "$status" = 204 ]; then
    sha256sum <"$work/body" | cut -d' ' -f1 >"$work/bodies/$1"
    tr -d '\r' <"$work/headers" | sed -n 's/^[Ee][Tt][Aa][Gg]: //p' >"$work/etags/$1"
  fi
}

# GETs every acknowledged write: 200, its content and its ETag; sets $checked.
check_acknowledged() {
  checked=0
  local path name got etag
  for path in "$work"/bodies/*; do
    name="$(basename "$path")"
    got="$(curl -s -o "$work/read" -D "$work/read_headers" -w '%{http_code}' \
      "$(url "/v1/resources/$name")")"
    [ "$got" = 200 ] || fail "GET $name answered $got: an acknowledged write is missing"
    [ "$(sha256sum <"$work/read" | cut -d' ' -f1)" = "$(cat "$path")" ] ||
      fail "GET $name: not the acknowledged content"
    etag="$(tr -d '\r' <"$work/read_headers" | sed -n 's/^[Ee][Tt][Aa][Gg]: //p')"
    [ "$etag" = "$(cat "$work/etags/$name")" ] ||
      fail "GET $name: ETag $etag, acknowledged $(cat "$work/etags/$name")"
    checked=$((checked + 1))
  done
}

# PUTs fill-N until one is refused; sets $acknowledged. Anything but 201 or
# 507 fails.
next=0
fill() {
  acknowledged=0
  while true; do
    put "fill-$next"
    next=$((next + 1))
    case "$status" in
      201) acknowledged=$((acknowledged + 1)) ;;
      507) return 0 ;;
      *) fail "PUT fill-$((next - 1)) answered $status: $(cat "$work/answer")" ;;
    esac
    [ "$next" -lt 10000 ] || fail "the volume never filled"
  done
}

# Retries a PUT of $1 every 0.2 s until it is acknowledged (up to 20 s); sets
# $waited.
put_until_acknowledged() {
  local started
  started="$(now)"
  for _ in $(seq 1 100); do
    put "$1"
    if [ "$status" = 201 ]; then waited="$(since "$started")"; return 0; fi
    [ "$status" = 507 ] || fail "PUT $1 answered $status: $(cat "$work/answer")"
    sleep 0.2
  done
  fail "PUT $1 still refused 20 s after space returned: $(message)"
}

metric() { curl -s "$(url /metrics)" | sed -n "s/^$1 //p"; }

ballast ballast-a
echo "volume: $fs of $size_mb MiB at $volume, with a $ballast_mb MiB file beside etagd's"

echo "1. fill with 1 MB PUTs"
start_etagd
fill
[ "$acknowledged" -gt 0 ] || fail "no PUT was acknowledged"
grep -q '"code": 507' "$work/answer" || fail "the 507 has no JSON error body"
echo "  $acknowledged PUTs answered 201, then 507: $(message)"
echo "  free on the volume: $(mib "$(free_bytes)")"
for i in 1 2 3; do
  put "refused-$i"
  [ "$status" = 507 ] || fail "PUT while full answered $status"
done
echo "  3 more PUTs: 507"

echo "2. reads, listings, health, metrics and deletes while full"
check_acknowledged
echo "  $checked acknowledged resources: GET 200 with their content and ETag"
for path in "/v1/resources?prefix=fill-" /v1/history/fill-0 /healthz /readyz /metrics; do
  got="$(curl -s -o /dev/null -w '%{http_code}' "$(url "$path")")"
  [ "$got" = 200 ] || fail "GET $path answered $got while full"
done
echo "  GET listing, history, /healthz, /readyz, /metrics: 200"
[ "$(metric etagd_store_full)" = 1 ] || fail "etagd_store_full is not 1 while full"
echo "  metrics: etagd_store_full 1, etagd_store_bytes $(metric etagd_store_bytes)," \
  "etagd_disk_free_bytes $(metric etagd_disk_free_bytes)," \
  "etagd_disk_reserve_bytes $(metric etagd_disk_reserve_bytes)"
for i in 0 1 2 3 4; do
  got="$(curl -s -o /dev/null -w '%{http_code}' -X DELETE "$(url "/v1/resources/fill-$i")")"
  [ "$got" = 204 ] || fail "DELETE fill-$i answered $got while full"
  got="$(curl -s -o /dev/null -w '%{http_code}' "$(url "/v1/resources/fill-$i")")"
  [ "$got" = 404 ] || fail "GET fill-$i after its delete answered $got"
  rm "$work/bodies/fill-$i" "$work/etags/fill-$i"
done
echo "  5 DELETEs: 204, and GET 404 after each"

echo "3. space returns: the other file is removed"
rm "$volume/ballast-a"
put_until_acknowledged returned-1
echo "  free on the volume: $(mib "$(free_bytes)"); a PUT was acknowledged after $waited"

echo "4. full again, then to the last byte; kill -9; restart on the full volume"
ballast ballast-b
fill
echo "  another $ballast_mb MiB file, then $acknowledged more PUTs answered 201, then 507"
dd if=/dev/zero of="$volume/ballast-c" bs=64K status=none 2>/dev/null || true
echo "  a last file filled the volume: $(free_bytes) bytes free"
kill -9 "$pid"
wait "$pid" 2>/dev/null || true
pid=""
start_etagd
check_acknowledged
echo "  $checked acknowledged resources: GET 200 with their content and ETag"
put refused-after-restart
[ "$status" = 507 ] || fail "PUT on the full volume after the restart answered $status"
echo "  PUT: 507: $(message)"
echo "  metrics: etagd_store_full $(metric etagd_store_full)," \
  "etagd_store_read_only $(metric etagd_store_read_only)"

echo "5. space returns again; then a clean restart"
rm "$volume/ballast-b" "$volume/ballast-c"
put_until_acknowledged returned-2
echo "  free on the volume: $(mib "$(free_bytes)"); a PUT was acknowledged after $waited"
kill -TERM "$pid"
wait "$pid" 2>/dev/null || true
pid=""
start_etagd
check_acknowledged
echo "  all $checked acknowledged writes are there, with their content and ETag"
if grep -l 'Assertion' "$work"/etagd.*.log >/dev/null 2>&1; then
  fail "a RocksDB assertion failed"
fi
echo "PASS"
