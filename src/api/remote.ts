// Choosing and opening a remote for an operation: a configured name, a URL, or the default remote. This
// file resolves which URL and settings; the registry is then called once, to open it (it validates the URL
// and picks the driver).

import { ConfigError, NotFoundError, redactSecrets, UsageError } from '../errors.js';
import { registerBuiltinRemotes } from '../builtin-remotes.js';
import type { Repository } from '../core/repo.js';
import { loadFactory, openRemote, schemeOf } from '../remote/registry.js';
import { retrying, withRetry, type RetryOptions } from '../remote/retry.js';
import type { Remote, RemoteOption } from '../remote/types.js';

// Once, when this module loads (the drivers themselves load on first use): opening a remote is then a
// single call into the registry.
registerBuiltinRemotes();

export interface ResolvedRemote {
  /** The configured name, when the remote came from the repository's config. */
  name?: string;
  url: string;
  settings: Record<string, string>;
}

/** Turns --remote (a configured name, a URL or a path) or the default remote into a URL and settings. */
export async function resolveRemote(repo: Repository | null, spec?: string): Promise<ResolvedRemote> {
  const config = repo ? await repo.config() : null;
  if (spec !== undefined && spec !== '') {
    const named = config?.remotes[spec];
    if (named) return { name: spec, url: named.url, settings: named.settings ?? {} };
    if (/^[A-Za-z0-9_-]+$/.test(spec) && !spec.includes('/')) {
      throw new ConfigError(`no remote named ${spec} (see 'ckptsync remote list'); pass a URL to use one directly`);
    }
    return { url: spec, settings: {} }; // a URL or a path: the registry refuses a bad one when it is opened
  }
  const def = config?.defaultRemote;
  if (def && config!.remotes[def]) return { name: def, url: config!.remotes[def]!.url, settings: config!.remotes[def]!.settings ?? {} };
  throw new ConfigError("no remote given and no default remote: add one with 'ckptsync remote add NAME URL' or pass --remote URL");
}

export interface OpenOptions {
  retry?: RetryOptions;
  /**
   * The operation writes (push, watch, the pre-push hook): a remote whose location does not exist yet is
   * fine, the first write creates it. Otherwise a remote that points at nothing is refused (NotFoundError):
   * a mistyped path must not look like an empty remote.
   */
  mayCreate?: boolean;
}

/** Opens a remote wrapped in the retry policy. */
export async function connect(resolved: ResolvedRemote, opts: OpenOptions = {}): Promise<Remote> {
  // Setting a connection up meets the same flaky network as any request (a session cut mid-handshake, a
  // 503 from an authorization call), so it is retried under the same policy as the operations.
  const remote = await retrying('connect', redactSecrets(resolved.url), () => openRemote(resolved.url, resolved.settings), opts.retry);
  return withRetry(remote, opts.retry);
}

/** A remote opened once and kept for later operations of a long-lived process (keepRemotesOpen). */
interface KeptRemote {
  remote: Remote;
  /** Known to exist: checked once, never again (a location is not deleted under a running server). */
  exists: boolean;
}

let kept: Map<string, Promise<KeptRemote>> | null = null;

/**
 * From now on, openRemoteFor keeps each remote it opens (by URL and settings) and hands the same one to
 * later operations, which then do not own it: a long-lived process (`serve`) pays a connection's set-up
 * (an SSH handshake, TLS, an authorization call) once, not per request. Returns a function that closes them.
 */
export function keepRemotesOpen(): () => Promise<void> {
  const mine = (kept ??= new Map());
  return async () => {
    if (kept === mine) kept = null;
    await Promise.all([...mine.values()].map(async (p) => (await p.catch(() => null))?.remote.close().catch(() => {})));
  };
}

async function assertExists(remote: Remote, resolved: ResolvedRemote): Promise<void> {
  if (await remote.exists()) return;
  const named = resolved.name ? `remote ${resolved.name} (${remote.displayUrl})` : `remote ${remote.displayUrl}`;
  throw new NotFoundError(`${named} does not exist: check the path or URL (push creates it)`, { remote: remote.displayUrl });
}

export async function openRemoteFor(repo: Repository | null, spec?: string | Remote, opts: OpenOptions = {}): Promise<{ remote: Remote; owned: boolean }> {
  if (spec && typeof spec !== 'string') return { remote: spec, owned: false };
  const resolved = await resolveRemote(repo, spec);
  if (kept && !opts.retry) {
    const key = JSON.stringify([resolved.url, resolved.settings]);
    let entry = kept.get(key);
    if (!entry) {
      const table = kept;
      entry = connect(resolved, opts).then((remote) => ({ remote, exists: false }));
      table.set(key, entry);
      entry.catch(() => table.delete(key)); // a failed open is tried again by the next operation
    }
    const k = await entry;
    if (!opts.mayCreate && !k.exists) {
      await assertExists(k.remote, resolved);
      k.exists = true;
    }
    return { remote: k.remote, owned: false };
  }
  const remote = await connect(resolved, opts);
  if (!opts.mayCreate) {
    try {
      await assertExists(remote, resolved);
    } catch (e) {
      await remote.close().catch(() => {});
      throw e;
    }
  }
  return { remote, owned: true };
}

/** Validates a URL with its driver (without connecting: RemoteFactory.check) and returns it with secrets removed. */
export async function checkRemoteUrl(url: string, settings: Record<string, string>): Promise<string> {
  const factory = await loadFactory(url);
  const config = factory.parse(url, settings);
  await factory.check?.(config);
  return factory.redact(redactSecrets(url));
}

/**
 * The options table of the driver that serves a URL or a bare scheme ("s3"): what `remote options`
 * prints and what decides which settings are secret. Null when no driver serves it.
 */
export async function driverOptions(urlOrScheme: string): Promise<{ scheme: string; options: readonly RemoteOption[] } | null> {
  const url = /^[a-z][a-z0-9+.-]*$/i.test(urlOrScheme) ? `${urlOrScheme}://x` : urlOrScheme;
  try {
    const factory = await loadFactory(url);
    return { scheme: schemeOf(url), options: factory.options };
  } catch (e) {
    if (e instanceof UsageError) return null;
    throw e;
  }
}

export function parseSettings(pairs: string[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const p of pairs ?? []) {
    const eq = p.indexOf('=');
    if (eq <= 0) throw new UsageError(`option ${JSON.stringify(p)} is not KEY=VALUE`);
    out[p.slice(0, eq)] = p.slice(eq + 1);
  }
  return out;
}
