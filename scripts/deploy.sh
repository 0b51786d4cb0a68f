#!/usr/bin/env bash
# Deploy (or update) the stack and wait until it serves HTTPS. Idempotent.
#   STACK=faas HTTPS_PORT=8443 HTTP_PORT=8080 scripts/deploy.sh
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_venv

export STACK="${STACK:-faas}" HTTPS_PORT="${HTTPS_PORT:-8443}" HTTP_PORT="${HTTP_PORT:-8080}"
[ -f "$BUILD_DIR/tag" ] || die "no images built yet: run scripts/build.sh (make up does it)."
TAG="$(cat "$BUILD_DIR/tag")"
export TAG
state="$STATE_DIR/$STACK"
mkdir -p "$state"
chmod 700 "$STATE_DIR" "$state"

# Where the stack answers: this machine, or a node of a multi-node swarm
# (scripts/cluster-deploy.sh sets it with DOCKER_HOST and COMPOSE_EXTRA).
HEALTH_URL="${HEALTH_URL:-https://127.0.0.1:$HTTPS_PORT/healthz}"

# A host-mode port is exclusive: say so before Docker fails quietly (on this
# machine; another node's ports are that node's).
if [ -z "${DOCKER_HOST:-}" ] && ! docker stack ls --format '{{.Name}}' | grep -qx "$STACK"; then
  for p in "$HTTPS_PORT" "$HTTP_PORT"; do
    if ss -ltnH "sport = :$p" 2>/dev/null | grep -q .; then
      die "port $p is already in use on this machine: free it, or choose others with HTTPS_PORT=... HTTP_PORT=... ."
    fi
  done
fi

# Secrets are made once per stack and kept in .state/ (mode 600, never in git).
if [ -x "$ROOT/scripts/secrets.sh" ]; then
  bash "$ROOT/scripts/secrets.sh" "$state"
fi
set -a
[ -f "$state/stack.env" ] && source "$state/stack.env"
set +a

# stack.yml is compose file 3.9 (a pids limit per function task) and is checked
# with `docker stack config`: Debian's docker.io CLI (20.10) has neither.
docker stack config --help >/dev/null 2>&1 \
  || die "this docker CLI ($(command -v docker), $(docker version --format '{{.Client.Version}}' 2>/dev/null)) has no 'docker stack config': install Docker's own CLI (docker-ce-cli; tested with 28.2, against Debian's Engine 20.10)."
step "deploying stack $STACK (tag $TAG): ${HEALTH_URL%/healthz}"
compose=(-c stack.yml)
if [ "${ALEXA_TEST:-0}" = 1 ]; then
  # End-to-end tests only: a local CA stands in for Amazon's signing chain.
  ALEXA_TEST_DIR="$state/alexa-test"
  "$VENV/bin/python" "$ROOT/certs/alexa_test_pki.py" "$ALEXA_TEST_DIR" >/dev/null
  ALEXA_TEST_HASH=$(cat "$ALEXA_TEST_DIR/ca.pem" "$ALEXA_TEST_DIR/echo-api-cert.pem" | sha256sum | cut -c1-12)
  export ALEXA_TEST_DIR ALEXA_TEST_HASH
  compose+=(-c stack.alexa-test.yml)
fi
for extra in ${COMPOSE_EXTRA:-}; do compose+=(-c "$extra"); done
# Every service's settings through the loader its component runs at start-up:
# a bad one stops here, naming the setting, with the running stack untouched.
step "validating the settings of every service"
"$VENV/bin/python" "$ROOT/scripts/validate_stack.py" "${compose[@]}" \
  || die "a setting is invalid (named above): nothing was deployed, the stack $STACK is as it was."
deployed_at=$(date +%s)
docker stack deploy --resolve-image never --prune "${compose[@]}" "$STACK" >"$state/deploy.log" 2>&1 \
  || { cat "$state/deploy.log" >&2; die "docker stack deploy failed (see above)."; }

step "waiting for the services of $STACK to be ready"
deadline=$((SECONDS + ${DEPLOY_TIMEOUT:-180}))
while :; do
  # A service is ready when its rolling update (if any) has completed and all
  # its replicas run: a 1/1 service may still be replacing its old task.
  pending=$(docker stack services "$STACK" --format '{{.Name}} {{.Replicas}}' \
    | awk '{ split($2, r, "/"); if (r[1] != r[2]) print $1 " " $2 }')
  for svc in $(docker stack services "$STACK" --format '{{.Name}}'); do
    state="" started=0
    read -r state started < <(docker service inspect \
      -f '{{with .UpdateStatus}}{{.State}} {{if .StartedAt}}{{.StartedAt.Unix}}{{end}}{{end}}' "$svc") || true
    case "${state:-}" in
      updating|rollback_started) pending="$pending $svc(updating)" ;;
      paused|rollback_paused) die "the update of $svc failed and is paused: see docker service ps --no-trunc $svc." ;;
      # update_config's failure_action: the old tasks serve again; still a failed deploy.
      rollback_completed) [ "${started:-0}" -ge "$deployed_at" ] \
        && die "the update of $svc failed and was rolled back (the old tasks serve): see docker service ps --no-trunc $svc." ;;
    esac
  done
  if [ -z "$pending" ] && curl -ksf -o /dev/null "$HEALTH_URL"; then
    break
  fi
  if [ $SECONDS -ge $deadline ]; then
    docker stack ps "$STACK" --no-trunc --format '{{.Name}} {{.CurrentState}} {{.Error}}' | head -20 >&2
    die "the stack $STACK was not ready in time; pending: ${pending:-none, but $HEALTH_URL does not answer}."
  fi
  line="$(echo $pending)"
  [ "$line" != "${last:-}" ] && note "waiting for: ${line:-the HTTPS health check}"
  last="$line"
  sleep 1
done
note "stack $STACK is ready"
