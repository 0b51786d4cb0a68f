#!/usr/bin/env bash
# make bench: every benchmark of bench/suite.py, one after another (they share
# 2 cores, so never in parallel), each printing its figures and ratios and
# writing JSON to bench/results/; then docs/benchmarks.md's "Latest figures"
# from the newest result of each (make bench-docs does only that).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
apt_install wrk nats-server
ensure_venv
bash scripts/engine.sh
bash scripts/build.sh
mkdir -p bench/results
rc=0
step "the benchmarks that need no deployed stack"
"$VENV/bin/python" bench/suite.py run --needs none || rc=1
# Against the deployed stack (make up is idempotent).
bash scripts/up.sh
step "the benchmarks against the stack make up deployed"
"$VENV/bin/python" bench/suite.py run --needs stack || rc=1
# Skipped, and said so, unless make cluster && make cluster-up ran.
step "the benchmarks on the multi-node swarm"
"$VENV/bin/python" bench/suite.py run --needs cluster || rc=1
step "docs/benchmarks.md"
"$VENV/bin/python" bench/render_docs.py
[ "$rc" -eq 0 ] || die "some benchmarks failed (named above); the docs show the newest result of each."
note "results in bench/results/*.json, figures in docs/benchmarks.md"
