// Is the data in the working tree still what its pointer names? Like git's index: a stat cache
// (size, mtime, inode per file, recorded at add/checkout) answers cheaply; when the stat changed, the
// file is re-read at the manifest's recorded chunk boundaries and each chunk's hash compared, and a
// match refreshes the cache. The cache lives in .ckptsync/worktree-stat.json and is only ever a hint.

import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { WorktreeConflictError } from '../errors.js';
import { hashBytes } from './hash.js';
import { numbersField, objectEntries } from './json-entries.js';
import { listed, listFiles, listingOf, type ListedFile, type Listing, type Unchanged } from './ingest.js';
import { ChunkTable } from './chunk-table.js';
import { chunkTableOf, eachChunk, readStoredManifest, indexByPath, PackedFiles, pathAt, type Manifest, type ManifestFile } from './manifest.js';
import { targetOf } from './materialize.js';
import type { Repository } from './repo.js';
import { joinedInPieces, writeAtomic } from './store.js';
import { removeStaleTemps } from './temps.js';

export type DataState = 'ok' | 'missing' | 'modified' | 'stat-changed';

interface StatEntry {
  manifest: string;
  /** When the stats were taken (ms since the epoch); absent in caches written before it was recorded. */
  at?: number;
  /**
   * [size, mtimeMs, ino, ctimeMs] of each file of the manifest, four numbers per file in the manifest's
   * order; -1 four times for a file that was not there. As a map of 400,000 paths to arrays it was ~135
   * bytes per file in memory; as one list of numbers, 32. Read through a sink (readEntry), how many
   * numbers there were.
   */
  stats?: number[] | Float64Array | number;
  /**
   * Older caches: per file of the snapshot ('' for a single file), [size, mtimeMs, ino(, ctimeMs)]. Written
   * empty beside `stats`, so that an earlier ckptsync finds no stats (and reads the files) instead of failing.
   */
  files?: Record<string, number[]>;
}

type StatCache = Record<string, StatEntry>;

const cacheFile = (repo: Repository) => path.join(repo.dir, 'worktree-stat.json');

/**
 * A cache up to this size is parsed whole (JSON.parse: ~5 ms for the 0.5 MB of 10,000 files); a larger one
 * is read as it comes (numbersField: ~70 ms for those 0.5 MB, but ~50 MB less at the top of an add of
 * 400,000 files, whose 20 MB JSON.parse held the text, its copy and the result at once).
 */
const PARSE_WHOLE_BYTES = 4 << 20;

/**
 * dataPath's entry in the cache. In a large cache its stats are read into a Float64Array as the file is
 * read (numbersField), the other entries are read past, and the entry is never one string. With `sink`,
 * the stats go there one by one instead, and `stats` is how many there were.
 */
