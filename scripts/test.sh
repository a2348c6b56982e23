#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine: installs what the tests need, builds, runs ava,
# then pytest for the Python package. Fails if either fails; the closing line counts both.
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
# The Python package's tests (python/tests), against this checkout's CLI and the same loopback servers.
CKPTSYNC_BIN="$PWD/bin/run.js" .venv/bin/python -m pytest python/tests -q -p no:cacheprovider 2>&1 | tee .test-output-py.log
pystatus=${PIPESTATUS[0]}
set -e
# A plain closing line that any CI reader understands (ava prints no "passed" count when some fail).
passed=$(grep -c '^ *✔' .test-output.log || true)
failed=$(grep -Eo '^ *[0-9]+ tests? failed' .test-output.log | grep -Eo '[0-9]+' | tail -1 || true)
# A crashed test file (uncaught exception) counts as a failure even when no test was marked failed.
if [ "$status" -ne 0 ] && [ "${failed:-0}" -eq 0 ]; then failed=1; fi
# pytest's summary line: "3 failed, 40 passed, 1 error in 12.3s"; errors (a broken fixture) count as failures.
pysummary=$(grep -E '^=*.*[0-9]+ (passed|failed|error)' .test-output-py.log | tail -1)
pypassed=$(grep -Eo '[0-9]+ passed' <<<"$pysummary" | grep -Eo '[0-9]+' || true)
pyfailed=$(( $(grep -Eo '[0-9]+ failed' <<<"$pysummary" | grep -Eo '[0-9]+' || echo 0) + $(grep -Eo '[0-9]+ errors?' <<<"$pysummary" | grep -Eo '[0-9]+' || echo 0) ))
if [ "$pystatus" -ne 0 ] && [ "$pyfailed" -eq 0 ]; then pyfailed=1; fi
echo "$(( ${passed:-0} + ${pypassed:-0} )) passed, $(( ${failed:-0} + pyfailed )) failed"
rm -f .test-output.log .test-output-py.log
[ "$status" -eq 0 ] && [ "$pystatus" -eq 0 ]
