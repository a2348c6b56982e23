// Drivers register by URL scheme; openRemote picks one from a URL. The core never imports a driver:
// built-in drivers are registered lazily by src/builtin-remotes.ts.

import path from 'node:path';
import { redactSecrets, UsageError } from '../errors.js';
import type { Remote, RemoteFactory, RemoteSettings } from './types.js';
import { findPlugin, pluginFactory } from './plugin.js';

type Loader = () => Promise<RemoteFactory<any>>;
const loaders = new Map<string, Loader>();

export function registerRemote(scheme: string, loader: Loader): void {
  loaders.set(scheme, loader);
}

export function registeredSchemes(): string[] {
  return [...loaders.keys()].sort();
}

/** The URL scheme, or "file" for a plain filesystem path. */
export function schemeOf(url: string): string {
  const m = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url);
  if (m) return m[1]!.toLowerCase();
  if (/^[a-z][a-z0-9+.-]*:/i.test(url) && !path.isAbsolute(url) && !/^[a-z]:[\\/]/i.test(url)) {
    throw new UsageError(`not a remote URL: ${redactSecrets(url)} (expected SCHEME://... or a directory path)`);
  }
  return 'file';
}

export async function loadFactory(url: string): Promise<RemoteFactory<unknown>> {
  const scheme = schemeOf(url);
  const loader = loaders.get(scheme);
  // No built-in driver: an executable ckptsync-remote-<scheme> on PATH (docs/remote-plugin-protocol.md).
  const plugin = loader ? null : findPlugin(scheme);
  if (plugin) return pluginFactory(scheme, plugin);
  if (!loader) {
    throw new UsageError(
      `unknown remote scheme "${scheme}" in ${redactSecrets(url)} (known: ${registeredSchemes().join(', ')}; or install a ckptsync-remote-${scheme} plugin on PATH)`,
    );
  }
  return loader();
}

export async function openRemote(url: string, settings: RemoteSettings = {}): Promise<Remote> {
  const factory = await loadFactory(url);
  return factory.create(factory.parse(url, settings));
}

