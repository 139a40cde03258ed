#!/usr/bin/env bash
# Lint with ruff (settings in pyproject.toml); exits non-zero on any violation. Installs the pinned ruff if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source .venv/bin/activate
want=$(grep -E '^ruff==' requirements-dev.txt | cut -d= -f3)
if [ "$(ruff --version 2>/dev/null | cut -d' ' -f2)" != "$want" ]; then
  pip install -q -r requirements-dev.txt 2>&1 | grep -v "is ignored: it is neither a file nor a directory" || true
fi
ruff check --no-cache .
echo "[lint] ruff $want: clean"
