#!/usr/bin/env bash
# The framework integrations' tests (python/tests/frameworks): torch, Lightning, Composer, transformers and
# wandb from the package index, pinned in python/requirements-frameworks.txt. torch from the index brings its
# CUDA libraries (~3 GB), so the virtualenv lives outside the clone, under /var/cache/ckptsync, named by the
# requirements file's hash: installed once per machine, reused by every later run and clone.
# CKPTSYNC_FRAMEWORKS=0 skips it (and scripts/test.sh then skips those tests).
set -euo pipefail
cd "$(dirname "$0")/../.."
[ "${CKPTSYNC_FRAMEWORKS:-1}" = 0 ] && exit 0
PY=${CKPT_PYTHON:-python3}
# Python 3.11: the pins were resolved for it (wheels such as numpy's are per Python version).
ok() { command -v "$1" >/dev/null && "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null; }
if ! ok "$PY"; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
  PY=/usr/bin/python3
fi
req=python/requirements-frameworks.txt
venv=$(bash scripts/frameworks-venv.sh)
if [ ! -e "$venv/.complete" ]; then
  # A half-built virtualenv (an install that was killed) is started over, never reused.
  rm -rf "$venv"
  mkdir -p "$(dirname "$venv")"
  "$PY" -m venv "$venv"
  start=$(date +%s)
  "$venv/bin/python" -m pip install -q --disable-pip-version-check --no-cache-dir -r "$req"
  echo "frameworks virtualenv installed in $(( $(date +%s) - start )) s: $venv"
  touch "$venv/.complete"
fi
# Reinstalled every run (a few seconds), as in python.sh: the tests exercise what `pip install ./python` installs.
"$venv/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation --force-reinstall ./python
