// Where WebDAV credentials come from, in order: the URL's userinfo, the remote's settings
// (user/password), the environment (CKPTSYNC_WEBDAV_USER / CKPTSYNC_WEBDAV_PASSWORD), then ~/.netrc
// (or $NETRC): the entry for the host, else the `default` entry. The result remembers where it came
// from (never the secret itself) so that an AuthError can say where to look.

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const ENV_USER = 'CKPTSYNC_WEBDAV_USER';
export const ENV_PASSWORD = 'CKPTSYNC_WEBDAV_PASSWORD';

export interface Credentials {
  user: string;
  password: string;
  /** Human description of the source, e.g. "~/.netrc (/home/me/.netrc, machine dav.lab)". No secret. */
  source: string;
}

export interface CredentialLookup {
  credentials?: Credentials;
  /** Every place that was searched, for the "no credentials" error. */
  lookedIn: string;
}

interface NetrcEntry {
  machine: string | null; // null: the `default` entry
  login?: string;
  password?: string;
}

/** Parses .netrc text: machine/default blocks with login/password/account; macdef bodies skipped. */
export function parseNetrc(text: string): NetrcEntry[] {
  const entries: NetrcEntry[] = [];
  // macdef bodies run to the next blank line; drop them before tokenizing.
  const cleaned = text.replace(/(^|\s)macdef\s+\S+[^\n]*\n[\s\S]*?(\n\s*\n|$)/g, '$1');
  const tokens = cleaned
    .split('\n')
    .map((line) => (/^\s*#/.test(line) ? '' : line))
    .join('\n')
    .match(/"(?:[^"\\]|\\.)*"|\S+/g) ?? [];
  const unquote = (t: string) => (t.startsWith('"') && t.endsWith('"') && t.length >= 2 ? t.slice(1, -1).replace(/\\(.)/g, '$1') : t);
  let cur: NetrcEntry | null = null;
  for (let i = 0; i < tokens.length; i++) {
    const t = tokens[i]!;
    if (t === 'machine') {
      cur = { machine: unquote(tokens[++i] ?? '') };
      entries.push(cur);
    } else if (t === 'default') {
      cur = { machine: null };
      entries.push(cur);
    } else if (cur && (t === 'login' || t === 'password' || t === 'account')) {
      const v = unquote(tokens[++i] ?? '');
      if (t === 'login') cur.login = v;
      else if (t === 'password') cur.password = v;
    }
  }
  return entries;
}

export function netrcPath(env: NodeJS.ProcessEnv): string {
  return env.NETRC || path.join(env.HOME || os.homedir(), '.netrc');
}

export function resolveCredentials(
  url: URL,
  settings: { user?: string; password?: string },
  env: NodeJS.ProcessEnv = process.env,
): CredentialLookup {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const urlUser = url.username ? decodeURIComponent(url.username) : undefined;
  const file = netrcPath(env);
  const lookedIn = `the URL, the remote's user/password settings, ${ENV_USER}/${ENV_PASSWORD}, and ${file} (machine ${host} or default)`;
  const wanted = (user?: string) => urlUser === undefined || user === undefined || user === urlUser;

  if (url.password) return { credentials: { user: urlUser ?? '', password: decodeURIComponent(url.password), source: 'the URL' }, lookedIn };
  if (settings.password !== undefined && wanted(settings.user)) {
    return { credentials: { user: urlUser ?? settings.user ?? '', password: settings.password, source: "the remote's settings" }, lookedIn };
  }
  if (env[ENV_PASSWORD] !== undefined && wanted(env[ENV_USER])) {
    return { credentials: { user: urlUser ?? env[ENV_USER] ?? '', password: env[ENV_PASSWORD]!, source: `${ENV_USER}/${ENV_PASSWORD}` }, lookedIn };
  }
  let text: string | undefined;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return { lookedIn };
  }
  const entries = parseNetrc(text);
  const pick = entries.find((e) => e.machine === host && e.password !== undefined && wanted(e.login)) ??
    entries.find((e) => e.machine === null && e.password !== undefined && wanted(e.login));
  if (!pick) return { lookedIn };
  return {
    credentials: {
      user: urlUser ?? pick.login ?? '',
      password: pick.password!,
      source: `${file} (${pick.machine === null ? 'default entry' : `machine ${host}`})`,
    },
    lookedIn,
  };
}
