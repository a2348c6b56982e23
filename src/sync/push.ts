// Push: upload what the remote lacks, then the manifest, then move the name (manifest-spec.md,
// "Ordering invariants": chunks before manifest before name). What the remote lacks is worked out
// from its manifests, not by asking about each chunk.

import { chunkCount, chunkTableOf, eachChunk, type Manifest } from '../core/manifest.js';
import type { ChunkTable } from '../core/chunk-table.js';
import type { Repository } from '../core/repo.js';
import { BufferPool, type PooledBytes } from '../core/buffer-pool.js';
import { bufferSource, fileRangeSource } from '../remote/source.js';
import { keyOf } from '../remote/layout.js';
import type { Remote } from '../remote/types.js';
import { listRemoteManifests, loadManifest } from './manifests.js';
import { heldOf } from './reach.js';
import { moveRemoteRef, readRemoteRef } from './refs.js';
import { holdPushLease } from './locks.js';
import { RemoteState } from './state.js';
import { UploadLogBatcher } from './upload-log.js';
import { deltaBases, DeltaWriter } from './chunk-deltas.js';
import { PACK_TARGET_BYTES, packHeaderSize, packSize, planPacks, writePack } from './packs.js';
import { runBounded, TRANSFER_BYTES_IN_FLIGHT, type TransferProgress } from './transfer.js';

export interface PushOptions {
  /** Move the name even if another writer moved it since we looked. */
  force?: boolean;
  concurrency?: number;
  onProgress?: (p: TransferProgress) => void;
  signal?: AbortSignal;
  /**
   * Where a chunk's bytes come from; default: the local store (verified). push --from-file reads them from
   * the checkpoint file instead (fileChunkReader); either way the reader MUST return only bytes that hash to `hash`.
   */
  readChunk?: (hash: string, pool: BufferPool) => Promise<PooledBytes>;
  /** Store a new chunk as a delta against the chunk at its place in the remote's previous version where that is smaller (spec §8a). Default true. */
  deltas?: boolean;
  /** Send runs of small new chunks in packs (spec §8c). Default true; false keeps the remote readable by layout 2. */
  packs?: boolean;
}

export interface PushResult {
  name: string;
  manifest: string;
  /** False when the remote name already pointed at this manifest. */
  changed: boolean;
  bytesTotal: number;
  /** Bytes sent for chunks (a chunk sent as a delta counts its delta's size). */
  bytesUploaded: number;
  chunksTotal: number;
  chunksUploaded: number;
  /** Of the chunks uploaded, those sent as deltas. */
  chunksAsDeltas: number;
  /** Bytes of the chunks the remote already held (not uploaded). */
  bytesAlreadyThere: number;
  /** Objects on the remote this push could not use (a corrupt manifest), named. */
  warnings: string[];
}

/** Pack bytes uploaded at once: two packs of ~4 MiB (PACK_TARGET_BYTES). */
const PACK_BYTES_IN_FLIGHT = 2 * PACK_TARGET_BYTES + (1 << 20);

export async function pushSnapshot(repo: Repository, remote: Remote, name: string, manifestHash: string, opts: PushOptions = {}): Promise<PushResult> {
  const manifest = await loadManifest(repo, manifestHash);
  const wanted = chunkTableOf(manifest);
  const bytesTotal = wanted.totalSize();
  const result: PushResult = { name, manifest: manifestHash, changed: false, bytesTotal, bytesUploaded: 0, chunksTotal: wanted.count, chunksUploaded: 0, chunksAsDeltas: 0, bytesAlreadyThere: bytesTotal, warnings: [] };

  const before = await readRemoteRef(remote, name);
  if (before?.doc.target === manifestHash && (await remote.stat(keyOf({ kind: 'manifest', name: manifestHash })))) {
    return result; // nothing to do: two requests
  }

  // gc must not sweep while we decide what the remote already holds (manifest-spec.md, §10b).
  const lease = await holdPushLease(remote);
  try {
    return await pushUnderLease(repo, remote, name, manifest, manifestHash, opts, wanted, result, before?.doc.target ?? null);
  } finally {
    await lease.release().catch(() => {}); // an unreleased holding expires by itself
  }
}

