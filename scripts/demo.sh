#!/usr/bin/env bash
# The main job on a fresh machine: install, build, and run the demo on a local-directory remote.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm install --no-audit --no-fund  # not npm ci: see scripts/test.sh
npm run build --silent
node dist/scripts/demo.js "$@"
