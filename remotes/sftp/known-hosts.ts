// Host key checks against an OpenSSH known_hosts file (sshd(8), "SSH_KNOWN_HOSTS FILE FORMAT"):
// plain and hashed (|1|salt|hmac) host fields, [host]:port names for non-22 ports, wildcard and negated
// patterns, and @revoked lines. @cert-authority lines are ignored: host certificates are not supported.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

export type HostKeyStatus = 'known' | 'unknown' | 'changed' | 'revoked';

interface KnownKey {
  type: string;
  blob: Buffer;
  revoked: boolean;
}

/** The name OpenSSH looks up: the bare host on port 22, "[host]:port" otherwise. */
export function knownHostsName(host: string, port: number): string {
  return port === 22 ? host : `[${host}]:${port}`;
}

/** The key type named inside an SSH public key blob (its first string), e.g. "ssh-ed25519". */
export function keyTypeOf(blob: Buffer): string {
  if (blob.length < 4) return 'unknown';
  const n = blob.readUInt32BE(0);
  return blob.subarray(4, 4 + n).toString('latin1');
}

/** "SHA256:..." as ssh-keygen -l prints it. */
export function fingerprintOf(blob: Buffer): string {
  return 'SHA256:' + crypto.createHash('sha256').update(blob).digest('base64').replace(/=+$/, '');
}

function patternMatches(pattern: string, name: string): boolean {
  if (!/[*?]/.test(pattern)) return pattern.toLowerCase() === name.toLowerCase();
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i').test(name);
}

function hostFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|1|')) {
    const [, , salt, hash] = field.split('|');
    if (!salt || !hash) return false;
    const mac = crypto.createHmac('sha1', Buffer.from(salt, 'base64')).update(name).digest('base64');
    return mac === hash;
  }
  let matched = false;
  for (const p of field.split(',')) {
    if (p.startsWith('!')) {
      if (patternMatches(p.slice(1), name)) return false;
    } else if (patternMatches(p, name)) matched = true;
  }
  return matched;
}

/** The keys a known_hosts text lists for a host. */
export function knownKeysFor(text: string, host: string, port: number): KnownKey[] {
  const name = knownHostsName(host, port);
  const keys: KnownKey[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const fields = line.split(/\s+/);
    let marker = '';
    if (fields[0]!.startsWith('@')) marker = fields.shift()!;
    if (marker === '@cert-authority' || fields.length < 3) continue;
    const [hosts, type, b64] = fields as [string, string, string];
    if (!hostFieldMatches(hosts, name)) continue;
    keys.push({ type, blob: Buffer.from(b64, 'base64'), revoked: marker === '@revoked' });
  }
  return keys;
}

export function readKnownHosts(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return '';
    throw e;
  }
}

/** Compares the key a server presented with what the file says about that host. */
export function checkHostKey(text: string, host: string, port: number, blob: Buffer): HostKeyStatus {
  const keys = knownKeysFor(text, host, port);
  if (keys.some((k) => k.revoked && k.blob.equals(blob))) return 'revoked';
  const trusted = keys.filter((k) => !k.revoked);
  if (trusted.some((k) => k.blob.equals(blob))) return 'known';
  return trusted.length > 0 ? 'changed' : 'unknown';
}

/** Host key algorithms the file knows for a host: offered first so the server shows a key we can check. */
export function knownAlgorithmsFor(text: string, host: string, port: number): string[] {
  const out: string[] = [];
  for (const k of knownKeysFor(text, host, port)) {
    if (k.revoked) continue;
    const algos = k.type === 'ssh-rsa' ? ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'] : [k.type];
    for (const a of algos) if (!out.includes(a)) out.push(a);
  }
  return out;
}

/** Records a newly accepted key, the way ssh does with StrictHostKeyChecking=accept-new. */
export function appendKnownHost(file: string, host: string, port: number, blob: Buffer): void {
  fs.mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  let prefix = '';
  try {
    const text = fs.readFileSync(file, 'utf8');
    if (text.length > 0 && !text.endsWith('\n')) prefix = '\n';
  } catch {
    // A missing file is created below.
  }
  fs.appendFileSync(file, `${prefix}${knownHostsName(host, port)} ${keyTypeOf(blob)} ${blob.toString('base64')}\n`, { mode: 0o600 });
}
