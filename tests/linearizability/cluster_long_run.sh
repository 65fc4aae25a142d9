#!/usr/bin/env bash
# The long version of the fault runs over a three-member etcd: three etagd
# replicas, clients spread over them, under kill -9 of etcd's leader, SIGSTOP
# of a member, and kill -9 and restart of a replica (and the canary). Each
# fault case runs ROUNDS rounds (new cluster, next seed) of SECONDS seconds,
# with a fault every ~4 s; default 10 x 30 s, about 25 minutes. CI runs one
# round of 3 s of each.
#
#   tests/linearizability/cluster_long_run.sh [ROUNDS [SECONDS]] [-- bazel flags]
#
# Exit status: 0 if every history was linearizable (and the canary caught).
set -euo pipefail
cd "$(dirname "$0")/../.."

rounds=10
seconds=30
if [[ $# -gt 0 && $1 != -- ]]; then rounds=$1; shift; fi
if [[ $# -gt 0 && $1 != -- ]]; then seconds=$1; shift; fi
if [[ $# -gt 0 && $1 == -- ]]; then shift; fi

# Four cases; each round its seconds, a cluster start, restarts and a check.
timeout=$(( 4 * rounds * (seconds + 30) + 300 ))

exec bazel test //tests/linearizability:etagd_linearizability_test \
  --test_filter='*EtagdOverEtcdCluster*' \
  --test_env=ETAGD_CLUSTER_SEEDS="$rounds" \
  --test_env=ETAGD_CLUSTER_SECONDS="$seconds" \
  --test_timeout="$timeout" \
  --test_output=streamed \
  --nocache_test_results \
  "$@"
