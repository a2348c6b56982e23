#!/usr/bin/env bash
# The native addon's tests (test/core/store-by-copy.test.ts): a C compiler and libc headers, so that
# `npm run build` builds src/native/*.c (without one, ckptsync runs on its fallback, and those tests fail).
set -euo pipefail
if ! command -v "${CC:-cc}" >/dev/null || ! [ -e /usr/include/unistd.h ]; then
  flock /tmp/ckptsync-apt.lock sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gcc libc6-dev >/dev/null'
fi
