// Chunks read straight from the snapshotted file(s), for push --from-file: the local store holds only the
// manifest, so the bytes to upload come from where the manifest says they were cut (manifest-spec.md §4:
// a file's chunks are consecutive). Every read is re-hashed, so a file rewritten since it was chunked is
// refused before its manifest or name reach the remote (ordering invariants, §9).

import fs from 'node:fs/promises';
import path from 'node:path';
import { IntegrityError } from '../errors.js';
import { readHashed, type StoredChunk } from '../core/store-chunk.js';
import type { BufferPool, PooledBytes } from '../core/buffer-pool.js';
import type { Manifest } from '../core/manifest.js';

interface ChunkPlace {
  file: string;
  offset: number;
  size: number;
}

/** A chunk reader (PushOptions.readChunk) over `target`, the file or directory `manifest` was made from. */
export function fileChunkReader(target: string, manifest: Manifest): (hash: string, pool: BufferPool) => Promise<PooledBytes> {
  const places = new Map<string, ChunkPlace>();
  for (const f of manifest.files) {
    // A 'file' manifest names the file by its base name; a 'dir' manifest by its path under the directory.
    const file = manifest.type === 'file' ? target : path.join(target, ...f.path.split('/'));
    let offset = 0;
    f.chunks.forEach((h, i) => {
      const size = f.sizes[i]!;
      if (!places.has(h)) places.set(h, { file, offset, size });
      offset += size;
    });
  }
  return async (hash, pool) => {
    const at = places.get(hash);
    if (!at) throw new IntegrityError(`chunk ${hash} is not in the snapshot being pushed`, { chunk: hash });
    const buf = pool.take(at.size);
    const release = () => pool.release(buf);
    try {
      return { data: await readPlace(at, hash, buf.subarray(0, at.size)), release };
    } catch (e) {
      release();
      throw e;
    }
  };
}

/** Reads a chunk's place into `data` (its size), verified against its hash. */
async function readPlace(at: ChunkPlace, hash: string, data: Buffer): Promise<Buffer> {
  const fh = await fs.open(at.file, 'r');
  let r: StoredChunk;
  try {
    r = await readHashed(fh, at.offset, data, at.file);
  } finally {
    await fh.close();
  }
  if (r.bytes < at.size || r.hash !== hash) {
    throw new IntegrityError(`${at.file} changed while it was being pushed (bytes ${at.offset}..${at.offset + at.size} no longer match); nothing was named — push again once the file is fully written`, {
      file: at.file,
      chunk: hash,
    });
  }
  return data;
}
