// Reading manifests from a remote into the local store, verified, and which manifests a remote holds.

import { IntegrityError, NotFoundError, UnsafePathError } from '../errors.js';
import { createHasher } from '../core/hash.js';
import type { ChunkTable } from '../core/chunk-table.js';
import { ManifestDecoder, MANIFEST_LIMITS, readStoredManifest, readStoredManifestChunks, type ChunkMarks, type Manifest } from '../core/manifest.js';
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
 * loadManifest of the manifest's chunks only: every record checked, no file entry built (what gc and clean
 * need of a remote's manifests); with `marks`, those of `marks.wanted` marked instead (what a push needs).
 */
export async function loadManifestChunks(repo: Repository, hash: string, remote?: Remote, marks?: ChunkMarks): Promise<ChunkTable> {
  if (!(await repo.store.has('manifest', hash)) && remote) {
    const decoder = new ManifestDecoder(`manifest ${hash}`, marks ?? true);
    return downloadInto(remote, hash, decoder, () => decoder.endChunks(), repo.store);
  }
  return readStoredManifestChunks(repo.store, hash, marks);
}

/**
 * Downloads a manifest, decoding it as it comes, and verifies it (its hash, then its format); with
 * `store`, it is also written there (temp file, renamed once verified). Nothing is returned or kept
 * unless the whole download hashes to `hash`.
 */
export async function readRemoteManifest(remote: Remote, hash: string, store?: ObjectStore): Promise<Manifest> {
  const decoder = new ManifestDecoder(`manifest ${hash}`);
  return downloadInto(remote, hash, decoder, () => decoder.end(), store);
}

/** readRemoteManifest of the manifest's chunks only, stored nowhere. */
export async function readRemoteManifestChunks(remote: Remote, hash: string): Promise<ChunkTable> {
  const decoder = new ManifestDecoder(`manifest ${hash}`, true);
  return downloadInto(remote, hash, decoder, () => decoder.endChunks());
}

/**
 * Feeds a manifest's download to `decoder` (and to `store`) as it comes, and returns what `end` makes of it
 * once it hashes to `hash`; it is placed in `store` only after that (a malformed manifest is not kept).
 */
async function downloadInto<T>(remote: Remote, hash: string, decoder: ManifestDecoder, end: () => T, store?: ObjectStore): Promise<T> {
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
    const out = end();
    await written?.place();
    return out;
  } finally {
    await written?.discard();
  }
}

/** Hashes of every manifest on the remote (a few list requests). */
export async function listRemoteManifests(remote: Remote): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for await (const o of listObjects(remote, 'manifest')) out.set(o.name, o.size);
  return out;
}

/**
 * True for an error that condemns the object read, not the attempt: it is missing, fails its hash, or
 * fails validation. Reading it again will fail again, so callers that can work without it skip it.
 */
export function isBadObject(e: unknown): boolean {
  return e instanceof IntegrityError || e instanceof UnsafePathError || e instanceof NotFoundError;
}
