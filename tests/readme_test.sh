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
# Every other curl or etagctl line in README must be part of the TLS
# template (it needs the reader's own certificate files), else this fails:
# README must not show a command that nothing runs.
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

pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; }
trap cleanup EXIT

# The Quick start's indented lines, and every other indented curl/etagctl line.
mapfile -t quick < <(awk '/^## /{in_qs = ($0 == "## Quick start")} in_qs && /^    /{print substr($0, 5)}' "$readme")
mapfile -t elsewhere < <(awk '/^## /{in_qs = ($0 == "## Quick start")} !in_qs && /^    +(curl|etagctl|bazel run \/\/client:etagctl) /{sub(/^ +/, ""); print}' "$readme")

if [ "${#quick[@]}" -lt 2 ]; then
  record "README has a Quick start" "no '## Quick start' section with commands"
  finish; exit
fi

for line in "${elsewhere[@]}"; do
  case "$line" in
    *--ca_file=*|*--cacert*|*--tls_*) ;;
    *) record "every README command is run: $line" "it is outside the Quick start and not part of the TLS template" ;;
  esac
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

for line in "${quick[@]:1}"; do
  command="$line" expect=""
  if [[ "$line" == *"  # "* ]]; then
    command="${line%%  # *}"
    expect="${line#*  # }"
  fi
  run="${command//bazel run \/\/client:etagctl --/\"$etagctl\" --target=127.0.0.1:$grpc_port}"
  run="${run//localhost:8080/localhost:$http_port}"
  eval "$run" > out.txt 2> err.txt
  rc=$?
  failure=""
  want_rc=0
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
done

finish
