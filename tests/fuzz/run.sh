#!/usr/bin/env bash
# Builds etagd's libFuzzer targets with clang (ASan + UBSan) against
# Debian's system libraries, then replays their seed corpora and/or fuzzes
# each for a while. Prints one summary line per target; exits non-zero if
# any target crashed, leaked, timed out or ran out of memory.
#
#   tests/fuzz/run.sh --replay                 replay the committed seeds
#   tests/fuzz/run.sh --seconds=600            fuzz each target for 10 minutes
#   tests/fuzz/run.sh --replay --seconds=20    both (what CI runs)
#
# Options:
#   --targets=a,b    only these (default: all; names as in tests/fuzz/*_fuzzer.cc
#                    without "_fuzzer": entity_tag_list, http_date,
#                    precondition, gateway)
#   --jobs=N         targets fuzzed at the same time (default: cores)
#   --junit=FILE     also write a JUnit XML report, one <testcase> per target
#                    (under `bazel test`: $XML_OUTPUT_FILE)
#   --build-only     build, print the binaries' paths, run nothing
#   --cache=DIR      objects, binaries, logs, growing corpora, crash inputs
#                    (default: $ETAGD_FUZZ_CACHE or ~/.cache/etagd-fuzz)
#   -- ARGS          extra libFuzzer flags for the fuzzing runs
#
# Reproduce a crash: <cache>/bin/<target>_fuzzer <crash file>.
# Objects are cached by a hash of their preprocessed source and flags, so
# a rebuild after a change recompiles only what the change touched.
set -uo pipefail

die() { echo "tests/fuzz/run.sh: $*" >&2; exit 2; }

# The repository root: the runfiles tree under `bazel test`, else the
# checkout this script is in.
if [ -n "${TEST_SRCDIR:-}" ]; then
  root="${TEST_SRCDIR}/${TEST_WORKSPACE:-etagd}"
else
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
fi
cd "$root" || die "cannot enter $root"

all_targets=(entity_tag_list http_date precondition gateway)
replay=0
seconds=0
jobs="$(nproc 2>/dev/null || echo 1)"
junit="${XML_OUTPUT_FILE:-}"
build_only=0
targets=()
extra=()
# Bazel sets HOME to the test's temporary directory; the cache belongs to
# the user.
user_home="$(getent passwd "$(id -u)" | cut -d: -f6)"
cache="${ETAGD_FUZZ_CACHE:-${user_home:-$HOME}/.cache/etagd-fuzz}"

while [ $# -gt 0 ]; do
  case "$1" in
    --replay) replay=1 ;;
    --seconds=*) seconds="${1#*=}" ;;
    --targets=*) IFS=, read -r -a targets <<<"${1#*=}" ;;
    --jobs=*) jobs="${1#*=}" ;;
    --junit=*) junit="${1#*=}" ;;
    --build-only) build_only=1 ;;
    --cache=*) cache="${1#*=}" ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
  shift
done
[[ "$seconds" =~ ^[0-9]+$ ]] || die "--seconds needs a whole number"
[[ "$jobs" =~ ^[1-9][0-9]*$ ]] || die "--jobs needs a positive number"
if [ "$replay" -eq 0 ] && [ "$seconds" -eq 0 ] && [ "$build_only" -eq 0 ]; then
  die "nothing to do: give --replay, --seconds=N or --build-only"
