#!/usr/bin/env bash
# make down: remove the stack (its volumes and secrets stay, so data survives).
set -euo pipefail
source "$(dirname "$0")/lib.sh"
STACK="${STACK:-faas}"
docker_ok || die "Docker is not reachable: nothing to take down."
if docker stack ls --format '{{.Name}}' | grep -qx "$STACK"; then
  step "removing stack $STACK"
  docker stack rm "$STACK" >/dev/null
  # Networks go last; wait so a following `make up` does not race them.
  for _ in $(seq 1 60); do
    docker network ls --format '{{.Name}}' | grep -q "^${STACK}_" || break
    sleep 0.5
  done
fi
note "stack $STACK is down"
