// Content-defined chunking: FastCDC with a 32-bit gear hash and normalized chunking
// (manifest-spec.md, "Chunking"). The cut-point rule and the gear table are part of the format: the
// same bytes must always be cut in the same places, by every implementation.

import fs from 'node:fs/promises';
import { hashBytes } from './hash.js';
import { readFully } from './file-io.js';
import { loadGearKernel, type GearKernel } from './gear-wasm.js';
import { DEFAULT_CHUNKER, FASTCDC_ALG, fastcdcMasks, GEAR, validateChunker, type ChunkerParams } from './chunk-params.js';
import { SlabPool, type RawChunk, type Slab } from './slabs.js';

export * from './chunk-params.js';
export type { RawChunk } from './slabs.js';

export interface CutFinder {
  /**
   * Length of the chunk starting at buf[start], given that buf[start, end) is all the data there is
   * before more arrives. Returns -1 when more data is needed to decide (and !eof); the next call must then
   * be for the same chunk with more data (a finder may resume where it stopped).
   */
  (buf: Uint8Array, start: number, end: number, eof: boolean): number;
}

/** `kernel` runs the gear loop: any kernel gives the same cuts (tests compare them); the fastest is the default. */
export function fastcdcCutFinder(p: ChunkerParams, kernel: GearKernel = defaultGearKernel): CutFinder {
  validateChunker(p);
  if (p.alg !== FASTCDC_ALG) throw new RangeError(`${p.alg} is not a rolling-hash chunker`);
  const { maskS, maskL } = fastcdcMasks(p);
  // A chunk longer than what has arrived is scanned as far as the data goes, and the scan resumes there
  // when the reader asks again with more: a cut found in the bytes already here is final (positions
  // before min(n, avg) use maskS whatever the final n), so the reader carries only the bytes after the
  // last cut into its next buffer instead of up to `max` bytes, and no byte is scanned twice.
  let scanned = p.min; // offset in the pending chunk where the scan resumes (min: nothing pending)
  let hash = 0;
  return (buf, start, end, eof) => {
    const n = end - start;
    if (n <= p.min) return eof || n === p.max ? n : -1; // n === max: min === max, so the length is max whatever follows
    const normal = Math.min(n, p.avg);
    const limit = Math.min(n, p.max);
    let from = scanned;
    let h = from > p.min ? hash : 0;
    let i = -1;
    if (from < normal) {
      i = kernel.scan(buf, start + from, start + normal, maskS, h);
      h = kernel.hash;
      from = normal;
    }
    if (i < 0 && from < limit) {
      i = kernel.scan(buf, start + from, start + limit, maskL, h);
      h = kernel.hash;
      from = limit;
    }
    if (i < 0 && n < p.max && !eof) {
      scanned = from;
      hash = h;
      return -1;
    }
    scanned = p.min;
    return i < 0 ? limit : i + 1 - start;
  };
}

/** The gear loop in JavaScript: the fallback where WebAssembly is unavailable, and the tests' reference. */
export const jsGearKernel: GearKernel = {
  hash: 0,
  scan: (buf, from, to, mask, h) => scan(buf, wordView(buf), from, to, mask, h),
};

/** The WebAssembly gear loop (src/core/gear-wasm.ts), or null where it cannot load. */
export const wasmGearKernel: GearKernel | null = loadGearKernel(GEAR);
const defaultGearKernel = wasmGearKernel ?? jsGearKernel;
/** Which kernel runs the gear loop by default (CKPTSYNC_CDC=js forces the JavaScript one). */
export const cutKernel: 'wasm' | 'js' = wasmGearKernel ? 'wasm' : 'js';

const views = new WeakMap<ArrayBufferLike, Uint32Array>();

/** A 32-bit view of the whole ArrayBuffer under buf, so the hot loop reads 4 bytes per load. */
function wordView(buf: Uint8Array): Uint32Array | null {
  if (buf.byteOffset % 4 !== 0) return null;
  let v = views.get(buf.buffer);
  if (!v) {
    v = new Uint32Array(buf.buffer, 0, buf.buffer.byteLength >>> 2);
    views.set(buf.buffer, v);
  }
  return v;
}

