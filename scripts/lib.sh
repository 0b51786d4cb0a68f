# Shared helpers for the scripts: sourced, never run.
# Every script says what it does on one line, and what is wrong in one sentence.

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export ROOT
BUILD_DIR="$ROOT/.build"
STATE_DIR="$ROOT/.state"
PYTHON="${PYTHON:-python3}"
VENV="$ROOT/.venv"

step() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
note() { printf '    %s\n' "$*"; }
die() { printf '\033[1;31merror:\033[0m %s\n' "$*" >&2; exit 1; }

need_root() {
  [ "$(id -u)" -eq 0 ] || die "this step needs root (it installs packages and starts dockerd): run it as root or with sudo."
}

have() { command -v "$1" >/dev/null 2>&1; }

# apt-get install only what is missing; apt-get update once per run.
APT_UPDATED=""
apt_install() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  need_root
  have apt-get || die "apt-get not found: install ${missing[*]} with your package manager, then run this again."
  if [ -z "$APT_UPDATED" ]; then
    step "apt-get update"
    apt-get update -qq || die "apt-get update failed: check the network and /etc/apt/sources.list."
    APT_UPDATED=1
  fi
  step "installing ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null \
    || die "apt-get install ${missing[*]} failed (see the output above)."
}

# The project's virtualenv, with the package and its dev extra installed.
ensure_venv() {
  if [ ! -x "$VENV/bin/python" ]; then
    step "creating the virtualenv in .venv"
    "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
      || die "$PYTHON is missing or older than 3.11: install Python 3.11+ or set PYTHON=/path/to/python3.11."
    if ! "$PYTHON" -m venv "$VENV" 2>/dev/null; then
      rm -rf "$VENV"
      apt_install python3-venv
      "$PYTHON" -m venv "$VENV" || die "could not create a virtualenv with $PYTHON: install python3-venv."
    fi
  fi
  local stamp="$VENV/.installed" want
  want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -c1-16)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    step "installing the project and its dev dependencies into .venv"
    "$VENV/bin/pip" install -q --upgrade pip >/dev/null 2>&1 || true
    local log="$VENV/pip-install.log"
    "$VENV/bin/pip" install -q -e "$ROOT[dev]" >"$log" 2>&1 \
      || { tail -n 20 "$log" >&2; die "pip install failed (the end of $log is above): check access to PyPI."; }
    echo "$want" >"$stamp"
  fi
}

docker_ok() { docker info >/dev/null 2>&1; }
