// Packs (manifest-spec.md §8c, remote layout 3): many small chunks in one remote object, read back with
// ranged gets. A folder of 10,000 small files is then ~10 requests each way instead of 10,000. A pack
// names its chunks in a header at its start; the pack index is every pack's header, read after one
// listing of `packs/`. Every chunk read from a pack is verified against its own hash.

import { IntegrityError, isNotFound } from '../errors.js';
import { BufferPool } from '../core/buffer-pool.js';
import type { ChunkTable } from '../core/chunk-table.js';
import { hashBytes } from '../core/hash.js';
import { keyOf } from '../remote/layout.js';
import { readAll } from '../remote/source.js';
import type { Remote } from '../remote/types.js';
import { listObjects, type ListedObject } from './listing.js';
import { runBounded } from './transfer.js';

/** Chunks up to this size go into packs (a small file is one such chunk, core/ingest.ts). */
export const PACK_CHUNK_MAX = 256 << 10;
/** A writer closes a pack once it holds this many bytes of chunks... */
export const PACK_TARGET_BYTES = 4 << 20;
/** ...or this many chunks: the header (8 + 36 bytes per chunk) then fits the first 64 KiB read. */
export const PACK_MAX_ENTRIES = 1024;
/** What a reader accepts (§8c): a larger count is refused before anything is allocated for it. */
const READ_MAX_ENTRIES = 65536;
const MAGIC = 'CKP1';
const ENTRY_BYTES = 36;
/** The first read of a header: a whole header of a pack this writer made. */
const HEAD_READ = 64 << 10;
/** Wanted chunks closer than this are read in one request (the bytes between are read and dropped). */
const READ_GAP = 64 << 10;
/**
 * The most one ranged read spans, and the bytes of such reads in flight: a 10,000-file folder is then
 * ~40 requests, and a pull holds ~4 MiB more than one reading whole objects (35 MiB more at 4 MiB reads).
 */
const READ_SPAN = 1 << 20;
const READ_IN_FLIGHT = 4 << 20;

export interface PackEntry {
  hash: string;
  /** Offset of the chunk's bytes in the pack object. */
  offset: number;
  length: number;
}

export interface PackedChunk extends PackEntry {
  /** The pack's name (a hash) and key. */
  pack: string;
  key: string;
}

/** The bytes of the header of a pack of `count` chunks (§8c). */
export function packHeaderSize(count: number): number {
  return 8 + ENTRY_BYTES * count;
}

/** The bytes a pack of chunks of these sizes takes (§8c): its header, then the chunks. */
export function packSize(sizes: readonly number[]): number {
  return packHeaderSize(sizes.length) + sizes.reduce((a, b) => a + b, 0);
}

/**
 * Writes a pack object (§8c) into `into` (packSize bytes): the header naming each chunk and its length,
 * then each chunk's bytes, filled in by `fill` at their place. Returns the pack's name.
 */
export async function writePack(into: Buffer, chunks: readonly { hash: string; size: number }[], fill: (hash: string, at: Buffer) => Promise<void>): Promise<string> {
  into.write(MAGIC, 0, 'latin1');
  into.writeUInt32LE(chunks.length, 4);
  let at = packHeaderSize(chunks.length);
  for (const [i, c] of chunks.entries()) {
    into.write(c.hash, 8 + ENTRY_BYTES * i, 'hex');
    into.writeUInt32LE(c.size, 8 + ENTRY_BYTES * i + 32);
    await fill(c.hash, into.subarray(at, at + c.size));
    at += c.size;
  }
  return hashBytes(into);
}

/**
 * The header of a pack of `size` bytes, from its first bytes (at least its header), checked against §8c;
 * IntegrityError if it breaks it. The header stays as bytes: an index of 400,000 chunks is 14 MB so,
 * where an object and a string per chunk took ~100 MB.
 */
