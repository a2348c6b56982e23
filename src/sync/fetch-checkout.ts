// Pull and checkout in one pass: each chunk is downloaded (or read from the local store), verified, and
// written from the same buffer both into the store and at its offset in the target's temp file. The
// two-pass way (fetchSnapshot, then materialize) read and hashed every downloaded chunk a second time.
//
// Files are opened lazily in manifest order as their first chunk is taken up and closed when their last
// chunk lands, so at most about `concurrency` + 1 temp files are open and no more than `concurrency`
// chunks are in memory. Temp files are renamed into place only once every chunk has arrived, so a
// failure (a corrupt chunk, a dead connection) leaves no file of the snapshot: every temp file is
// removed, and so is every directory this run created (the destination's own included).

import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { BufferPool } from '../core/buffer-pool.js';
import { chunkCount, chunkTableOf, eachChunk, PackedFiles, type FileList, type Manifest, type ManifestFile } from '../core/manifest.js';
import { Uint32List, type ChunkTable } from '../core/chunk-table.js';
import { fileDir, fileModeOf, openTemp, prepareDest, targetOf } from '../core/materialize.js';
import { TempBatches } from '../core/temp-batches.js';
import { writevAll } from '../core/file-io.js';
import { ObjectWriter } from '../core/object-writer.js';
import { landChunk, nativeStore, replaceFile } from '../core/store-chunk.js';
import { targetOfTemp, tempNumberOf, tempPathWith } from '../core/store.js';
import type { Repository } from '../core/repo.js';
import type { Remote } from '../remote/types.js';
import { loadManifest } from './manifests.js';
import { findSeeds, SeedReader, type SeedPiece } from './seed.js';
import { downloadChunk, remoteBases, verifyChunk, type FetchOptions, type FetchResult } from './pull.js';
import { fetchFromPacks, selectPackedIds } from './packs.js';
import { RemoteState } from './state.js';
import { runBounded, TRANSFER_BYTES_IN_FLIGHT, type TransferProgress } from './transfer.js';

export interface FetchCheckoutOptions extends FetchOptions {
  onCheckoutProgress?: (done: number, total: number) => void;
  /**
   * False: write the files only, not a second copy of their chunks into the store (half the disk writes
   * and space). Chunks left out are recorded as cleaned (spec §7), as `clean` does; a chunk the snapshot
   * holds more than once is still stored, so its later copies are read back from the store.
   */
  keepChunks?: boolean;
  /** The folder below which every component of the destination must be a real directory (materialize.ts). */
  within?: string;
  /** The manifest, when the caller already loaded it (pull does, to check the destination first). */
  manifest?: Manifest;
}

/**
 * A file of one chunk up to this size, downloaded whole, is stored and written in one tick (landSmall):
 * through the thread pool, each cost a dozen round trips (open, hash and write, rename, close).
 */
const SMALL_FILE_BYTES = 256 << 10;

interface OpenFile {
  target: string;
  tmp: string;
  fh: fs.FileHandle;
  /** Chunks still to be written. */
  left: number;
}

interface Piece {
  file: ManifestFile;
  /** The file's place in the manifest. */
  index: number;
  offset: number;
  /** The chunk's id in the snapshot's ChunkTable (chunkTableOf). */
  id: number;
  hash: string;
  size: number;
}

/** Per-chunk state, one byte a chunk (`flags`, by ChunkTable id). */
const REPEATED = 1; // the snapshot holds it more than once
const MISSING = 2; // not in the local store
const SEEDED = 4; // read from a file on disk, not downloaded
const IN_LARGER = 8; // part of a file of more than one chunk
const FROM_PACK = 16; // a small file's chunk read from a pack (spec §8c) before the other pieces
const NOT_STORED = 32; // written to its files only, not kept in the store (--no-store)
const SEEN = 64; // met at least once while the occurrences are listed

/**
 * The snapshot's chunks, each once, and where each occurs: occurrence `o` of file `i` is at
 * `starts[i] + k` for its k-th chunk. Typed arrays by chunk id and by occurrence hold what a pull of
 * 400,000 small files kept before in a piece object, a map entry and a set entry per chunk (~170 bytes).
 */
