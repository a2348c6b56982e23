// Snapshotting a file or directory into the object store: chunk, hash, store new chunks, then the
// manifest (manifest-spec.md, "Manifests"). Streams with one reused read buffer; chunk writes overlap
// with chunking, bounded so memory stays flat whatever the size.

import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.js';
import {
  chunkFile,
  DEFAULT_CHUNKER,
  DEFAULT_GGUF_CHUNKER,
  DEFAULT_PYTORCH_ZIP_CHUNKER,
  DEFAULT_SAFETENSORS_CHUNKER,
  FASTCDC_ALG,
  GGUF_ALG,
  PYTORCH_ZIP_ALG,
  SAFETENSORS_ALG,
  validateChunker,
  type ChunkerParams,
  type RawChunk,
} from './chunker.js';
import { ggufCuts, ggufLayout } from './cutters/gguf.js';
import { pytorchZipCuts, pytorchZipLayout } from './cutters/pytorch-zip.js';
import { safetensorsCuts, safetensorsLayout } from './cutters/safetensors.js';
import { readFully } from './file-io.js';
import { joinBelow } from './materialize.js';
import { hashBytes } from './hash.js';
import { chunkCount, encodeManifestParts, indexByPath, manifestFile, PackedFiles, withMode, type Manifest, type ManifestFile } from './manifest.js';
import { PathSlabs } from './path-slabs.js';
import { nativeStore } from './store-chunk.js';
import { ChunkTable } from './chunk-table.js';
import { ObjectWriter } from './object-writer.js';
import { storeByCopy, storeRanges, type ChunkRange, type CopiedChunk, type StoreMode } from './store-by-copy.js';
import type { ObjectStore } from './store.js';
import { REPO_DIR } from './repo.js';
import { runBounded } from './bounded.js';

/**
 * Files up to this size (a FastCDC file this small is one chunk) go through the store in batches, in
 * this thread with synchronous calls (ingestSmall): through the thread pool, each file cost a dozen
 * round trips (open, probe, read, store, rename, close) whose thread wake-ups, not the I/O, took the time
 * (strace of an add of 10,000 files of 4 KiB: 234k futex calls, 23 per file).
 */
const SMALL_FILE_BYTES = 256 << 10;
/** A batch yields to the event loop (progress, signals) after this many files or bytes. */
const BATCH_FILES = 512;
const BATCH_BYTES = 4 << 20;
/** Small files the batch hands back (a tensor format's head) are ingested this many at a time. */
const SMALL_FILES_IN_FLIGHT = 16;

/** The ranges of a chunker's chunks, their sizes appended to `sizes` as they come. */
async function* rangesOf(chunks: AsyncIterable<RawChunk>, sizes: number[]): AsyncGenerator<ChunkRange> {
  for await (const c of chunks) {
    sizes.push(c.data.length);
    yield { offset: c.offset, size: c.data.length };
  }
}

export interface IngestProgress {
  /** Bytes read and chunked so far. */
  bytesDone: number;
  bytesTotal: number;
  /** Of bytesDone, bytes whose chunks were new to the store (counted as their writes finish). */
  bytesNew: number;
}

export interface IngestOptions {
  /** 'auto' (default): tensor-aware cutting where the format is known, FastCDC elsewhere. */
  chunker?: ChunkerParams | 'auto';
  /**
   * The version this snapshot follows. With 'auto', a file it holds at the same path, cut with the
   * algorithm chosen for this file, is cut with the same parameters again: a change of default sizes
   * (manifest-spec.md §2.5) must not cost the next version its deduplication against the last.
   */
  previous?: Manifest;
  /**
   * Given the files as listed, which of them the stat cache vouches did not change since the previous
   * version (worktree.ts, unchangedFiles): their entries there, taken as they are, unread.
   */
  unchanged?: (files: Listing) => Promise<Unchanged>;
  onProgress?: (p: IngestProgress) => void;
  /** Chunk writes in flight at once. */
  writeConcurrency?: number;
  /** False: store only the manifest, not the chunks (push --from-file reads them from the file instead). */
  storeChunks?: boolean;
}

