// The part of ~/.ssh/config (ssh_config(5)) that users rely on to name a server: Host blocks with
// patterns, and HostName, User, Port, IdentityFile, UserKnownHostsFile, StrictHostKeyChecking.
// As in ssh, the first value found for a keyword wins (IdentityFile accumulates). Match blocks and
// Include are not followed; a Match block is skipped as a whole.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface SshHostSettings {
  hostName?: string;
  user?: string;
  port?: number;
  identityFiles: string[];
  userKnownHostsFile?: string;
  strictHostKeyChecking?: string;
}

function globMatches(pattern: string, name: string): boolean {
  const re = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`, 'i').test(name);
}

function hostLineMatches(patterns: string[], alias: string): boolean {
  let matched = false;
  for (const p of patterns) {
    if (p.startsWith('!')) {
      if (globMatches(p.slice(1), alias)) return false;
    } else if (globMatches(p, alias)) matched = true;
  }
  return matched;
}

/** Settings of ~/.ssh/config that apply to `alias`; raw values, tokens not yet expanded. */
export function sshSettingsFor(text: string, alias: string): SshHostSettings {
  const out: SshHostSettings = { identityFiles: [] };
  let active = true; // lines before the first Host apply to every host
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#')) continue;
    const m = /^(\S+?)(?:\s*=\s*|\s+)(.*)$/.exec(line);
    if (!m) continue;
    const key = m[1]!.toLowerCase();
    const value = m[2]!.trim().replace(/^"(.*)"$/, '$1');
    if (key === 'host') {
      active = hostLineMatches(value.split(/\s+/), alias);
      continue;
    }
    if (key === 'match') {
      active = value.trim().toLowerCase() === 'all';
      continue;
    }
    if (!active) continue;
    switch (key) {
      case 'hostname':
        out.hostName ??= value;
        break;
      case 'user':
        out.user ??= value;
        break;
      case 'port':
        if (out.port === undefined && /^\d+$/.test(value)) out.port = Number(value);
        break;
      case 'identityfile':
        out.identityFiles.push(value);
        break;
      case 'userknownhostsfile':
        out.userKnownHostsFile ??= value.split(/\s+/)[0];
        break;
      case 'stricthostkeychecking':
        out.strictHostKeyChecking ??= value.toLowerCase();
        break;
    }
  }
  return out;
}

export function readSshConfig(home: string): string {
  try {
    return fs.readFileSync(path.join(home, '.ssh', 'config'), 'utf8');
  } catch {
    return '';
  }
}

/** Expands ~ and the %-tokens ssh allows in file names (%d home, %h host, %p port, %r remote user, %u local user). */
export function expandPath(p: string, ctx: { home: string; host: string; port: number; user: string }): string {
  let s = p.replace(/^~(?=$|\/)/, ctx.home);
  s = s.replace(/%([%dhpru])/g, (_, t: string) =>
    t === '%' ? '%' : t === 'd' ? ctx.home : t === 'h' ? ctx.host : t === 'p' ? String(ctx.port) : t === 'r' ? ctx.user : localUser(),
  );
  return path.isAbsolute(s) ? s : path.join(ctx.home, s);
}

export function localUser(): string {
  try {
    return process.env.USER || os.userInfo().username;
  } catch {
    return 'root';
  }
}
