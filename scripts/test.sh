#!/usr/bin/env bash
# make test: every test, on real components. Installs and starts what it needs.
#   lint -> unit + integration (real processes, nginx, Pebble, swarm) -> e2e on a
#   stack of its own (faastest, ports 18443/18080) -> the multi-node suite on a
#   swarm of its own (scripts/cluster-test.sh) -> disruptive tests last.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
start=$SECONDS

# Tools the integration tests drive for real.
apt_install nginx-light libnginx-mod-http-lua certbot pebble wrk prometheus openssl curl iproute2 nats-server
ensure_venv
bash scripts/engine.sh
bash scripts/build.sh

step "ruff"
"$VENV/bin/ruff" check . || die "ruff found problems (above): fix them, then run make test again."

export E2E_STACK="${E2E_STACK:-faastest}" E2E_HTTPS_PORT="${E2E_HTTPS_PORT:-18443}" E2E_HTTP_PORT="${E2E_HTTP_PORT:-18080}"
step "pytest: unit, integration and end to end"
rc=0
"$VENV/bin/pytest" -m "not disruptive and not cluster" tests "$@" || rc=$?
# The multi-node swarm: namespaced dockerds of its own, never the host's swarm.
step "the multi-node suite (tests/cluster on a 5-node swarm)"
rc3=0
bash scripts/cluster-test.sh || rc3=$?
step "pytest: disruptive tests (restart dockerd)"
rc2=0
"$VENV/bin/pytest" -m disruptive tests "$@" || rc2=$?
[ "$rc2" -eq 5 ] && rc2=0   # none selected is fine here; the main run must have run tests
[ "$rc" -eq 0 ] && [ "$rc2" -eq 0 ] && [ "$rc3" -eq 0 ] \
  || die "tests failed (pytest exit $rc, disruptive $rc2, multi-node $rc3)."
note "all tests passed in $((SECONDS - start)) s"