class SnapshotChunks {
  readonly files: FileList;
  readonly table: ChunkTable;
  readonly flags: Uint8Array;
  readonly starts: Uint32Array;
  readonly chunkAt: Uint32Array;
  /**
   * A chunk's first occurrence, and each occurrence's next one of the same chunk (-1: none); null when no
   * chunk occurs twice (1.6 MB for 400,000 small files, all -1).
   */
  private readonly first: Int32Array;
  private readonly next: Int32Array | null;

  constructor(manifest: Manifest) {
    const files = (this.files = manifest.files);
    // A decoded manifest's one-chunk files name their chunk by id (no entry made for them).
    const oneChunkId = (i: number) => (files instanceof PackedFiles ? files.oneChunkId(i) : -1);
    const starts = new Uint32Array(files.length + 1);
    for (let i = 0; i < files.length; i++) starts[i + 1] = starts[i]! + (oneChunkId(i) >= 0 ? 1 : chunkCount(files.at(i)!));
    const n = starts[files.length]!;
    // A decoded manifest's own table (its one-chunk files hold their hashes there): read, not added to.
    const table = chunkTableOf(manifest);
    const chunkAt = new Uint32Array(n);
    const flags = new Uint8Array(table.count);
    const note = (i: number, k: number, id: number) => {
      chunkAt[starts[i]! + k] = id;
      flags[id]! |= flags[id]! & SEEN ? REPEATED : SEEN;
      if (starts[i + 1]! - starts[i]! > 1) flags[id]! |= IN_LARGER;
    };
    for (let i = 0; i < files.length; i++) {
      const one = oneChunkId(i);
      if (one >= 0) note(i, 0, one);
      else eachChunk(files.at(i)!, (hash, _size, k) => note(i, k, table.idOf(hash)));
    }
    const first = new Int32Array(table.count).fill(-1);
    const next = n > table.count ? new Int32Array(n).fill(-1) : null;
    for (let o = n - 1; o >= 0; o--) {
      const id = chunkAt[o]!;
      if (next) next[o] = first[id]!;
      first[id] = o;
    }
    this.table = table;
    this.flags = flags;
    this.starts = starts;
    this.chunkAt = chunkAt;
    this.first = first;
    this.next = next;
  }

  has(id: number, flag: number): boolean {
    return (this.flags[id]! & flag) !== 0;
  }

