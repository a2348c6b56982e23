// Reading manifests from a remote into the local store, verified, and which manifests a remote holds.

import { IntegrityError, NotFoundError, UnsafePathError } from '../errors.js';
import { createHasher } from '../core/hash.js';
import { ManifestDecoder, MANIFEST_LIMITS, readStoredManifest, type Manifest } from '../core/manifest.js';
import type { ObjectStore } from '../core/store.js';
import type { Repository } from '../core/repo.js';
import { keyOf } from '../remote/layout.js';
import type { Remote } from '../remote/types.js';
import { listObjects } from './listing.js';

/** Loads a manifest from the local store, or downloads, verifies and stores it. */
export async function loadManifest(repo: Repository, hash: string, remote?: Remote): Promise<Manifest> {
  // Decoded as its bytes come, a megabyte at a time: a manifest of 400,000 small files is 53 MB.
  if (!(await repo.store.has('manifest', hash)) && remote) return readRemoteManifest(remote, hash, repo.store);
  return readStoredManifest(repo.store, hash);
}

/**
 * Downloads a manifest, decoding it as it comes, and verifies it (its hash, then its format); with
 * `store`, it is also written there (temp file, renamed once verified). Nothing is returned or kept
 * unless the whole download hashes to `hash`.
 */
export async function readRemoteManifest(remote: Remote, hash: string, store?: ObjectStore): Promise<Manifest> {
  const decoder = new ManifestDecoder(`manifest ${hash}`);
  const hasher = createHasher();
  let failed: { e: unknown } | null = null;
  let bytes = 0;
  const stream = await remote.get(keyOf({ kind: 'manifest', name: hash }));
  const written = await (store ? store.writePieces('manifest', hash) : null);
  try {
    for await (const part of stream) {
      const piece = Buffer.isBuffer(part) ? part : Buffer.from(part as Uint8Array);
      bytes += piece.length;
      if (bytes > MANIFEST_LIMITS.bytes) {
        stream.destroy();
        throw new IntegrityError(`manifest ${hash} on ${remote.displayUrl} is larger than ${MANIFEST_LIMITS.bytes} bytes`, { hash });
      }
      hasher.update(piece);
      await written?.write(piece);
      if (failed) continue;
      try {
        decoder.push(piece);
      } catch (e) {
        failed = { e };
      }
    }
    const actual = hasher.digest();
    if (actual !== hash) throw new IntegrityError(`manifest ${hash} on ${remote.displayUrl} is corrupt (its content hashes to ${actual})`, { hash });
    if (failed) throw failed.e;
    const manifest = decoder.end();
    await written?.place();
    return manifest;
  } finally {
    await written?.discard();
  }
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
