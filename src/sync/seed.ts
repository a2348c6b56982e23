// Seeding a pull from the files already at its destination, as rsync uses its basis file: chunks of the
// new version that the old file still holds are read from it instead of downloaded. The old file is cut
// with the new file's chunker, so unchanged tensors (and, with FastCDC, unchanged runs of bytes) give
// the same chunk hashes. Every seeded chunk is hashed again when it is read, so a file that changes in
// between costs a download, never a wrong byte.

import fs from 'node:fs/promises';
import type { BufferPool } from '../core/buffer-pool.js';
import { createHasher } from '../core/hash.js';
import { hashChunks } from '../core/ingest.js';
import { targetOf } from '../core/materialize.js';
import type { Manifest } from '../core/manifest.js';

export interface SeedPiece {
  path: string;
  offset: number;
  size: number;
}

/** Where, among the regular files at the destination, each of `wanted` can be read. */
export async function findSeeds(manifest: Manifest, absDest: string, wanted: ReadonlySet<string>): Promise<Map<string, SeedPiece>> {
  const seeds = new Map<string, SeedPiece>();
  for (const f of manifest.files) {
    if (seeds.size === wanted.size) break;
    if (!f.chunks.some((h) => wanted.has(h) && !seeds.has(h))) continue;
    const target = targetOf(manifest, absDest, f);
    const st = await fs.lstat(target).catch(() => null);
    if (!st?.isFile()) continue; // never through a symlink
    try {
      for await (const c of hashChunks(target, f.chunker)) {
        if (wanted.has(c.hash) && !seeds.has(c.hash)) seeds.set(c.hash, { path: target, offset: c.offset, size: c.size });
      }
    } catch {
      // The file changed or vanished while it was read: whatever was found so far is still verified on use.
    }
  }
  return seeds;
}

/** Reads seeded chunks, each verified against its hash; null when the file no longer holds it. */
export class SeedReader {
  private readonly files = new Map<string, Promise<fs.FileHandle>>();
  constructor(private readonly pool: BufferPool) {}

  async read(hash: string, piece: SeedPiece): Promise<{ data: Buffer[]; release(): void } | null> {
    let fh = this.files.get(piece.path);
    if (!fh) {
      fh = fs.open(piece.path, 'r');
      this.files.set(piece.path, fh);
    }
    const buf = this.pool.take(piece.size);
    try {
      const { bytesRead } = await (await fh).read(buf, 0, piece.size, piece.offset);
      const data = buf.subarray(0, piece.size);
      if (bytesRead !== piece.size || createHasher().update(data).digest() !== hash) {
        this.pool.release(buf);
        return null;
      }
      return { data: [data], release: () => this.pool.release(buf) };
    } catch {
      this.pool.release(buf);
      return null;
    }
  }

  async close(): Promise<void> {
    for (const fh of this.files.values()) await (await fh.catch(() => null))?.close();
  }
}
