#!/usr/bin/env bash
# The offline soak of etagd's linearizability test: RUNS runs of SECONDS
# seconds each (default 100 x 30 s, about an hour), cycling through gRPC and
# HTTP and through no fault, kill -9 and restart every ~4 s, and SIGSTOP for
# 1-3 s every ~4 s; every other round of these six on two hot keys instead
# of ten. Every history is checked; a failed one is saved under
# bazel-testlogs/tests/linearizability/etagd_linearizability_test/
# test.outputs/ (outputs.zip), and its explanation is in the streamed log.
#
#   tests/linearizability/long_run.sh [RUNS [SECONDS [FIRST_SEED]]] [-- bazel flags]
#
# Exit status: 0 if every run was linearizable.
set -euo pipefail
cd "$(dirname "$0")/../.."

runs=100
seconds=30
seed=1
if [[ $# -gt 0 && $1 != -- ]]; then runs=$1; shift; fi
if [[ $# -gt 0 && $1 != -- ]]; then seconds=$1; shift; fi
if [[ $# -gt 0 && $1 != -- ]]; then seed=$1; shift; fi
if [[ $# -gt 0 && $1 == -- ]]; then shift; fi

# Each run: its seconds, a settle after the last fault, start and check.
timeout=$(( runs * (seconds + 15) + 300 ))

exec bazel test //tests/linearizability:etagd_linearizability_test \
  --test_filter='EtagdSoakTest.*' \
  --test_arg=--gtest_also_run_disabled_tests \
  --test_env=ETAGD_SOAK_RUNS="$runs" \
  --test_env=ETAGD_SOAK_SECONDS="$seconds" \
  --test_env=ETAGD_SOAK_SEED="$seed" \
  --test_timeout="$timeout" \
  --test_output=streamed \
  --nocache_test_results \
  "$@"
