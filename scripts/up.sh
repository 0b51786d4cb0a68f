#!/usr/bin/env bash
# make up: install and start what is missing, build, deploy, print how to call.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
start=$SECONDS
apt_install curl iproute2 ca-certificates
bash "$ROOT/scripts/engine.sh"
bash "$ROOT/scripts/build.sh"
bash "$ROOT/scripts/deploy.sh"
port="${HTTPS_PORT:-8443}"
cat <<EOT

swarmfaas is up (in $((SECONDS - start)) s): https://localhost:$port

  curl -k https://localhost:$port/function/echo -d hello
  curl -k https://localhost:$port/ -H 'X-Function: echo' -d hello

Your own function (the faas CLI is in .venv/bin; see "First function" in README.md):
  .venv/bin/faas login -g https://127.0.0.1:$port --tls-ca .state/${STACK:-faas}/certs/ca.pem \\
      --password-stdin < .state/${STACK:-faas}/basic-auth-password

System API credentials: .state/${STACK:-faas}/ (basic-auth-user, basic-auth-password)
The development certificate's CA: .state/${STACK:-faas}/certs/ca.pem (trust it to drop -k)
Tear down with: make down
EOT