export interface IngestResult {
  manifest: Manifest;
  manifestHash: string;
  bytes: number;
  bytesNew: number;
  chunks: number;
  chunksNew: number;
  /** The files as listed, with their stats from before they were read (for the stat cache). */
  files: Listing;
  /** Files read; the others were taken unread from the previous version (`unchanged`). */
  filesRead: number;
}

/** The listed files an add may take from the previous version unread (IngestOptions.unchanged). */
export interface Unchanged {
  /** Listed file k's entry in the previous version, when it is taken from there. */
  entryOf(k: number): ManifestFile | undefined;
  /** At most how many files entryOf gives an entry for. */
  count: number;
}

/** A regular file of a snapshot with the stat fields the stat cache compares. */
export interface ListedFile {
  rel: string;
  abs: string;
  size: number;
  mode: number;
  mtimeMs: number;
  ctimeMs: number;
  ino: number;
}

export const listed = (rel: string, abs: string, st: import('node:fs').Stats): ListedFile => ({ rel, abs, size: st.size, mode: st.mode & 0o777, mtimeMs: st.mtimeMs, ctimeMs: st.ctimeMs, ino: st.ino });

/** A number of a listed file's stat. */
export type StatField = 'size' | 'mode' | 'mtimeMs' | 'ctimeMs' | 'ino';

/** A snapshot's files as listed, in path order: each file made when asked for (at), or read by number. */
export interface Listing {
  readonly length: number;
  at(k: number): ListedFile;
  relAt(k: number): string;
  sizeAt(k: number): number;
  /** One number of file k's stat, with no object or path made. */
  statAt(k: number, field: StatField): number;
  /** The paths, as PackedFiles takes them. */
  paths(): PathSlabs;
}

/** A listing of files given one by one (a single file's). */
export function listingOf(files: readonly ListedFile[]): Listing {
  return {
    length: files.length,
    at: (k) => files[k]!,
    relAt: (k) => files[k]!.rel,
    sizeAt: (k) => files[k]!.size,
    statAt: (k, field) => files[k]![field],
    paths() {
      const paths = new PathSlabs(files.length);
      for (const f of files) paths.push(f.rel);
      return paths;
    },
  };
}

/** Files a block of a listing's numbers holds. */
const LISTING_BLOCK = 1 << 13;
/** Where each double of a file's stat is in a FolderListing's block. */
const STAT_AT = { size: 0, mtimeMs: 1, ctimeMs: 2, ino: 3 } as const;

/**
 * A folder's files: their paths, and per file its size, mtimeMs, ctimeMs and ino (doubles) and mode, in
 * fixed blocks of typed arrays. A listing of 400,000 files is held whole through an add: with an object,
 * a path and numbers (three of them boxed) each file cost ~190 bytes, then ~150 with a folder's prefix
 * and a name concatenated and an object per file, ~60 with the numbers in one JS array (which grew by
 * copying, up to half again its length), now ~52.
 */
