// A manifest's file entries (manifest-spec.md, "Manifests"): the ManifestFile record, the compact form of a
// file of one chunk, and PackedFiles, a decoded manifest's files held as columns rather than as an object
// each. manifest.ts encodes and decodes them.

import type { ChunkTable } from './chunk-table.js';
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
    private readonly kind: FileKind,
    private readonly holder: HashHolder,
    private readonly at: number,
  ) {}
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
 * A decoded manifest's files as columns: each path as UTF-8 bytes in shared slabs, and for a file of one
 * chunk its chunk's id in the manifest's ChunkTable and its kind (chunker, mode) as a number; other files
 * (several chunks, or none) are kept as entries. ~30 bytes a small file, where an entry object, its path
 * string and its slot in an array took ~104: 400,000 small files held ~42 MB so. An entry is made when
 * asked for (at, iteration), each time anew: index files by number, not by entry.
 */
export class PackedFiles implements FileList {
  length = 0;
  /** Whether the paths are in strictly increasing order (as encodeManifest writes them): set by the decoder. */
  sorted = true;
  private readonly paths: PathSlabs;
  /** A one-chunk file's chunk id, or ~n for others[n]. */
  private readonly ref: Int32Array;
  private readonly kindAt: Uint16Array;
  private readonly kinds: FileKind[] = [];
  private readonly kindIds = new Map<FileKind, number>();
  private readonly others: ManifestFile[] = [];

  constructor(
    /** The manifest's chunks; one-chunk files refer to theirs by id. */
    readonly table: ChunkTable,
    capacity: number,
  ) {
    this.paths = new PathSlabs(capacity);
    this.ref = new Int32Array(capacity);
    this.kindAt = new Uint16Array(capacity);
  }

  /** Adds a file of one chunk, `id` in the table (its size is the chunk's). */
  pushOne(path: string, kind: FileKind, id: number): void {
    let k = this.kindIds.get(kind);
    if (k === undefined && this.kinds.length < 0x10000) this.kindIds.set(kind, (k = this.kinds.push(kind) - 1));
    if (k === undefined) return this.pushOther(new OneChunkFile(path, this.table.sizeOf(id), kind, this.table, id));
    this.kindAt[this.length] = k;
    this.ref[this.length] = id;
    this.pushPath(path);
  }

  /** Adds any other file, kept as it is. */
  pushOther(f: ManifestFile): void {
    this.ref[this.length] = ~this.others.length;
    this.others.push(f);
    this.pushPath(f.path);
  }

  private pushPath(p: string): void {
    if (this.length === this.ref.length) throw new Error(`more files than the ${this.ref.length} a packed list was made for`);
    this.length = this.paths.push(p) + 1;
  }

  /** File i's path. */
  pathAt(i: number): string {
    return this.paths.at(i);
  }

  /** File i's chunk id in the table when it is a file of one chunk, else -1. */
  oneChunkId(i: number): number {
    const r = this.ref[i]!;
    return r >= 0 ? r : -1;
  }

  at(i: number): ManifestFile | undefined {
    if (i < 0) i += this.length;
    if (!(i >= 0 && i < this.length)) return undefined;
    const r = this.ref[i]!;
    if (r < 0) return this.others[~r]!;
    return new OneChunkFile(this.pathAt(i), this.table.sizeOf(r), this.kinds[this.kindAt[i]!]!, this.table, r);
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

/** File i's path, without making its entry when the list is packed. */
export function pathAt(files: FileList, i: number): string {
  return files instanceof PackedFiles ? files.pathAt(i) : files.at(i)!.path;
}
