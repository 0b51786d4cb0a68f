#!/usr/bin/env bash
# make bench: every benchmark, one after another (they share 2 cores, so never
# in parallel), each printing its figures and ratios and writing JSON to
# bench/results/. Figures and how to read them: docs/benchmarks.md.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
apt_install wrk
ensure_venv
bash scripts/engine.sh
bash scripts/build.sh
mkdir -p bench/results
for b in watchdog_fork watchdog_http sidecar_hop sidecar_convergence sidecar_workers engine_gate nginx_overhead; do
  step "bench/$b.py"
  "$VENV/bin/python" "bench/$b.py" || die "bench/$b.py failed (see above)."
done
# One health check of each image, against Docker's floor (add --baseline-tag
# OLD by hand to compare with older images; bench/stack_idle.py likewise).
step "bench/healthcheck_cost.py"
"$VENV/bin/python" bench/healthcheck_cost.py --tag "$(cat "$BUILD_DIR/tag")" \
  || die "bench/healthcheck_cost.py failed (see above)."
# Against the deployed stack (make up is idempotent).
bash scripts/up.sh
step "bench/health_interval.py"
"$VENV/bin/python" bench/health_interval.py || die "bench/health_interval.py failed (see above)."
note "results in bench/results/*.json"