export function decodePackHeader(head: Buffer, size: number, pack: string): Buffer {
  const bad = (why: string) => new IntegrityError(`pack ${pack} is corrupt: ${why}`, { hash: pack });
  if (head.length < 8 || head.toString('latin1', 0, 4) !== MAGIC) throw bad('it does not start with CKP1');
  const count = head.readUInt32LE(4);
  if (count < 1 || count > READ_MAX_ENTRIES) throw bad(`its header names ${count} chunks`);
  const end = packHeaderSize(count);
  if (head.length < end) throw bad('its header is cut short');
  let at = end;
  for (let i = 0; i < count; i++) {
    const length = head.readUInt32LE(8 + ENTRY_BYTES * i + 32);
    // Packs are for small chunks: a larger one would have a reader hold it whole in one ranged read.
    if (length < 1 || length > PACK_CHUNK_MAX) throw bad(`chunk ${i} has ${length} bytes`);
    at += length;
  }
  if (at !== size) throw bad(`its chunks end at byte ${at} of ${size}`);
  return head.subarray(0, end);
}

/** Each chunk a (checked) pack header names, with where its bytes are in the pack. */
export function* packEntries(header: Buffer): Generator<PackEntry> {
  const count = header.readUInt32LE(4);
  let offset = packHeaderSize(count);
  for (let i = 0; i < count; i++) {
    const length = header.readUInt32LE(8 + ENTRY_BYTES * i + 32);
    yield { hash: header.toString('hex', 8 + ENTRY_BYTES * i, 8 + ENTRY_BYTES * i + 32), offset, length };
    offset += length;
  }
}

/**
 * Which missing chunks (hashes, or their ids) a push sends in packs: runs of the small chunks `packable` allows, in the order
 * given (manifest order, so that a reader of one folder reads consecutive bytes), each closed at
 * PACK_TARGET_BYTES or PACK_MAX_ENTRIES. A run of one chunk goes whole: a pack would save nothing.
 */
export function planPacks<K>(missing: Iterable<K>, sizeOf: (h: K) => number, packable: (h: K) => boolean = () => true): { packs: K[][]; whole: K[] } {
  const packs: K[][] = [];
  const whole: K[] = [];
  let open: K[] = [];
  let bytes = 0;
  const close = () => {
    if (open.length > 1) packs.push(open);
    else whole.push(...open);
    open = [];
    bytes = 0;
  };
  for (const h of missing) {
    const size = sizeOf(h);
    if (size > PACK_CHUNK_MAX || !packable(h)) {
      whole.push(h);
      continue;
    }
    open.push(h);
    bytes += size;
    if (bytes >= PACK_TARGET_BYTES || open.length >= PACK_MAX_ENTRIES) close();
  }
  close();
  return { packs, whole };
}

/**
 * Chunks chosen from the remote's packs by their ids in a ChunkTable (selectPackedIds): per pack, each chosen chunk's id,
 * offset and length. It holds no header: what a pull of 400,000 packed chunks keeps is ~12 bytes a chunk,
 * where the headers held 36 (~14 MB), and the hash to check each chunk against is the table's.
 */
export interface IdSelection {
  readonly table: ChunkTable;
  readonly packs: readonly { key: string; name: string; ids: Int32Array; offsets: Uint32Array; lengths: Uint32Array }[];
  readonly count: number;
}

/** A listed pack with its checked header (§8c). */
export interface ListedPack extends ListedObject {
  header: Buffer;
}

/** Chunks chosen from the index to read (select()): per pack, the entries' numbers, in header order. */
export interface PackSelection {
  readonly index: PackIndex;
  readonly picked: ReadonlyMap<ListedPack, ArrayLike<number>>;
  readonly count: number;
}

/**
 * Every pack on a remote and what each holds: one listing of `packs/`, then one header read per pack not
 * already known (packs are immutable, so `known`, an earlier index, and `cache` are reused).
 */
export class PackIndex {
  private constructor(
    readonly packs: readonly ListedPack[],
    /** Packs whose header breaks §8c, with why: their chunks are not found through them (verify names them; gc keeps them). */
    readonly bad: ReadonlyMap<string, string>,
  ) {}

  static async load(remote: Remote, known?: PackIndex, cache?: HeaderCache): Promise<PackIndex> {
    const packs: ListedPack[] = [];
    const bad = await scanPacks(remote, (p) => void packs.push(p), known, cache);
    return new PackIndex(packs, bad);
  }

