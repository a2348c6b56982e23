#!/usr/bin/env bash
# SFTP driver tests: Debian's OpenSSH server, run by test/servers/sftp.ts as a non-daemon on loopback.
set -euo pipefail
if ! command -v sshd >/dev/null && ! [ -x /usr/sbin/sshd ] || ! command -v ssh-keygen >/dev/null; then
  flock /tmp/ckptsync-apt.lock sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends openssh-server openssh-client >/dev/null'
fi
# sshd refuses to start without its privilege-separation directory.
mkdir -p /run/sshd