/**
 * Rolls the gear hash from h over buf[from, to); returns the first index i where (hash & mask) == 0,
 * or -1 (leaving the hash in jsGearKernel.hash). Reading aligned 32-bit words is ~1.5x faster than bytes.
 */
function scan(buf: Uint8Array, words: Uint32Array | null, from: number, to: number, mask: number, h: number): number {
  const G = GEAR;
  let i = from;
  if (words) {
    const base = buf.byteOffset;
    for (; i < to && ((base + i) & 3) !== 0; i++) {
      h = ((h << 1) + G[buf[i]!]!) | 0;
      if ((h & mask) === 0) return i;
    }
    const wEnd = i + ((to - i) & ~3);
    for (; i < wEnd; i += 4) {
      const w = words[(base + i) >>> 2]!;
      h = ((h << 1) + G[w & 0xff]!) | 0;
      if ((h & mask) === 0) return i;
      h = ((h << 1) + G[(w >>> 8) & 0xff]!) | 0;
      if ((h & mask) === 0) return i + 1;
      h = ((h << 1) + G[(w >>> 16) & 0xff]!) | 0;
      if ((h & mask) === 0) return i + 2;
      h = ((h << 1) + G[w >>> 24]!) | 0;
      if ((h & mask) === 0) return i + 3;
    }
  }
  for (; i < to; i++) {
    h = ((h << 1) + G[buf[i]!]!) | 0;
    if ((h & mask) === 0) return i;
  }
  jsGearKernel.hash = h;
  return -1;
}

/** Read buffers for chunkFile, shared by every chunkFile in the process. */
const slabs = new SlabPool<Slab>((size) => ({ refs: 1, buf: Buffer.allocUnsafeSlow(size) }));

/**
 * Cuts a file into chunks. Reads go into slabs of `bufferBytes` (plus head room for a chunk that spans
 * two reads), the next read is issued while the current slab is being cut and hashed, and slabs are
 * reused once every chunk held from them is released, so memory stays flat for any size and chunks
 * reach the writer without a copy. Yields views; the consumer must hold() or copy what it keeps past
 * the next iteration.
 */