  /** Chunks in all packs (a chunk in two packs counts twice). */
  get count(): number {
    return this.packs.reduce((n, p) => n + p.header.readUInt32LE(4), 0);
  }

  /** Each chunk in each pack. */
  *entries(): Generator<PackedChunk> {
    for (const p of this.packs) for (const e of packEntries(p.header)) yield { ...e, pack: p.name, key: p.key };
  }

  /**
   * The chunks in packs that `wanted` says yes to. It is asked once per entry, so a chunk that two packs
   * hold is picked twice if it says yes twice: a caller that wants each chunk once says yes once (it
   * claims the chunk). No set of the picked hashes is kept here: at 400,000 chunks that was ~40 MB.
   */
  select(wanted: (hash: string) => boolean): PackSelection {
    // Entry numbers fit 16 bits (READ_MAX_ENTRIES): 2 bytes a chunk, not a JS array's 8 and its slack.
    const picked = new Map<ListedPack, Uint16Array>();
    const list = new Uint16Array(READ_MAX_ENTRIES);
    let count = 0;
    for (const p of this.packs) {
      const n = p.header.readUInt32LE(4);
      let k = 0;
      for (let i = 0; i < n; i++) if (wanted(p.header.toString('hex', 8 + ENTRY_BYTES * i, 8 + ENTRY_BYTES * i + 32))) list[k++] = i;
      if (k) picked.set(p, list.slice(0, k));
      count += k;
    }
    return { index: this, picked, count };
  }

  /** One chunk as a selection, or undefined when no pack holds it: a scan of every header, for single reads. */
  locate(hash: string): PackSelection | undefined {
    const raw = Buffer.from(hash, 'hex');
    for (const p of this.packs) {
      const n = p.header.readUInt32LE(4);
      for (let i = 0; i < n; i++) if (raw.equals(p.header.subarray(8 + ENTRY_BYTES * i, 8 + ENTRY_BYTES * i + 32))) return { index: this, picked: new Map([[p, Uint16Array.of(i)]]), count: 1 };
    }
    return undefined;
  }
}

/**
 * Lists the remote's packs and hands each checked header to `take` as it is read (from `known`, an earlier
 * index, or `cache` when they hold it; packs are immutable), keeping none. Returns the packs whose header
 * breaks §8c, with why: their chunks are not found through them.
 */
async function scanPacks(remote: Remote, take: (pack: ListedPack) => void, known?: PackIndex, cache?: HeaderCache): Promise<Map<string, string>> {
  const before = new Map(known?.packs.map((p) => [p.name, p]));
  const listed: ListedObject[] = [];
  for await (const o of listObjects(remote, 'pack')) listed.push(o);
  const bad = new Map<string, string>();
  await runBounded(listed, remote.features.defaultConcurrency, async (o) => {
    const had = before.get(o.name);
    if (had && had.size === o.size) return take({ ...o, header: had.header });
    const cached = cache && (await cache.read(o.name));
    if (cached) {
      try {
        return take({ ...o, header: decodePackHeader(cached, o.size, o.name) });
      } catch {
        // not this pack's header after all (another object of that name): read the remote's
      }
    }
    try {
      const header = decodePackHeader(await readPackHeader(remote, o), o.size, o.name);
      take({ ...o, header: Buffer.from(header) }); // its own bytes, not a view of the 64 KiB read
      await cache?.write(o.name, header);
    } catch (e) {
      if (isNotFound(e)) return; // deleted since it was listed (gc)
      if (!(e instanceof IntegrityError)) throw e;
      bad.set(o.name, e.message);
    }
  });
  return bad;
}

/**
 * The chunks in the remote's packs that `table` holds and `claim` says yes to (asked once per entry: a
 * caller that wants each chunk once says yes once), by id. Each header is read, picked from and dropped:
 * a pull of 400,000 packed chunks held ~14 MB of headers at once to choose from them.
 */
