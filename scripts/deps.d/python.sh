#!/usr/bin/env bash
# The Python package's tests (python/tests): a virtualenv at .venv with the pinned
# python/requirements-test.txt, then the package itself installed as a user would (pip install ./python).
# A second run reuses the virtualenv while the requirements file is unchanged.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${CKPT_PYTHON:-python3}
ok() { command -v "$1" >/dev/null && "$1" -c 'import sys, venv, ensurepip; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; }
if ! ok "$PY"; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-venv >/dev/null
  PY=/usr/bin/python3
fi
req=python/requirements-test.txt
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ ! -x .venv/bin/python ] || [ "$(cat .venv/.requirements.sha256 2>/dev/null)" != "$want" ]; then
  rm -rf .venv
  "$PY" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -r "$req"
  echo "$want" > .venv/.requirements.sha256
fi
# Reinstalled every run (a few seconds): the tests exercise what `pip install ./python` installs.
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation --force-reinstall ./python