class FolderListing implements Listing {
  private readonly names = new PathSlabs(1024);
  /** Four doubles per file: size, mtimeMs, ctimeMs, ino. */
  private readonly stats: Float64Array[] = [];
  private readonly modes: Uint16Array[] = [];
  constructor(readonly root: string) {}
  get length(): number {
    return this.names.length;
  }
  push(rel: string, st: import('node:fs').Stats): void {
    const k = this.names.push(rel);
    const b = k % LISTING_BLOCK;
    if (b === 0) {
      this.stats.push(new Float64Array(4 * LISTING_BLOCK));
      this.modes.push(new Uint16Array(LISTING_BLOCK));
    }
    const stats = this.stats.at(-1)!;
    stats[4 * b + STAT_AT.size] = st.size;
    stats[4 * b + STAT_AT.mtimeMs] = st.mtimeMs;
    stats[4 * b + STAT_AT.ctimeMs] = st.ctimeMs;
    stats[4 * b + STAT_AT.ino] = st.ino;
    this.modes.at(-1)![b] = st.mode & 0o777;
  }
  at(k: number): ListedFile {
    if (!(k >= 0 && k < this.length)) throw new RangeError(`no file ${k} in a listing of ${this.length}`);
    return new DirectoryFile(this, k);
  }
  relAt(k: number): string {
    return this.names.at(k);
  }
  sizeAt(k: number): number {
    return this.stats[Math.floor(k / LISTING_BLOCK)]![4 * (k % LISTING_BLOCK)]!;
  }
  statAt(k: number, field: StatField): number {
    if (field === 'mode') return this.modes[Math.floor(k / LISTING_BLOCK)]![k % LISTING_BLOCK]!;
    return this.stats[Math.floor(k / LISTING_BLOCK)]![4 * (k % LISTING_BLOCK) + STAT_AT[field]]!;
  }
  paths(): PathSlabs {
    return this.names;
  }
}

/**
 * A file of a folder's listing, as asked for: its numbers are read there, its path made when first asked
 * for (recording the stat cache asks only for numbers), its absolute path joined.
 */
class DirectoryFile implements ListedFile {
  private relText?: string;
  constructor(
    private readonly table: FolderListing,
    private readonly k: number,
  ) {}
  get rel(): string {
    return (this.relText ??= this.table.relAt(this.k));
  }
  get size(): number {
    return this.table.sizeAt(this.k);
  }
  get mode(): number {
    return this.table.statAt(this.k, 'mode');
  }
  get mtimeMs(): number {
    return this.table.statAt(this.k, 'mtimeMs');
  }
  get ctimeMs(): number {
    return this.table.statAt(this.k, 'ctimeMs');
  }
  get ino(): number {
    return this.table.statAt(this.k, 'ino');
  }
  get abs(): string {
    return joinBelow(this.table.root, this.rel);
  }
}

/**
 * Regular files under a directory, sorted by path, as '/'-separated relative paths. Symlinks are refused.
 * Listed and stat'ed synchronously: through the thread pool, 10,000 small files cost 10,000 round trips
 * (~150 ms of a 1%-changed re-add with 64 stats in flight); statSync costs a few microseconds each.
 */
export async function listFiles(root: string): Promise<Listing> {
  const out = new FolderListing(root);
  const walk = (dir: string, prefix: string) => {
    const ents = fsSync.readdirSync(dir, { withFileTypes: true });
    // A folder sorts as its name and a '/': whole paths then come in encodeManifest's order ("a.txt"
    // before "a/b"), so the stat cache can walk a listing and a manifest side by side.
    const keyOf = (e: fsSync.Dirent) => (e.isDirectory() ? e.name + '/' : e.name);
    ents.sort((a, b) => (keyOf(a) < keyOf(b) ? -1 : keyOf(a) > keyOf(b) ? 1 : 0));
    for (const e of ents) {
      const abs = path.join(dir, e.name);
      if (e.name === REPO_DIR) continue;
      if (e.isDirectory()) walk(abs, prefix + e.name + '/');
      else if (e.isFile()) out.push(prefix + e.name, fsSync.statSync(abs));
      else throw new UsageError(`cannot snapshot ${abs}: only regular files and directories are supported (symlinks and devices are not)`);
    }
  };
  walk(root, '');
  return out;
}

