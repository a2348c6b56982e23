// Reading manifests from a remote into the local store, verified, and what a remote is known to hold.

import { IntegrityError, NotFoundError, UnsafePathError } from '../errors.js';
import { hashBytes } from '../core/hash.js';
import { decodeManifest, MANIFEST_LIMITS, manifestChunks, type Manifest } from '../core/manifest.js';
import type { Repository } from '../core/repo.js';
import { keyOf, prefixOf } from '../remote/layout.js';
import { isHash } from '../names.js';
import { readAll } from '../remote/source.js';
import type { Remote } from '../remote/types.js';
import { runBounded } from './transfer.js';

/** Loads a manifest from the local store, or downloads, verifies and stores it. */
export async function loadManifest(repo: Repository, hash: string, remote?: Remote): Promise<Manifest> {
  if (!(await repo.store.has('manifest', hash)) && remote) {
    const data = await readAll(await remote.get(keyOf({ kind: 'manifest', name: hash })), MANIFEST_LIMITS.bytes);
    const actual = hashBytes(data);
    if (actual !== hash) throw new IntegrityError(`manifest ${hash} on ${remote.displayUrl} is corrupt (its content hashes to ${actual})`, { hash });
    decodeManifest(data, `manifest ${hash}`);
    await repo.store.put('manifest', hash, data);
  }
  return decodeManifest(await repo.store.get('manifest', hash), `manifest ${hash}`);
}

/** Hashes of every manifest on the remote (a few list requests). */
export async function listRemoteManifests(remote: Remote): Promise<Set<string>> {
  const out = new Set<string>();
  const prefix = prefixOf('manifest');
  for await (const o of remote.list(prefix)) {
    const h = o.key.slice(prefix.length);
    if (isHash(h)) out.add(h);
  }
  return out;
}

/**
 * True for an error that condemns the object read, not the attempt: it is missing, fails its hash, or
 * fails validation. Reading it again will fail again, so callers that can work without it skip it.
 */
export function isBadObject(e: unknown): boolean {
  return e instanceof IntegrityError || e instanceof UnsafePathError || e instanceof NotFoundError;
}

export interface ManifestsRead {
  /** Chunks the readable manifests name. */
  chunks: Set<string>;
  /** The manifests that were read and verified (now in the local store). */
  readable: Set<string>;
  /** Manifests that are missing, corrupt or invalid, with why: their chunks are unknown. */
  bad: Map<string, string>;
}

/**
 * Chunks the remote holds according to its manifests (fetching manifests this repository lacks). A bad
 * manifest is set aside in `bad` instead of failing the whole read (manifest-spec.md §9): nothing is
 * assumed about its chunks. Network and permission failures still throw.
 */
export async function chunksOfManifests(repo: Repository, remote: Remote, manifests: Iterable<string>, concurrency = 8): Promise<ManifestsRead> {
  const out: ManifestsRead = { chunks: new Set(), readable: new Set(), bad: new Map() };
  await runBounded([...manifests], concurrency, async (h) => {
    let m: Manifest;
    try {
      m = await loadManifest(repo, h, remote);
    } catch (e) {
      if (!isBadObject(e)) throw e;
      out.bad.set(h, (e as Error).message);
      return;
    }
    out.readable.add(h);
    for (const c of manifestChunks(m).keys()) out.chunks.add(c);
  });
  return out;
}
