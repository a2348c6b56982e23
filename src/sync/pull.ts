// Pull: fetch a manifest, download only the chunks missing locally, in parallel, verifying each.

import { IntegrityError } from '../errors.js';
import { hashBytes } from '../core/hash.js';
import { MANIFEST_LIMITS, manifestChunks, type Manifest } from '../core/manifest.js';
import { ObjectWriter } from '../core/object-writer.js';
import type { Repository } from '../core/repo.js';
import { keyOf } from '../remote/layout.js';
import { readAll } from '../remote/source.js';
import type { Remote } from '../remote/types.js';
import { loadManifest } from './manifests.js';
import { runBounded, type TransferProgress } from './transfer.js';

export interface FetchOptions {
  concurrency?: number;
  onProgress?: (p: TransferProgress) => void;
  signal?: AbortSignal;
}

export interface FetchResult {
  manifest: Manifest;
  bytesTotal: number;
  bytesDownloaded: number;
  chunksTotal: number;
  chunksDownloaded: number;
}

/** Makes every chunk of a manifest present (and verified) in the local store. */
export async function fetchSnapshot(repo: Repository, remote: Remote, manifestHash: string, opts: FetchOptions = {}): Promise<FetchResult> {
  const manifest = await loadManifest(repo, manifestHash, remote);
  const wanted = manifestChunks(manifest);
  const hashes = [...wanted.keys()];
  const present = await Promise.all(hashes.map((h) => repo.store.has('chunk', h)));
  const missing = hashes.filter((_, i) => !present[i]);
  const objects = new ObjectWriter(repo.store);
  const bytesTotal = [...wanted.values()].reduce((a, b) => a + b, 0);
  const toMove = missing.reduce((n, h) => n + wanted.get(h)!, 0);
  const progress: TransferProgress = { phase: 'download', bytesMoved: 0, bytesToMove: toMove, bytesSkipped: bytesTotal - toMove, objectsMoved: 0, objectsToMove: missing.length };
  opts.onProgress?.(progress);
  await runBounded(
    missing,
    opts.concurrency ?? remote.features.defaultConcurrency,
    async (h) => {
      const data = await readAll(await remote.get(keyOf({ kind: 'chunk', name: h })), Math.min(MANIFEST_LIMITS.chunkBytes, wanted.get(h)!));
      const actual = hashBytes(data);
      if (actual !== h || data.length !== wanted.get(h)) {
        throw new IntegrityError(`chunk ${h} on ${remote.displayUrl} is corrupt (${data.length} bytes hashing to ${actual}); nothing was written`, { hash: h });
      }
      await objects.write('chunk', h, data, false); // known missing above
      progress.bytesMoved += data.length;
      progress.objectsMoved++;
      opts.onProgress?.(progress);
    },
    opts.signal,
  );
  return { manifest, bytesTotal, bytesDownloaded: progress.bytesMoved, chunksTotal: wanted.size, chunksDownloaded: progress.objectsMoved };
}