  /** The file an occurrence belongs to (binary search over starts). */
  fileOf(o: number): number {
    let lo = 0;
    let hi = this.files.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (this.starts[mid]! <= o) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Every piece of one chunk, in manifest order. */
  *piecesOf(id: number): Generator<Piece> {
    for (let o = this.first[id]!; o !== -1; o = this.next ? this.next[o]! : -1) yield this.pieceAt(this.fileOf(o), o);
  }

  /** Every piece in manifest order whose chunk `skip` does not name. */
  *pieces(skip: (id: number) => boolean): Generator<Piece> {
    for (let i = 0; i < this.files.length; i++) {
      let offset = 0;
      for (let o = this.starts[i]!; o < this.starts[i + 1]!; o++) {
        const id = this.chunkAt[o]!;
        if (!skip(id)) yield this.piece(i, offset, id);
        offset += this.table.sizeOf(id);
      }
    }
  }

  private pieceAt(i: number, o: number): Piece {
    let offset = 0;
    for (let q = this.starts[i]!; q < o; q++) offset += this.table.sizeOf(this.chunkAt[q]!);
    return this.piece(i, offset, this.chunkAt[o]!);
  }

  private piece(i: number, offset: number, id: number): Piece {
    return { file: this.files.at(i)!, index: i, offset, id, hash: this.table.hashOf(id), size: this.table.sizeOf(id) };
  }

  /** The sum of the sizes of the chunks with every one of `flags` (none: all chunks). */
  bytesWith(flags = 0): number {
    let n = 0;
    for (let id = 0; id < this.table.count; id++) if ((this.flags[id]! & flags) === flags) n += this.table.sizeOf(id);
    return n;
  }

  countWith(flags: number): number {
    let n = 0;
    for (let id = 0; id < this.table.count; id++) if ((this.flags[id]! & flags) === flags) n++;
    return n;
  }

  *idsWith(flags: number): Generator<number> {
    for (let id = 0; id < this.table.count; id++) if ((this.flags[id]! & flags) === flags) yield id;
  }
}

/** Makes every chunk of the manifest present in the local store and writes its files under absDest. */
export async function fetchAndCheckout(repo: Repository, remote: Remote, manifestHash: string, absDest: string, opts: FetchCheckoutOptions = {}): Promise<FetchResult> {
  const manifest: Manifest = opts.manifest ?? (await loadManifest(repo, manifestHash, remote));
  // Every chunk once, and each of its occurrences in manifest order; a chunk that repeats is downloaded at
  // its first occurrence and later ones wait for it to be stored (its promise in `downloads`), then copy it
  // from the store.
  const chunks = new SnapshotChunks(manifest);
  const { table, flags } = chunks;
  const missingCount = await markMissing(repo, chunks);
  const bytesTotal = chunks.bytesWith();
  // Chunks that files already on disk hold are read from there rather than downloaded: first where the
  // placed index (§7b) knows them to be, then among the files at the destination (rsync's basis file).
  // Nothing to look at when the destination does not exist (a first pull): no lstat per file.
  const seeds = new Map<number, SeedPiece>();
  for (const id of chunks.idsWith(MISSING)) {
    const piece = await repo.placed.find(table.hashOf(id));
    if (piece) seeds.set(id, piece);
  }
  const destExists = await fs.lstat(absDest).then(() => true, () => false);
  if (missingCount > seeds.size && destExists) {
    const unseeded = new Set<string>();
    for (const id of chunks.idsWith(MISSING)) if (!seeds.has(id)) unseeded.add(table.hashOf(id));
    for (const [h, piece] of await findSeeds(manifest, absDest, unseeded)) seeds.set(table.idOf(h), piece);
  }
  for (const id of seeds.keys()) flags[id]! |= SEEDED;
  const toMove = chunks.bytesWith(MISSING) - chunks.bytesWith(MISSING | SEEDED);
  const progress: TransferProgress = { phase: 'download', bytesMoved: 0, bytesToMove: toMove, bytesSkipped: bytesTotal - toMove, objectsMoved: 0, objectsToMove: missingCount - seeds.size };
  opts.onProgress?.(progress);
  const fileBytes = manifest.files.reduce((n, f) => n + f.size, 0);
  let written = 0;

  const downloads = new Map<number, Promise<void>>();
  const objects = new ObjectWriter(repo.store);
  const pool = new BufferPool();
  const bases = remoteBases(repo, remote);
  const seedReader = new SeedReader(pool);
  const keep = opts.keepChunks !== false;
  let bytesSeeded = 0;
  const swept = new Set<string>();
  // By the file's place in the manifest: a decoded manifest makes a new entry each time one is asked for.
  const open = new Map<number, Promise<OpenFile>>();
  const complete = new WrittenTemps((i) => targetOf(manifest, absDest, manifest.files.at(i)!), manifest.files.length);
  // Small files' temps, written by the thread pool a batch at a time (all written before any is renamed).
  const temps = new TempBatches();

  const fileFor = (file: ManifestFile, index: number): Promise<OpenFile> => {
    let o = open.get(index);
    if (!o) {
      o = openTemp(manifest, absDest, file, swept, opts.within).then((t) => ({ ...t, left: chunkCount(file) }));
      o.catch(() => {}); // surfaced where awaited
      open.set(index, o);
    }
    return o;
  };
  /**
   * Writes a chunk at its offset in the temp file and, with keepIt, to a temp object, in one thread-pool
   * job that hashes each piece as it goes (`write`, given the temp object's path or ""); the object is
   * renamed into place only once `write` says the hash matched, and removed otherwise.
   */
  const landVia = async (p: Piece, keepIt: boolean, write: (tmp: string) => Promise<boolean>): Promise<boolean> => {
    const tmp = keepIt ? await objects.tempFor('chunk', p.hash) : '';
    let placed = false;
    try {
      if (!(await write(tmp))) return false;
      if (tmp) await objects.place(tmp, 'chunk', p.hash);
      placed = true;
    } finally {
      if (tmp && !placed) await fs.rm(tmp, { force: true });
    }
    return true;
  };
  const out = (o: OpenFile, p: Piece) => ({ fd: o.fh.fd, offset: p.offset, name: o.tmp });
  /** A downloaded chunk: a mismatch (a corrupt download) throws, and the failed pull removes the temp file. */
  const land = (o: OpenFile, p: Piece, data: Buffer[], keepIt: boolean) =>
    landVia(p, keepIt, async (tmp) => {
      const r = await landChunk(data, tmp, out(o, p));
      verifyChunk(remote, p.hash, p.size, r.bytes, r.hash);
      return true;
    });
  /** A seed, copied from the old file: false (nothing kept) when it no longer holds the chunk. */
  const landSeed = (o: OpenFile, p: Piece, seed: SeedPiece, keepIt: boolean) => landVia(p, keepIt, (tmp) => seedReader.copy(p.hash, seed, tmp, out(o, p)));
  /**
   * A file that is one small chunk to download: downloaded and verified (downloadChunk), then, in this
   * tick, stored (temp + rename, unless --no-store) and written to the file's temp, which is renamed
   * into place with the others at the end. Its chunk is marked in `downloads` like any other, so a later
   * file that repeats it waits for it and copies it from the store.
   */
  const landSmall = async (p: Piece) => {
    let stored!: () => void;
    let failed!: (e: unknown) => void;
    const done = new Promise<void>((res, rej) => ((stored = res), (failed = rej)));
    done.catch(() => {});
    if (chunks.has(p.id, REPEATED)) downloads.set(p.id, done); // only a later occurrence waits for it
    try {
      const target = await fileDir(manifest, absDest, p.file, swept, opts.within);
      const { data, release } = await downloadChunk(remote, p.hash, p.size, pool, bases); // verified
      try {
        const keepIt = keep || chunks.has(p.id, REPEATED);
        if (keepIt) objects.writeSync('chunk', p.hash, data);
        else flags[p.id]! |= NOT_STORED;
        complete.add(p.index, await temps.write(target, fileModeOf(p.file), data));
      } finally {
        release();
      }
      stored();
    } catch (e) {
      failed(e);
      throw e;
    }
    progress.bytesMoved += p.size;
    progress.objectsMoved++;
    opts.onProgress?.(progress);
    written += p.size;
    opts.onCheckoutProgress?.(written, fileBytes);
  };
  const isSmall = (p: Piece) => chunkCount(p.file) === 1 && p.size <= SMALL_FILE_BYTES && chunks.has(p.id, MISSING) && !downloads.has(p.id) && !chunks.has(p.id, SEEDED);
  const finish = async (p: { file: ManifestFile; index: number }, o: OpenFile) => {
    await o.fh.close();
    complete.add(p.index, o.tmp);
    open.delete(p.index);
  };

  // The snapshot's directories that do not exist yet, deepest first: removed again if the pull fails.
  const dirs = manifest.type === 'dir' ? directoriesOf(manifest, absDest) : [];
  const exists = await Promise.all(dirs.map((d) => fs.lstat(d).then(() => true, () => false)));
  const created = dirs.filter((_, i) => !exists[i]).sort((x, y) => y.length - x.length);
  try {
    await prepareDest(manifest, absDest, opts.within);
    // Empty files have no chunk to carry them.
    for (const [index, file] of manifest.files.entries()) if (chunkCount(file) === 0) await finish({ file, index }, await fileFor(file, index));
    // Small files whose chunk is in a pack (spec §8c) first: a run of them is one ranged get, and each file
    // is written as landSmall does. A packed chunk a larger file needs is read with the rest, below. Each
    // chunk is claimed once, from the first pack that holds it.
    const claim = (id: number) => {
      if ((flags[id]! & (MISSING | SEEDED | IN_LARGER | FROM_PACK)) !== MISSING) return false;
      flags[id]! |= FROM_PACK;
      return true;
    };
    const packed = await selectPackedIds(remote, table, claim, new RemoteState(repo, remote.displayUrl).packHeaders);
    await fetchFromPacks(
      remote,
      packed,
      async (h, data) => {
        const id = table.idOf(h);
        if (keep) objects.writeSync('chunk', h, data);
        else flags[id]! |= NOT_STORED;
        for (const p of chunks.piecesOf(id)) {
          const target = await fileDir(manifest, absDest, p.file, swept, opts.within);
          complete.add(p.index, await temps.write(target, fileModeOf(p.file), [data]));
          written += p.size;
        }
        progress.bytesMoved += data.length;
        progress.objectsMoved++;
        opts.onProgress?.(progress);
        opts.onCheckoutProgress?.(written, fileBytes);
      },
      opts,
    );
    await runBounded(
      chunks.pieces((id) => chunks.has(id, FROM_PACK)),
      opts.concurrency ?? remote.features.defaultConcurrency,
      async (p) => {
        if (isSmall(p)) return landSmall(p);
        const o = await fileFor(p.file, p.index);
        let data: Buffer[] | undefined;
        let release = () => {};
        let fromSeed = false;
        let landed = false;
        const pending = downloads.get(p.id);
        if (chunks.has(p.id, MISSING) && !pending) {
          let stored!: () => void;
          let failed!: (e: unknown) => void;
          const done = new Promise<void>((res, rej) => ((stored = res), (failed = rej)));
          done.catch(() => {}); // a waiter sees it; runBounded reports the first failure
          if (chunks.has(p.id, REPEATED)) downloads.set(p.id, done); // one entry per chunk held to the end: only for those that repeat
          try {
            const keepIt = keep || chunks.has(p.id, REPEATED);
            const seed = seeds.get(p.id);
            // With the addon a seed is copied by one thread-pool job that hashes it as it writes it.
            if (seed && nativeStore) fromSeed = landed = await landSeed(o, p, seed, keepIt);
            else if (seed) {
              const got = await seedReader.read(p.hash, seed); // verified, or null
              if (got) ({ data, release } = got), (fromSeed = true);
            }
            if (seed && !fromSeed) {
              // A candidate the old file did not hold after all (findSeeds): it is downloaded instead.
              progress.bytesToMove += p.size;
              progress.bytesSkipped -= p.size;
              progress.objectsToMove++;
            }
            if (!landed) {
              // Verified before any byte is used: here, or with the addon as it is written (land).
              if (!fromSeed) ({ data, release } = await downloadChunk(remote, p.hash, p.size, pool, bases, !nativeStore));
              if (nativeStore) landed = await land(o, p, data!, keepIt);
              else if (keepIt) await objects.write('chunk', p.hash, data!, false);
            }
            if (!keepIt) flags[p.id]! |= NOT_STORED;
            stored();
          } catch (e) {
            release();
            failed(e);
            throw e;
          }
          if (fromSeed) bytesSeeded += p.size;
          else {
            progress.bytesMoved += p.size;
            progress.objectsMoved++;
          }
          opts.onProgress?.(progress);
        } else {
          if (pending) await pending;
          if (nativeStore) {
            await repo.store.writeChunkTo(p.hash, p.size, out(o, p)); // verified as written
            landed = true;
          } else {
            const stored = await repo.store.getPooled('chunk', p.hash, p.size, pool); // verified as read
            data = [stored.data];
            release = stored.release;
          }
        }
        try {
          if (!landed) await writevAll(o.fh, data!, p.offset);
        } finally {
          release();
        }
        written += p.size;
        opts.onCheckoutProgress?.(written, fileBytes);
        if (--o.left === 0) await finish(p, o);
      },
      { signal: opts.signal, weigh: (p) => p.size, maxWeight: TRANSFER_BYTES_IN_FLIGHT },
    );
    await temps.flush();
    // Recorded before any file lands, so verify never sees an unexplained gap in the store.
    if (chunks.countWith(NOT_STORED)) await repo.withLock(() => repo.recordCleaned(mapped(chunks.idsWith(NOT_STORED), (id) => table.hashOf(id))));
    // Synchronously: one thread-pool round trip per file, one after the other, cost ~0.5 s for 10,000.
    const replaced: string[] = [];
    for (const tmp of complete.paths()) if (replaceFile(tmp, targetOfTemp(tmp), !destExists)) replaced.push(tmp);
    // The old files, now under the temp names: freeing their blocks can take a while (0.5 s for 1 GiB
    // on a disk mounted with discard), so they go together, off the main thread.
    await Promise.all(replaced.map((tmp) => fs.rm(tmp, { force: true })));
  } catch (e) {
    // No partial file left behind: every temp file, open or complete, is removed (once no batch is
    // still writing any).
    await temps.settle();
    const opened = await Promise.all(
      [...open.values()].map(async (po) => {
        const o = await po.catch(() => null);
        await o?.fh.close().catch(() => {});
        return o;
      }),
    );
    for (const o of opened) if (o) await fs.rm(o.tmp, { force: true });
    for (const tmp of complete.paths()) await fs.rm(tmp, { force: true });
    // rmdir, not rm -r: a directory someone else filled meanwhile stays.
    for (const d of created) await fs.rmdir(d).catch(() => {});
    throw e;
  } finally {
    await seedReader.close();
  }
  return { manifest, bytesTotal, bytesDownloaded: progress.bytesMoved, bytesSeeded, chunksTotal: table.count, chunksDownloaded: progress.objectsMoved };
}

/** The directories of a directory snapshot's files under absDest, each once (absDest included). */
function directoriesOf(manifest: Manifest, absDest: string): string[] {
  const out = new Set<string>();
  for (const f of manifest.files) {
    // A folder seen before has had its parents added too.
    for (let dir = path.dirname(targetOf(manifest, absDest, f)); !out.has(dir); dir = path.dirname(dir)) {
      out.add(dir);
      if (dir === absDest || !dir.startsWith(absDest + path.sep)) break;
    }
  }
  return [...out];
}

/**
 * Temp files written and closed, to be renamed into place once every file is. Each is kept as its file's
 * place in the manifest and its temp name's count (tempPathWith), not as a path: 400,000 small files held
 * 400,000 paths, ~35 MB.
 */
class WrittenTemps {
  private readonly files: Uint32List;
  private readonly counts: Uint32List;

  /** `expected`: how many files are coming (sized so, the lists do not grow by copying). */
  constructor(
    private readonly targetOf: (index: number) => string,
    expected: number,
  ) {
    this.files = new Uint32List(expected);
    this.counts = new Uint32List(expected);
  }

  add(index: number, tmp: string): void {
    if (tempPathWith(this.targetOf(index), tempNumberOf(tmp)) !== tmp) throw new Error(`${tmp} is not a temp name of file ${index}`);
    this.files.push(index);
    this.counts.push(tempNumberOf(tmp));
  }

  *paths(): Generator<string> {
    for (let i = 0; i < this.files.length; i++) yield tempPathWith(this.targetOf(this.files.at(i)), this.counts.at(i));
  }
}

function* mapped<T, U>(items: Iterable<T>, fn: (item: T) => U): Generator<U> {
  for (const item of items) yield fn(item);
}

/** Marks the chunks the local store lacks (MISSING), and returns how many. */
async function markMissing(repo: Repository, chunks: SnapshotChunks): Promise<number> {
  const { table, flags } = chunks;
  const present = await repo.store.hasMany('chunk', table);
  let n = 0;
  for (let id = 0; id < table.count; id++) if (!present[id]) (flags[id]! |= MISSING), n++;
  return n;
}
