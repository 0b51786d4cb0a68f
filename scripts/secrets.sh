#!/usr/bin/env bash
# Make the stack's secrets once, in .state/<stack>/ (mode 600, never in git),
# and write stack.env: the variables stack.yml reads to find them. Docker
# secrets are immutable, so their names carry a hash of their content.
#   scripts/secrets.sh .state/faas
set -euo pipefail
source "$(dirname "$0")/lib.sh"
state="$1"
mkdir -p "$state"
umask 077

[ -s "$state/basic-auth-user" ] || printf 'admin' >"$state/basic-auth-user"
[ -s "$state/basic-auth-password" ] || head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$state/basic-auth-password"
# The sidecar's token for the engine gate (sidecar/faas_sidecar/enginetoken.py).
[ -s "$state/engine-gate-token" ] || head -c 32 /dev/urandom | base64 | tr -d '/+=\n' >"$state/engine-gate-token"
# The scaler's token: the gate lets it list functions and set replica counts only.
[ -s "$state/engine-gate-scaler-token" ] || head -c 32 /dev/urandom | base64 | tr -d '/+=\n' >"$state/engine-gate-scaler-token"
# The webhook secret of the webhookstash function (GitHub's scheme): put the
# same value in the GitHub webhook's "Secret" field (docs/webhooks.md).
[ -s "$state/github-webhook-secret" ] || head -c 32 /dev/urandom | base64 | tr -d '/+=\n' >"$state/github-webhook-secret"
# The queue worker's token: the sidecar takes a request carrying it as a
# delivery of a stored call (no second enqueue, no second signature check).
[ -s "$state/queue-token" ] || head -c 32 /dev/urandom | base64 | tr -d '/+=\n' >"$state/queue-token"

# The development certificate (a local CA and a cert for localhost; DEV_CERT_NAMES
# adds names, e.g. every manager's address on a swarm of several nodes).
"$VENV/bin/python" "$ROOT/certs/dev_cert.py" "$state/certs" \
  --names "${DEV_CERT_NAMES:-localhost,127.0.0.1,::1}" >/dev/null \
  || die "could not make the development certificate (see above)."

h() { cat "$@" | sha256sum | cut -c1-10; }
{
  echo "STATE_DIR=$state"
  echo "AUTH_HASH=$(h "$state/basic-auth-user" "$state/basic-auth-password")"
  echo "GATE_TOKEN_HASH=$(h "$state/engine-gate-token")"
  echo "SCALER_TOKEN_HASH=$(h "$state/engine-gate-scaler-token")"
  echo "WEBHOOK_SECRET_HASH=$(h "$state/github-webhook-secret")"
  echo "QUEUE_TOKEN_HASH=$(h "$state/queue-token")"
  if [ -f "$state/certs/cert.pem" ]; then
    echo "CERT_HASH=$(h "$state/certs/cert.pem" "$state/certs/key.pem")"
  fi
} >"$state/stack.env"