async function pushUnderLease(repo: Repository, remote: Remote, name: string, manifest: Manifest, manifestHash: string, opts: PushOptions, wanted: ChunkTable, result: PushResult, beforeTarget: string | null): Promise<PushResult> {
  await uploadUnderLease(repo, remote, manifest, manifestHash, opts, wanted, result);
  const moved = await moveRemoteRef(remote, name, manifestHash, { expected: opts.force ? undefined : beforeTarget });
  result.changed = moved.changed;
  return result;
}

/**
 * Uploads a snapshot's missing chunks and then its manifest, moving no name: for writers that finish in
 * their own way (parts, manifest-spec.md §8b). The caller MUST hold the push lease (§10b rule 1).
 */
export async function uploadSnapshot(repo: Repository, remote: Remote, name: string, manifestHash: string, opts: PushOptions = {}): Promise<PushResult> {
  const manifest = await loadManifest(repo, manifestHash);
  const wanted = chunkTableOf(manifest);
  const bytesTotal = wanted.totalSize();
  const result: PushResult = { name, manifest: manifestHash, changed: false, bytesTotal, bytesUploaded: 0, chunksTotal: wanted.count, chunksUploaded: 0, chunksAsDeltas: 0, bytesAlreadyThere: bytesTotal, warnings: [] };
  await uploadUnderLease(repo, remote, manifest, manifestHash, opts, wanted, result);
  return result;
}

