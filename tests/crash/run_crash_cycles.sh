#!/usr/bin/env bash
# Runs the crash tests offline for many cycles (100 by default) instead of
# CI's few: kill -9 with durable and with unsynced writes, and simulated
# power loss. A failure prints the seed; pass it back to replay the run.
#
#   tests/crash/run_crash_cycles.sh [CYCLES] [SEED]
set -euo pipefail
cd "$(dirname "$0")/../.."

cycles="${1:-100}"
args=(
  --test_env=ETAGD_CRASH_CYCLES="${cycles}"
  --test_timeout=3600
  --test_output=all
  --nocache_test_results
)
if [ -n "${2:-}" ]; then
  args+=(--test_env=ETAGD_CRASH_SEED="$2")
fi
exec bazel test //tests/crash:kill9_test //tests/crash:power_loss_test "${args[@]}"
