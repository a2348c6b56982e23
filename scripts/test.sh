#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs what the tests need, builds, runs ava.
set -euo pipefail
cd "$(dirname "$0")/.."
for f in scripts/deps.d/*.sh; do [ -e "$f" ] && bash "$f"; done
# npm install, not npm ci: the registry serves some optional per-platform addon builds only at older
# versions, which npm leaves out of the lock file, and npm ci then refuses the lock as out of sync.
[ -d node_modules ] && [ -z "${CKPT_REINSTALL:-}" ] || npm install --no-audit --no-fund
npm run build
# Every test's temp files go under one directory, removed at the end, so runs never pile up in /tmp.
TMPDIR=$(mktemp -d /tmp/ckptsync-test.XXXXXX)
chmod 755 "$TMPDIR" # the WebDAV server's worker user must reach its document root under it
export TMPDIR
trap 'rm -rf "$TMPDIR"' EXIT
set +e
npx ava "$@" 2>&1 | tee .test-output.log
status=${PIPESTATUS[0]}
set -e
# A plain closing line that any CI reader understands (ava prints no "passed" count when some fail).
passed=$(grep -c '^ *✔' .test-output.log || true)
failed=$(grep -Eo '^ *[0-9]+ tests? failed' .test-output.log | grep -Eo '[0-9]+' | tail -1 || true)
# A crashed test file (uncaught exception) counts as a failure even when no test was marked failed.
if [ "$status" -ne 0 ] && [ "${failed:-0}" -eq 0 ]; then failed=1; fi
echo "${passed:-0} passed, ${failed:-0} failed"
rm -f .test-output.log
exit "$status"
