#!/usr/bin/env bash
# make cluster-up: build, push to the cluster's registry, deploy stack.yml on the
# multi-node swarm of scripts/cluster.sh (docs/multi-node.md). Idempotent.
#   STACK=faas HTTPS_PORT=8443 scripts/cluster-deploy.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
source "$ROOT/scripts/cluster-env.sh"
cd "$ROOT"
need_root
m1=${CLUSTER_MANAGERS%% *}
ndocker "$m1" info >/dev/null 2>&1 || die "the cluster is not up: run make cluster first."
ensure_venv
# CLUSTER_BUILD=node builds on the first manager instead of the host's dockerd.
[ "$CLUSTER_BUILD" = node ] && eval "$(bash scripts/cluster.sh build-env)"
bash scripts/build.sh
bash scripts/cluster.sh push
unset BUILD_ARGS

export STACK="${STACK:-faas}" HTTPS_PORT="${HTTPS_PORT:-8443}"
export SYSTEM_IMAGE_ALLOWLIST="${SYSTEM_IMAGE_ALLOWLIST:-$CLUSTER_IMAGE_ALLOWLIST}"
export DEV_CERT_NAMES="${DEV_CERT_NAMES:-$CLUSTER_CERT_NAMES}"
pins="$STATE_DIR/cluster/images-$STACK.yml"
"$VENV/bin/python" scripts/cluster_images.py --registry "$CLUSTER_REGISTRY" \
  --digests "$STATE_DIR/cluster/digests" -c stack.yml >"$pins" \
  || die "could not pin the stack's images to the registry (above)."

# The same stack.yml, on a manager of the cluster, with the multi-node placement
# and the pinned images on top; ready when nginx on that manager answers.
export DOCKER_HOST="unix://$(node_sock "$m1")"
export COMPOSE_EXTRA="cluster/stack.cluster.yml $pins"
export HEALTH_URL="https://$(node_addr "$m1"):$HTTPS_PORT/healthz"
bash scripts/deploy.sh
for n in $CLUSTER_MANAGERS; do note "https://$(node_addr "$n"):$HTTPS_PORT/  (nginx on $n)"; done
