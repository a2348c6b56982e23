// remote add | list | remove: the repository's configured remotes. The first one added is the default.

import { ConfigError, redactSecrets, UsageError } from '../errors.js';
import type { Repository } from '../core/repo.js';
import type { RemoteOption } from '../remote/types.js';
import { checkRemoteUrl, driverOptions } from './remote.js';

export interface RemoteEntry {
  name: string;
  url: string;
  isDefault: boolean;
  settings: Record<string, string>;
}

export async function addRemote(opts: { repo: Repository; name: string; url: string; settings?: Record<string, string>; makeDefault?: boolean }): Promise<RemoteEntry> {
  if (!/^[A-Za-z0-9_-]+$/.test(opts.name)) throw new UsageError(`invalid remote name ${JSON.stringify(opts.name)}: use letters, digits, _ and -`);
  const settings = opts.settings ?? {};
  await checkRemoteUrl(opts.url, settings);
  const table = (await driverOptions(opts.url))?.options;
  return opts.repo.withLock(async () => {
    const c = await opts.repo.config();
    if (c.remotes[opts.name]) throw new ConfigError(`remote ${opts.name} already exists (remove it first)`);
    c.remotes[opts.name] = { url: opts.url, settings };
    if (!c.defaultRemote || opts.makeDefault) c.defaultRemote = opts.name;
    await opts.repo.saveConfig(c);
    return { name: opts.name, url: redactSecrets(opts.url), isDefault: c.defaultRemote === opts.name, settings: redactSettings(settings, table) };
  });
}

export async function listRemotes(opts: { repo: Repository }): Promise<RemoteEntry[]> {
  const c = await opts.repo.config();
  const out: RemoteEntry[] = [];
  for (const [name, r] of Object.entries(c.remotes)) {
    const settings = r.settings ?? {};
    // Only a remote with settings needs its driver's table (loading a driver can cost an SDK import).
    const table = Object.keys(settings).length ? (await driverOptions(r.url).catch(() => null))?.options : undefined;
    out.push({ name, url: redactSecrets(r.url), isDefault: c.defaultRemote === name, settings: redactSettings(settings, table) });
  }
  return out;
}

/** The options a driver takes (`remote options SCHEME`): name, help, default, and whether it is secret. */
export async function remoteOptions(opts: { scheme: string }): Promise<{ scheme: string; options: RemoteOption[] }> {
  const found = await driverOptions(opts.scheme);
  if (!found) throw new UsageError(`no driver serves the scheme ${JSON.stringify(opts.scheme)} (built in: file, s3, b2, sftp, webdav, webdavs; or a ckptsync-remote-${opts.scheme} plugin on PATH)`);
  return { scheme: found.scheme, options: [...found.options] };
}

export async function removeRemote(opts: { repo: Repository; name: string }): Promise<void> {
  await opts.repo.withLock(async () => {
    const c = await opts.repo.config();
    if (!c.remotes[opts.name]) throw new ConfigError(`no remote named ${opts.name}`);
    delete c.remotes[opts.name];
    if (c.defaultRemote === opts.name) c.defaultRemote = Object.keys(c.remotes)[0];
    await opts.repo.saveConfig(c);
  });
}

/**
 * Settings as they may be shown: those the driver's options table marks secret are hidden. A driver that
 * declares no options (a plugin: its options are its own) gets the fallback, every setting whose name
 * looks secret.
 */
export function redactSettings(settings: Record<string, string>, table?: readonly RemoteOption[]): Record<string, string> {
  const secret = table?.length
    ? (k: string) => table.find((o) => o.name === k)?.secret === true
    : (k: string) => /key|secret|password|token|passphrase|credential/i.test(k);
  return Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, secret(k) ? '***' : v]));
}
