// Manifests: a snapshot of one file or a directory (manifest-spec.md, "Manifests"). Encoded with
// msgpack deterministically — same content, same bytes — so the BLAKE3 hash of the encoding is the
// snapshot id. Decoding validates everything a hostile manifest could abuse before anything is written.

import path from 'node:path';
import { Packr, RESET_BUFFER_MODE } from 'msgpackr';
import { IntegrityError, UnsafePathError } from '../errors.js';
import { ChunkTable, type Uint32List } from './chunk-table.js';
import { FASTCDC_ALG, SAFETENSORS_ALG, validateChunker, type ChunkerParams } from './chunker.js';
import { eachChunk, kindOf, manifestFile, OneChunkFile, PackedFiles, pathAt, type FileList, type ManifestFile } from './manifest-files.js';
import { PathSlabs } from './path-slabs.js';

export { chunkCount, eachChunk, manifestFile, PackedFiles, pathAt, withMode, type FileList, type ManifestFile } from './manifest-files.js';

export const MANIFEST_FORMAT = 1;
/** Caps that keep a hostile manifest from exhausting memory. */
export const MANIFEST_LIMITS = {
  bytes: 512 << 20,
  files: 1_000_000,
  pathBytes: 4096,
  chunkBytes: 1 << 30,
  fileBytes: 2 ** 50,
};