fi
[ ${#targets[@]} -eq 0 ] && targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  [ -f "tests/fuzz/${t}_fuzzer.cc" ] || die "no such target '$t'"
done

for tool in clang++ protoc sha256sum; do
  command -v "$tool" >/dev/null || die "$tool not found (run .ci/install)"
done
clang_resource="$(clang++ -print-resource-dir)"
compgen -G "$clang_resource/lib/linux/libclang_rt.fuzzer-*.a" >/dev/null ||
  die "clang's libFuzzer runtime is missing (Debian package libclang-rt-14-dev)"

mkdir -p "$cache"/{obj,bin,gen,logs} || die "cannot create $cache"

# ---------------------------------------------------------------------------
# Build.

# The API's generated code (and google.rpc's error details, which
# service/error_details.cc uses), per version of the .proto files.
protos=(proto/etagd/v1/etagd.proto proto/google/rpc/error_details.proto)
gen="$cache/gen/$(cat "${protos[@]}" <(protoc --version) | sha256sum | cut -c1-16)"
if [ ! -f "$gen/etagd/v1/etagd.pb.cc" ]; then
  mkdir -p "$gen.tmp.$$" &&
    protoc -Iproto -I/usr/include --cpp_out="$gen.tmp.$$" "${protos[@]}" &&
    { mv -T "$gen.tmp.$$" "$gen" 2>/dev/null || rm -rf "$gen.tmp.$$"; } ||
    die "protoc failed"
fi

# The OpenAPI document, compiled in as the BUILD's genrule does.
if [ ! -f "$gen/openapi_document.cc" ] ||
   ! cmp -s gateway/openapi.json "$gen/openapi.json"; then
  sh gateway/openapi_document.sh gateway/openapi.json >"$gen/openapi_document.cc.tmp.$$" &&
    cp gateway/openapi.json "$gen/openapi.json.tmp.$$" &&
    mv "$gen/openapi_document.cc.tmp.$$" "$gen/openapi_document.cc" &&
    mv "$gen/openapi.json.tmp.$$" "$gen/openapi.json" || die "cannot generate openapi_document.cc"
fi

common=(-std=c++17 -O1 -gline-tables-only -fno-omit-frame-pointer
        -fsanitize=address,undefined -fno-sanitize-recover=all
        -D_GLIBCXX_ASSERTIONS -iquote . -isystem "$gen")
# Our code: warnings are errors (as under Bazel), and libFuzzer's coverage.
ours=("${common[@]}" -fsanitize=fuzzer-no-link -Wall -Wextra -Werror)
generated=("${common[@]}" -w)

# Sources of each target, besides tests/fuzz/<target>_fuzzer.cc.
sources_of() {
  case "$1" in
    entity_tag_list|http_date)
      echo gateway/conditional_headers.cc gateway/http_date.cc service/entity_tag.cc ;;
    precondition)
      echo service/precondition.cc service/entity_tag.cc ;;
    gateway)
      echo gateway/gateway.cc gateway/api_preconditions.cc gateway/conditional_headers.cc gateway/http_date.cc \
        gateway/http_errors.cc gateway/metrics.cc gateway/uri.cc \
        gateway/coded_cache.cc gateway/content_coding.cc \
        gateway/response_head.cc gateway/version_head.cc gateway/version_head_cache.cc \
        "$gen/openapi_document.cc" \
        gateway/change_wait.cc gateway/event_stream.cc gateway/failed_watch_stream.cc \
        gateway/prefer.cc gateway/sse.cc gateway/timer_queue.cc \
        service/auth.cc service/error_details.cc service/request_validation.cc \
        service/precondition.cc service/entity_tag.cc service/thread_pool.cc \
        "$gen/etagd/v1/etagd.pb.cc" "$gen/google/rpc/error_details.pb.cc" ;;
  esac
}