export async function ingestPath(store: ObjectStore, target: string, opts: IngestOptions = {}): Promise<IngestResult> {
  const st = await fs.lstat(target).catch(() => null);
  if (!st) throw new UsageError(`no such file or directory: ${target}`);
  if (st.isSymbolicLink()) throw new UsageError(`${target} is a symlink; add the file it points at`);
  const isDir = st.isDirectory();
  if (!isDir && !st.isFile()) throw new UsageError(`${target} is not a regular file or directory`);
  const files = isDir ? await listFiles(target) : listingOf([listed(path.basename(target), target, st)]);
  const reusable = await opts.unchanged?.(files);
  let bytesTotal = 0;
  for (let k = 0; k < files.length; k++) bytesTotal += files.sizeAt(k);

  const progress: IngestProgress = { bytesDone: 0, bytesTotal, bytesNew: 0 };
  // Its table of chunks is sized for the files to be read: sized for all 400,000 of a folder where 1%
  // changed, the table's slots alone were ~4 MB, touched all over.
  const writer = new BoundedWriter(store, opts.writeConcurrency ?? 16, progress, undefined, files.length - (reusable?.count ?? 0));
  let chunks = 0;
  let reused = 0;
  // Packed over the listing's own paths: an entry object and a path string per file were ~100 bytes.
  const entries = PackedFiles.over(files.paths());
  const previousAt = indexByPath(opts.previous?.files ?? []);
  /** The chunker of the previous version's file at this path, if it had one. */
  const before = (rel: string) => {
    const i = previousAt(rel);
    return i === undefined ? undefined : opts.previous!.files.at(i)!.chunker;
  };
  /** Takes file k's entry from the previous version when the stat cache vouches for it (opts.unchanged). */
  const reuse = (k: number): boolean => {
    const same = reusable?.entryOf(k);
    if (!same) return false;
    const mode = files.statAt(k, 'mode');
    entries.set(k, same.mode === mode ? same : withMode(same, mode)); // its hash shared with the previous manifest
    reused++;
    chunks += chunkCount(same);
    progress.bytesDone += same.size;
    return true;
  };
  const choice = opts.chunker ?? 'auto';
  const smallBuf = Buffer.allocUnsafe(SMALL_FILE_BYTES + 1);
  /**
   * A small file read and hashed in this tick, its chunk queued for the store (ObjectWriter.queue: a copy
   * of the very bytes hashed, written to a temp and renamed by the thread pool). False, with nothing
   * stored, when the file needs the general path:
   * its head may be a tensor format's (CUTTERS' `may`), or its FastCDC parameters make it more than one chunk.
   */
  const ingestSmall = (k: number, f: ListedFile): boolean => {
    const prev = before(f.rel);
    const chunker = choice !== 'auto' ? (choice.alg === FASTCDC_ALG ? choice : null) : prev?.alg === FASTCDC_ALG && isValidChunker(prev) ? prev : DEFAULT_CHUNKER;
    if (!chunker || f.size > chunker.min || f.size > SMALL_FILE_BYTES) return false;
    const fd = fsSync.openSync(f.abs, 'r');
    let n = 0;
    try {
      // One byte more than listed: a file that grew since it was listed is noticed, as storeByCopy does.
      for (let got = -1; got !== 0 && n <= f.size; n += got) got = fsSync.readSync(fd, smallBuf, n, f.size + 1 - n, n);
    } finally {
      fsSync.closeSync(fd);
    }
    if (n !== f.size) throw new Error(`${f.abs} ${n > f.size ? 'grew' : 'shrank'} while it was being read`);
    const data = smallBuf.subarray(0, n);
    if (choice === 'auto' && CUTTERS.some((c) => c.may(data.subarray(0, 12), n))) return false;
    if (n > 0) {
      const hash = hashBytes(data);
      // Stored first: the entry's hash goes into the writer's table of chunks seen, and storeSync skips a chunk seen.
      if (opts.storeChunks !== false) writer.storeSync(hash, data);
      entries.set(k, manifestFile(f.rel, n, f.mode, chunker, [hash], [n], writer.seen));
      chunks++;
    } else entries.set(k, manifestFile(f.rel, 0, f.mode, chunker, [], []));
    progress.bytesDone += n;
    return true;
  };
  const ingestFile = async (k: number) => {
    if (reuse(k)) {
      opts.onProgress?.(progress);
      return;
    }
    const f = files.at(k);
    const { chunker, lengths } = await chooseCutter(f.abs, f.size, opts.chunker ?? 'auto', before(f.rel));
    const entry = { chunks: [] as string[], sizes: [] as number[], size: 0 };
    const done = () => entries.set(k, manifestFile(f.rel, entry.size, f.mode, chunker, entry.chunks, entry.sizes, writer.seen));
    // Chunks go into the store off the main thread (store-by-copy.ts): planned cuts as planned,
    // FastCDC's as the chunker finds them. A new version of a file is hashed first, so that the
    // chunks it shares with the last version (most of them) are never written at all; push --from-file
    // (storeChunks false) only hashes.
    if (nativeStore) {
      const mode: StoreMode = opts.storeChunks === false ? 'hash-only' : before(f.rel) ? 'hash-first' : 'store';
      // A FastCDC file no longer than the chunker's min is one chunk (§2.1): no chunker, no slab.
      const planned = lengths ?? (chunker.alg === FASTCDC_ALG && f.size <= chunker.min ? (f.size > 0 ? [f.size] : []) : undefined);
      if (planned) entry.sizes = [...planned];
      const cuts = planned ?? rangesOf(chunkFile(f.abs, chunker), entry.sizes);
      entry.chunks = await writer.storeByCopy(f.abs, cuts, mode, opts.onProgress);
      entry.size = entry.sizes.reduce((a, b) => a + b, 0);
      chunks += entry.chunks.length;
      done();
      return;
    }
    for await (const c of chunkFile(f.abs, chunker, undefined, lengths)) {
      const hash = hashBytes(c.data);
      entry.chunks.push(hash);
      entry.sizes.push(c.data.length);
      entry.size += c.data.length;
      chunks++;
      if (opts.storeChunks !== false) await writer.add(hash, c);
      progress.bytesDone += c.data.length;
      opts.onProgress?.(progress);
    }
    done();
  };
  try {
    // Runs of small files go in synchronous batches (ingestSmall); large files one at a time, each
    // already parallel inside.
    for (let k = 0; k < files.length; ) {
      let end = k;
      while (end < files.length && files.sizeAt(end) <= SMALL_FILE_BYTES) end++;
      if (end === k) {
        await ingestFile(k++);
        continue;
      }
      const handedBack: number[] = [];
      let batchFiles = 0;
      let batchBytes = 0;
      for (let i = k; i < end; i++) {
        if (!reuse(i) && !ingestSmall(i, files.at(i))) handedBack.push(i);
        batchBytes += files.sizeAt(i);
        if (++batchFiles >= BATCH_FILES || batchBytes >= BATCH_BYTES || i === end - 1) {
          opts.onProgress?.(progress);
          await writer.drain();
          await new Promise((r) => setImmediate(r));
          batchFiles = batchBytes = 0;
        }
      }
      await runBounded(handedBack, SMALL_FILES_IN_FLIGHT, ingestFile);
      k = end;
    }
    await writer.flush();
  } catch (e) {
    await writer.flush().catch(() => {});
    throw e;
  }
  const manifest: Manifest = { format: 1, type: isDir ? 'dir' : 'file', files: entries };
  const manifestHash = await store.putParts('manifest', encodeManifestParts(manifest, undefined, true));
  return { manifest, manifestHash, bytes: progress.bytesDone, bytesNew: progress.bytesNew, chunks, chunksNew: writer.written, files, filesRead: files.length - reused };
}

