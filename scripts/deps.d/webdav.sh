#!/usr/bin/env bash
# WebDAV driver tests: a real Apache httpd with mod_dav_fs (test/servers/webdav.ts), htpasswd, and the
# openssl CLI (the webdavs:// tests make a throwaway CA and a certificate for 127.0.0.1).
set -euo pipefail
if ! command -v apache2 >/dev/null && ! [ -x /usr/sbin/apache2 ] || ! command -v htpasswd >/dev/null || ! command -v openssl >/dev/null; then
  flock /tmp/ckptsync-apt.lock sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends apache2 apache2-utils openssl >/dev/null'
fi
