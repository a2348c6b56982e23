// The local object store (manifest-spec.md, "Local repository"): chunks under objects/ab/<hash> and
// manifests under manifests/<hash>, each written to a temp file and renamed into place, and verified
// against its hash whenever read. A second copy of an object is never stored.

import crypto from 'node:crypto';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { IntegrityError, NotFoundError } from '../errors.js';
import type { BufferPool } from './buffer-pool.js';
import { ChunkTable } from './chunk-table.js';
import { runBounded } from './bounded.js';
import { createHasher, hashBytes } from './hash.js';
import { piecesOf, readFully } from './file-io.js';
import { hashChunk, readHashed, type AlsoWrite, type StoredChunk } from './store-chunk.js';
import { removeStaleTemps, TMP_MARK } from './temps.js';

export type ObjectKind = 'chunk' | 'manifest';

/** Where a chunk lies inside a file that pull or resolve wrote (placed.ts, manifest-spec.md §7b). */
export interface PlacedPiece {
  path: string;
  offset: number;
  size: number;
}

/** Finds chunks held in written files rather than in objects/; forget() drops one whose bytes no longer match. */
export interface PlacedLookup {
  find(hash: string): Promise<PlacedPiece | undefined>;
  forget(hash: string): void;
}

/** An open source of an object's bytes: its own file, or a piece of a written file. */
interface Source {
  fh: fs.FileHandle;
  file: string;
  offset: number;
  placed?: PlacedPiece;
}

export { TMP_MARK };

/** hasMany lists directories for at least this many chunks, when that reads at most RATIO names per chunk. */
const LIST_LOOKUP_MIN = 1024;
const LIST_LOOKUP_RATIO = 8;
const HEX_NAME = /^[0-9a-f]{64}$/;

export class ObjectStore {
  /**
   * Chunks kept in written files (§7b). Reads fall back to it when a chunk has no object; has() does not
   * (what add and push --from-file skip writing must really be in objects/), readable() does.
   */
  placed?: PlacedLookup;

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

  /** Whether a chunk can be read here: an object, or a piece of a written file whose identity still matches. */
  async readable(hash: string): Promise<boolean> {
    return (await this.has('chunk', hash)) || !!(await this.placed?.find(hash));
  }

  /** Stores bytes whose hash the caller computed; a no-op when the object exists. Returns true if written. */
  async put(kind: ObjectKind, hash: string, data: Uint8Array): Promise<boolean> {
    const dest = this.pathOf(kind, hash);
    if (await this.has(kind, hash)) return false;
    await writeAtomic(dest, data);
    return true;
  }

  /**
   * A writer of an object whose hash is known and whose bytes come in pieces (a download, verified by
   * the caller as it goes): written to a temp file, which place() renames into place, and discard()
   * removes if it was not placed.
   */
  async writePieces(kind: ObjectKind, hash: string): Promise<{ write(piece: Uint8Array): Promise<void>; place(): Promise<void>; discard(): Promise<void> }> {
    const dest = this.pathOf(kind, hash);
    const tmp = tempPathFor(dest);
    await fs.mkdir(path.dirname(tmp), { recursive: true });
    const fh = await fs.open(tmp, 'wx');
    let closed = false;
    let placed = false;
    const close = async () => {
      if (!closed) (closed = true), await fh.close();
    };
    return {
      write: async (piece) => void (await fh.writeFile(piece)),
      place: async () => {
        await close();
        if (await this.has(kind, hash)) await fs.rm(tmp, { force: true });
        else await fs.rename(tmp, dest);
        placed = true;
      },
      discard: async () => {
        await close().catch(() => {});
        if (!placed) await fs.rm(tmp, { force: true });
      },
    };
  }