/**
 * The chunks a file would be cut into with `params` (tensor-aware params fall back to nothing when the
 * file is not in that format, so no time is spent hashing cuts that cannot match), with their hashes.
 */
export async function* hashChunks(file: string, params: ChunkerParams): AsyncGenerator<{ offset: number; size: number; hash: string }> {
  const st = await fs.stat(file);
  const { chunker, lengths } = await chooseCutter(file, st.size, params);
  if (chunker.alg !== params.alg) return;
  for await (const c of chunkFile(file, chunker, undefined, lengths)) yield { offset: c.offset, size: c.data.length, hash: hashBytes(c.data) };
}

/**
 * The tensor-aware cutters, tried in order; each returns chunk lengths, or null if the file is not its
 * format. `may` looks at the file's first 12 bytes (fewer for a shorter file) and its size: a file it
 * refuses cannot be of that format, so its cutter, which opens and reads the file, is not asked.
 */
const CUTTERS: { alg: string; defaults: ChunkerParams; may(head: Buffer, size: number): boolean; cuts(file: string, size: number, p: ChunkerParams): Promise<number[] | null> }[] = [
  {
    alg: SAFETENSORS_ALG,
    defaults: DEFAULT_SAFETENSORS_CHUNKER,
    // A little-endian header length that fits the file, then the header's '{'.
    may: (h, n) => h.length >= 9 && h[8] === 0x7b && Number(h.readBigUInt64LE(0)) + 8 <= n,
    cuts: async (f, n, p) => map(await safetensorsLayout(f, n), (l) => safetensorsCuts(l, p)),
  },
  {
    alg: PYTORCH_ZIP_ALG,
    defaults: DEFAULT_PYTORCH_ZIP_CHUNKER,
    // torch.save writes a zip from offset 0: a local file header first.
    may: (h) => h.length >= 4 && h.readUInt32LE(0) === 0x04034b50,
    cuts: async (f, n, p) => map(await pytorchZipLayout(f, n), (l) => pytorchZipCuts(l, p)),
  },
  {
    alg: GGUF_ALG,
    defaults: DEFAULT_GGUF_CHUNKER,
    may: (h) => h.length >= 4 && h.readUInt32LE(0) === 0x46554747, // "GGUF"
    cuts: async (f, n, p) => map(await ggufLayout(f, n), (l) => ggufCuts(l, p)),
  },
];

