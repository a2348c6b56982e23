#!/usr/bin/env bash
# Prints the path of the frameworks' virtualenv: one per content of python/requirements-frameworks.txt.
set -euo pipefail
cd "$(dirname "$0")/.."
echo "${CKPTSYNC_VENV_CACHE:-/var/cache/ckptsync}/venv-frameworks-$(sha256sum python/requirements-frameworks.txt | cut -c1-16)"