export async function selectPackedIds(remote: Remote, table: ChunkTable, claim: (id: number) => boolean, cache?: HeaderCache): Promise<IdSelection> {
  const packs: IdSelection['packs'][number][] = [];
  const ids = new Int32Array(READ_MAX_ENTRIES);
  const offsets = new Uint32Array(READ_MAX_ENTRIES);
  const lengths = new Uint32Array(READ_MAX_ENTRIES);
  let count = 0;
  await scanPacks(
    remote,
    (p) => {
      const n = p.header.readUInt32LE(4);
      let k = 0;
      for (let i = 0, at = packHeaderSize(n); i < n; i++) {
        const length = p.header.readUInt32LE(8 + ENTRY_BYTES * i + 32);
        const id = table.idOfRaw(p.header.subarray(8 + ENTRY_BYTES * i, 8 + ENTRY_BYTES * i + 32));
        if (id >= 0 && claim(id)) (ids[k] = id), (offsets[k] = at), (lengths[k++] = length);
        at += length;
      }
      if (k) packs.push({ key: p.key, name: p.name, ids: ids.slice(0, k), offsets: offsets.slice(0, k), lengths: lengths.slice(0, k) });
      count += k;
    },
    undefined,
    cache,
  );
  return { table, packs, count };
}

/** Entry `i` of a pack, with its offset (when not given, the sum of the lengths before it). */
function entryAt(p: ListedPack, i: number, known?: number): PackedChunk {
  let offset = known ?? packHeaderSize(p.header.readUInt32LE(4));
  if (known === undefined) for (let k = 0; k < i; k++) offset += p.header.readUInt32LE(8 + ENTRY_BYTES * k + 32);
  return { hash: p.header.toString('hex', 8 + ENTRY_BYTES * i, 8 + ENTRY_BYTES * i + 32), offset, length: p.header.readUInt32LE(8 + ENTRY_BYTES * i + 32), pack: p.name, key: p.key };
}

/**
 * Where a reader keeps the pack headers it has read (the remote state cache, §10): packs are immutable, so
 * a header read once need not be read again. Only a hint: a cached header that does not fit the pack
 * listed is read again from the remote, and every chunk is verified anyway.
 */
export interface HeaderCache {
  read(pack: string): Promise<Buffer | null>;
  write(pack: string, header: Buffer): Promise<void>;
}

/** A pack's first bytes, holding at least its whole header when the pack is well formed. */
async function readPackHeader(remote: Remote, o: ListedObject): Promise<Buffer> {
  const first = Math.min(o.size, HEAD_READ);
  let head = await readAll(await remote.get(o.key, { offset: 0, length: first }), first);
  if (head.length >= 8 && head.toString('latin1', 0, 4) === MAGIC) {
    const end = packHeaderSize(Math.min(head.readUInt32LE(4), READ_MAX_ENTRIES));
    if (end > head.length && end <= o.size) head = Buffer.concat([head, await readAll(await remote.get(o.key, { offset: head.length, length: end - head.length }), end - head.length)]);
  }
  return head;
}

/** The remote's pack index, loaded once per Remote object; `refresh` re-lists it (a chunk not found may be in a newer pack). */
const indexes = new WeakMap<Remote, Promise<PackIndex>>();
export function packIndexOf(remote: Remote, refresh = false, cache?: HeaderCache): Promise<PackIndex> {
  let p = indexes.get(remote);
  if (!p || refresh) {
    const known = p?.catch(() => undefined);
    p = (async () => PackIndex.load(remote, await known, cache))();
    indexes.set(remote, p);
    p.catch(() => indexes.delete(remote));
  }
  return p;
}

/**
 * Downloads the chunks of a selection: chosen chunks of one pack close together are read with one ranged
 * get, and each is verified against its hash before `onChunk` sees it (the buffer is only valid during the
 * call). A corrupt chunk throws IntegrityError, or with `onCorrupt` is reported there.
 */
