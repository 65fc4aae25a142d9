#!/usr/bin/env bash
# README's Quick start, pasted in order: starts etagd with README's own start
# command (on free ports instead of 7070 and 8080, which a test may not
# take), then runs every command of the section in one shell, in order, and
# checks what each one's comment promises:
#   # 201 Created ...   the command (curl -i) answers that HTTP status
#   # exit N ...        the command exits with status N
#   # prints: TEXT      its standard output contains TEXT
#   no comment          it exits 0
# Commands are changed only where a test must differ from a newcomer's
# machine: `bazel run //client:etagctl --` runs the built etagctl against
# the test's etagd, and localhost:8080 becomes the test's HTTP port.
# The TLS section's "Try it" block runs next, in a folder of its own, with
# its ports 7443 and 8443 moved to free ones and `bazel run //service:etagd
# --` running the built etagd. Every other curl or etagctl line in README
# makes this fail: README must not show a command that nothing runs.
set -uo pipefail

runfiles="${TEST_SRCDIR:-$PWD/..}/${TEST_WORKSPACE:-etagd}"
readme="$runfiles/README.md"
etagd="$runfiles/service/etagd"
etagctl="$runfiles/client/etagctl"
work="${TEST_TMPDIR:-$(mktemp -d)}/readme"
mkdir -p "$work"

names=() failures=()
record() {  # record NAME [FAILURE]
  names+=("$1")
  failures+=("${2:-}")
  if [ -n "${2:-}" ]; then echo "FAIL: $1: $2"; else echo "ok:   $1"; fi
}

finish() {
  local passed=0 failed=0 i
  for i in "${!names[@]}"; do
    if [ -z "${failures[$i]}" ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
  done
  if [ -n "${XML_OUTPUT_FILE:-}" ]; then
    {
      printf '<?xml version="1.0" encoding="UTF-8"?>\n'
      printf '<testsuites><testsuite name="ReadmeTest" tests="%d" failures="%d">\n' \
        $((passed + failed)) "$failed"
      for i in "${!names[@]}"; do
        local name
        name=$(printf '%s' "${names[$i]}" | sed 's/&/\&amp;/g; s/</\&lt;/g; s/"/\&quot;/g')
        if [ -z "${failures[$i]}" ]; then
          printf '<testcase name="%s" classname="ReadmeTest"/>\n' "$name"
        else
          printf '<testcase name="%s" classname="ReadmeTest"><failure message="failed"><![CDATA[%s]]></failure></testcase>\n' \
            "$name" "${failures[$i]}"
        fi
      done
      printf '</testsuite></testsuites>\n'
    } > "$XML_OUTPUT_FILE"
  fi
  echo "${passed} passed, ${failed} failed"
  [ "$failed" -eq 0 ] && [ "$passed" -gt 0 ]
}

pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; }
trap cleanup EXIT