export async function* chunkFile(path: string, params: ChunkerParams = DEFAULT_CHUNKER, bufferBytes = 4 << 20, plannedLengths?: number[]): AsyncGenerator<RawChunk> {
  // A large FastCDC file is scanned on worker threads (src/core/cdc-parallel.ts): the same cuts, ~1.5x
  // the speed on two cores. Small files stay here: a worker costs ~30-50 ms to start.
  if (!plannedLengths && params.alg === FASTCDC_ALG && process.env.CKPTSYNC_CDC_THREADS !== '0' && (await fs.stat(path)).size >= PARALLEL_CDC_MIN_BYTES) {
    const { cdcThreads, chunkFileParallel } = await import('./cdc-parallel.js');
    const threads = cdcThreads();
    if (threads > 0) return yield* chunkFileParallel(path, params, { threads, bufferBytes });
  }
  let planned = 0;
  const cut: CutFinder = plannedLengths
    ? (_buf, start, end, eof) => {
        const want = plannedLengths[planned];
        if (want === undefined) throw new Error(`${path} grew while it was being read`);
        if (end - start < want) {
          if (eof) throw new Error(`${path} shrank while it was being read`);
          return -1;
        }
        planned++;
        return want;
      }
    : fastcdcCutFinder(params);
  // FastCDC: a chunk's unread tail is moved in front of the next read, so a slab keeps room for the
  // longest chunk there can be (the chunker's max). Planned cuts (tensor-aware): each read is whole
  // chunks, so a read ends on a cut, nothing is ever moved between slabs and a slab needs no room; its
  // size is the longest chunk rounded up to 64 KiB (at least bufferBytes), the same for every file cut
  // with the same pieces, so the next file reuses the last one's. With 4 MiB pieces, reading blocks that
  // ignored the cuts moved about half of every chunk from one slab to the next.
  let room = params.max;
  let block = Math.max(bufferBytes, params.max);
  if (plannedLengths) {
    let longest = 0;
    for (const n of plannedLengths) longest = Math.max(longest, n);
    if (longest > params.max) throw new RangeError(`${path}: a planned chunk is larger than the chunker's max`);
    room = 0;
    block = Math.max(bufferBytes, Math.ceil(longest / SLAB_GRAIN) * SLAB_GRAIN);
  }
  const size = room + block;
  const acquire = () => slabs.take(size);
  const fh = await fs.open(path, 'r');
  let filePos = 0;
  let readChunks = 0; // planned chunks read so far
  /** Fills slab.buf from `room` on: a block, or as many whole planned chunks as fit in one. */
  const readInto = async (s: Slab): Promise<{ n: number; eof: boolean }> => {
    if (!plannedLengths) {
      const n = await readFully(fh, s.buf.subarray(room, room + block), filePos);
      filePos += n;
      return { n, eof: n < block };
    }
    let want = 0;
    while (readChunks < plannedLengths.length && want + plannedLengths[readChunks]! <= block) want += plannedLengths[readChunks++]!;
    const n = await readFully(fh, s.buf.subarray(0, want), filePos);
    filePos += n;
    if (n < want) return { n, eof: true }; // the cutter then reports that the file shrank
    if (readChunks < plannedLengths.length) return { n, eof: false };
    if ((await readFully(fh, Buffer.alloc(1), filePos)) > 0) throw new Error(`${path} grew while it was being read`);
    return { n, eof: true };
  };
  let pending: { slab: Slab; read: Promise<{ n: number; eof: boolean }> } | null = null;
  let cur: Slab | null = null;
  try {
    cur = acquire();
    let { n, eof } = await readInto(cur);
    let start = room;
    let end = room + n;
    let fileOffset = 0; // file offset of cur.buf[start]
    const prefetch = () => {
      const slab = acquire();
      const read = readInto(slab);
      read.catch(() => {}); // surfaced when awaited
      pending = { slab, read };
    };
    if (!eof) prefetch();
    for (;;) {
      if (start === end && eof) {
        if (plannedLengths && planned !== plannedLengths.length) throw new Error(`${path} shrank while it was being read`);
        return;
      }
      // Cut first, refill only when the cutter needs more: the tail moved to the next slab stays short.
      const len = start === end ? -1 : cut(cur.buf, start, end, eof);
      if (len < 0) {
        const tail = end - start;
        if (eof || (plannedLengths ? tail > 0 : tail >= room)) throw new Error(`${path}: a planned chunk is larger than the chunker's max`);
        const next = pending!;
        pending = null;
        if (tail > 0) cur.buf.copy(next.slab.buf, room - tail, start, end);
        ({ n, eof } = await next.read);
        slabs.release(cur);
        cur = next.slab;
        start = room - tail;
        end = room + n;
        if (!eof) prefetch();
        continue;
      }
      yield slabs.chunk(cur, fileOffset, start, len);
      start += len;
      fileOffset += len;
    }
  } finally {
    const p = pending as { slab: Slab; read: Promise<unknown> } | null;
    if (p) {
      await p.read.catch(() => {});
      slabs.release(p.slab);
    }
    if (cur) slabs.release(cur); // the reader's own reference; chunks still held keep it until released
    await fh.close();
  }
}

const SLAB_GRAIN = 64 << 10;

/** Files at least this large are cut with the parallel FastCDC path when worker threads are available. */
export const PARALLEL_CDC_MIN_BYTES = 16 << 20;


/** Chunks an in-memory buffer (tests and small inputs). Returns chunk lengths. */
export function chunkLengths(data: Uint8Array, params: ChunkerParams = DEFAULT_CHUNKER): number[] {
  const cut = fastcdcCutFinder(params);
  const out: number[] = [];
  for (let start = 0; start < data.length; ) {
    const len = cut(data, start, data.length, true);
    out.push(len);
    start += len;
  }
  return out;
}
