// Configuration of a plugin remote: which executable serves the scheme, the URL, and the settings passed
// to the plugin's `init` as they are. The options are the plugin's own (it documents and checks them,
// docs/remote-plugin-protocol.md, "Settings"): the host declares none and refuses none, and `remote list`
// hides those whose names look secret.

import fs from 'node:fs';
import path from 'node:path';
import { UsageError, redactSecrets, type RemoteOption, type RemoteSettings } from '../../src/remote/index.js';

export const PLUGIN_PREFIX = 'ckptsync-remote-';

/** None declared: a plugin's options are its own. */
export const options: readonly RemoteOption[] = [];

export interface PluginConfig {
  executable: string;
  url: string;
  settings: Record<string, string>;
}

export function parseConfig(scheme: string, executable: string, url: string, settings: RemoteSettings): PluginConfig {
  if (!url.toLowerCase().startsWith(`${scheme}://`)) throw new UsageError(`${redactSecrets(url)} is not a ${scheme}:// URL`);
  const clean: Record<string, string> = {};
  for (const [k, v] of Object.entries(settings)) if (v !== undefined) clean[k] = v;
  return { executable, url, settings: clean };
}

/** Finds `ckptsync-remote-<scheme>` on PATH, or null. */
export function findPlugin(scheme: string, envPath = process.env.PATH ?? ''): string | null {
  if (!/^[a-z][a-z0-9+.-]*$/.test(scheme)) return null;
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, PLUGIN_PREFIX + scheme);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {}
  }
  return null;
}
