// The local store's copy of a file whose cuts are planned (tensor-aware, manifest-spec.md §2.2-2.4),
// made by the kernel: each chunk's range is copied into a temp object (copy_file_range, see
// copy-range.ts), the copy is read back and hashed, and the temp is renamed to its hash (§7). What is
// hashed is what was stored, so a file that changes meanwhile can never put wrong bytes under a hash; it
// only makes the add fail. The bytes never pass through a user-space write, which on the machines we
// measured cost 3-7x the system time of the kernel's copy (README, "Dependencies").

import fs from 'node:fs/promises';
import { BufferPool } from './buffer-pool.js';
import { runBounded } from './bounded.js';
import { storeRange } from './copy-range.js';
import { hashBytes } from './hash.js';
import type { ObjectWriter } from './object-writer.js';

/** Chunks stored at once: each holds a libuv thread while the kernel copies, and a chunk-sized buffer. */
const CONCURRENCY = 4;
/** Bytes of chunks read back at once (with 4 MiB pieces, four chunks). */
const BYTES_IN_FLIGHT = 16 << 20;

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
  const pool = new BufferPool(BYTES_IN_FLIGHT);
  const src = await fs.open(file, 'r');
  try {
    await runBounded(
      [...lengths.keys()],
      CONCURRENCY,
      async (i) => {
        const size = lengths[i]!;
        const tmp = await objects.incomingPath();
        const buf = pool.take(size);
        let hash: string;
        try {
          // One job on the thread pool: create tmp, copy the range into it, read back what landed there.
          const n = await storeRange(src.fd, offsets[i]!, size, tmp, buf);
          if (n !== size) throw new Error(`${file} shrank while it was being read`);
          hash = hashBytes(buf.subarray(0, size));
        } catch (e) {
          await fs.rm(tmp, { force: true });
          throw e;
        } finally {
          pool.release(buf);
        }
        let isNew = false;
        if (seen.has(hash)) await fs.rm(tmp, { force: true });
        else {
          seen.add(hash);
          isNew = await objects.commit(tmp, hash);
        }
        hashes[i] = hash;
        onChunk({ hash, size, isNew });
      },
      { weigh: (i) => lengths[i]!, maxWeight: BYTES_IN_FLIGHT },
    );
    if ((await src.stat()).size !== total) throw new Error(`${file} grew while it was being read`);
  } finally {
    await src.close();
  }
  return hashes;
}
