#!/usr/bin/env bash
# Make sure a Docker Engine runs here and is a swarm manager. Idempotent.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

if ! have dockerd && ! docker_ok; then
  apt_install docker.io
fi

if ! docker_ok; then
  if have systemctl && systemctl is-system-running >/dev/null 2>&1; then
    step "starting docker with systemctl"
    systemctl start docker || true
  fi
fi
if ! docker_ok; then
  need_root
  step "starting dockerd in the background (log: /var/log/dockerd.log)"
  nohup dockerd >/var/log/dockerd.log 2>&1 &
  for _ in $(seq 1 60); do docker_ok && break; sleep 0.5; done
  docker_ok || die "dockerd did not answer within 30 s: read /var/log/dockerd.log."
fi

state="$(docker info --format '{{.Swarm.LocalNodeState}}')"
case "$state" in
  active)
    [ "$(docker info --format '{{.Swarm.ControlAvailable}}')" = "true" ] \
      || die "this node is a swarm worker; run make up on a manager node." ;;
  inactive)
    step "docker swarm init (single-node swarm on 127.0.0.1)"
    docker swarm init --advertise-addr "${SWARM_ADVERTISE_ADDR:-127.0.0.1}" >/dev/null \
      || die "docker swarm init failed (see above)." ;;
  *) die "the swarm state of this node is '$state': fix it with docker swarm leave --force or docker swarm init." ;;
esac
note "Docker $(docker version --format '{{.Server.Version}}') in swarm mode"