async function uploadUnderLease(repo: Repository, remote: Remote, manifest: Manifest, manifestHash: string, opts: PushOptions, wanted: ChunkTable, result: PushResult): Promise<void> {
  const bytesTotal = result.bytesTotal;
  const state = new RemoteState(repo, remote.displayUrl);
  const listed = await listRemoteManifests(remote);
  // A manifest we cannot read tells us nothing: its chunks count as absent (we send ours again) and, if
  // it is the one we push, we write it again (manifest-spec.md §9). It does not stop this push.
  const read = await heldOf(repo, remote, listed.keys(), wanted, { sizeOf: (h) => listed.get(h) });
  for (const [h, why] of read.bad) result.warnings.push(`skipped manifest ${h} on ${remote.displayUrl}: ${why} (run verify --remote)`);
  const { held } = read;
  for (const h of await state.uploadedChunks()) {
    const id = wanted.idOf(h);
    if (id >= 0) held[id] = 1;
  }
  // By id in `wanted`, compared as bytes: a list of 400,000 hashes made as strings was ~35 MB.
  const missing: number[] = [];
  let bytesToMove = 0;
  for (let id = 0; id < wanted.count; id++) {
    if (held[id]) continue;
    missing.push(id);
    bytesToMove += wanted.sizeOf(id);
  }
  const sizeOf = (h: string) => wanted.sizeOf(wanted.idOf(h));

  const progress: TransferProgress = {
    phase: 'upload',
    bytesMoved: 0,
    bytesToMove,
    bytesSkipped: bytesTotal - bytesToMove,
    objectsMoved: 0,
    objectsToMove: missing.length,
  };
  opts.onProgress?.(progress);
  // Verified as read: a corrupt local chunk is never uploaded.
  const pool = new BufferPool();
  const readChunk = opts.readChunk ? (h: string) => opts.readChunk!(h, pool) : (h: string) => repo.store.getPooled('chunk', h, sizeOf(h), pool);
  // Small files go in packs (one request for many); the rest whole, or as deltas where that is smaller. A
  // chunk inside a larger file stays whole: a reader writes it into that file as it comes, from any remote
  // (a pack's chunks are read many at a time, before the larger files are open), and it may be a delta's base.
  // (The set is of the larger files' chunks, which are few, rather than of the small files' chunks.)
  const inLargerFiles = new Set<string>();
  for (const f of manifest.files) if (chunkCount(f) > 1) eachChunk(f, (h) => inLargerFiles.add(h));
  const plan = opts.packs === false ? { packs: [], whole: missing } : planPacks(missing, (id) => wanted.sizeOf(id), (id) => !inLargerFiles.has(wanted.hashOf(id)));
  const deltas =
    opts.deltas === false || plan.whole.length === 0
      ? null
      : new DeltaWriter(repo.store, remote, await deltaBases(manifest, read.readable, (m) => loadManifest(repo, m), new Set(plan.whole.map((id) => wanted.hashOf(id)))), pool);
  let bytesSent = 0;
  const log = new UploadLogBatcher(state);
  const sent = (hashes: readonly string[], bytes: number) => {
    bytesSent += bytes;
    for (const h of hashes) {
      log.add(h); // so a killed push resumes without sending it again
      progress.bytesMoved += sizeOf(h);
      progress.objectsMoved++;
    }
    opts.onProgress?.(progress);
  };
  const putWhole = async (h: string) => {
    const { data, release } = await readChunk(h);
    let delta: number | null;
    try {
      delta = deltas ? await deltas.put(h, data) : null;
      if (delta === null) await remote.put(keyOf({ kind: 'chunk', name: h }), bufferSource(data));
    } finally {
      release();
    }
    if (delta !== null) result.chunksAsDeltas++;
    sent([h], delta ?? data.length);
  };
  // A pack's chunks are read straight into its buffer, taken from the pool and handed back once sent.
  const fill = opts.readChunk
    ? async (h: string, at: Buffer) => {
        const { data, release } = await opts.readChunk!(h, pool);
        at.set(data);
        release();
      }
    : (h: string, at: Buffer) => repo.store.readSmallInto(h, at);
  const putPack = async (ids: number[]) => {
    const chunks = ids.map((id) => ({ hash: wanted.hashOf(id), size: wanted.sizeOf(id) }));
    const hashes = chunks.map((c) => c.hash);
    const size = packSize(chunks.map((c) => c.size));
    const buf = pool.take(size);
    try {
      const bytes = buf.subarray(0, size);
      const name = await writePack(bytes, chunks, fill);
      await remote.put(keyOf({ kind: 'pack', name }), bufferSource(bytes));
      await state.packHeaders.write(name, bytes.subarray(0, packHeaderSize(chunks.length))); // a later pull here need not read it back
      sent(hashes, bytes.length);
    } finally {
      pool.release(buf);
    }
  };
  // Packs first, at most two of ~4 MiB at once (each is a buffer of its own; four held ~16 MiB more at the
  // top of a push of 400,000 small files), then the whole chunks.
  const upload = <T>(units: readonly T[], weigh: (u: T) => number, maxWeight: number, put: (u: T) => Promise<void>) =>
    runBounded(units, opts.concurrency ?? remote.features.defaultConcurrency, put, { signal: opts.signal, weigh, maxWeight });
  // On failure too, log what did get uploaded before giving up: the rerun then skips it.
  const uploading = (async () => {
    await upload(plan.packs, (ids) => packSize(ids.map((id) => wanted.sizeOf(id))), PACK_BYTES_IN_FLIGHT, putPack);
    await upload(plan.whole, (id) => wanted.sizeOf(id), TRANSFER_BYTES_IN_FLIGHT, (id) => putWhole(wanted.hashOf(id)));
  })();
  await uploading.catch(async (e) => {
    await log.flush().catch(() => {});
    throw e;
  });
  await log.flush();
  result.bytesUploaded = bytesSent;
  result.bytesAlreadyThere = progress.bytesSkipped;
  result.chunksUploaded = progress.objectsMoved;

  if (!read.readable.has(manifestHash)) {
    // Verified, then sent from its file: the manifest of 400,000 small files is 53 MB.
    let bytes = 0;
    await repo.store.readPieces('manifest', manifestHash, (piece) => void (bytes += piece.length));
    await remote.put(keyOf({ kind: 'manifest', name: manifestHash }), fileRangeSource(repo.store.pathOf('manifest', manifestHash), 0, bytes));
  }
  await state.clearUploadLog();
}
