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
