#!/usr/bin/env bash
# Build Python wheels on the host and every image from them. Idempotent and
# fast when nothing changed (content-addressed tag, Docker layer cache).
#   scripts/build.sh            build everything, print the tag
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_venv
docker_ok || die "Docker is not reachable: run 'make engine' (or start dockerd) first."
bash "$ROOT/scripts/base-image.sh"

# The tag is a hash of every build input, so a changed file gives a new tag and
# `docker stack deploy` rolls the services that use it; nothing changed, no roll.
# echo-http copies the python-http template's server (functions/echo-http/Dockerfile).
sources=(pyproject.toml watchdog sidecar nginx certs functions schemas broker
         cli/faas_cli/templates/python-http/index.py)
if git -C "$ROOT" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  inputs=$(git ls-files -co --exclude-standard -- "${sources[@]}")
else  # a tarball, not a checkout
  inputs=$(find "${sources[@]}" -type f)
fi
inputs=$(echo "$inputs" | grep -v -E '(__pycache__|\.pyc$|/dev/|/live/)' | sort)
TAG=$(cd "$ROOT" && sha256sum $inputs | sha256sum | cut -c1-12)
mkdir -p "$BUILD_DIR/wheels"

# Wheels: pip inside `docker build` cannot reach PyPI here (intercepted TLS),
# and offline builds are a feature: every image installs from .build/wheels.
wheel_stamp="$BUILD_DIR/wheels/.stamp"
reqs=(functions/*/requirements.txt)
want=$(cat pyproject.toml sidecar/faas_sidecar/*.py "${reqs[@]}" 2>/dev/null | sha256sum | cut -c1-16)$TAG
if [ ! -f "$wheel_stamp" ] || [ "$(cat "$wheel_stamp")" != "$want" ]; then
  step "building Python wheels into .build/wheels"
  rm -f "$BUILD_DIR"/wheels/swarmfaas-*.whl
  log="$BUILD_DIR/wheels.log"
  "$VENV/bin/pip" wheel -q -w "$BUILD_DIR/wheels" "$ROOT" >"$log" 2>&1 \
    || { tail -n 20 "$log" >&2; die "pip wheel failed: the end of $log is above."; }
  for r in "${reqs[@]}"; do
    [ -f "$r" ] || continue
    "$VENV/bin/pip" wheel -q -w "$BUILD_DIR/wheels" -r "$r" >>"$log" 2>&1 \
      || { tail -n 20 "$log" >&2; die "pip wheel -r $r failed: the end of $log is above."; }
  done
  echo "$want" >"$wheel_stamp"
fi

build_image() { # name dockerfile
  local name="$1" file="$2"
  if docker image inspect "$name:$TAG" >/dev/null 2>&1; then
    note "$name:$TAG is up to date"
    return 0
  fi
  step "building $name:$TAG"
  local log="$BUILD_DIR/build-$(basename "$name").log"
  # BUILD_ARGS: more --build-arg, e.g. an http_proxy for apt (scripts/cluster.sh).
  # shellcheck disable=SC2086
  if ! docker build --build-arg "TAG=$TAG" ${BUILD_ARGS:-} -f "$file" -t "$name:$TAG" -t "$name:latest" . >"$log" 2>&1; then
    tail -n 30 "$log" >&2
    die "building $name failed: the end of $log is above."
  fi
}

# The watchdog first: function images build FROM it.
build_image swarmfaas/watchdog watchdog/Dockerfile
build_image swarmfaas/sidecar sidecar/Dockerfile
build_image swarmfaas/nginx nginx/Dockerfile
build_image swarmfaas/broker broker/Dockerfile
[ -f certs/certbot/Dockerfile ] && build_image swarmfaas/certbot certs/certbot/Dockerfile
for df in functions/*/Dockerfile; do
  fn=$(basename "$(dirname "$df")")
  build_image "swarmfaas/fn-$fn" "$df"
done
echo "$TAG" >"$BUILD_DIR/tag"
note "images tagged $TAG"
