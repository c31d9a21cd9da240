#!/usr/bin/env bash
# Shared by scripts/serve and scripts/test: Debian packages, the .venv, and Moot in it.
# Usage: source scripts/bootstrap.sh; bootstrap_apt PKG...; bootstrap_venv [EXTRAS]
set -euo pipefail

MOOT_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

say() { printf '==> %s\n' "$*" >&2; }

# Install the Debian packages that are missing (apt-get update only when needed).
bootstrap_apt() {
    local missing=()
    for pkg in "$@"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    say "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

pick_python() {
    for py in python3.11 python3; do
        if command -v "$py" >/dev/null && "$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
            echo "$py"; return 0
        fi
    done
    return 1
}

# Create .venv (Python 3.11) and install Moot with the given extras ("" or "test").
bootstrap_venv() {
    local extras="${1:-}"
    local py
    if ! py="$(pick_python)"; then
        bootstrap_apt python3 python3-venv python3-dev
        py="$(pick_python)" || { echo "Python 3.11 is required (Debian 12 ships it as python3)" >&2; exit 1; }
    fi
    if [ ! -x "$MOOT_ROOT/.venv/bin/python" ]; then
        say "creating $MOOT_ROOT/.venv with $py"
        "$py" -m venv "$MOOT_ROOT/.venv" || { bootstrap_apt python3-venv; "$py" -m venv "$MOOT_ROOT/.venv"; }
    fi
    local spec="$MOOT_ROOT"
    [ -n "$extras" ] && spec="$MOOT_ROOT[$extras]"
    local stamp="$MOOT_ROOT/.venv/.moot-installed-${extras:-base}"
    if [ ! -f "$stamp" ] || [ "$MOOT_ROOT/pyproject.toml" -nt "$stamp" ]; then
        say "installing Moot${extras:+ with [$extras]} into .venv"
        "$MOOT_ROOT/.venv/bin/python" -m pip install -q --disable-pip-version-check -e "$spec"
        touch "$stamp"
    fi
}

# What every node needs from the host.
RUNTIME_PACKAGES=(iproute2 openssl ca-certificates)
