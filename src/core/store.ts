// The local object store (manifest-spec.md, "Local repository"): chunks under objects/ab/<hash> and
// manifests under manifests/<hash>, each written to a temp file and renamed into place, and verified
// against its hash whenever read. A second copy of an object is never stored.

import crypto from 'node:crypto';
import { createReadStream } from 'node:fs';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { IntegrityError, NotFoundError } from '../errors.js';
import type { BufferPool } from './buffer-pool.js';
import { runBounded } from './bounded.js';
import { createHasher, hashBytes } from './hash.js';
import { readFully } from './file-io.js';
import { hashChunk, readHashed, type AlsoWrite, type StoredChunk } from './store-chunk.js';
import { removeStaleTemps, TMP_MARK } from './temps.js';

export type ObjectKind = 'chunk' | 'manifest';

export { TMP_MARK };

/** hasMany lists directories for at least this many chunks, when that reads at most RATIO names per chunk. */
const LIST_LOOKUP_MIN = 1024;
const LIST_LOOKUP_RATIO = 8;

export class ObjectStore {
  constructor(readonly root: string) {}

  pathOf(kind: ObjectKind, hash: string): string {
    return kind === 'chunk'
      ? path.join(this.root, 'objects', hash.slice(0, 2), hash)
      : path.join(this.root, 'manifests', hash);
  }

  async has(kind: ObjectKind, hash: string): Promise<boolean> {
    try {
      await fs.access(this.pathOf(kind, hash));
      return true;
    } catch {
      return false;
    }
  }

  /** Stores bytes whose hash the caller computed; a no-op when the object exists. Returns true if written. */
  async put(kind: ObjectKind, hash: string, data: Uint8Array): Promise<boolean> {
    const dest = this.pathOf(kind, hash);
    if (await this.has(kind, hash)) return false;
    await writeAtomic(dest, data);
    return true;
  }

  /** Hashes and stores bytes; returns the hash. */
  async putBytes(kind: ObjectKind, data: Uint8Array): Promise<string> {
    const hash = hashBytes(data);
    await this.put(kind, hash, data);
    return hash;
  }

  /**
   * has() for many objects, a bounded number at a time: all at once, the requests queued for a 16 GiB
   * checkpoint's ~17,000 chunks alone raised a pull's peak memory by tens of megabytes. Many chunks are
   * looked up by listing their objects/ab directories instead (hasManyListed), when that reads fewer names.
   */
  async hasMany(kind: ObjectKind, hashes: readonly string[], concurrency = 64): Promise<boolean[]> {
    if (kind === 'chunk' && hashes.length >= LIST_LOOKUP_MIN) {
      const listed = await this.hasManyListed(hashes);
      if (listed) return listed;
    }
    const out = new Array<boolean>(hashes.length);
    await runBounded([...hashes.keys()], concurrency, async (i) => void (out[i] = await this.has(kind, hashes[i]!)));
    return out;
  }

  /**
   * Chunks' presence from a listing of the objects/ab directories they would be in: 10,000 chunks cost
   * 10,000 access() calls through the thread pool (~270 ms of a 1%-changed re-add of 10,000 small files),
   * their ~256 directories a few milliseconds. Null when the store is so large against `hashes` that
   * listing would read many more names than there are hashes (then has() per chunk is cheaper).
   */
  private async hasManyListed(hashes: readonly string[]): Promise<boolean[] | null> {
    // Listed synchronously: 256 readdirs through the thread pool cost more in round trips than in reading.
    const dirs = [...new Set(hashes.map((h) => h.slice(0, 2)))].sort();
    const names = new Set<string>();
    let read = 0;
    for (const [i, d] of dirs.entries()) {
      const here = readdirOrEmptySync(path.join(this.root, 'objects', d));
      read += here.length;
      // Names per directory so far, times the directories still to read: give up early on a big store.
      if ((read / (i + 1)) * dirs.length > LIST_LOOKUP_RATIO * hashes.length) return null;
      for (const n of here) names.add(n);
    }
    return hashes.map((h) => names.has(h));
  }

