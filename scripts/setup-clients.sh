#!/usr/bin/env bash
# Installs Polkadot's own client libraries for the tests that run them against `tessera dev`
# (node/tests/it/clients.rs), once: safe to run any number of times.
#   nodejs npm     Node.js from Debian, for @polkadot/api and polkadot-api (versions pinned
#                  in clients/js/package-lock.json, installed with `npm ci`)
#   python3-venv   a virtual environment for py-substrate-interface (clients/py/requirements.txt)
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
python3 -m venv --help >/dev/null 2>&1 || missing+=(python3-venv)
if [ ${#missing[@]} -gt 0 ]; then
  source scripts/apt-install.sh
  apt_install "${missing[@]}"
fi

# Reinstalled only when the pinned versions change: a copy of the lock file marks what is in.
js=clients/js
if ! cmp -s "$js/package-lock.json" "$js/node_modules/.installed-lock.json"; then
  echo "Installing @polkadot/api and polkadot-api (clients/js/package-lock.json)"
  (cd "$js" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$js/package-lock.json" "$js/node_modules/.installed-lock.json"
fi

py=clients/py
if ! cmp -s "$py/requirements.txt" "$py/.venv/installed-requirements.txt"; then
  echo "Installing py-substrate-interface (clients/py/requirements.txt)"
  rm -rf "$py/.venv"
  python3 -m venv "$py/.venv"
  "$py/.venv/bin/pip" install --quiet --disable-pip-version-check -r "$py/requirements.txt"
  cp "$py/requirements.txt" "$py/.venv/installed-requirements.txt"
fi
