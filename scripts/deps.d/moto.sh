#!/usr/bin/env bash
# The S3 driver's conditional-write tests (test/remotes/s3-conditional.test.ts): moto's S3 server, which,
# unlike s3rver, answers If-None-Match / If-Match on PutObject with 412. It lives in its own virtualenv,
# .venv-moto/ (gitignored), so neither the system Python nor a future package venv is touched. Pinned:
# the version whose behaviour test/servers/moto.ts describes. Only the S3 extra and the two web packages
# its server needs are installed (moto[server] would bring every service's dependencies, ~320 MB).
set -euo pipefail
cd "$(dirname "$0")/../.."
MOTO_VERSION=5.2.6
venv=.venv-moto
if "$venv/bin/python" -c "import moto, flask, flask_cors, sys; sys.exit(moto.__version__ != '$MOTO_VERSION')" 2>/dev/null; then
  exit 0
fi
if ! python3 -m venv --help >/dev/null 2>&1 || ! python3 -c 'import ensurepip' 2>/dev/null; then
  flock /tmp/ckptsync-apt.lock sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null'
fi
rm -rf "$venv"
python3 -m venv "$venv"
"$venv/bin/pip" install -q --disable-pip-version-check "moto[s3]==$MOTO_VERSION" flask flask-cors