  /**
   * Hashes and stores bytes that come in parts, writing each as it comes (a temp file, renamed once the
   * hash is known); returns the hash. The manifest of 400,000 small files is 53 MB.
   */
  async putParts(kind: ObjectKind, parts: Iterable<Uint8Array>): Promise<string> {
    const hasher = createHasher();
    const tmp = tempPathFor(this.pathOf(kind, '0'.repeat(64)));
    await fs.mkdir(path.dirname(tmp), { recursive: true });
    const fh = await fs.open(tmp, 'wx');
    let placed = false;
    try {
      for (const part of parts) {
        hasher.update(part);
        await fh.writeFile(part);
      }
      await fh.close();
      const hash = hasher.digest();
      if (!(await this.has(kind, hash))) await fs.rename(tmp, this.pathOf(kind, hash));
      else await fs.rm(tmp, { force: true });
      placed = true;
      return hash;
    } finally {
      if (!placed) {
        await fh.close().catch(() => {});
        await fs.rm(tmp, { force: true });
      }
    }
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
  async hasMany(kind: ObjectKind, list: HashList | ChunkTable, concurrency = 64): Promise<boolean[]> {
    const hashes = list instanceof ChunkTable ? { length: list.count, at: (id: number) => list.hashOf(id) } : list;
    if (kind === 'chunk' && hashes.length >= LIST_LOOKUP_MIN) {
      const listed = list instanceof ChunkTable ? this.hasManyInTable(list) : await this.hasManyListed(hashes);
      if (listed) return listed;
    }
    const out = new Array<boolean>(hashes.length);
    await runBounded(Array.from({ length: hashes.length }, (_, i) => i), concurrency, async (i) => void (out[i] = await this.has(kind, hashes.at(i)!)));
    return out;
  }

  /**
   * Chunks' presence from a listing of the objects/ab directories they would be in: 10,000 chunks cost
   * 10,000 access() calls through the thread pool (~270 ms of a 1%-changed re-add of 10,000 small files),
   * their ~256 directories a few milliseconds. Null when the store is so large against `hashes` that
   * listing would read many more names than there are hashes (then has() per chunk is cheaper).
   */
  private async hasManyListed(hashes: HashList): Promise<boolean[] | null> {
    // The hashes' numbers grouped by directory (a counting sort on the first byte), and one directory's
    // names at a time: all names at once were another copy of every hash (~45 MB for 400,000 chunks).
    const n = hashes.length;
    const dirOf = new Uint8Array(n);
    const counts = new Uint32Array(257);
    for (let i = 0; i < n; i++) counts[(dirOf[i] = parseInt(hashes.at(i)!.slice(0, 2), 16)) + 1]!++;
    const dirs: number[] = [];
    for (let d = 0; d < 256; d++) {
      if (counts[d + 1]) dirs.push(d);
      counts[d + 1]! += counts[d]!;
    }
    const byDir = new Uint32Array(n);
    const fill = counts.slice(0, 256);
    for (let i = 0; i < n; i++) byDir[fill[dirOf[i]!]!++] = i;
    const out = new Array<boolean>(n).fill(false);
    let read = 0;
    // Listed synchronously: 256 readdirs through the thread pool cost more in round trips than in reading.
    for (const [k, d] of dirs.entries()) {
      const here = readdirOrEmptySync(path.join(this.root, 'objects', d.toString(16).padStart(2, '0')));
      read += here.length;
      // Names per directory so far, times the directories still to read: give up early on a big store.
      if ((read / (k + 1)) * dirs.length > LIST_LOOKUP_RATIO * n) return null;
      const names = new Set(here);
      for (let j = counts[d]!; j < counts[d + 1]!; j++) out[byDir[j]!] = names.has(hashes.at(byDir[j]!)!);
    }
    return out;
  }

  /**
   * hasManyListed for a table's chunks, the other way round: each name listed in a directory is looked up
   * in the table (as bytes), and no hash of the table is made into a string (two per chunk, ~60 MB of
   * short-lived strings for 400,000 chunks).
   */
  private hasManyInTable(table: ChunkTable): boolean[] | null {
    const n = table.count;
    const counts = new Uint32Array(256);
    for (let id = 0; id < n; id++) counts[table.firstByte(id)]!++;
    const dirs: number[] = [];
    for (let d = 0; d < 256; d++) if (counts[d]) dirs.push(d);
    const out = new Array<boolean>(n).fill(false);
    const raw = Buffer.alloc(32);
    let read = 0;
    for (const [k, d] of dirs.entries()) {
      const dir = d.toString(16).padStart(2, '0');
      const here = readdirOrEmptySync(path.join(this.root, 'objects', dir));
      read += here.length;
      if ((read / (k + 1)) * dirs.length > LIST_LOOKUP_RATIO * n) return null;
      for (const name of here) {
        // Only an object's own name in its own directory (not a temp, nor a stray file elsewhere).
        if (name.length !== 64 || !name.startsWith(dir) || !HEX_NAME.test(name)) continue;
        raw.write(name, 'hex');
        const id = table.idOfRaw(raw);
        if (id >= 0) out[id] = true;
      }
    }
    return out;
  }

  /**
   * A small chunk of `into.length` bytes read into `into`, synchronously and verified: a push fills a
   * pack's buffer with its thousand small chunks this way, not through the thread pool a thousand times
   * nor in a buffer each. A chunk not in objects/ goes the way of get().
   */
  async readSmallInto(hash: string, into: Buffer): Promise<void> {
    let fd: number;
    try {
      fd = fsSync.openSync(this.pathOf('chunk', hash), 'r');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      const data = await this.get('chunk', hash);
      if (data.length !== into.length) await this.mismatch('chunk', hash, into.length, `it holds ${data.length} bytes`);
      return void into.set(data);
    }
    let n = 0;
    let longer = false;
    try {
      for (let got = -1; n < into.length && got !== 0; n += got) got = fsSync.readSync(fd, into, n, into.length - n, n);
      longer = n === into.length && fsSync.readSync(fd, Buffer.allocUnsafe(1), 0, 1, n) > 0;
    } finally {
      fsSync.closeSync(fd);
    }
    const actual = n === into.length && !longer ? hashBytes(into) : null;
    if (actual !== hash) await this.mismatch('chunk', hash, into.length, longer ? `it is longer than ${into.length} bytes` : actual === null ? `it holds ${n} of its ${into.length} bytes` : `its content hashes to ${actual}`);
  }

  /** Reads an object and checks its hash; a mismatch is an IntegrityError naming the object. */
  async get(kind: ObjectKind, hash: string): Promise<Buffer> {
    let data: Buffer;
    try {
      data = await fs.readFile(this.pathOf(kind, hash));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      const piece = kind === 'chunk' ? await this.placed?.find(hash) : undefined;
      if (!piece) throw new NotFoundError(`${kind} ${hash} is not in the local store`, { hash });
      return this.getPlaced(hash, piece);
    }
    await this.verifyObject(kind, hash, data);
    return data;
  }

  /**
   * An object's bytes a megabyte at a time, for a reader that decodes as it goes (a manifest): `take` sees
   * each piece (valid only during the call), and the hash is checked at the end, as get() checks it (a
   * corrupt object is removed). An error from `take` is thrown only once the bytes are known to be the
   * object's: a corrupt file is reported as corrupt, not as whatever its bytes failed to decode as.
   */
  async readPieces(kind: ObjectKind, hash: string, take: (piece: Buffer) => void): Promise<void> {
    const hasher = createHasher();
    let bytes = 0;
    let failed: { e: unknown } | null = null;
    try {
      for await (const piece of piecesOf(this.pathOf(kind, hash))) {
        hasher.update(piece);
        bytes += piece.length;
        if (failed) continue;
        try {
          take(piece);
        } catch (e) {
          failed = { e };
        }
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError(`${kind} ${hash} is not in the local store`, { hash });
      throw e;
    }
    const actual = hasher.digest();
    if (actual !== hash) await this.corrupt(kind, hash, `its content hashes to ${actual}`);
    if (failed) throw failed.e;
  }

  /** get() of a chunk, or null when it is not here: no object, and no unchanged pulled file holds it. */
  async getChunkIfHere(hash: string): Promise<Buffer | null> {
    try {
      return await this.get('chunk', hash);
    } catch (e) {
      if (e instanceof NotFoundError) return null;
      throw e;
    }
  }

  /** A chunk read from the written file that holds it, verified; a file that changed makes it missing. */
  private async getPlaced(hash: string, piece: PlacedPiece): Promise<Buffer> {
    const data = Buffer.allocUnsafe(piece.size);
    const src = await this.openObject('chunk', hash);
    try {
      const { bytes, hash: actual } = await readHashed(src.fh, src.offset, data, src.file);
      if (bytes !== piece.size || actual !== hash) this.placedChanged(hash, piece);
    } finally {
      await src.fh.close();
    }
    return data;
  }

  private placedChanged(hash: string, piece: PlacedPiece): never {
    this.placed?.forget(hash);
    throw new NotFoundError(`chunk ${hash} is not in the local store (${piece.path}, which held it, has changed)`, { hash });
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
      const src = await this.openObject(kind, hash);
      let n: number;
      let actual: string | undefined;
      try {
        // A piece of a written file is read to its own end, not one byte on into the next chunk.
        const into = buf.subarray(0, src.placed ? Math.min(size, src.placed.size) : size + 1);
        if (verify) ({ bytes: n, hash: actual } = await readHashed(src.fh, src.offset, into, src.file));
        else n = await readFully(src.fh, into, src.offset);
      } finally {
        await src.fh.close();
      }
      if (src.placed && (n !== size || src.placed.size !== size || (actual !== undefined && actual !== hash))) this.placedChanged(hash, src.placed);
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
    const src = await this.openObject(kind, hash);
    const end = src.placed ? src.placed.size : Infinity;
    try {
      const got = await Promise.all(offsets.map((at, k) => readFully(src.fh, out.subarray(k * length, k * length + Math.max(0, Math.min(length, end - at))), src.offset + at)));
      return got.every((n) => n === length) ? out : out.subarray(0, got.findIndex((n) => n < length) * length);
    } finally {
      await src.fh.close();
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
    const src = await this.openObject('chunk', hash);
    let r: StoredChunk;
    try {
      r = await hashChunk(src.fh.fd, src.offset, src.placed ? Math.min(size, src.placed.size) : size, src.file, out);
    } finally {
      await src.fh.close();
    }
    if (src.placed && (r.bytes !== size || r.hash !== hash)) this.placedChanged(hash, src.placed);
    if (r.bytes !== size) await this.mismatch('chunk', hash, size, `it holds ${r.bytes} of its ${size} bytes`);
    if (r.hash !== hash) await this.mismatch('chunk', hash, size, `its content hashes to ${r.hash}`);
  }

  /** The object's own file, else (a chunk) the written file the placed index says holds it. */
  private async openObject(kind: ObjectKind, hash: string): Promise<Source> {
    const file = this.pathOf(kind, hash);
    try {
      return { fh: await fs.open(file, 'r'), file, offset: 0 };
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const piece = kind === 'chunk' ? await this.placed?.find(hash) : undefined;
    if (piece) {
      try {
        return { fh: await fs.open(piece.path, 'r'), file: piece.path, offset: piece.offset, placed: piece };
      } catch {
        this.placedChanged(hash, piece);
      }
    }
    throw new NotFoundError(`${kind} ${hash} is not in the local store`, { hash });
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
    for await (const piece of piecesOf(this.pathOf(kind, hash))) {
      hasher.update(piece);
      bytes += piece.length;
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

/**
 * A unique temp path beside dest, recognisable by TMP_MARK so cleanup can find leftovers. The 8 hex
 * digits count up from a random start: random bytes per file cost 7 µs each (and a getpid() in OpenSSL),
 * 70 ms of a 10,000-file pull.
 */
export function tempPathFor(dest: string): string {
  tempCounter = (tempCounter + 1) >>> 0;
  return tempPathWith(dest, tempCounter);
}

/** Hashes by position: an array, or a view that makes each hash when asked. */
export interface HashList {
  readonly length: number;
  at(i: number): string | undefined;
}

/** The temp name tempPathFor gave `dest` when its count was `n` (tempNumberOf gives `n` back). */
export function tempPathWith(dest: string, n: number): string {
  return `${dest}${TMP_MARK}${process.pid}-${n.toString(16).padStart(8, '0')}`;
}

/** The count in a temp name from tempPathFor: a caller with many temps keeps it, not the path. */
export function tempNumberOf(tmp: string): number {
  return parseInt(tmp.slice(-8), 16);
}
let tempCounter = crypto.randomBytes(4).readUInt32LE(0);

/** The path a temp from tempPathFor stands in for (its suffix, which holds no TMP_MARK, cut off). */
export function targetOfTemp(tmp: string): string {
  return tmp.slice(0, tmp.lastIndexOf(TMP_MARK));
}

/**
 * The text of `items` joined with `sep`, in pieces of `size` items: a writer of 400,000 lines (writeAtomic,
 * an append) never holds them, or one string of them, all at once. 1,024 lines of up to ~100 bytes stay
 * under malloc's 128 KiB mapping threshold (tuneMalloc), so each piece's bytes reuse freed memory.
 */
export function* joinedInPieces(items: Iterable<string>, sep: string, size = 1024): Generator<string> {
  let part: string[] = [];
  let first = true;
  for (const item of items) {
    part.push(item);
    if (part.length < size) continue;
    yield (first ? '' : sep) + part.join(sep);
    (first = false), (part = []);
  }
  if (part.length) yield (first ? '' : sep) + part.join(sep);
}

/** Writes a file so that readers see either nothing or all of it; `data` may come in pieces (strings). */
export async function writeAtomic(dest: string, data: Uint8Array | string | Iterable<string>, mode?: number): Promise<void> {
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
