// Seeding a pull from the files already at its destination, as rsync uses its basis file: chunks of the
// new version that the old file still holds are read from it instead of downloaded. First at the same
// offsets: a tensor that did not change sits where it was. For a tensor-aware file that is all there is,
// and the same-offset pieces are taken as candidates without reading them here: SeedReader hashes every
// piece when the pull reads it, and a piece that does not match is downloaded instead (reading and
// hashing each candidate here too read the old file twice: ~1 s of a 1 GiB pull of version 2 over
// version 1). For a FastCDC file the candidates are checked here, and when most of the file is still
// missing the whole old file is cut with the new file's chunker, which finds runs of bytes that moved.
// Either way a file that changes in between costs a download, never a wrong byte.

import fs from 'node:fs/promises';
import type { BufferPool } from '../core/buffer-pool.js';
import { createHasher } from '../core/hash.js';
import { hashChunks } from '../core/ingest.js';
import { targetOf } from '../core/materialize.js';
import { readFully } from '../core/file-io.js';
import { hashChunk, storeChunk, type AlsoWrite } from '../core/store-chunk.js';
import { FASTCDC_ALG } from '../core/chunker.js';
import type { Manifest, ManifestFile } from '../core/manifest.js';

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
      if (f.chunker.alg !== FASTCDC_ALG) {
        sameOffsetCandidates(target, st.size, f, wanted, seeds);
        continue;
      }
      await seedSameOffsets(target, st.size, f, wanted, seeds);
      const left = f.chunks.reduce((n, h, i) => n + (wanted.has(h) && !seeds.has(h) ? f.sizes[i]! : 0), 0);
      if (left * 2 <= f.size) continue;
      for await (const c of hashChunks(target, f.chunker)) {
        if (wanted.has(c.hash) && !seeds.has(c.hash)) seeds.set(c.hash, { path: target, offset: c.offset, size: c.size });
      }
    } catch {
      // The file changed or vanished while it was read: whatever was found so far is still verified on use.
    }
  }
  return seeds;
}

/** The wanted chunks of f that lie within the old file's `size`, at their offsets in f, and are not in `seeds` (looked up as the walk goes: a chunk seeded earlier in it is skipped). */
function* sameOffsetPieces(size: number, f: ManifestFile, wanted: ReadonlySet<string>, seeds: ReadonlyMap<string, SeedPiece>): Generator<{ hash: string; offset: number; size: number }> {
  let offset = 0;
  for (const [i, hash] of f.chunks.entries()) {
    const len = f.sizes[i]!;
    if (wanted.has(hash) && !seeds.has(hash) && offset + len <= size) yield { hash, offset, size: len };
    offset += len;
  }
}

/** Same-offset candidates, unread (see above). */
function sameOffsetCandidates(target: string, size: number, f: ManifestFile, wanted: ReadonlySet<string>, seeds: Map<string, SeedPiece>): void {
  for (const p of sameOffsetPieces(size, f, wanted, seeds)) seeds.set(p.hash, { path: target, offset: p.offset, size: p.size });
}

/** Seeds the wanted chunks of f that the old file holds at the same offsets, each read and hashed. */
async function seedSameOffsets(target: string, size: number, f: ManifestFile, wanted: ReadonlySet<string>, seeds: Map<string, SeedPiece>): Promise<void> {
  const fh = await fs.open(target, 'r');
  try {
    let buf = Buffer.alloc(0);
    for (const p of sameOffsetPieces(size, f, wanted, seeds)) {
      if (buf.length < p.size) buf = Buffer.allocUnsafeSlow(p.size);
      const piece = buf.subarray(0, p.size);
      if ((await readFully(fh, piece, p.offset)) === p.size && createHasher().update(piece).digest() === p.hash) seeds.set(p.hash, { path: target, offset: p.offset, size: p.size });
    }
  } finally {
    await fh.close();
  }
}

/** Reads seeded chunks, each verified against its hash; null when the file no longer holds it. */
export class SeedReader {
  private readonly files = new Map<string, Promise<fs.FileHandle>>();
  constructor(private readonly pool: BufferPool) {}

  /**
   * With the addon (nativeStore): copies a seeded chunk to `also` and, unless `tmp` is "", into a new
   * file there, hashing it as it goes; whether the old file held it. False leaves `tmp` for the caller.
   */
  async copy(hash: string, piece: SeedPiece, tmp: string, also: AlsoWrite): Promise<boolean> {
    try {
      const fh = await this.handle(piece.path);
      const r = tmp ? await storeChunk(fh.fd, piece.offset, piece.size, tmp, piece.path, also) : await hashChunk(fh.fd, piece.offset, piece.size, piece.path, also);
      return r.bytes === piece.size && r.hash === hash;
    } catch {
      return false; // a write that failed fails again, and is reported, when the chunk is downloaded instead
    }
  }

  async read(hash: string, piece: SeedPiece): Promise<{ data: Buffer[]; release(): void } | null> {
    const fh = this.handle(piece.path);
    const buf = this.pool.take(piece.size);
    try {
      const data = buf.subarray(0, piece.size);
      if ((await readFully(await fh, data, piece.offset)) !== piece.size || createHasher().update(data).digest() !== hash) {
        this.pool.release(buf);
        return null;
      }
      return { data: [data], release: () => this.pool.release(buf) };
    } catch {
      this.pool.release(buf);
      return null;
    }
  }

  private handle(file: string): Promise<fs.FileHandle> {
    let fh = this.files.get(file);
    if (!fh) {
      fh = fs.open(file, 'r');
      this.files.set(file, fh);
    }
    return fh;
  }

  async close(): Promise<void> {
    for (const fh of this.files.values()) await (await fh.catch(() => null))?.close();
  }
}
