#!/bin/sh
# Peers the benchmark compares against (Debian packages). Installed here, not in scripts/deps.d, because
# the test command must not need them. Idempotent; apt runs under the shared lock.
set -e
missing=""
command -v rclone >/dev/null || missing="$missing rclone"
command -v borg >/dev/null || missing="$missing borgbackup"
command -v b3sum >/dev/null || missing="$missing b3sum"
command -v git-lfs >/dev/null || missing="$missing git-lfs"
[ -x /usr/bin/time ] || missing="$missing time"
if [ -n "$missing" ]; then
  flock /tmp/ckptsync-apt.lock sh -c "apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing" >/dev/null
fi
# A fast S3 server (test/servers/versitygw.ts): the Versity S3 gateway from the Go module proxy, built
# once per machine (about 2 minutes on 2 cores). A build that fails leaves the benchmark without it.
if [ ! -x /var/cache/ckptsync/gobin/versitygw ] && command -v go >/dev/null; then
  mkdir -p /var/cache/ckptsync/gobin
  GOBIN=/var/cache/ckptsync/gobin go install github.com/versity/versitygw/cmd/versitygw@v1.8.0 >/dev/null 2>&1 || echo "peers: versitygw did not build; the benchmark runs without it" >&2
fi
