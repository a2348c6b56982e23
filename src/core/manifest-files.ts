// A manifest's file entries (manifest-spec.md, "Manifests"): the ManifestFile record, the compact form of a
// file of one chunk, and PackedFiles, a decoded manifest's files held as columns rather than as an object
// each. manifest.ts encodes and decodes them.

import { ChunkTable } from './chunk-table.js';
import type { ChunkerParams } from './chunker.js';
import { PathSlabs } from './path-slabs.js';

export interface ManifestFile {
  /** '/'-separated path relative to the snapshot root; for a single-file snapshot, its base name. */
  path: string;
  size: number;
  /** Permission bits (e.g. 0o644). */
  mode: number;
  chunker: ChunkerParams;
  /** Chunk hashes in file order (lowercase hex). */
  readonly chunks: readonly string[];
  /** Chunk sizes, parallel to chunks. */
  readonly sizes: readonly number[];
}

/**
 * A file of one chunk, as most files of a folder of small files are: its chunk's hash is held as bytes
 * elsewhere (an id in a decoded manifest's or an ingest's ChunkTable, or a place in a slab), and it makes
 * the one-item lists when asked. Two arrays and a 64-character string per file were ~190 of the ~310
 * bytes each of 400,000 small files held in memory. The lists are getters, so copy it with withMode, not
 * a spread.
 */
export class OneChunkFile implements ManifestFile {
  constructor(
    readonly path: string,
    readonly size: number,
    readonly kind: FileKind,
    private readonly holder: HashHolder,
    private readonly at: number,
  ) {}
  /** Where its hash is held, and at which place there (PackedFiles keeps the two). */
  heldIn(): [HashHolder, number] {
    return [this.holder, this.at];
  }
  get mode(): number {
    return this.kind.mode;
  }
  get chunker(): ChunkerParams {
    return this.kind.chunker;
  }
  /** The chunk's hash (a new string each call). */
  get hash(): string {
    return this.holder.hexAt(this.at);
  }
  /** The hash's bytes, a view of where they are held (for encoding, with no hex string made). */
  rawHash(): Buffer {
    return this.holder.rawAt(this.at);
  }
  get chunks(): readonly string[] {
    return [this.hash];
  }
  get sizes(): readonly number[] {
    return [this.size];
  }
}

/** What many files share, held once for all of them. */
export interface FileKind {
  readonly chunker: ChunkerParams;
  readonly mode: number;
}

const kinds = new Map<ChunkerParams, Map<number, FileKind>>();
export function kindOf(chunker: ChunkerParams, mode: number): FileKind {
  let byMode = kinds.get(chunker);
  // Kept for the few chunkers seen (decoded ones are shared per manifest); past 64, each file gets its own.
  if (!byMode && kinds.size < 64) kinds.set(chunker, (byMode = new Map()));
  let kind = byMode?.get(mode);
  if (!kind) {
    kind = { chunker, mode };
    byMode?.set(mode, kind);
  }
  return kind;
}

/** Where one-chunk files' hashes are held as bytes: a slab of built entries, or a decoded manifest's ChunkTable (at: the id). */
interface HashHolder {
  hexAt(at: number): string;
  rawAt(at: number): Buffer;
}

/** Hashes of one-chunk files built one by one (ingest), 2,048 to a slab. */
class HashSlab implements HashHolder {
  static current = new HashSlab();
  readonly bytes = Buffer.allocUnsafeSlow(64 << 10);
  used = 0;
  hexAt(at: number): string {
    return this.bytes.toString('hex', at, at + 32);
  }
  rawAt(at: number): Buffer {
    return this.bytes.subarray(at, at + 32);
  }
  /** Room for one more hash: its slab and offset. */
  static next(): [HashSlab, number] {
    let slab = HashSlab.current;
    if (slab.used === slab.bytes.length) HashSlab.current = slab = new HashSlab();
    slab.used += 32;
    return [slab, slab.used - 32];
  }
}

const isHash = (h: string) => h.length === 64 && /^[0-9a-f]{64}$/.test(h);

/**
 * A manifest file entry; one of a single chunk takes the compact form, its hash held in `table` when
 * given (an ingest's table of the chunks it stored: one copy of each hash), else in a slab.
 */
export function manifestFile(path: string, size: number, mode: number, chunker: ChunkerParams, chunks: readonly string[], sizes: readonly number[], table?: ChunkTable): ManifestFile {
  if (chunks.length === 1 && sizes.length === 1 && sizes[0] === size && isHash(chunks[0]!)) {
    if (table) return new OneChunkFile(path, size, kindOf(chunker, mode), table, table.add(chunks[0]!, size));
    const [slab, at] = HashSlab.next();
    slab.bytes.write(chunks[0]!, at, 32, 'hex');
    return new OneChunkFile(path, size, kindOf(chunker, mode), slab, at);
  }
  return { path, size, mode, chunker, chunks, sizes };
}

