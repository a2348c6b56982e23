// Pull: fetch a manifest, download only the chunks missing locally, in parallel, verifying each.

import { IntegrityError } from '../errors.js';
import { baseReader, readChunkFromDelta, type BaseReader } from './chunk-deltas.js';
import { BufferPool } from '../core/buffer-pool.js';
import { createHasher } from '../core/hash.js';
import { MANIFEST_LIMITS, manifestChunks, type Manifest } from '../core/manifest.js';
import { ObjectWriter } from '../core/object-writer.js';
import type { Repository } from '../core/repo.js';
import { keyOf } from '../remote/layout.js';
import { readAll } from '../remote/source.js';
import type { Remote } from '../remote/types.js';
import { loadManifest } from './manifests.js';
import { RemoteState } from './state.js';
import { fetchFromPacks, PackIndex, packIndexOf } from './packs.js';
import { runBounded, TRANSFER_BYTES_IN_FLIGHT, type TransferProgress } from './transfer.js';

export interface FetchOptions {
  concurrency?: number;
  onProgress?: (p: TransferProgress) => void;
  signal?: AbortSignal;
}

export interface FetchResult {
  manifest: Manifest;
  bytesTotal: number;
  bytesDownloaded: number;
  /** Of the bytes not in the store, those read from the files already at the destination instead of downloaded. */
  bytesSeeded?: number;
  chunksTotal: number;
  chunksDownloaded: number;
}

/** Makes every chunk of a manifest present (and verified) in the local store. */
export async function fetchSnapshot(repo: Repository, remote: Remote, manifestHash: string, opts: FetchOptions = {}): Promise<FetchResult> {
  const manifest = await loadManifest(repo, manifestHash, remote);
  const wanted = manifestChunks(manifest);
  const hashes = [...wanted.keys()];
  const present = await repo.store.hasMany('chunk', hashes);
  const missing = hashes.filter((_, i) => !present[i]);
  const objects = new ObjectWriter(repo.store);
  const pool = new BufferPool();
  const bases = remoteBases(repo, remote);
  const bytesTotal = [...wanted.values()].reduce((a, b) => a + b, 0);
  const toMove = missing.reduce((n, h) => n + wanted.get(h)!, 0);
  const progress: TransferProgress = { phase: 'download', bytesMoved: 0, bytesToMove: toMove, bytesSkipped: bytesTotal - toMove, objectsMoved: 0, objectsToMove: missing.length };
  opts.onProgress?.(progress);
  const moved = (size: number) => {
    progress.bytesMoved += size;
    progress.objectsMoved++;
    opts.onProgress?.(progress);
  };
  // Chunks in packs (spec §8c) first, a few ranged gets for many of them; then the rest one by one.
  const rest = new Set(missing);
  const packed = (await loadPackIndex(remote, repo)).select((h) => rest.delete(h)); // each chunk from one pack
  await fetchFromPacks(
    remote,
    packed,
    (h, data) => {
      objects.writeSync('chunk', h, data);
      moved(data.length);
    },
    opts,
  );
  await runBounded(
    [...rest],
    opts.concurrency ?? remote.features.defaultConcurrency,
    async (h) => {
      const size = wanted.get(h)!;
      const chunk = await downloadChunk(remote, h, size, pool, bases);
      try {
        await objects.write('chunk', h, chunk.data, false); // known missing above
      } finally {
        chunk.release();
      }
      moved(size);
    },
    { signal: opts.signal, weigh: (h) => wanted.get(h)!, maxWeight: TRANSFER_BYTES_IN_FLIGHT },
  );
  return { manifest, bytesTotal, bytesDownloaded: progress.bytesMoved, chunksTotal: wanted.size, chunksDownloaded: progress.objectsMoved };
}

/**
 * The remote's pack index, read afresh (one listing, and a header read per pack neither this process nor,
 * with `repo`, the remote state cache has seen): a pull decides from it which chunks to read from packs.
 * Later single-chunk reads reuse it.
 */
export function loadPackIndex(remote: Remote, repo?: Repository): Promise<PackIndex> {
  return packIndexOf(remote, true, repo && new RemoteState(repo, remote.displayUrl).packHeaders);
}

/** A verified chunk's bytes, as pieces; release() hands any pooled buffer back once they are written. */
export interface DownloadedChunk {
  data: Buffer[];
  release(): void;
}