  /** Reads an object and checks its hash; a mismatch is an IntegrityError naming the object. */
  async get(kind: ObjectKind, hash: string): Promise<Buffer> {
    let data: Buffer;
    try {
      data = await fs.readFile(this.pathOf(kind, hash));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`${kind} ${hash} is not in the local store`, { hash });
      throw e;
    }
    await this.verifyObject(kind, hash, data);
    return data;
  }

  /**
   * get() into a buffer from `pool` (no allocation per object; push reads a gigabyte of chunks this way).
   * `size` is what the manifest says; release() hands the buffer back once the bytes are used.
   * `verify: false` only for a caller that looks at the bytes before deciding to use them, and then
   * calls verifyObject before it does (push's delta prefilter).
   */
  async getPooled(kind: ObjectKind, hash: string, size: number, pool: BufferPool, verify = true): Promise<{ data: Buffer; release(): void }> {
    const buf = pool.take(size + 1); // one byte of room, so an object longer than expected is noticed
    try {
      const file = this.pathOf(kind, hash);
      const fh = await this.openObject(kind, hash);
      let n: number;
      let actual: string | undefined;
      try {
        const into = buf.subarray(0, size + 1);
        if (verify) ({ bytes: n, hash: actual } = await readHashed(fh, 0, into, file));
        else n = await readFully(fh, into, 0);
      } finally {
        await fh.close();
      }
      if (actual !== undefined && (actual !== hash || n !== size)) await this.mismatch(kind, hash, size, n > size ? `it is longer than ${size} bytes` : n < size ? `it holds ${n} of its ${size} bytes` : `its content hashes to ${actual}`);
      return { data: buf.subarray(0, n), release: () => pool.release(buf) };
    } catch (e) {
      pool.release(buf);
      throw e;
    }
  }

  /**
   * Bytes of an object at `offsets`, `length` each, one after another, unverified: only for a cheap test
   * before deciding to read the whole object (push's delta prefilter reads a few KiB of a base instead
   * of all of it). Shorter than asked when the object is.
   */
  async readRanges(kind: ObjectKind, hash: string, offsets: readonly number[], length: number): Promise<Buffer> {
    const out = Buffer.allocUnsafe(offsets.length * length);
    const fh = await this.openObject(kind, hash);
    try {
      const got = await Promise.all(offsets.map((at, k) => readFully(fh, out.subarray(k * length, (k + 1) * length), at)));
      return got.every((n) => n === length) ? out : out.subarray(0, got.findIndex((n) => n < length) * length);
    } finally {
      await fh.close();
    }
  }

  /** Checks bytes read from the store against their hash; a corrupt object is removed (IntegrityError). */
  async verifyObject(kind: ObjectKind, hash: string, data: Uint8Array): Promise<void> {
    const actual = hashBytes(data);
    if (actual !== hash) await this.mismatch(kind, hash, data.length, `its content hashes to ${actual}`);
  }

  /**
   * Writes a chunk's `size` bytes at `out` (a checkout's temp file) in one thread-pool job that hashes
   * each piece as it writes it (store-chunk.ts; only where `nativeStore`). A corrupt object is removed
   * (IntegrityError) after its bytes went out: the caller then removes its temp file, as for any failure.
   */
  async writeChunkTo(hash: string, size: number, out: AlsoWrite): Promise<void> {
    const file = this.pathOf('chunk', hash);
    const fh = await this.openObject('chunk', hash);
    let r: StoredChunk;
    try {
      r = await hashChunk(fh.fd, 0, size, file, out);
    } finally {
      await fh.close();
    }
    if (r.bytes !== size) await this.mismatch('chunk', hash, size, `it holds ${r.bytes} of its ${size} bytes`);
    if (r.hash !== hash) await this.mismatch('chunk', hash, size, `its content hashes to ${r.hash}`);
  }

  private async openObject(kind: ObjectKind, hash: string): Promise<fs.FileHandle> {
    try {
      return await fs.open(this.pathOf(kind, hash), 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`${kind} ${hash} is not in the local store`, { hash });
      throw e;
    }
  }

  /**
   * An object read as `size` bytes did not match. The caller's size comes from a manifest, which may be
   * a remote's and may lie: the object is blamed (and removed) only when the whole of it fails its own
   * hash; otherwise the manifest is, and local data is never deleted on its word.
   */
  private async mismatch(kind: ObjectKind, hash: string, size: number, why: string): Promise<never> {
    const whole = await this.hashWhole(kind, hash);
    if (whole.hash === hash) {
      throw new IntegrityError(`a manifest says ${kind} ${hash} has ${size} bytes, but the local copy, which matches its hash, has ${whole.bytes}: the manifest is wrong (the local ${kind} is kept)`, { hash });
    }
    return this.corrupt(kind, hash, why);
  }

  /** BLAKE3 of an object's whole file, streamed. */
  private async hashWhole(kind: ObjectKind, hash: string): Promise<{ hash: string; bytes: number }> {
    const hasher = createHasher();
    let bytes = 0;
    for await (const piece of createReadStream(this.pathOf(kind, hash), { highWaterMark: 1 << 20 })) {
      hasher.update(piece as Buffer);
      bytes += (piece as Buffer).length;
    }
    return { hash: hasher.digest(), bytes };
  }

  private async corrupt(kind: ObjectKind, hash: string, why: string): Promise<never> {
    // Removed so that the next pull, which skips objects already present, fetches it again.
    await this.remove(kind, hash);
    throw new IntegrityError(`corrupt ${kind} ${hash} in the local store (${why}); removed it, run 'ckptsync pull' to fetch it again`, {
      hash,
      path: this.pathOf(kind, hash),
    });
  }

  /** Removes an object (gc, repair of a corrupt object). */
  async remove(kind: ObjectKind, hash: string): Promise<void> {
    await fs.rm(this.pathOf(kind, hash), { force: true });
  }

  /** Removes temp files that killed writers left in the store. */
  async removeStaleTemps(): Promise<number> {
    return (await removeStaleTemps(path.join(this.root, 'objects'), 1)) + (await removeStaleTemps(path.join(this.root, 'manifests')));
  }

  /** Every object hash of a kind in the store. */
  async *list(kind: ObjectKind): AsyncIterable<string> {
    if (kind === 'manifest') {
      for (const name of await readdirOrEmpty(path.join(this.root, 'manifests'))) if (/^[0-9a-f]{64}$/.test(name)) yield name;
      return;
    }
    for (const dir of await readdirOrEmpty(path.join(this.root, 'objects'))) {
      if (!/^[0-9a-f]{2}$/.test(dir)) continue;
      for (const name of await readdirOrEmpty(path.join(this.root, 'objects', dir))) if (/^[0-9a-f]{64}$/.test(name)) yield name;
    }
  }
}

async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return await fs.readdir(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

function readdirOrEmptySync(dir: string): string[] {
  try {
    return fsSync.readdirSync(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}

/** A unique temp path beside dest, recognisable by TMP_MARK so cleanup can find leftovers. */
export function tempPathFor(dest: string): string {
  return `${dest}${TMP_MARK}${process.pid}-${crypto.randomBytes(4).toString('hex')}`;
}

/** Writes a file so that readers see either nothing or all of it. */
export async function writeAtomic(dest: string, data: Uint8Array | string, mode?: number): Promise<void> {
  await fs.mkdir(path.dirname(dest), { recursive: true });
  const tmp = tempPathFor(dest);
  try {
    await fs.writeFile(tmp, data, mode === undefined ? undefined : { mode });
    await fs.rename(tmp, dest);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
}