/** How many chunks a file has, without the list a compact entry makes when asked. */
export function chunkCount(f: ManifestFile): number {
  return f instanceof OneChunkFile ? 1 : f.chunks.length;
}

/** A file's chunks in order with their sizes, without the lists a compact entry makes when asked. */
export function eachChunk(f: ManifestFile, fn: (hash: string, size: number, k: number) => void): void {
  if (f instanceof OneChunkFile) return fn(f.hash, f.size, 0);
  const { chunks, sizes } = f;
  for (let k = 0; k < chunks.length; k++) fn(chunks[k]!, sizes[k]!, k);
}

/** The same entry with another mode (a spread would drop a compact entry's lists). */
export function withMode(f: ManifestFile, mode: number): ManifestFile {
  return manifestFile(f.path, f.size, mode, f.chunker, f.chunks, f.sizes);
}

/**
 * A manifest's files in path order, as consumers read them: an array (a manifest being built), or a
 * decoded manifest's PackedFiles. Index with at(i), not [i].
 */
export interface FileList extends Iterable<ManifestFile> {
  readonly length: number;
  at(i: number): ManifestFile | undefined;
  entries(): IterableIterator<[number, ManifestFile]>;
  map<U>(fn: (f: ManifestFile, i: number) => U): U[];
  filter(fn: (f: ManifestFile, i: number) => boolean): ManifestFile[];
  find(fn: (f: ManifestFile, i: number) => boolean): ManifestFile | undefined;
  some(fn: (f: ManifestFile, i: number) => boolean): boolean;
  every(fn: (f: ManifestFile, i: number) => boolean): boolean;
  forEach(fn: (f: ManifestFile, i: number) => void): void;
  reduce<U>(fn: (acc: U, f: ManifestFile, i: number) => U, initial: U): U;
}

/**
 * A manifest's files as columns: each path as UTF-8 bytes in shared slabs (PathSlabs), and for a file of
 * one chunk its chunk's id in a ChunkTable and its kind (chunker, mode) as numbers; other files (several
 * chunks, or none) are kept as entries. ~7 bytes a small file besides its path, where an entry object, its
 * path string and its slot in an array took ~104: 400,000 small files held ~42 MB so. An entry is made
 * when asked for (at, iteration), each time anew: index files by number, not by entry.
 * A decoded manifest's list is filled in order (pushOne, pushOther); a list built by add is made over
 * its listing's paths and filled in any order (set).
 */
export class PackedFiles implements FileList {
  length = 0;
  private order: boolean | undefined;
  /** A one-chunk file's chunk id in holders[holderAt[i]], or ~n for others[n]; UNSET before set. */
  private readonly ref: Int32Array;
  private readonly holderAt: Uint8Array;
  private readonly holders: ChunkTable[] = [];
  private readonly kindAt: Uint16Array;
  private readonly kinds: FileKind[] = [];
  private readonly kindIds = new Map<FileKind, number>();
  private readonly others: ManifestFile[] = [];

  private constructor(
    private readonly paths: PathSlabs,
    capacity: number,
    /** A decoded manifest's chunks, each once (chunkTableOf answers with it); undefined for a built list. */
    readonly table: ChunkTable | undefined,
  ) {
    this.ref = new Int32Array(capacity).fill(UNSET);
    this.holderAt = new Uint8Array(capacity);
    this.kindAt = new Uint16Array(capacity);
  }

  /** An empty list for a decoder to push `capacity` files to, in order; their chunks are in `table`. */
  static decoding(table: ChunkTable, capacity: number): PackedFiles {
    const files = new PackedFiles(new PathSlabs(capacity), capacity, table);
    files.order = true;
    return files;
  }

  /** A list of the files at `paths`, in that order, each to be given once with set(). */
  static over(paths: PathSlabs): PackedFiles {
    const files = new PackedFiles(paths, paths.length, undefined);
    files.length = paths.length;
    return files;
  }

  /**
   * Whether the paths are in strictly increasing order (as encodeManifest writes them): set by a decoder
   * as it checks them, found on first asking for a built list.
   */
  get sorted(): boolean {
    if (this.order === undefined) {
      let previous = this.length ? this.pathAt(0) : '';
      this.order = true;
      for (let i = 1; i < this.length && this.order; i++) {
        const p = this.pathAt(i);
        this.order = previous < p;
        previous = p;
      }
    }
    return this.order;
  }

  set sorted(v: boolean) {
    this.order = v;
  }

  /** Adds a file of one chunk, `id` in the table (its size is the chunk's). */
  pushOne(path: string, kind: FileKind, id: number): void {
    this.setOne(this.pushPath(path), kind, this.table!, id);
  }

