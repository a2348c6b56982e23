// remote add | list | remove: the repository's configured remotes. The first one added is the default.

import { ConfigError, redactSecrets, UsageError } from '../errors.js';
import type { Repository } from '../core/repo.js';
import { checkRemoteUrl } from './remote.js';

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
  return opts.repo.withLock(async () => {
    const c = await opts.repo.config();
    if (c.remotes[opts.name]) throw new ConfigError(`remote ${opts.name} already exists (remove it first)`);
    c.remotes[opts.name] = { url: opts.url, settings };
    if (!c.defaultRemote || opts.makeDefault) c.defaultRemote = opts.name;
    await opts.repo.saveConfig(c);
    return { name: opts.name, url: redactSecrets(opts.url), isDefault: c.defaultRemote === opts.name, settings: redactSettings(settings) };
  });
}

export async function listRemotes(opts: { repo: Repository }): Promise<RemoteEntry[]> {
  const c = await opts.repo.config();
  return Object.entries(c.remotes).map(([name, r]) => ({ name, url: redactSecrets(r.url), isDefault: c.defaultRemote === name, settings: redactSettings(r.settings ?? {}) }));
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

/** Settings whose names look secret are never shown. */
export function redactSettings(settings: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(settings).map(([k, v]) => [k, /key|secret|password|token|passphrase|credential/i.test(k) ? '***' : v]));
}