async function readEntry(repo: Repository, dataPath: string, sink?: (x: number) => void): Promise<StatEntry | undefined> {
  const rel = repo.relative(dataPath);
  const file = cacheFile(repo);
  const size = await fs.stat(file).then((st) => st.size, () => 0);
  let found: Record<string, unknown> | null = null;
  try {
    if (size <= PARSE_WHOLE_BYTES) found = JSON.parse(await fs.readFile(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
  found ??= await objectEntries(file, (key) => key === rel && numbersField('stats', sink));
  const e = found?.[rel];
  if (!e || typeof e !== 'object') return undefined;
  const entry = e as StatEntry;
  if (sink && Array.isArray(entry.stats)) {
    for (const x of entry.stats) sink(x);
    entry.stats = entry.stats.length;
  }
  return entry;
}

/** The entry for dataPath when it records `manifest` (hash `manifestHash`) in a shape this code reads. */
async function cachedEntry(repo: Repository, dataPath: string, manifestHash: string, manifest: Manifest): Promise<StatEntry | undefined> {
  return usable(await readEntry(repo, dataPath), manifestHash, manifest);
}

function usable(e: StatEntry | undefined, manifestHash: string, manifest: Manifest): StatEntry | undefined {
  if (!e || e.manifest !== manifestHash || typeof e.stats === 'number') return undefined;
  if (e.stats !== undefined) return (Array.isArray(e.stats) || e.stats instanceof Float64Array) && e.stats.length === 4 * manifest.files.length ? e : undefined;
  return e.files && typeof e.files === 'object' ? e : undefined;
}

/** File i's recorded [size, mtimeMs, ino, ctimeMs] (older caches: looked up by key, maybe without ctime). */
function recordedStat(e: StatEntry, i: number, key: string): number[] | undefined {
  if (e.stats === undefined || typeof e.stats === 'number') return e.files?.[key];
  return e.stats[4 * i] === -1 ? undefined : [...e.stats.slice(4 * i, 4 * i + 4)];
}

type Stat = Pick<ListedFile, 'rel' | 'size' | 'mtimeMs' | 'ino' | 'ctimeMs'>;

/**
 * The listed file each file of the manifest is (by path; '' matches a single file), in the manifest's
 * order (`found`: its place in the listing, or -1), and how many listed files the manifest lacks. Both
 * lists come sorted by path (listFiles' order is encodeManifest's) and are walked side by side; a path
 * table is built only when one is not sorted.
 */
function matchListing(manifest: Manifest, listing: Listing): { found: Int32Array; at: (i: number) => Stat | undefined; extra: number } {
  const { files } = manifest;
  const key = (i: number) => (manifest.type === 'file' ? '' : pathAt(files, i));
  const rel = (j: number) => (manifest.type === 'file' ? '' : listing.relAt(j));
  const filesSorted = files instanceof PackedFiles ? files.sorted : files.every((_, i) => i === 0 || key(i - 1) < key(i));
  let listingSorted = true;
  for (let j = 1, previous = listing.length ? rel(0) : ''; j < listing.length && listingSorted; j++) {
    const r = rel(j);
    listingSorted = previous < r;
    previous = r;
  }
  // Each file's place in the listing (-1: not listed), not the listed file: made when asked for.
  const found = new Int32Array(files.length).fill(-1);
  let matched = 0;
  if (filesSorted && listingSorted) {
    let r = listing.length ? rel(0) : '';
    for (let i = 0, j = 0; i < files.length; i++) {
      const p = key(i);
      while (j < listing.length && r < p) r = ++j < listing.length ? rel(j) : '';
      if (j < listing.length && r === p) {
        found[i] = j++;
        matched++;
        if (j < listing.length) r = rel(j);
      }
    }
  } else {
    const byRel = new Map<string, number>();
    for (let j = 0; j < listing.length; j++) byRel.set(rel(j), j);
    for (let i = 0; i < files.length; i++) {
      found[i] = byRel.get(key(i)) ?? -1;
      if (found[i]! >= 0) matched++;
    }
  }
  return { found, at: (i) => (found[i]! >= 0 ? listing.at(found[i]!) : undefined), extra: listing.length - matched };
}

/**
 * Records that the data at dataPath is the snapshot `manifestHash` (call right after add or checkout).
 * `since`: a time before the content was read or written (the operation's start); a file whose mtime or
 * ctime is not older than that is not vouched for by its stat (RACY_MS), since it may have changed while
 * the operation ran.
 */
export async function recordWorktreeStat(repo: Repository, dataPath: string, manifestHash: string, manifest: Manifest, since: number, listing?: Listing): Promise<void> {
  // Stats taken before the content was read (add's listing) serve as well as new ones: a file changed
  // since then no longer matches them, and is read again.
  // After a checkout each file is stat'ed as its line is written (statNow), rather than listed first: a
  // listing of 400,000 files held an object per file at the end of a pull.
  const top = await fs.lstat(dataPath).catch(() => null);
  if (!top || (manifest.type === 'file' ? !top.isFile() : !top.isDirectory())) return;
  const statOf = listing ? matchListing(manifest, listing).at : (i: number) => statNow(targetOf(manifest, dataPath, manifest.files.at(i)!));
  const rel = repo.relative(dataPath);
  // The other data paths' entries: this one's old entry (~22 MB for 400,000 files) is read past, not parsed.
  const cache = ((await objectEntries(cacheFile(repo), (key) => key !== rel)) ?? {}) as StatCache;
  // A writer killed mid-write left its temp beside the cache; the next writer clears it.
  await removeStaleTemps(repo.dir);
  await writeAtomic(cacheFile(repo), cacheText(cache, rel, { manifest: manifestHash, at: since }, manifest, statOf));
}

/** A regular file's stat now (not through a symlink); undefined for anything else. */
function statNow(file: string): Stat | undefined {
  const st = fsSync.lstatSync(file, { throwIfNoEntry: false });
  return st?.isFile() ? { rel: '', size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, ctimeMs: st.ctimeMs } : undefined;
}

/** The files at dataPath as listed now (null: not the kind of thing the snapshot is). */
async function listedNow(dataPath: string, manifest: Manifest): Promise<Listing | null> {
  if (manifest.type === 'dir') return listFiles(dataPath);
  const st = await fs.lstat(dataPath).catch(() => null);
  return st?.isFile() ? listingOf([listed('', dataPath, st)]) : null;
}

/**
 * The cache as JSON text, in pieces, with dataPath's entry (at `rel`) written from the listing: 400,000
 * files as an object and then one string of all of it took ~110 MB more at the end of an add. Same JSON
 * as JSON.stringify of the object (numbers print alike).
 */
function* cacheText(others: StatCache, rel: string, head: Omit<StatEntry, 'files' | 'stats'>, manifest: Manifest, statOf: (i: number) => Stat | undefined): Generator<string> {
  const rest = JSON.stringify(others);
  yield `${rest.slice(0, -1)}${rest === '{}' ? '' : ','}${JSON.stringify(rel)}:${JSON.stringify(head).slice(0, -1)},"files":{},"stats":[`;
  function* stats() {
    for (let i = 0; i < manifest.files.length; i++) {
      const f = statOf(i);
      yield f ? `${f.size},${f.mtimeMs},${f.ino},${f.ctimeMs}` : '-1,-1,-1,-1';
    }
  }
  yield* joinedInPieces(stats(), ',');
  yield ']}}';
}

/** Whether a recorded stat tuple and a current one agree on their first `n` fields (size, mtime, inode; ctime too with 4). */
function sameStat(recorded: number[], now: number[], n = 3): boolean {
  for (let i = 0; i < n; i++) if (recorded[i] !== now[i]) return false;
  return true;
}

/**
 * A file changed within this long before its stat was recorded may have changed again within the same
 * timestamp tick (git's "racily clean" entries): its stat proves nothing, so it is read. Wide enough for
 * file systems with coarse timestamps.
 */
const RACY_MS = 2000;

/** The stat cache's four numbers per file, in its order, as a listing names them. */
const RECORDED = ['size', 'mtimeMs', 'ino', 'ctimeMs'] as const;

/**
 * For `add` of a new version of dataPath: a lookup that gives listed file k's entry from the previous
 * snapshot when the stat cache recorded that snapshot there and the file's size, mtime, inode and ctime
 * are still what was recorded (git's index does the same), and all its chunks are still in the store (or
 * were dropped by clean, which a remote holds). Anything else, and any doubt, means the file is read.
 * The recorded numbers are compared with the listing's as they are read, never held: as a list, those of
 * 400,000 files were 12.8 MB through the whole add.
 */
export async function unchangedFiles(repo: Repository, dataPath: string, previousHash: string, previous: Manifest, files: Listing): Promise<Unchanged> {
  const none = { entryOf: () => undefined, count: 0 };
  const { found } = matchListing(previous, files);
  /** Each listed file's place in the previous version, when its stat is the one recorded there; else -1. */
  const same = new Int32Array(files.length).fill(-1);
  let agree = false;
  let count = 0;
  /** Number q of the recorded stats: field q % 4 of the previous version's file q / 4. */
  let q = 0;
  const compare = (x: number) => {
    const i = q >> 2;
    const field = q++ & 3;
    const k = i < found.length ? found[i]! : -1;
    if (k < 0) return;
    agree = (field === 0 || agree) && x === files.statAt(k, RECORDED[field]!);
    if (field === 3 && agree) {
      same[k] = i;
      count++;
    }
  };
  const cached = await readEntry(repo, dataPath, compare);
  if (!cached || cached.manifest !== previousHash || cached.at === undefined) return none;
  if (cached.stats === undefined) {
    // An older cache: stats by path, without ctime in the oldest (which vouch for nothing).
    if (!cached.files || typeof cached.files !== 'object') return none;
    for (let i = 0; i < previous.files.length; i++) {
      const c = found[i]! >= 0 ? cached.files[previous.type === 'file' ? '' : pathAt(previous.files, i)] : undefined;
      q = 4 * i;
      if (Array.isArray(c) && c.length >= 4) for (let f = 0; f < 4; f++) compare(c[f]!);
    }
  } else if (cached.stats !== 4 * previous.files.length) return none;
  const at = cached.at;
  const gone = await goneChunks(repo, previous);
  const isGone = (entry: ManifestFile) => {
    let out = false;
    if (gone.count) eachChunk(entry, (h) => (out ||= gone.has(h)));
    return out;
  };
  const entryOf = (k: number) => {
    const i = same[k]!;
    if (i < 0) return undefined;
    if (files.statAt(k, 'mtimeMs') >= at - RACY_MS || files.statAt(k, 'ctimeMs') >= at - RACY_MS) return undefined;
    const entry = previous.files.at(i)!;
    return isGone(entry) ? undefined : entry;
  };
  return { entryOf, count };
}

/**
 * The previous version's chunks that are neither in the store nor cleaned on purpose: a file holding one
 * is read again. A function of its own, so that the table of every chunk and the answer per chunk are
 * garbage once it returns (a closure would keep them).
 */
async function goneChunks(repo: Repository, previous: Manifest): Promise<ChunkTable> {
  const table = chunkTableOf(previous);
  const present = await repo.store.hasMany('chunk', table);
  const cleaned = await repo.cleanedTable();
  const gone = new ChunkTable();
  for (let id = 0; id < table.count; id++) if (!present[id] && cleaned.idOfEntry(table, id) < 0) gone.add(table.hashOf(id));
  return gone;
}

/** Where a file's key ('' for a single file) is in the manifest. */
function pathIndex(m: Manifest): (key: string) => number | undefined {
  if (m.type === 'file') return (key) => (key === '' && m.files.length ? 0 : undefined);
  return indexByPath(m.files);
}

export interface CheckOptions {
  /** When the stat changed, re-read the data to compare it (default true); false answers 'stat-changed'. */
  rehash?: boolean;
}

/** Compares the data at dataPath with a snapshot: ok, missing, modified, or (rehash false) stat-changed. */
export async function checkWorktreeData(repo: Repository, dataPath: string, manifestHash: string, manifest: Manifest, opts: CheckOptions = {}): Promise<DataState> {
  const st = await fs.lstat(dataPath).catch(() => null);
  if (!st) return 'missing';
  if (manifest.type === 'file' ? !st.isFile() : !st.isDirectory()) return 'modified';
  let listing: Listing | null;
  try {
    listing = await listedNow(dataPath, manifest);
  } catch {
    return 'modified'; // e.g. a symlink or device inside a directory snapshot
  }
  if (!listing) return 'modified';
  const now = matchListing(manifest, listing);
  if (now.extra > 0 || manifest.files.some((f, i) => now.at(i)?.size !== f.size)) return 'modified';
  const key = (f: ManifestFile) => (manifest.type === 'file' ? '' : f.path);
  const cached = await cachedEntry(repo, dataPath, manifestHash, manifest);
  const same = cached !== undefined && manifest.files.every((f, i) => {
    const c = recordedStat(cached, i, key(f));
    const s = now.at(i)!;
    return c !== undefined && sameStat(c, [s.size, s.mtimeMs, s.ino, s.ctimeMs]);
  });
  if (same) return 'ok';
  if (opts.rehash === false) return 'stat-changed';
  const since = Date.now();
  for (const f of manifest.files) {
    if (!(await fileMatches(targetOf(manifest, dataPath, f), f.chunks, f.sizes))) return 'modified';
  }
  await recordWorktreeStat(repo, dataPath, manifestHash, manifest, since);
  return 'ok';
}

/** Reads the file at the recorded chunk boundaries and compares each chunk's hash; stops at the first difference. */
async function fileMatches(file: string, chunks: readonly string[], sizes: readonly number[]): Promise<boolean> {
  const fh = await fs.open(file, 'r');
  try {
    const max = sizes.reduce((a, b) => Math.max(a, b), 0);
    const buf = Buffer.allocUnsafe(max);
    for (let i = 0; i < chunks.length; i++) {
      const want = sizes[i]!;
      let got = 0;
      while (got < want) {
        const { bytesRead } = await fh.read(buf, got, want - got, null);
        if (bytesRead === 0) return false;
        got += bytesRead;
      }
      if (hashBytes(buf.subarray(0, want)) !== chunks[i]) return false;
    }
    const { bytesRead } = await fh.read(Buffer.alloc(1), 0, 1, null);
    return bytesRead === 0;
  } finally {
    await fh.close();
  }
}

/**
 * Refuses (WorktreeConflictError) to replace data at `dest` that a pull or checkout of `manifest` would
 * overwrite, unless each file it would replace still holds what this repository last wrote or recorded
 * there (the stat cache's snapshot, by stat or by content) or already holds the new content: a local edit
 * is never lost without --force, as `git checkout` refuses to drop local changes.
 */
export async function assertReplaceable(repo: Repository, dest: string, manifest: Manifest): Promise<void> {
  const top = await fs.lstat(dest).catch(() => null);
  if (!top) return;
  const recorded = await readEntry(repo, dest);
  const before = recorded ? await readStoredManifest(repo.store, recorded.manifest).catch(() => null) : null;
  const cached = before ? usable(recorded, recorded!.manifest, before) : undefined;
  const indexOf = before ? pathIndex(before) : () => undefined;
  const changed: string[] = [];
  for (const f of manifest.files) {
    const key = manifest.type === 'file' ? '' : f.path;
    const target = targetOf(manifest, dest, f);
    const st = await fs.lstat(target).catch(() => null);
    if (!st) continue;
    const i = indexOf(key);
    const old = i === undefined ? undefined : before!.files.at(i);
    const stat = cached && i !== undefined ? recordedStat(cached, i, key) : undefined;
    const unchangedByStat = old && stat && sameStat(stat, [st.size, st.mtimeMs, st.ino]);
    if (st.isFile() && (unchangedByStat || (old && (await sameContent(target, old))) || (await sameContent(target, f)))) continue;
    changed.push(repo.relative(target));
  }
  if (changed.length) {
    const more = changed.length > 1 ? ` and ${changed.length - 1} more` : '';
    throw new WorktreeConflictError(`${changed[0]}${more} differs from what ckptsync last wrote there (modified locally?); not overwritten: move it away or pass --force`, { paths: changed });
  }
}

async function sameContent(file: string, f: ManifestFile): Promise<boolean> {
  const st = await fs.stat(file).catch(() => null);
  return st?.size === f.size && (await fileMatches(file, f.chunks, f.sizes).catch(() => false));
}
