// Reading manifests from a remote into the local store, verified, and which manifests a remote holds.

import { IntegrityError, NotFoundError, UnsafePathError } from '../errors.js';
import { hashBytes } from '../core/hash.js';
import { decodeManifest, MANIFEST_LIMITS, type Manifest } from '../core/manifest.js';
import type { Repository } from '../core/repo.js';
import { keyOf } from '../remote/layout.js';
import { readAll } from '../remote/source.js';
import type { Remote } from '../remote/types.js';
import { listObjects } from './listing.js';

/** Loads a manifest from the local store, or downloads, verifies and stores it. */
export async function loadManifest(repo: Repository, hash: string, remote?: Remote): Promise<Manifest> {
  if (!(await repo.store.has('manifest', hash)) && remote) {
    // Decoded once, from the bytes just verified and stored: reading them back and decoding again held
    // three copies of a 58 MB manifest (400,000 small files) at once.
    const { data, manifest } = await readRemoteManifest(remote, hash);
    await repo.store.put('manifest', hash, data);
    return manifest;
  }
  return decodeManifest(await repo.store.get('manifest', hash), `manifest ${hash}`);
}

/** Downloads a manifest and verifies it (its hash, then its format) without storing it anywhere. */
export async function readRemoteManifest(remote: Remote, hash: string): Promise<{ data: Buffer; manifest: Manifest }> {
  const data = await readAll(await remote.get(keyOf({ kind: 'manifest', name: hash })), MANIFEST_LIMITS.bytes);
  const actual = hashBytes(data);
  if (actual !== hash) throw new IntegrityError(`manifest ${hash} on ${remote.displayUrl} is corrupt (its content hashes to ${actual})`, { hash });
  return { data, manifest: decodeManifest(data, `manifest ${hash}`) };
}

/** Hashes of every manifest on the remote (a few list requests). */
export async function listRemoteManifests(remote: Remote): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const o of listObjects(remote, 'manifest')) out.add(o.name);
  return out;
}

/**
 * True for an error that condemns the object read, not the attempt: it is missing, fails its hash, or
 * fails validation. Reading it again will fail again, so callers that can work without it skip it.
 */
export function isBadObject(e: unknown): boolean {
  return e instanceof IntegrityError || e instanceof UnsafePathError || e instanceof NotFoundError;
}