  /** Adds any other file, kept as it is. */
  pushOther(f: ManifestFile): void {
    this.setOther(this.pushPath(f.path), f);
  }

  /** Gives file i (of a list made over its paths) its entry: a one-chunk file held in a ChunkTable is packed, another kept as it is. */
  set(i: number, f: ManifestFile): void {
    if (this.ref[i] !== UNSET) throw new Error(`file ${i} of a packed list was given twice`);
    if (f instanceof OneChunkFile) {
      const [holder, at] = f.heldIn();
      // Its size is read back from the table: kept as an entry should the table hold another.
      if (holder instanceof ChunkTable && holder.sizeOf(at) === f.size) return this.setOne(i, f.kind, holder, at);
    }
    this.setOther(i, f);
  }

  private setOne(i: number, kind: FileKind, holder: ChunkTable, id: number): void {
    let k = this.kindIds.get(kind);
    if (k === undefined && this.kinds.length < 0x10000) this.kindIds.set(kind, (k = this.kinds.push(kind) - 1));
    let h = this.holders.lastIndexOf(holder);
    if (h === -1 && this.holders.length < 0x100) h = this.holders.push(holder) - 1;
    if (k === undefined || h === -1) return this.setOther(i, new OneChunkFile(this.pathAt(i), holder.sizeOf(id), kind, holder, id));
    this.kindAt[i] = k;
    this.holderAt[i] = h;
    this.ref[i] = id;
  }

  private setOther(i: number, f: ManifestFile): void {
    this.ref[i] = ~this.others.length;
    this.others.push(f);
  }

  private pushPath(p: string): number {
    if (this.length === this.ref.length) throw new Error(`more files than the ${this.ref.length} a packed list was made for`);
    this.length = this.paths.push(p) + 1;
    return this.length - 1;
  }

  /** File i's path. */
  pathAt(i: number): string {
    return this.paths.at(i);
  }

  /** File i's chunk id in `table` when it is a file of one chunk held there (a decoded manifest's), else -1. */
  oneChunkId(i: number): number {
    const r = this.ref[i]!;
    return r >= 0 && r !== UNSET && this.holders[this.holderAt[i]!] === this.table ? r : -1;
  }

  at(i: number): ManifestFile | undefined {
    if (i < 0) i += this.length;
    if (!(i >= 0 && i < this.length)) return undefined;
    const r = this.ref[i]!;
    if (r === UNSET) throw new Error(`file ${i} of a packed list was never given`);
    if (r < 0) return this.others[~r]!;
    const holder = this.holders[this.holderAt[i]!]!;
    return new OneChunkFile(this.pathAt(i), holder.sizeOf(r), this.kinds[this.kindAt[i]!]!, holder, r);
  }

  *[Symbol.iterator](): IterableIterator<ManifestFile> {
    for (let i = 0; i < this.length; i++) yield this.at(i)!;
  }

  *entries(): IterableIterator<[number, ManifestFile]> {
    for (let i = 0; i < this.length; i++) yield [i, this.at(i)!];
  }

  map<U>(fn: (f: ManifestFile, i: number) => U): U[] {
    const out = new Array<U>(this.length);
    for (let i = 0; i < this.length; i++) out[i] = fn(this.at(i)!, i);
    return out;
  }

  filter(fn: (f: ManifestFile, i: number) => boolean): ManifestFile[] {
    const out: ManifestFile[] = [];
    for (let i = 0; i < this.length; i++) {
      const f = this.at(i)!;
      if (fn(f, i)) out.push(f);
    }
    return out;
  }

  find(fn: (f: ManifestFile, i: number) => boolean): ManifestFile | undefined {
    for (let i = 0; i < this.length; i++) {
      const f = this.at(i)!;
      if (fn(f, i)) return f;
    }
    return undefined;
  }

  some(fn: (f: ManifestFile, i: number) => boolean): boolean {
    return this.find(fn) !== undefined;
  }

  every(fn: (f: ManifestFile, i: number) => boolean): boolean {
    return !this.some((f, i) => !fn(f, i));
  }

  forEach(fn: (f: ManifestFile, i: number) => void): void {
    for (let i = 0; i < this.length; i++) fn(this.at(i)!, i);
  }

  reduce<U>(fn: (acc: U, f: ManifestFile, i: number) => U, initial: U): U {
    let acc = initial;
    for (let i = 0; i < this.length; i++) acc = fn(acc, this.at(i)!, i);
    return acc;
  }
}

/** ref of a file not given yet (an id is never this large: a manifest has at most a million files). */
const UNSET = 0x7fffffff;

/** File i's path, without making its entry when the list is packed. */
export function pathAt(files: FileList, i: number): string {
  return files instanceof PackedFiles ? files.pathAt(i) : files.at(i)!.path;
}