export interface Manifest {
  format: number;
  type: 'file' | 'dir';
  files: FileList;
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
  // A decoded manifest's files are in order already (and are not made into entries all at once).
  const files = m.files instanceof PackedFiles && m.files.sorted ? m.files : [...m.files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
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

/** readStoredManifest of a manifest's chunks only (ManifestDecoder, chunksOnly; with `marks`, marking them). */
export async function readStoredManifestChunks(store: ManifestSource, hash: string, marks?: ChunkMarks): Promise<ChunkTable> {
  const decoder = new ManifestDecoder(`manifest ${hash}`, marks ?? true);
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
  private records: { type: Manifest['type']; files: PackedFiles | MarkedFiles; count: number; n: number; read: (f: any, i: number) => void; pending: Buffer } | null = null;

  /**
   * `chunksOnly`: every record is checked as always, but no file entry is built, only the table of chunks
   * (endChunks): what gc and clean need of the remote's manifests (~70 bytes a file fewer). Given marks,
   * the chunks of `marks.wanted` are marked instead of tabled (ChunkMarks): what a push needs.
   */
  constructor(
    private readonly id = 'manifest',
    private readonly chunksOnly: boolean | ChunkMarks = false,
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

  /**
   * Every distinct chunk of the manifest with its size (ids in order of first occurrence); with marks, only
   * those not in `marks.wanted`.
   */
  endChunks(): ChunkTable {
    return this.finish().table;
  }

  private finish(): { manifest?: Manifest; table: ChunkTable } {
    try {
      if (!this.records && !this.whole) this.start();
      if (!this.records) {
        const manifest = decodeWhole(Buffer.concat(this.early), this.id);
        const table = chunkTableOf(manifest);
        if (typeof this.chunksOnly === 'boolean') return { manifest, table };
        const marking = new MarkingTable(this.chunksOnly);
        for (let id = 0; id < table.count; id++) {
          const at = marking.addRaw(table.rawAt(id), table.sizeOf(id));
          if (marking.sizeOf(at) !== table.sizeOf(id)) this.bad(`chunk ${table.hexAt(id)} has ${table.sizeOf(id)} bytes here and ${marking.sizeOf(at)} elsewhere`);
        }
        return { table: marking.rest };
      }
      const r = this.records;
      if (r.pending.length || r.n !== r.count) throw this.invalid();
      checkUnsorted(this.id, r.files);
      if (r.files instanceof MarkedFiles) return { table: r.files.table.rest };
      if (this.chunksOnly) return { table: r.files.table! };
      return { manifest: { format: MANIFEST_FORMAT, type: r.type, files: r.files }, table: r.files.table! };
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
    // A chunks-only decode builds the files too (~30 bytes a file, dropped at the end), a marking one their
    // paths: a manifest whose paths are out of order is checked for duplicates only once all are known
    // (checkUnsorted).
    const files = typeof this.chunksOnly === 'object' ? new MarkedFiles(this.chunksOnly, head.count) : PackedFiles.decoding(new ChunkTable(head.count), head.count);
    this.records = { type: head.type, files, count: head.count, n: 0, read: fileReader(head.type, this.id, this.bad, files), pending: Buffer.alloc(0) };
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
          r.read(f, r.n);
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
  const files = PackedFiles.decoding(new ChunkTable(raw.files.length), raw.files.length);
  const readFile = fileReader(raw.type, id, bad, files);
  for (let i = 0; i < raw.files.length; i++) {
    const f = raw.files[i];
    raw.files[i] = undefined;
    readFile(f, i);
  }
  checkUnsorted(id, files);
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
 * Checks one raw file record and adds it to `files`. Files of a manifest share one record per chunker.
 * While the paths come in increasing order (as encodeManifest writes them) a duplicate is the one before,
 * and a file under another file is found with the stack of earlier paths that are prefixes of this one:
 * the paths under "a/" come right after "a" and the paths that start with "a". Out of order, both are
 * checked at the end (checkUnsorted).
 */
function fileReader(type: Manifest['type'], id: string, bad: (why: string) => never, files: PackedFiles | MarkedFiles): (f: any, i: number) => void {
  const table: Pick<ChunkTable, 'addRaw' | 'sizeOf' | 'hexAt'> = files.table!;
  const chunkers = new Map<string, Readonly<ChunkerParams>>();
  let previous: string | undefined;
  const prefixes: string[] = [];
  return (f, i) => {
    if (typeof f !== 'object' || f === null) bad(`file ${i} is not a map`);
    const p = checkRelativePath(f.path, id);
    if (type === 'file' && p.includes('/')) bad('a file snapshot path has no directories');
    if (previous === p) bad(`duplicate path ${p}`);
    if (files.sorted && previous !== undefined && previous > p) files.sorted = false;
    if (files.sorted) {
      while (prefixes.length && !p.startsWith(prefixes.at(-1)!)) prefixes.pop();
      const under = prefixes.at(-1);
      if (under !== undefined && p.startsWith(under + '/')) throw new UnsafePathError(`${id} has a file ${under} that is also a directory`);
      prefixes.push(p);
    }
    previous = p;
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
    // One hash, one length: a decoded one-chunk file's size is its chunk's size in the table.
    const add = (k: number) => {
      const id = table.addRaw(f.chunks.subarray(k * 32, k * 32 + 32), f.sizes[k]);
      if (table.sizeOf(id) !== f.sizes[k]) bad(`file ${p}: chunk ${table.hexAt(id)} has ${f.sizes[k]} bytes here and ${table.sizeOf(id)} elsewhere`);
      return id;
    };
    if (f.sizes.length === 1) return files.pushOne(p, kindOf(chunker!, f.mode), add(0));
    for (let k = 0; k < f.sizes.length; k++) add(k);
    const hex = (Buffer.isBuffer(f.chunks) ? f.chunks : Buffer.from(f.chunks)).toString('hex');
    const chunks = Array.from({ length: f.sizes.length }, (_, k) => hex.slice(k * 64, k * 64 + 64));
    files.pushOther(manifestFile(flatString(p), f.size, f.mode, chunker!, chunks, f.sizes));
  };
}

/** A copy of `s` that holds only its own characters (a sliced string keeps its whole parent alive). */
function flatString(s: string): string {
  return Buffer.from(s, 'utf8').toString('utf8');
}

/**
 * What a push needs of a remote's manifest: which chunks of `wanted` (the manifest pushed) it names, their
 * ids pushed to `marked` as they are met (a chunk named twice, twice). A list, not a flag per wanted chunk:
 * a push reads every manifest on the remote, and many small ones each cost what they name. A chunk of `wanted` named with another size makes the manifest malformed,
 * as two sizes for one chunk within a manifest do (manifest-spec.md §4).
 */
export interface ChunkMarks {
  wanted: ChunkTable;
  marked: Uint32List;
}

/**
 * The chunk ids a marking decode gives fileReader: a chunk of `wanted` is marked and keeps its id there;
 * any other is tabled in `rest`, numbered after wanted's. A table of all 400,000 chunks of a remote's
 * manifest was ~19 MB at the top of a push.
 */
class MarkingTable {
  readonly rest = new ChunkTable();
  constructor(private readonly marks: ChunkMarks) {}
  addRaw(raw: Uint8Array, size: number): number {
    const id = this.marks.wanted.idOfRaw(raw);
    if (id >= 0) {
      this.marks.marked.push(id);
      return id;
    }
    return this.marks.wanted.count + this.rest.addRaw(raw, size);
  }
  sizeOf(id: number): number {
    const n = this.marks.wanted.count;
    return id < n ? this.marks.wanted.sizeOf(id) : this.rest.sizeOf(id - n);
  }
  hexAt(id: number): string {
    const n = this.marks.wanted.count;
    return id < n ? this.marks.wanted.hexAt(id) : this.rest.hexAt(id - n);
  }
}

/** A marking decode's files: only their paths, for checkUnsorted. */
class MarkedFiles {
  readonly table: MarkingTable;
  private readonly paths: PathSlabs;
  sorted = true;
  constructor(marks: ChunkMarks, count: number) {
    this.table = new MarkingTable(marks);
    this.paths = new PathSlabs(count);
  }
  get length(): number {
    return this.paths.length;
  }
  pushOne(p: string): void {
    this.paths.push(p);
  }
  pushOther(f: ManifestFile): void {
    this.paths.push(f.path);
  }
  pathAt(i: number): string {
    return this.paths.at(i);
  }
}

/** For files out of path order: no duplicate path, and no file under another (in order, fileReader checked both). */
function checkUnsorted(id: string, files: PackedFiles | MarkedFiles): void {
  if (files.sorted) return;
  const paths = new Set<string>();
  for (let i = 0; i < files.length; i++) {
    const p = files.pathAt(i);
    if (paths.has(p)) throw new IntegrityError(`${id} is malformed: duplicate path ${p}`);
    paths.add(p);
  }
  checkNoFileUnderFile(id, paths);
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
export function indexByPath(files: FileList): (p: string) => number | undefined {
  const sorted = files instanceof PackedFiles ? files.sorted : files.every((f, i) => i === 0 || files.at(i - 1)!.path < f.path);
  if (!sorted) {
    const table = new Map<string, number>();
    for (let i = 0; i < files.length; i++) table.set(pathAt(files, i), i);
    return (p) => table.get(p);
  }
  // Paths looked up in order (add walks its sorted listing) are mostly each the file after the last one
  // found: that one is tried first, one path read instead of a search's ~20 (a packed list makes each).
  let last = -1;
  return (p) => {
    if (last + 1 < files.length && pathAt(files, last + 1) === p) return ++last;
    let lo = 0;
    let hi = files.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (pathAt(files, mid) < p) lo = mid + 1;
      else hi = mid;
    }
    if (lo < files.length && pathAt(files, lo) === p) return (last = lo);
    return undefined;
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
  if (m.files instanceof PackedFiles && m.files.table) return m.files.table;
  const table = new ChunkTable(m.files.length);
  for (const f of m.files) eachChunk(f, (h, size) => table.add(h, size));
  return table;
}
