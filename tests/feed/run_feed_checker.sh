#!/usr/bin/env bash
# Runs the feed checker (tests/feed/feed_checker_test.cc) for longer than
# CI does: writers, and watchers disconnecting and resuming at random, with
# a restart of the store in the middle, for SECONDS (default 120) per run,
# RUNS times (default 5). Prints each run's summary line, then PASS or FAIL.
#
#   tests/feed/run_feed_checker.sh [SECONDS] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
seconds="${1:-120}"
runs="${2:-5}"
bazel build //tests/feed:feed_checker_test
failed=0
for run in $(seq 1 "$runs"); do
  dir=$(mktemp -d)
  if TEST_TMPDIR="$dir" FEED_CHECKER_SECONDS="$seconds" \
      bazel-bin/tests/feed/feed_checker_test >"$dir/log" 2>&1; then
    echo "run $run: $(grep '^checked' "$dir/log")"
  else
    echo "run $run: FAILED (log: $dir/log)"
    failed=1
    continue
  fi
  rm -rf "$dir"
done
if [ "$failed" -eq 0 ]; then echo PASS; else echo FAIL; exit 1; fi
