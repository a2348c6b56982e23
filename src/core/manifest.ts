// Manifests: a snapshot of one file or a directory (manifest-spec.md, "Manifests"). Encoded with
// msgpack deterministically — same content, same bytes — so the BLAKE3 hash of the encoding is the
// snapshot id. Decoding validates everything a hostile manifest could abuse before anything is written.

import path from 'node:path';
import { Packr, RESET_BUFFER_MODE } from 'msgpackr';
import { IntegrityError, UnsafePathError } from '../errors.js';
import { ChunkTable } from './chunk-table.js';
import { FASTCDC_ALG, SAFETENSORS_ALG, validateChunker, type ChunkerParams } from './chunker.js';

export const MANIFEST_FORMAT = 1;
/** Caps that keep a hostile manifest from exhausting memory. */
export const MANIFEST_LIMITS = {
  bytes: 512 << 20,
  files: 1_000_000,
  pathBytes: 4096,
  chunkBytes: 1 << 30,
  fileBytes: 2 ** 50,
};

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
class OneChunkFile implements ManifestFile {
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
interface FileKind {
  readonly chunker: ChunkerParams;
  readonly mode: number;
}

const kinds = new Map<ChunkerParams, Map<number, FileKind>>();
function kindOf(chunker: ChunkerParams, mode: number): FileKind {
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

/**
 * Each decoded manifest's chunks, by its files list: its one-chunk files hold their hashes there, and
 * chunkTableOf answers with it instead of building another (a list of other files, as selectFiles
 * makes, has none).
 */
const decodedTables = new WeakMap<readonly ManifestFile[], ChunkTable>();

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

export interface Manifest {
  format: number;
  type: 'file' | 'dir';
  files: ManifestFile[];
}

const packr = new Packr({ useRecords: false, variableMapSize: true, int64AsType: 'number', mapsAsObjects: true });

const int = (n: number) => (n >= 2 ** 32 ? BigInt(n) : n);

/**
 * The same bytes as packing the whole manifest at once, packed one file record at a time: packing it whole
 * grew packr's buffer up to four times over as it went, hundreds of MB for the 53 MB manifest of 400,000
 * small files. encodeManifestParts yields it in pieces of about a megabyte, for a caller that hashes and
 * writes as it goes (ObjectStore.putParts) and so never holds it whole.
 */
export function encodeManifest(m: Manifest): Buffer {
  return Buffer.concat([...encodeManifestParts(m)]);
}

/** `reuse`: each part is written into the same buffer, valid until the next is asked for (putParts takes them so). */
export function* encodeManifestParts(m: Manifest, partBytes = 1 << 20, reuse = false): Generator<Buffer> {
  const files = [...m.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  // The map with an empty files list ends in its array header, 0x90; the real header replaces it.
  const head = packr.pack({ format: MANIFEST_FORMAT, type: m.type, files: [] });
  const first = Buffer.allocUnsafe(head.length + 4);
  yield first.subarray(0, writeArrayHeader(first, head.copy(first, 0, 0, head.length - 1), files.length));
  let part = Buffer.allocUnsafe(partBytes);
  let at = 0;
  for (const f of files) {
    // Copied out at once: packr reuses its buffer for the next record.
    const record = packr.pack(fileRecord(f), RESET_BUFFER_MODE);
    if (at + record.length > part.length) {
      if (at) yield part.subarray(0, at);
      if (!reuse || record.length > part.length) part = Buffer.allocUnsafe(Math.max(partBytes, record.length));
      at = 0;
    }
    at += record.copy(part, at);
  }
  if (at) yield part.subarray(0, at);
}

function fileRecord(f: ManifestFile) {
  return {
    path: f.path,
    size: int(f.size),
    mode: f.mode & 0o7777,
    chunker: { alg: f.chunker.alg, min: f.chunker.min, avg: f.chunker.avg, max: f.chunker.max },
    chunks: f instanceof OneChunkFile ? f.rawHash() : Buffer.from(f.chunks.join(''), 'hex'),
    sizes: f.sizes.map(int),
  };
}

/** A msgpack array header for `n` items, as packr writes it (fixarray, array 16, array 32). */
function writeArrayHeader(out: Buffer, at: number, n: number): number {
  if (n < 0x10) return out.writeUInt8(0x90 | n, at);
  if (n < 0x10000) return out.writeUInt16BE(n, out.writeUInt8(0xdc, at));
  return out.writeUInt32BE(n, out.writeUInt8(0xdd, at));
}

export function decodeManifest(data: Buffer, id = 'manifest'): Manifest {
  const decoder = new ManifestDecoder(id);
  decoder.push(data);
  return decoder.end();
}

const NIL = Buffer.from([0xc0]);

/**
 * A manifest from a local store, decoded as it is read a megabyte at a time and verified against its hash
 * (ObjectStore.readPieces): its bytes are never whole in memory beside its decoded files.
 */
export async function readStoredManifest(store: ManifestSource, hash: string): Promise<Manifest> {
  const decoder = new ManifestDecoder(`manifest ${hash}`);
  await store.readPieces('manifest', hash, (piece) => decoder.push(piece));
  return decoder.end();
}

/** readStoredManifest of a manifest's chunks only (ManifestDecoder, chunksOnly). */
export async function readStoredManifestChunks(store: ManifestSource, hash: string): Promise<ChunkTable> {
  const decoder = new ManifestDecoder(`manifest ${hash}`, true);
  await store.readPieces('manifest', hash, (piece) => decoder.push(piece));
  return decoder.endChunks();
}

/** A local store, as far as reading a manifest needs one (ObjectStore.readPieces). */
interface ManifestSource {
  readPieces(kind: 'manifest', hash: string, take: (piece: Buffer) => void): Promise<void>;
}

/** Enough bytes to know whether a manifest starts as encodeManifest writes it (canonicalHead). */
const HEAD_BYTES = 64;

/**
 * Decodes a manifest from its bytes in pieces as they come (a file read or a download a megabyte at a
 * time): the 53 MB of a manifest of 400,000 small files are never whole in memory beside its decoded files.
 * Records are unpacked and checked one at a time; a record cut by the end of a piece waits for the next.
 * A manifest not written as encodeManifest writes it is gathered whole and decoded at the end.
 */
export class ManifestDecoder {
  private bytes = 0;
  /** Pieces before the start is known, or all of a manifest decoded whole. */
  private early: Buffer[] = [];
  private whole = false;
  private records: { type: Manifest['type']; files: ManifestFile[]; count: number; n: number; read: (f: any, i: number) => ManifestFile | null; table: ChunkTable; seen: Set<string>; pending: Buffer } | null = null;

  /**
   * `chunksOnly`: every record is checked as always, but no file entry is built, only the table of chunks
   * (endChunks): what a push needs of the remote's manifests (~70 bytes a file fewer).
   */
  constructor(
    private readonly id = 'manifest',
    private readonly chunksOnly = false,
  ) {}

  push(piece: Buffer): void {
    try {
      this.bytes += piece.length;
      if (this.bytes > MANIFEST_LIMITS.bytes) throw new IntegrityError(`${this.id} is larger than ${MANIFEST_LIMITS.bytes} bytes`);
      if (this.records) return this.unpack(piece);
      this.early.push(piece);
      if (!this.whole && this.bytes >= HEAD_BYTES) this.start();
    } catch (e) {
      packr.unpack(NIL);
      throw e;
    }
  }

  end(): Manifest {
    if (this.chunksOnly) throw new Error('a chunks-only decoder ends with endChunks()');
    return this.finish().manifest!;
  }

  /** Every distinct chunk of the manifest with its size (ids in order of first occurrence). */
  endChunks(): ChunkTable {
    return this.finish().table;
  }

  private finish(): { manifest?: Manifest; table: ChunkTable } {
    try {
      if (!this.records && !this.whole) this.start();
      if (!this.records) {
        const manifest = decodeWhole(Buffer.concat(this.early), this.id);
        return { manifest, table: chunkTableOf(manifest) };
      }
      const r = this.records;
      if (r.pending.length || r.n !== r.count) throw this.invalid();
      checkNoFileUnderFile(this.id, r.seen);
      if (this.chunksOnly) return { table: r.table };
      decodedTables.set(r.files, r.table);
      return { manifest: { format: MANIFEST_FORMAT, type: r.type, files: r.files }, table: r.table };
    } finally {
      // msgpackr keeps the last buffer it read (and a DataView of it) in module variables: the 58 MB
      // manifest of 400,000 small files stayed in memory until the next decode. A nil replaces it.
      packr.unpack(NIL);
    }
  }

  private start(): void {
    const data = Buffer.concat(this.early);
    const head = canonicalHead(data);
    if (!head) return void ((this.whole = true), (this.early = [data]));
    // Written as encodeManifest writes: the records after the list's header are unpacked one by one, and
    // each raw record dropped as soon as it is checked.
    checkCount(head.type, head.count, this.bad);
    const seen = new Set<string>();
    const table = new ChunkTable(head.count);
    const files = this.chunksOnly ? [] : new Array<ManifestFile>(head.count);
    this.records = { type: head.type, files, count: head.count, n: 0, read: fileReader(head.type, this.id, this.bad, seen, table, !this.chunksOnly), table, seen, pending: Buffer.alloc(0) };
    this.early = [];
    this.unpack(data.subarray(head.offset));
  }

  private unpack(piece: Buffer): void {
    const r = this.records!;
    const data = r.pending.length ? Buffer.concat([r.pending, piece]) : piece;
    let used = 0;
    try {
      if (data.length) {
        packr.unpackMultiple(data, (f: unknown, _start?: number, end?: number) => {
          if (r.n === r.count) throw this.invalid(); // bytes after the last record
          const file = r.read(f, r.n);
          if (file) r.files[r.n] = file;
          r.n++;
          used = end!;
        });
      }
    } catch (e) {
      if (e instanceof IntegrityError || e instanceof UnsafePathError) throw e;
      if (!(e as { incomplete?: boolean }).incomplete) throw this.invalid();
    }
    // Its own copy: a view would keep the whole piece.
    r.pending = Buffer.from(data.subarray(used));
  }

  private readonly bad = (why: string): never => {
    throw new IntegrityError(`${this.id} is malformed: ${why}`);
  };

  private invalid(): IntegrityError {
    return new IntegrityError(`${this.id} is not valid msgpack (truncated or corrupt)`);
  }
}

function checkCount(type: Manifest['type'], n: number, bad: (why: string) => never): void {
  if (n > MANIFEST_LIMITS.files) bad(`more than ${MANIFEST_LIMITS.files} files`);
  if (type === 'file' && n !== 1) bad('a file snapshot has exactly one file');
}

/** A manifest from another encoder (keys in another order, other integer widths), unpacked whole. */
function decodeWhole(data: Buffer, id: string): Manifest {
  const bad = (why: string): never => {
    throw new IntegrityError(`${id} is malformed: ${why}`);
  };
  const invalid = () => new IntegrityError(`${id} is not valid msgpack (truncated or corrupt)`);
  let raw: any;
  try {
    raw = packr.unpack(data);
  } catch {
    throw invalid();
  }
  if (typeof raw !== 'object' || raw === null) bad('not a map');
  if (raw.format !== MANIFEST_FORMAT) {
    bad(typeof raw.format === 'number' && raw.format > MANIFEST_FORMAT ? `format ${raw.format} is newer than this ckptsync reads (${MANIFEST_FORMAT}): upgrade ckptsync` : `unknown format ${String(raw.format)}`);
  }
  if (raw.type !== 'file' && raw.type !== 'dir') bad('type must be "file" or "dir"');
  if (!Array.isArray(raw.files)) bad('files must be a list');
  checkCount(raw.type, raw.files.length, bad);
  const files: ManifestFile[] = new Array(raw.files.length);
  const seen = new Set<string>();
  const table = new ChunkTable(raw.files.length);
  const readFile = fileReader(raw.type, id, bad, seen, table, true);
  for (let i = 0; i < files.length; i++) {
    const f = raw.files[i];
    raw.files[i] = undefined;
    files[i] = readFile(f, i);
  }
  checkNoFileUnderFile(id, seen);
  decodedTables.set(files, table);
  return { format: raw.format, type: raw.type, files };
}

/** The bytes encodeManifest writes before the files list's array header, for each type. */
const CANONICAL_HEADS = (['dir', 'file'] as const).map((type) => {
  const packed = packr.pack({ format: MANIFEST_FORMAT, type, files: [] });
  return { type, bytes: Buffer.from(packed.subarray(0, packed.length - 1)) };
});

/** For a manifest that starts as encodeManifest writes them: its type, its count of files, and where the first record starts. */
function canonicalHead(data: Buffer): { type: Manifest['type']; count: number; offset: number } | null {
  for (const { type, bytes } of CANONICAL_HEADS) {
    const at = bytes.length;
    if (data.length <= at || !data.subarray(0, at).equals(bytes)) continue;
    const b = data[at]!;
    if (b >= 0x90 && b <= 0x9f) return { type, count: b & 0x0f, offset: at + 1 };
    if (b === 0xdc && data.length >= at + 3) return { type, count: data.readUInt16BE(at + 1), offset: at + 3 };
    if (b === 0xdd && data.length >= at + 5) return { type, count: data.readUInt32BE(at + 1), offset: at + 5 };
  }
  return null;
}

/**
 * Checks one raw file record and returns it decoded. Files of a manifest share one record per chunker,
 * and paths are copied out of msgpackr's run of strings (a slice keeps the whole run alive).
 */
function fileReader(type: Manifest['type'], id: string, bad: (why: string) => never, seen: Set<string>, table: ChunkTable, entries: true): (f: any, i: number) => ManifestFile;
function fileReader(type: Manifest['type'], id: string, bad: (why: string) => never, seen: Set<string>, table: ChunkTable, entries: boolean): (f: any, i: number) => ManifestFile | null;
function fileReader(type: Manifest['type'], id: string, bad: (why: string) => never, seen: Set<string>, table: ChunkTable, entries: boolean): (f: any, i: number) => ManifestFile | null {
  const chunkers = new Map<string, Readonly<ChunkerParams>>();
  return (f, i) => {
    if (typeof f !== 'object' || f === null) bad(`file ${i} is not a map`);
    const p = flatString(checkRelativePath(f.path, id));
    if (type === 'file' && p.includes('/')) bad('a file snapshot path has no directories');
    if (seen.has(p)) bad(`duplicate path ${p}`);
    seen.add(p);
    if (!isCount(f.size, MANIFEST_LIMITS.fileBytes)) bad(`file ${p} has an invalid size`);
    if (!isCount(f.mode, 0o7777)) bad(`file ${p} has an invalid mode`);
    const c = f.chunker;
    try {
      checkChunkerRecord(c);
    } catch (e) {
      bad(`file ${p}: ${(e as Error).message}`);
    }
    if (!(f.chunks instanceof Uint8Array) || f.chunks.length % 32 !== 0) bad(`file ${p} has an invalid chunk list`);
    if (!Array.isArray(f.sizes) || f.sizes.length !== f.chunks.length / 32) bad(`file ${p} has ${f.sizes?.length} sizes for ${f.chunks.length / 32} chunks`);
    let total = 0;
    for (const s of f.sizes) {
      if (!isCount(s, MANIFEST_LIMITS.chunkBytes) || s === 0) bad(`file ${p} has an invalid chunk size`);
      total += s;
    }
    if (total !== f.size) bad(`file ${p}: chunk sizes add up to ${total}, not ${f.size}`);
    const key = `${c.alg}/${c.min}/${c.avg}/${c.max}`;
    let chunker = chunkers.get(key);
    if (!chunker) chunkers.set(key, (chunker = Object.freeze({ alg: flatString(c.alg) as ChunkerParams['alg'], min: c.min, avg: c.avg, max: c.max })));
    if (f.sizes.length === 1) {
      const at = table.addRaw(f.chunks, f.size);
      return entries ? new OneChunkFile(p, f.size, kindOf(chunker!, f.mode), table, at) : null;
    }
    for (let k = 0; k < f.sizes.length; k++) table.addRaw(f.chunks.subarray(k * 32, k * 32 + 32), f.sizes[k]);
    if (!entries) return null;
    const hex = (Buffer.isBuffer(f.chunks) ? f.chunks : Buffer.from(f.chunks)).toString('hex');
    const chunks = Array.from({ length: f.sizes.length }, (_, k) => hex.slice(k * 64, k * 64 + 64));
    return manifestFile(p, f.size, f.mode, chunker!, chunks, f.sizes);
  };
}

/** A copy of `s` that holds only its own characters (a sliced string keeps its whole parent alive). */
function flatString(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}

/**
 * Known chunkers are checked in full; an unknown one (from a newer ckptsync) only for shape, since
 * reading a file back only concatenates its chunks (manifest-spec.md §2).
 */
function checkChunkerRecord(c: any): void {
  if (typeof c !== 'object' || c === null || typeof c.alg !== 'string' || c.alg.length === 0 || c.alg.length > 64) throw new Error('invalid chunker record');
  if (c.alg === FASTCDC_ALG || c.alg === SAFETENSORS_ALG) validateChunker(c);
  else if (![c.min, c.avg, c.max].every((n) => isCount(n, MANIFEST_LIMITS.chunkBytes))) throw new Error(`invalid parameters for chunker ${c.alg}`);
}

function isCount(n: unknown, max: number): n is number {
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 && n <= max;
}

/**
 * A path that stays inside the target: relative, '/'-separated, no '.', '..' or empty segments,
 * no backslashes or NUL. Refusing here means a hostile manifest is rejected before anything is written.
 */
export function checkRelativePath(p: unknown, id = 'manifest'): string {
  const refuse = (why: string): never => {
    throw new UnsafePathError(`${id} has an unsafe path ${JSON.stringify(String(p).slice(0, 200))}: ${why}`);
  };
  if (typeof p !== 'string' || p.length === 0) return refuse('empty or not a string');
  if (Buffer.byteLength(p) > MANIFEST_LIMITS.pathBytes) refuse('too long');
  if (p.includes('\0') || p.includes('\\')) refuse('contains NUL or a backslash');
  if (p.startsWith('/') || path.isAbsolute(p) || /^[A-Za-z]:/.test(p)) refuse('absolute');
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.' || seg === '..') refuse('has an empty, "." or ".." segment');
  }
  return p;
}

/** "a" and "a/b" cannot both be files (`paths`: the set of the files' paths). */
function checkNoFileUnderFile(id: string, paths: ReadonlySet<string>): void {
  for (const p of paths) {
    for (let at = p.indexOf('/'); at !== -1; at = p.indexOf('/', at + 1)) {
      const dir = p.slice(0, at);
      if (paths.has(dir)) throw new UnsafePathError(`${id} has a file ${dir} that is also a directory`);
    }
  }
}

/**
 * Where a path is among files: by binary search when they are sorted by path, as encodeManifest writes
 * them, else through a table (a manifest from elsewhere). A table of 400,000 paths was ~25 MB.
 */
export function indexByPath(files: readonly ManifestFile[]): (p: string) => number | undefined {
  if (!files.every((f, i) => i === 0 || files[i - 1]!.path < f.path)) {
    const table = new Map(files.map((f, i) => [f.path, i]));
    return (p) => table.get(p);
  }
  return (p) => {
    let lo = 0;
    let hi = files.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (files[mid]!.path < p) lo = mid + 1;
      else hi = mid;
    }
    return lo < files.length && files[lo]!.path === p ? lo : undefined;
  };
}

export function manifestSize(m: Manifest): number {
  return m.files.reduce((n, f) => n + f.size, 0);
}

/** Every distinct chunk of a manifest with its size. */
export function manifestChunks(m: Manifest): Map<string, number> {
  const out = new Map<string, number>();
  for (const f of m.files) f.chunks.forEach((h, i) => out.set(h, f.sizes[i]!));
  return out;
}

/**
 * Every distinct chunk of a manifest with its size, as a ChunkTable (ids in order of first occurrence).
 * For a decoded manifest it is the table its one-chunk files keep their hashes in: read it, add nothing.
 */
export function chunkTableOf(m: Manifest): ChunkTable {
  const decoded = decodedTables.get(m.files);
  if (decoded) return decoded;
  const table = new ChunkTable(m.files.length);
  for (const f of m.files) eachChunk(f, (h, size) => table.add(h, size));
  return table;
}