export async function fetchFromPacks(
  remote: Remote,
  selection: PackSelection | IdSelection,
  onChunk: (hash: string, data: Buffer) => void | Promise<void>,
  opts: { concurrency?: number; signal?: AbortSignal; onCorrupt?: (e: PackedChunk, why: string) => void } = {},
): Promise<void> {
  const pool = new BufferPool(READ_IN_FLIGHT);
  await runBounded(
    'picked' in selection ? readRuns(selection) : idRuns(selection),
    opts.concurrency ?? remote.features.defaultConcurrency,
    async (run) => {
      const buf = pool.take(run.end - run.start);
      try {
        const bytes = buf.subarray(0, await readRange(remote, run.key, run.start, buf.subarray(0, run.end - run.start)));
        for (const e of run.items) {
          const data = bytes.subarray(e.offset - run.start, e.offset - run.start + e.length);
          const actual = data.length === e.length ? hashBytes(data) : '(cut short)';
          if (actual === e.hash) await onChunk(e.hash, data);
          else if (opts.onCorrupt) opts.onCorrupt(e, `${data.length} bytes in pack ${e.pack} hash to ${actual}`);
          else throw new IntegrityError(`chunk ${e.hash} in pack ${e.pack} on ${remote.displayUrl} is corrupt (${data.length} bytes hashing to ${actual}); nothing was written`, { hash: e.hash });
        }
      } finally {
        pool.release(buf);
      }
    },
    { signal: opts.signal, weigh: (run) => run.end - run.start, maxWeight: READ_IN_FLIGHT },
  );
}

/** Chosen chunks of one pack read with one request, from `start` to `end` in the pack. */
interface ReadRun {
  key: string;
  start: number;
  end: number;
  items: PackedChunk[];
}

/**
 * Runs of chosen entries of one pack, each read with one request: the entries between them either
 * chosen or skipped over (a gap of at most READ_GAP bytes). `offsets` in increasing order. Made as the
 * reads are taken up: a pull of 400,000 packed chunks held ~9 MB of them planned all at once.
 */
function* runsOf(key: string, count: number, offsetOf: (k: number) => number, lengthOf: (k: number) => number, item: (k: number) => PackedChunk): Generator<ReadRun> {
  let run: ReadRun | null = null;
  for (let k = 0; k < count; k++) {
    const start = offsetOf(k);
    const end = start + lengthOf(k);
    if (run && start - run.end <= READ_GAP && end - run.start <= READ_SPAN) {
      run.items.push(item(k));
      run.end = end;
      continue;
    }
    if (run) yield run;
    run = { key, start, end, items: [item(k)] };
  }
  if (run) yield run;
}

/** The runs of a selection from pack headers. */
function* readRuns(selection: PackSelection): Generator<ReadRun> {
  for (const [pack, chosen] of selection.picked) {
    // Each chosen entry's offset: the sum of the lengths before it.
    const offsets = new Float64Array(chosen.length);
    for (let i = 0, k = 0, at = packHeaderSize(pack.header.readUInt32LE(4)); k < chosen.length; i++) {
      if (i === chosen[k]) offsets[k++] = at;
      at += pack.header.readUInt32LE(8 + ENTRY_BYTES * i + 32);
    }
    const lengthOf = (k: number) => pack.header.readUInt32LE(8 + ENTRY_BYTES * chosen[k]! + 32);
    yield* runsOf(pack.key, chosen.length, (k) => offsets[k]!, lengthOf, (k) => entryAt(pack, chosen[k]!, offsets[k]));
  }
}

/** The runs of a selection by chunk ids, each chunk's hash read from the table. */
function* idRuns(selection: IdSelection): Generator<ReadRun> {
  for (const p of selection.packs) {
    const item = (k: number): PackedChunk => ({ hash: selection.table.hashOf(p.ids[k]!), offset: p.offsets[k]!, length: p.lengths[k]!, pack: p.name, key: p.key });
    yield* runsOf(p.key, p.ids.length, (k) => p.offsets[k]!, (k) => p.lengths[k]!, item);
  }
}

/** Reads `into.length` bytes of an object from `offset` into `into` (fewer if the object ends first); a longer answer is refused. */
async function readRange(remote: Remote, key: string, offset: number, into: Buffer): Promise<number> {
  const stream = await remote.get(key, { offset, length: into.length });
  let n = 0;
  for await (const part of stream) {
    const b = part as Uint8Array;
    if (n + b.length > into.length) {
      stream.destroy();
      throw new IntegrityError(`${key} on ${remote.displayUrl} sent more than the ${into.length} bytes asked for`);
    }
    into.set(b, n);
    n += b.length;
  }
  return n;
}