# The Quick start's indented lines, the TLS section's "Try it" block, and
# every indented curl/etagctl line outside the Quick start.
mapfile -t quick < <(awk '/^## /{in_qs = ($0 == "## Quick start")} in_qs && /^    /{print substr($0, 5)}' "$readme")
mapfile -t tls < <(awk '/^Try it, in an empty folder/{want = 1; next}
  want && /^    /{print substr($0, 5); seen = 1; next}
  want && seen {exit}' "$readme")
mapfile -t scale < <(awk '/^Scale out on one machine, in an empty folder/{want = 1; next}
  want && /^    /{print substr($0, 5); seen = 1; next}
  want && seen {exit}' "$readme")
mapfile -t elsewhere < <(awk '/^## /{in_qs = ($0 == "## Quick start")} !in_qs && /^    +(curl|etagctl|bazel run \/\/client:etagctl) /{sub(/^ +/, ""); print}' "$readme")

if [ "${#quick[@]}" -lt 2 ]; then
  record "README has a Quick start" "no '## Quick start' section with commands"
  finish; exit
fi
if [ "${#tls[@]}" -lt 2 ]; then
  record "README has a TLS 'Try it' block" "no block after 'Try it, in an empty folder'"
fi

for line in "${elsewhere[@]}"; do
  found=0
  for t in "${tls[@]}" "${scale[@]}"; do [ "$t" = "${line}" ] && found=1; done
  [ "$found" = 1 ] ||
    record "every README command is run: $line" "it is in neither the Quick start, the TLS 'Try it' block nor the 'Scale out' block"
done

# The start command, exactly as a newcomer pastes it.
start="${quick[0]}"
prefix='.ci/install && bazel run //service:etagd -- '
if [[ "$start" != "$prefix"* ]]; then
  record "start: $start" "the Quick start must begin with '$prefix...'"
  finish; exit
fi
case "$start" in
  *--http_listen*|*--grpc_listen*)
    record "start: $start" "the start command must serve the defaults, not name ports" ;;
esac
cd "$work" || exit 1
eval "set -- ${start#"$prefix"}"
"$etagd" "$@" --grpc_listen=127.0.0.1:0 --http_listen=127.0.0.1:0 2> etagd.log &
pid=$!
pids+=("$pid")
startup=""
for _ in $(seq 1 300); do
  startup=$(grep -m1 'serving gRPC on' etagd.log || true)
  [ -n "$startup" ] && break
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.1
done
grpc_port=$(sed -n 's/.*serving gRPC on 127\.0\.0\.1:\([0-9]*\).*/\1/p' <<<"$startup")
http_port=$(sed -n 's/.* and HTTP on 127\.0\.0\.1:\([0-9]*\).*/\1/p' <<<"$startup")
if [ -z "$grpc_port" ] || [ -z "$http_port" ]; then
  record "start: $start" "etagd did not start serving gRPC and HTTP: $(cat etagd.log)"
  finish; exit
fi
record "start: $start"

# Runs one README line in this shell, with `sed` expressions applied, and
# records whether it kept the promise of its comment.
run_line() {  # run_line LINE SED-SCRIPT
  local line=$1 command expect="" run rc failure="" want_rc=0
  command="$line"
  if [[ "$line" == *"  # "* ]]; then
    command="${line%%  # *}"
    expect="${line#*  # }"
  fi
  run=$(sed -e "$2" <<<"$command")
  if [[ "$run" == *"&" ]]; then
    eval "$run" > bg.out 2> bg.err
    pids+=($!)
    record "$command"
    return
  fi
  eval "$run" > out.txt 2> err.txt
  rc=$?
  case "$expect" in
    "exit "*) want_rc=$(sed 's/^exit \([0-9]*\).*/\1/' <<<"$expect") ;;
    [1-5][0-9][0-9]*)
      status="${expect:0:3}"
      head -n1 out.txt | grep -q "^HTTP/1.1 $status" ||
        failure="wanted HTTP $status, got: $(head -n1 out.txt)" ;;
    "prints: "*)
      grep -qF -- "${expect#prints: }" out.txt ||
        failure="wanted output '${expect#prints: }', got: $(head -c 300 out.txt)" ;;
  esac
  if [ -z "$failure" ] && [ "$rc" -ne "$want_rc" ]; then
    failure="exit status $rc, wanted $want_rc; stderr: $(tail -c 300 err.txt)"
  fi
  record "$command" "$failure"
}

quick_sed="s|bazel run //client:etagctl --|\"$etagctl\" --target=127.0.0.1:$grpc_port|g; s|localhost:8080|localhost:$http_port|g"
for line in "${quick[@]:1}"; do run_line "$line" "$quick_sed"; done

# The TLS block, in its own folder, on free ports instead of 7443 and 8443.
mkdir -p "$work/tls" && cd "$work/tls" || exit 1
tls_grpc=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
tls_http=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
tls_sed="s|bazel run //service:etagd --|\"$etagd\"|g; s|bazel run //client:etagctl --|\"$etagctl\"|g; s|:7443|:$tls_grpc|g; s|:8443|:$tls_http|g"
for line in "${tls[@]}"; do run_line "$line" "$tls_sed"; done

# Scaling out: three etcd members and three etagd replicas, every port of
# the block moved to a free one; then everything it started is stopped and
# etcd's data (64 MB of preallocated WAL a member) removed.
if [ "${#scale[@]}" -lt 2 ]; then
  record "README has a 'Scale out' block" "no block after 'Scale out on one machine, in an empty folder'"
else
  mkdir -p "$work/scale" && cd "$work/scale" || exit 1
  readme_ports=(12379 12380 22379 22380 32379 32380 7071 7072 7073 7074 8081 8082 8083 8084)
  read -r -a free_ports < <(python3 -c '
import socket, sys
socks = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in socks: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in socks))' "${#readme_ports[@]}")
  scale_sed="s|bazel run //service:etagd --|\"$etagd\"|g; s|bazel run //client:etagctl --|\"$etagctl\"|g"
  for i in "${!readme_ports[@]}"; do
    scale_sed+="; s|\\b${readme_ports[$i]}\\b|${free_ports[$i]}|g"
  done
  first_pid=${#pids[@]}
  for line in "${scale[@]}"; do run_line "$line" "$scale_sed"; done
  for p in "${pids[@]:$first_pid}"; do kill "$p" 2>/dev/null; done
  for p in "${pids[@]:$first_pid}"; do wait "$p" 2>/dev/null; done
  rm -rf "$work/scale"
fi

finish
