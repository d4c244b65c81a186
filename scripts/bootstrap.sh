#!/usr/bin/env bash
# Installs what is missing, idempotently: Debian packages, the venv, the package.
# Safe to run on every `make test` / `make demo`: each step is skipped when done.
set -euo pipefail
cd "$(dirname "$0")/.."

# wrk: the load generator of bench/blender.py. EXTRA_APT_PACKAGES adds more
# (`make bench-tools`: valgrind, for the benches' instruction counts).
APT_PACKAGES=(zookeeper kcat docker-compose chromium prometheus prometheus-pushgateway wrk)
read -r -a extra <<<"${EXTRA_APT_PACKAGES:-}"
APT_PACKAGES+=("${extra[@]}")
PYTHON=${PYTHON:-python3}
VENV=.venv

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  # No recommends: docker-compose would otherwise pull a whole Docker engine.
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
fi

if [ ! -x "$VENV/bin/python" ]; then
  echo "bootstrap: creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.installed-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "bootstrap: installing the package with its dev and local extras"
  "$VENV/bin/pip" install -q --upgrade pip
  "$VENV/bin/pip" install -q -e '.[dev,local]'
  rm -f "$VENV"/.installed-*
  touch "$stamp"
fi
