// The local store's copy of a file's chunks, whether its cuts are planned (tensor-aware,
// manifest-spec.md §2.2-2.4) or found by FastCDC as it reads (storeRanges), made off the main thread:
// each chunk's range is written into a temp object and hashed from the very buffer it was written from
// (store-chunk.ts), and the temp is renamed to its hash (§7). What is hashed is what was stored, so a
// file that changes meanwhile can never put wrong bytes under a hash; it only makes the add fail. For
// a new version of a file ('hash-first'), each chunk is hashed first and stored only if the store lacks
// it, so the chunks it shares with the last version are never written; 'hash-only' (push --from-file)
// stores nothing.

import fs from 'node:fs/promises';
import { hashChunk, storeChunk } from './store-chunk.js';
import type { ObjectWriter } from './object-writer.js';

/** The chunks an ingest has stored so far: a Set of hashes, or a ChunkTable (which keeps each one's size). */
export interface SeenChunks {
  has(hash: string): boolean;
  add(hash: string, size: number): unknown;
}

/** Chunks stored at once, each holding one of libuv's four threads (and a 256 KiB buffer) meanwhile. */
const CONCURRENCY = 4;

/** 'store' every chunk; 'hash-first' and store only what the store lacks; 'hash-only', store nothing. */
export type StoreMode = 'store' | 'hash-first' | 'hash-only';

export interface CopiedChunk {
  hash: string;
  size: number;
  /** False when the store (or this ingest, per `seen`) already had it. */
  isNew: boolean;
}

/** A chunk's place in its file. */
export interface ChunkRange {
  offset: number;
  size: number;
}

/** Where each of consecutive chunks of these lengths sits in its file. */
export function chunkRanges(lengths: readonly number[]): ChunkRange[] {
  const ranges: ChunkRange[] = [];
  let offset = 0;
  for (const size of lengths) {
    ranges.push({ offset, size });
    offset += size;
  }
  return ranges;
}

/**
 * Stores the chunks `lengths` cut `file` into and returns their hashes in file order. `seen` holds the
 * hashes this ingest already stored (shared with its other files); `onChunk` reports each chunk as it
 * is done, in any order; `mode` says what is stored (StoreMode).
 */
export async function storeByCopy(
  objects: ObjectWriter,
  file: string,
  lengths: readonly number[],
  seen: SeenChunks,
  onChunk: (c: CopiedChunk) => void,
  mode: StoreMode = 'store',
): Promise<string[]> {
  const ranges = chunkRanges(lengths);
  const total = lengths.reduce((a, b) => a + b, 0);
  const hashes = await storeRanges(objects, file, ranges, seen, onChunk, mode);
  if ((await fs.stat(file)).size !== total) throw new Error(`${file} grew while it was being read`);
  return hashes;
}

/**
 * storeByCopy for cuts that come as they are found (FastCDC's, from chunkFile): each range is stored
 * while the next are being looked for, CONCURRENCY at a time. The ranges must follow each other from
 * offset 0; whoever finds them checks that they cover the file.
 */
export async function storeRanges(
  objects: ObjectWriter,
  file: string,
  ranges: Iterable<ChunkRange> | AsyncIterable<ChunkRange>,
  seen: SeenChunks,
  onChunk: (c: CopiedChunk) => void,
  mode: StoreMode = 'store',
): Promise<string[]> {
  const hashes: string[] = [];
  const src = await fs.open(file, 'r');
  const inFlight = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  const storeOne = async (i: number, { offset, size }: ChunkRange) => {
    let known: string | undefined;
    if (mode !== 'store') {
      const h = await hashChunk(src.fd, offset, size, file);
      if (h.bytes !== size) throw new Error(`${file} shrank while it was being read`);
      if (mode === 'hash-only' || seen.has(h.hash) || (await objects.hasChunk(h.hash))) {
        hashes[i] = h.hash;
        onChunk({ hash: h.hash, size, isNew: false });
        return;
      }
      known = h.hash;
    }
    const tmp = await objects.incomingPath();
    let hash: string;
    try {
      const stored = await storeChunk(src.fd, offset, size, tmp, file);
      if (stored.bytes !== size) throw new Error(`${file} shrank while it was being read`);
      if (known !== undefined && stored.hash !== known) throw new Error(`${file} changed while it was being read`);
      hash = stored.hash;
    } catch (e) {
      await fs.rm(tmp, { force: true });
      throw e;
    }
    let isNew = false;
    if (seen.has(hash)) await fs.rm(tmp, { force: true });
    else {
      seen.add(hash, size);
      isNew = await objects.commit(tmp, hash);
    }
    hashes[i] = hash;
    onChunk({ hash, size, isNew });
  };
  try {
    let i = 0;
    for await (const range of ranges) {
      if (failure) break;
      const job: Promise<void> = storeOne(i++, range)
        .catch((error: unknown) => void (failure ??= { error }))
        .finally(() => inFlight.delete(job));
      inFlight.add(job);
      if (inFlight.size >= CONCURRENCY) await Promise.race(inFlight);
    }
  } finally {
    await Promise.all(inFlight); // every job settles (and cleans up its temp) before the file closes
    await src.close();
  }
  if (failure) throw failure.error;
  return hashes;
}
