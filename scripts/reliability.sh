#!/usr/bin/env bash
# make reliability: the reliability suite against the stack `make up` deployed,
# over HTTPS through nginx (docs/reliability.md).
#   make reliability                      # the full form, on https://localhost:8443
#   STACK=faas HTTPS_PORT=9443 make reliability
#   RELIABILITY_FULL=0 make reliability   # the reduced form, as `make test` runs it
#   make misbehaving                      # only the misbehaving functions (same checks first)
# Steps: the property tests of the pure parsers (hypothesis), the system API
# fuzzed from its OpenAPI document (schemathesis, on a sidecar of its own),
# then the hostile-input corpus under a steady load, the secrets check, the
# operations under load (update --force, 1 -> 5 -> 1, an nginx reload, a new
# tag), the sidecar killed under load and 64 connections of sustained load.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
start=$SECONDS

export STACK="${STACK:-faas}" HTTPS_PORT="${HTTPS_PORT:-8443}"
export RELIABILITY_FULL="${RELIABILITY_FULL:-1}"
if [ "$RELIABILITY_FULL" = 1 ]; then
  export HYPOTHESIS_PROFILE="${HYPOTHESIS_PROFILE:-full}" SCHEMATHESIS_EXAMPLES="${SCHEMATHESIS_EXAMPLES:-100}"
  export RELIABILITY_ROUNDS="${RELIABILITY_ROUNDS:-3}"
fi

# wrk makes the sustained load (tests/e2e/reliability/test_sustained_load.py).
apt_install wrk

# Say what is missing before any test starts.
[ -x "$VENV/bin/pytest" ] || die "no .venv here: run make up first (it creates it and deploys the stack)."
docker info >/dev/null 2>&1 \
  || die "Docker is not reachable: run make up first (it starts the engine and deploys the stack)."
docker stack ls --format '{{.Name}}' | grep -qx "$STACK" \
  || die "no stack named $STACK is deployed: run make up first (or set STACK=<name> to test another stack)."
ca="$STATE_DIR/$STACK/certs/ca.pem"
[ -f "$ca" ] || die "$ca is missing: make reliability must run in the checkout where make up deployed $STACK."
curl -s -o /dev/null --max-time 10 --cacert "$ca" "https://localhost:$HTTPS_PORT/healthz" \
  || die "the stack $STACK is deployed but https://localhost:$HTTPS_PORT does not answer: is HTTPS_PORT right (make up prints it)? \`docker stack ps $STACK\` shows its tasks."

if [ "${1:-}" = misbehaving ]; then
  shift
  step "misbehaving functions against $STACK on https://localhost:$HTTPS_PORT"
  E2E_STACK="$STACK" E2E_HTTPS_PORT="$HTTPS_PORT" E2E_DEPLOYED=1 \
    "$VENV/bin/pytest" -q -s -p no:cacheprovider tests/e2e/reliability/test_misbehaving_functions.py "$@"
  note "make misbehaving passed in $((SECONDS - start)) s"
  exit 0
fi

step "property tests of the pure parsers (hypothesis profile ${HYPOTHESIS_PROFILE:-unit})"
"$VENV/bin/pytest" -q -p no:cacheprovider tests/sidecar/test_fastpath_fuzz.py tests/sidecar/test_labels_fuzz.py \
  tests/sidecar/alexa/test_envelope_fuzz.py tests/watchdog/test_wire_fuzz.py

step "the system API fuzzed from its OpenAPI document (schemathesis, ${SCHEMATHESIS_EXAMPLES:-20} examples per operation)"
"$VENV/bin/pytest" -q -p no:cacheprovider tests/sidecar/system/test_schemathesis.py

step "hostile input and misbehaving functions against $STACK on https://localhost:$HTTPS_PORT (full form: $RELIABILITY_FULL)"
E2E_STACK="$STACK" E2E_HTTPS_PORT="$HTTPS_PORT" E2E_DEPLOYED=1 \
  "$VENV/bin/pytest" -q -s -p no:cacheprovider tests/e2e/reliability "$@"

note "make reliability passed in $((SECONDS - start)) s"
