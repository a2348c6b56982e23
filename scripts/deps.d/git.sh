#!/usr/bin/env bash
# Git integration tests: git itself, and Debian's git-lfs for the custom-transfer-agent round trip
# (test/git/lfs.test.ts).
set -euo pipefail
if ! command -v git >/dev/null || ! command -v git-lfs >/dev/null; then
  flock /tmp/ckptsync-apt.lock sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends git git-lfs >/dev/null'
fi
