// Drivers register by URL scheme; openRemote picks one from a URL. The core never imports a driver:
// built-in drivers are registered lazily by src/builtin-remotes.ts, which also installs the fallback for
// schemes no driver serves (the stdio plugin host, remotes/plugin/).

import path from 'node:path';
import { redactSecrets, UsageError } from '../errors.js';
import type { Remote, RemoteFactory, RemoteSettings } from './types.js';

type Loader = () => Promise<RemoteFactory<any>>;
/** Asked for a scheme no driver is registered for; null when it cannot serve it either. */
type FallbackLoader = (scheme: string) => Promise<RemoteFactory<any> | null>;
const loaders = new Map<string, Loader>();
let fallback: FallbackLoader | null = null;

export function registerRemote(scheme: string, loader: Loader): void {
  loaders.set(scheme, loader);
}

/** Sets the loader for schemes no driver is registered for (one at a time: the last set wins). */
export function registerFallbackRemote(loader: FallbackLoader): void {
  fallback = loader;
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
  if (loader) return loader();
  // No built-in driver: the fallback (an executable ckptsync-remote-<scheme> on PATH, docs/remote-plugin-protocol.md).
  const factory = await fallback?.(scheme);
  if (factory) return factory;
  throw new UsageError(
    `unknown remote scheme "${scheme}" in ${redactSecrets(url)} (known: ${registeredSchemes().join(', ')}; or install a ckptsync-remote-${scheme} plugin on PATH)`,
  );
}

export async function openRemote(url: string, settings: RemoteSettings = {}): Promise<Remote> {
  const factory = await loadFactory(url);
  return factory.create(factory.parse(url, settings));
}

