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
import type { Manifest, ManifestFile } from '../core/manifest.js';
import { fileDir, openTemp, prepareDest, targetOf, writeTempSync } from '../core/materialize.js';
import { writevAll } from '../core/file-io.js';
import { ObjectWriter } from '../core/object-writer.js';
import { landChunk, nativeStore, replaceFile } from '../core/store-chunk.js';
import { targetOfTemp, tempNumberOf, tempPathWith } from '../core/store.js';
import type { Repository } from '../core/repo.js';
import type { Remote } from '../remote/types.js';
import { loadManifest } from './manifests.js';
import { findSeeds, SeedReader, type SeedPiece } from './seed.js';
import { downloadChunk, loadPackIndex, remoteBases, verifyChunk, type FetchOptions, type FetchResult } from './pull.js';
import { fetchFromPacks } from './packs.js';
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
  offset: number;
  hash: string;
  size: number;
  /**
   * A small file written from a pack (spec §8c) before the other pieces are taken up. Always set at
   * creation: a property added later moved 100,000 pieces' fields out of line (40 bytes each).
   */
  fromPack: boolean;
}

/** Makes every chunk of the manifest present in the local store and writes its files under absDest. */
export async function fetchAndCheckout(repo: Repository, remote: Remote, manifestHash: string, absDest: string, opts: FetchCheckoutOptions = {}): Promise<FetchResult> {
  const manifest: Manifest = opts.manifest ?? (await loadManifest(repo, manifestHash, remote));
  // Every chunk occurrence, in manifest order; a chunk that repeats is downloaded at its first occurrence
  // and later ones wait for it to be stored (its promise in `downloads`), then copy it from the store.
  const pieces: Piece[] = [];
  const wanted = new Map<string, number>();
  const repeated = new Set<string>();
  for (const file of manifest.files) {
    let offset = 0;
    file.chunks.forEach((hash, i) => {
      const size = file.sizes[i]!;
      pieces.push({ file, offset, hash, size, fromPack: false });
      if (wanted.has(hash)) repeated.add(hash);
      else wanted.set(hash, size);
      offset += size;
    });
  }
  const missing = await missingFrom(repo, wanted);
  const bytesTotal = [...wanted.values()].reduce((a, b) => a + b, 0);
  // Chunks that files already on disk hold are read from there rather than downloaded: first where the
  // placed index (§7b) knows them to be, then among the files at the destination (rsync's basis file).
  // Nothing to look at when the destination does not exist (a first pull): no lstat per file.
  const seeds = new Map<string, SeedPiece>();
  for (const h of missing) {
    const piece = await repo.placed.find(h);
    if (piece) seeds.set(h, piece);
  }
  const destExists = await fs.lstat(absDest).then(() => true, () => false);
  if (missing.size > seeds.size && destExists) {
    const unseeded = new Set([...missing].filter((h) => !seeds.has(h)));
    for (const [h, piece] of await findSeeds(manifest, absDest, unseeded)) seeds.set(h, piece);
  }
  const toMove = [...missing].reduce((n, h) => n + (seeds.has(h) ? 0 : wanted.get(h)!), 0);
  const progress: TransferProgress = { phase: 'download', bytesMoved: 0, bytesToMove: toMove, bytesSkipped: bytesTotal - toMove, objectsMoved: 0, objectsToMove: missing.size - seeds.size };
  opts.onProgress?.(progress);
  const fileBytes = manifest.files.reduce((n, f) => n + f.size, 0);
  let written = 0;

  const downloads = new Map<string, Promise<void>>();
  const objects = new ObjectWriter(repo.store);
  const pool = new BufferPool();
  const bases = remoteBases(repo, remote);
  const seedReader = new SeedReader(pool);
  const keep = opts.keepChunks !== false;
  const notStored: string[] = [];
  let bytesSeeded = 0;
  const swept = new Set<string>();
  const open = new Map<ManifestFile, Promise<OpenFile>>();
  const complete = new WrittenTemps((f) => targetOf(manifest, absDest, f));

  const fileFor = (file: ManifestFile): Promise<OpenFile> => {
    let o = open.get(file);
    if (!o) {
      o = openTemp(manifest, absDest, file, swept, opts.within).then((t) => ({ ...t, left: file.chunks.length }));
      o.catch(() => {}); // surfaced where awaited
      open.set(file, o);
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
    if (repeated.has(p.hash)) downloads.set(p.hash, done); // only a later occurrence waits for it
    try {
      const target = await fileDir(manifest, absDest, p.file, swept, opts.within);
      const { data, release } = await downloadChunk(remote, p.hash, p.size, pool, bases); // verified
      try {
        const keepIt = keep || repeated.has(p.hash);
        if (keepIt) objects.writeSync('chunk', p.hash, data);
        else notStored.push(p.hash);
        complete.add(p.file, writeTempSync(target, p.file, data));
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
  const isSmall = (p: Piece) => p.file.chunks.length === 1 && p.size <= SMALL_FILE_BYTES && missing.has(p.hash) && !downloads.has(p.hash) && !seeds.has(p.hash);
  const finish = async (file: ManifestFile, o: OpenFile) => {
    await o.fh.close();
    complete.add(file, o.tmp);
    open.delete(file);
  };

  // The snapshot's directories that do not exist yet, deepest first: removed again if the pull fails.
  const dirs = manifest.type === 'dir' ? directoriesOf(manifest, absDest) : [];
  const exists = await Promise.all(dirs.map((d) => fs.lstat(d).then(() => true, () => false)));
  const created = dirs.filter((_, i) => !exists[i]).sort((x, y) => y.length - x.length);
  try {
    await prepareDest(manifest, absDest, opts.within);
    // Empty files have no chunk to carry them.
    for (const file of manifest.files) if (file.chunks.length === 0) await finish(file, await fileFor(file));
    // Small files whose chunk is in a pack (spec §8c) first: a run of them is one ranged get, and each file
    // is written as landSmall does. A packed chunk a larger file needs is read with the rest, below.
    // A chunk's piece, or its pieces when it repeats (an array per chunk was ~60 bytes each of 400,000).
    const smallFiles = new Map<string, Piece | Piece[]>();
    const piecesOf = (h: string): Piece[] => {
      const ps = smallFiles.get(h);
      return ps === undefined ? [] : Array.isArray(ps) ? ps : [ps];
    };
    for (const p of pieces) {
      if (!missing.has(p.hash) || seeds.has(p.hash)) continue;
      const ps = smallFiles.get(p.hash);
      if (ps === undefined) smallFiles.set(p.hash, p);
      else if (Array.isArray(ps)) ps.push(p);
      else smallFiles.set(p.hash, [ps, p]);
    }
    for (const h of smallFiles.keys()) if (!piecesOf(h).every((p) => p.file.chunks.length === 1)) smallFiles.delete(h);
    // Each chunk claimed once, from the first pack that holds it.
    const claim = (h: string) => {
      const ps = piecesOf(h);
      if (!ps.length || ps[0]!.fromPack) return false;
      for (const p of ps) p.fromPack = true;
      return true;
    };
    const packed = (await loadPackIndex(remote, repo)).select(claim);
    await fetchFromPacks(
      remote,
      packed,
      async (h, data) => {
        if (keep) objects.writeSync('chunk', h, data);
        else notStored.push(h);
        for (const p of piecesOf(h)) {
          const target = await fileDir(manifest, absDest, p.file, swept, opts.within);
          complete.add(p.file, writeTempSync(target, p.file, [data]));
          written += p.size;
        }
        progress.bytesMoved += data.length;
        progress.objectsMoved++;
        opts.onProgress?.(progress);
        opts.onCheckoutProgress?.(written, fileBytes);
      },
      opts,
    );
    smallFiles.clear();
    await runBounded(
      pieces.filter((p) => !p.fromPack),
      opts.concurrency ?? remote.features.defaultConcurrency,
      async (p) => {
        if (isSmall(p)) return landSmall(p);
        const o = await fileFor(p.file);
        let data: Buffer[] | undefined;
        let release = () => {};
        let fromSeed = false;
        let landed = false;
        const pending = downloads.get(p.hash);
        if (missing.has(p.hash) && !pending) {
          let stored!: () => void;
          let failed!: (e: unknown) => void;
          const done = new Promise<void>((res, rej) => ((stored = res), (failed = rej)));
          done.catch(() => {}); // a waiter sees it; runBounded reports the first failure
          if (repeated.has(p.hash)) downloads.set(p.hash, done); // one entry per chunk held to the end: only for those that repeat
          try {
            const keepIt = keep || repeated.has(p.hash);
            const seed = seeds.get(p.hash);
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
            if (!keepIt) notStored.push(p.hash);
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
        if (--o.left === 0) await finish(p.file, o);
      },
      { signal: opts.signal, weigh: (p) => p.size, maxWeight: TRANSFER_BYTES_IN_FLIGHT },
    );
    // Recorded before any file lands, so verify never sees an unexplained gap in the store.
    if (notStored.length) await repo.withLock(() => repo.recordCleaned(notStored));
    // Synchronously: one thread-pool round trip per file, one after the other, cost ~0.5 s for 10,000.
    const replaced: string[] = [];
    for (const tmp of complete.paths()) if (replaceFile(tmp, targetOfTemp(tmp))) replaced.push(tmp);
    // The old files, now under the temp names: freeing their blocks can take a while (0.5 s for 1 GiB
    // on a disk mounted with discard), so they go together, off the main thread.
    await Promise.all(replaced.map((tmp) => fs.rm(tmp, { force: true })));
  } catch (e) {
    // No partial file left behind: every temp file, open or complete, is removed.
    const temps = await Promise.all(
      [...open.values()].map(async (po) => {
        const o = await po.catch(() => null);
        await o?.fh.close().catch(() => {});
        return o;
      }),
    );
    for (const o of temps) if (o) await fs.rm(o.tmp, { force: true });
    for (const tmp of complete.paths()) await fs.rm(tmp, { force: true });
    // rmdir, not rm -r: a directory someone else filled meanwhile stays.
    for (const d of created) await fs.rmdir(d).catch(() => {});
    throw e;
  } finally {
    await seedReader.close();
  }
  return { manifest, bytesTotal, bytesDownloaded: progress.bytesMoved, bytesSeeded, chunksTotal: wanted.size, chunksDownloaded: progress.objectsMoved };
}

/** dir and each of its parents up to and including top. */
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
 * Temp files written and closed, to be renamed into place once every file is. Each is kept as its
 * manifest file and its temp name's count (tempPathWith), not as a path: 400,000 small files held
 * 400,000 paths, ~35 MB.
 */
class WrittenTemps {
  private readonly files: ManifestFile[] = [];
  private readonly counts: number[] = [];

  constructor(private readonly targetOf: (f: ManifestFile) => string) {}

  add(file: ManifestFile, tmp: string): void {
    if (tempPathWith(this.targetOf(file), tempNumberOf(tmp)) !== tmp) throw new Error(`${tmp} is not a temp name of ${file.path}`);
    this.files.push(file);
    this.counts.push(tempNumberOf(tmp));
  }

  *paths(): Generator<string> {
    for (let i = 0; i < this.files.length; i++) yield tempPathWith(this.targetOf(this.files[i]!), this.counts[i]!);
  }
}

/**
 * The wanted chunks the store lacks. A function of its own so that the list of every hash and the answer
 * per hash are garbage once it returns: an async function's locals live as long as it runs.
 */
async function missingFrom(repo: Repository, wanted: Map<string, number>): Promise<Set<string>> {
  const hashes = [...wanted.keys()];
  const present = await repo.store.hasMany('chunk', hashes);
  return new Set(hashes.filter((_, i) => !present[i]));
}
