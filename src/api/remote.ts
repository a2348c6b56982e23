// Choosing and opening a remote for an operation: a configured name, a URL, or the default remote.

import { ConfigError, UsageError } from '../errors.js';
import { registerBuiltinRemotes } from '../builtin-remotes.js';
import type { Repository } from '../core/repo.js';
import { openRemote, redactUrl, schemeOf, loadFactory } from '../remote/registry.js';
import { retrying, withRetry, type RetryOptions } from '../remote/retry.js';
import type { Remote } from '../remote/types.js';

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
    schemeOf(spec); // validates
    return { url: spec, settings: {} };
  }
  const def = config?.defaultRemote;
  if (def && config!.remotes[def]) return { name: def, url: config!.remotes[def]!.url, settings: config!.remotes[def]!.settings ?? {} };
  throw new ConfigError("no remote given and no default remote: add one with 'ckptsync remote add NAME URL' or pass --remote URL");
}

export interface OpenOptions {
  retry?: RetryOptions;
}

/** Opens a remote wrapped in the retry policy. */
export async function connect(resolved: ResolvedRemote, opts: OpenOptions = {}): Promise<Remote> {
  registerBuiltinRemotes();
  // Setting a connection up meets the same flaky network as any request (a session cut mid-handshake, a
  // 503 from an authorization call), so it is retried under the same policy as the operations.
  const remote = await retrying('connect', redactUrl(resolved.url), () => openRemote(resolved.url, resolved.settings), opts.retry);
  return withRetry(remote, opts.retry);
}

export async function openRemoteFor(repo: Repository | null, spec?: string | Remote, opts: OpenOptions = {}): Promise<{ remote: Remote; owned: boolean }> {
  if (spec && typeof spec !== 'string') return { remote: spec, owned: false };
  return { remote: await connect(await resolveRemote(repo, spec), opts), owned: true };
}

/** Validates a URL with its driver (without connecting) and returns it with secrets removed. */
export async function checkRemoteUrl(url: string, settings: Record<string, string>): Promise<string> {
  registerBuiltinRemotes();
  const factory = await loadFactory(url);
  factory.parse(url, settings);
  return factory.redact(redactUrl(url));
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