/** Bases for chunks stored as deltas (spec §8a): from the local store, else downloaded whole. */
export function remoteBases(repo: Repository, remote: Remote): BaseReader {
  return baseReader(repo.store, async (b, size) => Buffer.concat((await downloadWhole(remote, b, size)).data));
}

/**
 * Downloads a chunk and verifies it against its hash and size before returning its bytes. A driver that
 * reads without a stream fills a buffer from `pool`; otherwise the pieces are kept as they arrived. With
 * `bases`, a chunk the remote holds only as a delta (spec §8a) is rebuilt from it. With `hashed` false
 * only the size is checked: the caller hashes the bytes as it writes them (landChunk) and checks the
 * hash with verifyChunk before it renames anything into place.
 */
export async function downloadChunk(remote: Remote, h: string, expected: number, pool?: BufferPool, bases?: BaseReader, hashed = true): Promise<DownloadedChunk> {
  try {
    return await downloadWhole(remote, h, expected, pool, hashed);
  } catch (e) {
    if ((e as { code?: unknown }).code !== 'NOT_FOUND') throw e;
    // In a pack, as a delta, or in a pack written since this process read the pack index (§8c).
    const data = (await downloadPacked(remote, h, expected, false)) ?? (bases ? await readChunkFromDelta(remote, h, expected, bases) : null) ?? (await downloadPacked(remote, h, expected, true));
    if (!data) throw e;
    return { data: [data], release: () => {} };
  }
}

/** A chunk from the pack that holds it (verified), or null when no pack in the index does. */
async function downloadPacked(remote: Remote, h: string, expected: number, refresh: boolean): Promise<Buffer | null> {
  const one = (await packIndexOf(remote, refresh)).locate(h);
  if (!one) return null;
  let got: Buffer | null = null;
  await fetchFromPacks(remote, one, (_, data) => void (got = Buffer.from(data)));
  if (got!.length !== expected) verifyChunk(remote, h, expected, got!.length, h);
  return got;
}

async function downloadWhole(remote: Remote, h: string, expected: number, pool?: BufferPool, hashed = true): Promise<DownloadedChunk> {
  if (pool && remote.readInto) {
    // One byte of room beyond the expected size, so an object that is too long is noticed.
    const buf = pool.take(expected + 1);
    try {
      const n = await remote.readInto(keyOf({ kind: 'chunk', name: h }), buf);
      const data = buf.subarray(0, n);
      if (hashed || n !== expected) verifyChunk(remote, h, expected, n, n > expected ? '(longer than expected)' : createHasher().update(data).digest());
      return { data: [data], release: () => pool.release(buf) };
    } catch (e) {
      pool.release(buf);
      throw e;
    }
  }
  return { data: await streamChunk(remote, h, expected, hashed), release: () => {} };
}

/** Throws IntegrityError unless a downloaded chunk has the expected size and hash. */
export function verifyChunk(remote: Remote, h: string, expected: number, size: number, actual: string): void {
  if (actual !== h || size !== expected) {
    throw new IntegrityError(`chunk ${h} on ${remote.displayUrl} is corrupt (${size} bytes hashing to ${actual}); nothing was written`, { hash: h });
  }
}

/** The bytes stored whole under a chunk's key, unchecked: verify hashes them itself to report what it found. */
export async function readStoredChunk(remote: Remote, h: string): Promise<Buffer> {
  return readAll(await remote.get(keyOf({ kind: 'chunk', name: h })));
}

async function streamChunk(remote: Remote, h: string, expected: number, hashed: boolean): Promise<Buffer[]> {
  // Hashed as it arrives (unless the caller hashes) and kept as the received pieces: no second copy.
  const stream = await remote.get(keyOf({ kind: 'chunk', name: h }));
  const hasher = hashed ? createHasher() : null;
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of stream) {
    const b = Buffer.isBuffer(part) ? part : Buffer.from(part as Uint8Array);
    size += b.length;
    if (size > Math.min(MANIFEST_LIMITS.chunkBytes, expected)) {
      stream.destroy();
      break;
    }
    hasher?.update(b);
    parts.push(b);
  }
  if (hasher || size !== expected) verifyChunk(remote, h, expected, size, size > expected ? '(longer than expected)' : (hasher?.digest() ?? '(shorter than expected)'));
  return parts;
}
