// The local store's copy of a file whose cuts are planned (tensor-aware, manifest-spec.md §2.2-2.4),
// made off the main thread: each chunk's range is written into a temp object and hashed from the very
// buffer it was written from (store-chunk.ts), and the temp is renamed to its hash (§7). What is hashed
// is what was stored, so a file that changes meanwhile can never put wrong bytes under a hash; it only
// makes the add fail. For a new version of a file (hashFirst), each chunk is hashed first, and only one
// the store lacks is stored, so the chunks it shares with the last version are never written.

import fs from 'node:fs/promises';
import { runBounded } from './bounded.js';
import { hashChunk, storeChunk } from './store-chunk.js';
import type { ObjectWriter } from './object-writer.js';

/** Chunks stored at once, each holding one of libuv's four threads (and a 256 KiB buffer) meanwhile. */
const CONCURRENCY = 4;

export interface CopiedChunk {
  hash: string;
  size: number;
  /** False when the store (or this ingest, per `seen`) already had it. */
  isNew: boolean;
}

/**
 * Stores the chunks `lengths` cut `file` into and returns their hashes in file order. `seen` holds the
 * hashes this ingest already stored (shared with its other files); `onChunk` reports each chunk as it
 * is done, in any order. `hashFirst`: hash each chunk before deciding to store it (most are expected
 * in the store already).
 */
export async function storeByCopy(
  objects: ObjectWriter,
  file: string,
  lengths: readonly number[],
  seen: Set<string>,
  onChunk: (c: CopiedChunk) => void,
  hashFirst = false,
): Promise<string[]> {
  const offsets: number[] = [];
  let total = 0;
  for (const n of lengths) {
    offsets.push(total);
    total += n;
  }
  const hashes = new Array<string>(lengths.length);
  const src = await fs.open(file, 'r');
  try {
    await runBounded([...lengths.keys()], CONCURRENCY, async (i) => {
      const size = lengths[i]!;
      let known: string | undefined;
      if (hashFirst) {
        const h = await hashChunk(src.fd, offsets[i]!, size);
        if (h.bytes !== size) throw new Error(`${file} shrank while it was being read`);
        if (seen.has(h.hash) || (await objects.hasChunk(h.hash))) {
          hashes[i] = h.hash;
          onChunk({ hash: h.hash, size, isNew: false });
          return;
        }
        known = h.hash;
      }
      const tmp = await objects.incomingPath();
      let hash: string;
      try {
        const stored = await storeChunk(src.fd, offsets[i]!, size, tmp);
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
        seen.add(hash);
        isNew = await objects.commit(tmp, hash);
      }
      hashes[i] = hash;
      onChunk({ hash, size, isNew });
    });
    if ((await src.stat()).size !== total) throw new Error(`${file} grew while it was being read`);
  } finally {
    await src.close();
  }
  return hashes;
}
