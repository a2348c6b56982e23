// The local store's copy of a file whose cuts are planned (tensor-aware, manifest-spec.md §2.2-2.4),
// made by the kernel: each chunk's range is copied into a temp object (copy_file_range, see
// copy-range.ts), the copy is read back and hashed, and the temp is renamed to its hash (§7). What is
// hashed is what was stored, so a file that changes meanwhile can never put wrong bytes under a hash; it
// only makes the add fail. The bytes never pass through a user-space write, which on the machines we
// measured cost 3-7x the system time of the kernel's copy (README, "Dependencies").

import fs from 'node:fs/promises';
import { BufferPool } from './buffer-pool.js';
import { runBounded } from './bounded.js';
import { copyRange, CopyRangeError } from './copy-range.js';
import { readFully, writevAll } from './file-io.js';
import { createHasher } from './hash.js';
import type { ObjectWriter } from './object-writer.js';

/** Chunks copied at once: each holds a libuv thread while the kernel copies, and one read-back buffer. */
const CONCURRENCY = 4;
/** Read-back (and fallback) buffer per chunk in flight: the copy is hashed in pieces of this size. */
const PIECE = 2 << 20;

export interface CopiedChunk {
  hash: string;
  size: number;
  /** False when the store (or this ingest, per `seen`) already had it. */
  isNew: boolean;
}

/**
 * Stores the chunks `lengths` cut `file` into and returns their hashes in file order. `seen` holds the
 * hashes this ingest already stored (shared with its other files); `onChunk` reports each chunk as it
 * is done, in any order.
 */
export async function storeByCopy(objects: ObjectWriter, file: string, lengths: readonly number[], seen: Set<string>, onChunk: (c: CopiedChunk) => void): Promise<string[]> {
  const offsets: number[] = [];
  let total = 0;
  for (const n of lengths) {
    offsets.push(total);
    total += n;
  }
  const hashes = new Array<string>(lengths.length);
  const pool = new BufferPool(CONCURRENCY * PIECE);
  const src = await fs.open(file, 'r');
  try {
    await runBounded([...lengths.keys()], CONCURRENCY, async (i) => {
      const size = lengths[i]!;
      const tmp = await objects.incomingPath();
      let hash: string;
      try {
        hash = await fillAndHash(src, offsets[i]!, size, tmp, pool, file);
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

/** Copies [offset, offset + size) of src into a new file at tmp, then hashes what landed there. */
async function fillAndHash(src: fs.FileHandle, offset: number, size: number, tmp: string, pool: BufferPool, file: string): Promise<string> {
  const out = await fs.open(tmp, 'wx+');
  const buf = pool.take(PIECE);
  try {
    let copied: number;
    try {
      copied = await copyRange(src.fd, offset, out.fd, 0, size);
    } catch (e) {
      // A file system that cannot copy between these files: the same bytes through user space.
      if (!(e instanceof CopyRangeError && e.unsupported)) throw e;
      copied = await copyThroughUserSpace(src, offset, size, out, buf);
    }
    if (copied !== size) throw new Error(`${file} shrank while it was being read`);
    const hasher = createHasher();
    for (let pos = 0; pos < size; ) {
      const n = await readFully(out, buf.subarray(0, Math.min(PIECE, size - pos)), pos);
      if (n === 0) throw new Error(`${tmp}: the copy ended after ${pos} of ${size} bytes`);
      hasher.update(buf.subarray(0, n));
      pos += n;
    }
    return hasher.digest();
  } finally {
    pool.release(buf);
    await out.close();
  }
}

async function copyThroughUserSpace(src: fs.FileHandle, offset: number, size: number, out: fs.FileHandle, buf: Buffer): Promise<number> {
  let pos = 0;
  while (pos < size) {
    const n = await readFully(src, buf.subarray(0, Math.min(buf.length, size - pos)), offset + pos);
    if (n === 0) break;
    await writevAll(out, [buf.subarray(0, n)], pos);
    pos += n;
  }
  return pos;
}