/** The first 12 bytes of a file (fewer when it is shorter), for the cutters' `may`. */
async function headOf(file: string, size: number): Promise<Buffer> {
  const head = Buffer.alloc(Math.min(12, size));
  if (head.length === 0) return head;
  const fh = await fs.open(file, 'r');
  try {
    return head.subarray(0, await readFully(fh, head, 0));
  } finally {
    await fh.close();
  }
}
const map = <T, R>(x: T | null, f: (x: T) => R): R | null => (x === null ? null : f(x));

/**
 * Tensor-aware cutting for formats whose layout we can read and trust; FastCDC for everything else.
 * With 'auto', the previous version's parameters win over the defaults when they are for the same algorithm.
 */
async function chooseCutter(file: string, size: number, choice: ChunkerParams | 'auto', previous?: ChunkerParams): Promise<{ chunker: ChunkerParams; lengths?: number[] }> {
  if (choice !== 'auto' && choice.alg === FASTCDC_ALG) return { chunker: choice };
  const prior = (alg: string) => (choice === 'auto' && previous?.alg === alg && isValidChunker(previous) ? previous : null);
  const head = await headOf(file, size);
  for (const c of CUTTERS) {
    if (choice !== 'auto' && choice.alg !== c.alg) continue;
    if (!c.may(head, size)) continue;
    const params = choice === 'auto' ? (prior(c.alg) ?? c.defaults) : choice;
    const lengths = await c.cuts(file, size, params);
    if (lengths) return { chunker: params, lengths };
  }
  return { chunker: prior(FASTCDC_ALG) ?? DEFAULT_CHUNKER };
}

