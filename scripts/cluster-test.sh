#!/usr/bin/env bash
# make cluster-test: the multi-node suite (tests/cluster) on a swarm of its own:
# bring it up, deploy stack.yml through the registry, test, tear it all down.
#   KEEP_CLUSTER=1 keeps the cluster afterwards; extra arguments go to pytest.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
start=$SECONDS
need_root
ensure_venv
teardown() { [ "${KEEP_CLUSTER:-0}" = 1 ] || bash scripts/cluster.sh down; }
trap teardown EXIT
bash scripts/cluster.sh up
bash scripts/cluster-deploy.sh
ready=$((SECONDS - start))
step "pytest: the multi-node suite (tests/cluster)"
rc=0
"$VENV/bin/pytest" -m cluster tests/cluster "$@" || rc=$?
note "cluster up and deployed in $ready s; bring-up and tests took $((SECONDS - start)) s"
[ "$rc" -eq 0 ] || die "the multi-node tests failed (pytest exit $rc)."