# Prints the cached object for a source, compiling it if needed.
compile() {
  local src="$1" flags
  if [[ "$src" == "$gen"/* ]]; then flags=("${generated[@]}"); else flags=("${ours[@]}"); fi
  local key
  key="$( { echo "${flags[*]}"; clang++ --version; clang++ "${flags[@]}" -E "$src"; } |
          sha256sum | cut -c1-24)" || return 1
  local obj="$cache/obj/$(basename "$src" .cc)-$key.o"
  if [ ! -f "$obj" ]; then
    clang++ "${flags[@]}" -c "$src" -o "$obj.tmp.$$" && mv "$obj.tmp.$$" "$obj" || {
      rm -f "$obj.tmp.$$"
      return 1
    }
  fi
  echo "$obj"
}

build_start=$SECONDS
declare -A object=()
unique=()
for t in "${targets[@]}"; do
  for src in "tests/fuzz/${t}_fuzzer.cc" $(sources_of "$t"); do
    if [ -z "${object[$src]+x}" ]; then object[$src]=""; unique+=("$src"); fi
  done
done
# Compile in parallel; each job leaves its object's path in a file.
listing="$(mktemp -d)"
results="$(mktemp -d)"
trap 'rm -rf "$listing" "$results"' EXIT
i=0
for src in "${unique[@]}"; do
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  ( compile "$src" >"$listing/$i" 2>"$listing/$i.err" ) &
  i=$((i + 1))
done
wait
i=0
build_failed=0
for src in "${unique[@]}"; do
  object[$src]="$(cat "$listing/$i")"
  if [ -z "${object[$src]}" ]; then
    echo "fuzz: cannot compile $src:" >&2
    cat "$listing/$i.err" >&2
    build_failed=1
  fi
  i=$((i + 1))
done

# Debian's Abseil comes as some 60 shared libraries; link what is used.
absl_libs=()
for lib in /usr/lib/*/libabsl_*.so; do
  [ -f "$lib" ] && absl_libs+=("$lib")
done
[ ${#absl_libs[@]} -gt 0 ] || die "Abseil not found (Debian package libabsl-dev)"

for t in "${targets[@]}"; do
  [ "$build_failed" -eq 0 ] || break
  objs=()
  for src in "tests/fuzz/${t}_fuzzer.cc" $(sources_of "$t"); do objs+=("${object[$src]}"); done
  bin="$cache/bin/${t}_fuzzer"
  clang++ -fsanitize=fuzzer,address,undefined "${objs[@]}" -o "$bin.tmp.$$" \
    -Wl,--as-needed "${absl_libs[@]}" -lprotobuf -lcrypto -lz -lbrotlienc \
    -lpthread &&
    mv "$bin.tmp.$$" "$bin" || { echo "fuzz: cannot link $t" >&2; build_failed=1; }
done
if [ "$build_failed" -eq 0 ]; then
  echo "fuzz: built ${#targets[@]} targets in $((SECONDS - build_start)) s (cache: $cache)"
elif [ "$build_only" -eq 0 ]; then
  # Every target fails, in the report too.
  for t in "${targets[@]}"; do echo "FAILED build failed (see above)" >"$results/$t"; done
fi
if [ "$build_only" -eq 1 ]; then
  [ "$build_failed" -eq 0 ] || { echo "fuzz: build failed"; exit 1; }
  for t in "${targets[@]}"; do echo "$cache/bin/${t}_fuzzer"; done
  exit 0
fi

# ---------------------------------------------------------------------------
# Run.

if [ -n "${TEST_UNDECLARED_OUTPUTS_DIR:-}" ]; then
  # Under bazel test: crash inputs and logs land in bazel-testlogs/.../outputs.
  out="$TEST_UNDECLARED_OUTPUTS_DIR"
  work_corpus="$TEST_TMPDIR/corpus"
else
  out="$cache"
  work_corpus="$cache/corpus"
fi

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1:strict_string_checks=1:check_initialization_order=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
for s in /usr/bin/llvm-symbolizer /usr/lib/llvm-14/bin/llvm-symbolizer; do
  if [ -x "$s" ]; then export ASAN_SYMBOLIZER_PATH="$s"; break; fi
done

# Where a file can be found once the run is over: under `bazel test`,
# undeclared outputs end up zipped in bazel-testlogs/<test>/test.outputs.
show() {
  if [ -n "${TEST_UNDECLARED_OUTPUTS_DIR:-}" ] && [[ "$1" == "$out"/* ]]; then
    echo "test.outputs/outputs.zip:${1#"$out"/}"
  else
    echo "$1"
  fi
}

# Largest input per target: enough for its grammar, small enough to be fast.
max_len_of() {
  case "$1" in
    gateway) echo 4096 ;;
    http_date) echo 256 ;;
    *) echo 1024 ;;
  esac
}

# What went wrong, from a libFuzzer log.
diagnose() {
  local log="$1"
  if grep -q "ERROR: libFuzzer: timeout" "$log"; then echo "timeout"
  elif grep -qE "ERROR: libFuzzer: (out-of-memory|malloc)" "$log"; then echo "out of memory"
  elif grep -q "ERROR: LeakSanitizer" "$log"; then echo "leak"
  elif grep -q "property violated" "$log"; then
    echo "property violated: $(grep -A1 'property violated' "$log" | tail -1 | sed 's/^ *//' | cut -c1-200)"
  elif grep -q "runtime error:" "$log"; then
    echo "undefined behaviour: $(grep -m1 'runtime error:' "$log" | cut -c1-200)"
  elif grep -q "ERROR: AddressSanitizer" "$log"; then
    echo "$(grep -m1 'ERROR: AddressSanitizer' "$log" | sed 's/.*AddressSanitizer: //' | cut -c1-120)"
  elif grep -q "deadly signal" "$log"; then echo "crash"
  else echo "failed"
  fi
}

# Runs one target; writes "<status> <summary>" to $results/<target>.
run_target() {
  local t="$1" bin="$cache/bin/${1}_fuzzer" summary="" status=ok
  local seeds="tests/fuzz/corpus/$t" dict="tests/fuzz/$t.dict"
  local artifacts="$out/artifacts/$t/"
  local log="$out/logs/$t.log"
  mkdir -p "$artifacts" "$out/logs" "$work_corpus/$t"
  local common_flags=(-timeout=10 -rss_limit_mb=2048 -max_len="$(max_len_of "$t")"
                      -artifact_prefix="$artifacts")
  : >"$log"
  : >"$log.start"
  if [ "$replay" -eq 1 ]; then
    local files=("$seeds"/*)
    # Each seed once, with the sanitizers and leak checks on.
    if "$bin" "${common_flags[@]}" "${files[@]}" >>"$log" 2>&1; then
      summary="replayed ${#files[@]} seeds"
    else
      status=FAILED
      summary="replay: $(diagnose "$log")"
    fi
  fi
  if [ "$status" = ok ] && [ "$seconds" -gt 0 ]; then
    local before
    before="$(wc -l <"$log")"
    if "$bin" "${common_flags[@]}" -dict="$dict" -max_total_time="$seconds" \
        -print_final_stats=1 "${extra[@]}" "$work_corpus/$t" "$seeds" >>"$log" 2>&1; then
      local runs cov
      runs="$(tail -n +"$((before + 1))" "$log" | sed -n 's/^Done \([0-9]*\) runs.*/\1/p' | tail -1)"
      cov="$(tail -n +"$((before + 1))" "$log" | grep -oE 'cov: [0-9]+ ft: [0-9]+ corp: [0-9]+' | tail -1)"
      summary="${summary:+$summary; }fuzzed ${seconds} s: ${runs:-?} runs, ${cov:-no stats}"
    else
      status=FAILED
      summary="${summary:+$summary; }fuzz: $(diagnose "$log")"
    fi
  fi
  if [ "$status" != ok ]; then
    # The input: a new artifact when fuzzing, else the seed being replayed.
    local crash
    crash="$(find "$artifacts" -type f -newer "$log.start" 2>/dev/null | head -1)"
    if [ -z "$crash" ]; then
      crash="$(sed -n 's/^Running: //p' "$log" | tail -1)"
    fi
    summary="$summary (log: $(show "$log")${crash:+; input: $(show "$crash")})"
    if [ -f "$crash" ]; then
      # The input itself, so that a CI log alone can reproduce it.
      python3 -c 'import sys; print(repr(open(sys.argv[1], "rb").read(512)))' \
        "$crash" >"$results/$t.input" 2>/dev/null ||
        od -An -tx1 "$crash" | head -c 1600 >"$results/$t.input"
    fi
  fi
  echo "$status $summary" >"$results/$t"
}

run_start=$SECONDS
for t in "${targets[@]}"; do
  [ "$build_failed" -eq 0 ] || break
  while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n; done
  run_target "$t" &
done
wait

failed=0
for t in "${targets[@]}"; do
  read -r status summary <"$results/$t"
  printf 'fuzz: %-16s %-6s %s\n' "$t" "$status" "$summary"
  if [ -f "$results/$t.input" ]; then
    echo "fuzz: $t input: $(tr -d '\n' <"$results/$t.input")"
  fi
  [ "$status" = ok ] || failed=$((failed + 1))
done

if [ -n "$junit" ]; then
  xml_escape() { sed -e 's/&/\&amp;/g' -e 's/</\&lt;/g' -e 's/>/\&gt;/g' -e 's/"/\&quot;/g'; }
  {
    echo '<?xml version="1.0" encoding="UTF-8"?>'
    echo "<testsuites tests=\"${#targets[@]}\" failures=\"$failed\" time=\"$((SECONDS - run_start))\">"
    echo "<testsuite name=\"fuzz\" tests=\"${#targets[@]}\" failures=\"$failed\">"
    for t in "${targets[@]}"; do
      read -r status summary <"$results/$t"
      if [ "$status" = ok ]; then
        echo "  <testcase classname=\"fuzz\" name=\"${t}_fuzzer\" />"
      else
        echo "  <testcase classname=\"fuzz\" name=\"${t}_fuzzer\">"
        echo "    <failure message=\"$(echo "$summary" | xml_escape)\" />"
        echo "  </testcase>"
      fi
    done
    echo "</testsuite>"
    echo "</testsuites>"
  } >"$junit"
fi

[ "$failed" -eq 0 ]