function isValidChunker(p: ChunkerParams): boolean {
  try {
    validateChunker(p);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes new chunks with bounded bytes and writes in flight. Chunks are held in the reader's buffers
 * (no copy) until written; the existence check runs inside the write task so it never stalls reading.
 */
class BoundedWriter {
  private readonly inFlight = new Set<Promise<void>>();
  /**
   * Every chunk this ingest stored, as bytes (a Set of 400,000 hashes was ~40 MB at the end of an add);
   * its one-chunk entries keep their hashes here too (manifestFile), after the chunk is stored.
   */
  readonly seen: ChunkTable;
  private readonly objects: ObjectWriter;
  private failure: unknown = null;
  private bytesInFlight = 0;
  written = 0;
  constructor(
    private readonly store: ObjectStore,
    private readonly limit: number,
    private readonly progress: IngestProgress,
    // 4 MiB queued keeps the 4 libuv threads that run the writes busy; each queued chunk pins its whole
    // read slab, so 16 MiB held ~20 MiB more (1 GiB add: 115 -> 95 MiB; FastCDC on both cores
    // 157 -> 136 MiB) for no measurable speed.
    private readonly limitBytes = 4 << 20,
    expectedChunks = 64,
  ) {
    this.objects = new ObjectWriter(store);
    this.seen = new ChunkTable(expectedChunks);
  }

  /** Queues the chunk for writing unless this ingest already saw it. */
  async add(hash: string, chunk: RawChunk): Promise<void> {
    if (this.failure) throw this.failure;
    if (this.seen.has(hash)) return;
    this.seen.add(hash, chunk.data.length);
    while (this.inFlight.size > 0 && (this.inFlight.size >= this.limit || this.bytesInFlight >= this.limitBytes)) await Promise.race(this.inFlight);
    if (this.failure) throw this.failure;
    const release = chunk.hold();
    const data = chunk.data;
    this.bytesInFlight += data.length;
    const p: Promise<void> = this.objects
      .write('chunk', hash, data)
      .then((isNew) => {
        if (!isNew) return;
        this.written++;
        this.progress.bytesNew += data.length;
      })
      .catch((e) => {
        this.failure ??= e;
      })
      .finally(() => {
        release();
        this.bytesInFlight -= data.length;
        this.inFlight.delete(p);
      });
    this.inFlight.add(p);
  }

  /**
   * Stores a small file's one chunk (ingestSmall), counted like add()'s: decided in this tick, written by
   * a batch on the thread pool (ObjectWriter.queue; flush() waits for it).
   */
  storeSync(hash: string, data: Uint8Array): void {
    if (this.failure) throw this.failure;
    if (this.seen.has(hash)) return;
    this.seen.add(hash, data.length);
    if (!this.objects.queue('chunk', hash, data)) return;
    this.written++;
    this.progress.bytesNew += data.length;
  }

  /**
   * Stores a file's chunks through the addon (store-by-copy.ts), counted like add()'s; returns their
   * hashes. `cuts`: planned lengths, or ranges as a chunker finds them.
   */
  async storeByCopy(file: string, cuts: number[] | AsyncIterable<ChunkRange>, mode: StoreMode, onProgress?: (p: IngestProgress) => void): Promise<string[]> {
    await this.flush(); // one file's writes at a time: a failure surfaces in the file that caused it
    const onChunk = (c: CopiedChunk) => {
      if (c.isNew) {
        this.written++;
        this.progress.bytesNew += c.size;
      }
      this.progress.bytesDone += c.size;
      onProgress?.(this.progress);
    };
    return Array.isArray(cuts)
      ? storeByCopy(this.objects, file, cuts, this.seen, onChunk, mode)
      : storeRanges(this.objects, file, cuts, this.seen, onChunk, mode);
  }

  async flush(): Promise<void> {
    await Promise.all(this.inFlight);
    await this.objects.flush().catch((e) => void (this.failure ??= e));
    if (this.failure) throw this.failure;
  }

  /** Waits while the small objects queued fill two batches being written (storeSync does not wait). */
  async drain(): Promise<void> {
    await this.objects.drain();
  }
}
