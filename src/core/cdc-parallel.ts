// FastCDC (manifest-spec.md §2.1) on two cores: worker threads find every cut candidate of each slab
// (src/core/cdc-worker.ts) while the main thread reads ahead, applies the rule to the candidates and
// hands chunks to the consumer (which hashes them). The cuts are exactly §2.1's: a chunk starting at s
// scans from s + min with h = 0, and from s + min + 31 on that hash equals the window hash the workers
// computed (older bytes are shifted out of the 32-bit word); the 31 positions before are recomputed here.
// Scanning every byte costs ~25% more than skipping each chunk's first `min`, so this pays only with a
// second core, and worker start-up (~30-50 ms) only on large files: chunkFile decides.

import os from 'node:os';
import fs from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { readFully } from './file-io.js';
import { fastcdcMasks, GEAR, validateChunker, FASTCDC_ALG, type ChunkerParams } from './chunk-params.js';
import type { ScanJob, ScanReply } from './cdc-worker.js';
import { SlabPool, type RawChunk } from './slabs.js';

/** Bytes before the region that the workers' hash is warmed over: the window is 32 bytes. */
const WARM = 31;
/** Slabs read and scanned ahead of the one being cut: enough to keep the workers busy while chunks are hashed. */
const AHEAD = 2;
/** A region shorter than this goes to one worker: splitting it would cost more in messages than it saves. */
const MIN_PART = 256 << 10;

/** Worker threads for the candidate scan: CKPTSYNC_CDC_THREADS, else 2 where there are 2 cores, else 0 (sequential). */
export function cdcThreads(): number {
  const env = process.env.CKPTSYNC_CDC_THREADS;
  if (env !== undefined && env !== '') return Math.max(0, Math.min(8, Math.floor(Number(env)) || 0));
  return os.availableParallelism() >= 2 ? 2 : 0;
}

interface Candidates {
  /** File offsets where the window hash satisfies maskL, ascending. */
  pos: number[];
  /** 1 where maskS holds too. */
  strong: number[];
}

interface Slot {
  worker: Worker;
  jobs: Map<number, { resolve: (r: { pos: Int32Array; strong: Uint8Array }) => void; reject: (e: Error) => void }>;
  dead: Error | null;
  /**
   * terminate() was called: the worker stays ref'd (as terminate() made it) until it exits. A reply that
   * arrived meanwhile unref'd it, and under load the process ran out of work with terminate() pending.
   */
  stopping: boolean;
}

/**
 * The scan workers, shared by every chunkFile of the process (an ingest cuts file after file). They are
 * unref'd while idle, so they never keep the process alive, and ref'd while a job is out, so an await on
 * one is not cut short by the process exiting. A worker that errors or exits fails its jobs and the pool.
 */
class ScanPool {
  private readonly slots: Slot[] = [];
  private nextId = 1;

  constructor(readonly size: number) {
    for (let k = 0; k < size; k++) {
      const worker = new Worker(new URL('./cdc-worker.js', import.meta.url), { workerData: { gear: GEAR }, execArgv: [] });
      const slot: Slot = { worker, jobs: new Map(), dead: null, stopping: false };
      worker.unref();
      worker.on('message', (r: ScanReply) => {
        const job = slot.jobs.get(r.id);
        if (!job) return;
        slot.jobs.delete(r.id);
        if (slot.jobs.size === 0 && !slot.stopping) worker.unref();
        if ('error' in r) job.reject(new Error(`FastCDC scan worker failed: ${r.error}`));
        else job.resolve(r);
      });
      const fail = (e: Error) => {
        slot.dead ??= e;
        for (const j of slot.jobs.values()) j.reject(slot.dead);
        slot.jobs.clear();
        if (!slot.stopping) worker.unref();
      };
      worker.on('error', (e) => fail(new Error(`FastCDC scan worker failed: ${e.message}`)));
      worker.on('exit', (code) => fail(new Error(`FastCDC scan worker exited (code ${code})`)));
      this.slots.push(slot);
    }
  }

  get broken(): boolean {
    return this.slots.some((s) => s.dead);
  }

  scan(k: number, job: Omit<ScanJob, 'id'>): Promise<{ pos: Int32Array; strong: Uint8Array }> {
    const slot = this.slots[k % this.slots.length]!;
    if (slot.dead) return Promise.reject(slot.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      if (slot.jobs.size === 0) slot.worker.ref();
      slot.jobs.set(id, { resolve, reject });
      slot.worker.postMessage({ ...job, id } satisfies ScanJob);
    });
  }

  async terminate(): Promise<void> {
    for (const s of this.slots) s.stopping = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}

/** One pool per worker count, so a cut with another count never stops workers another cut is using. */
const pools = new Map<number, ScanPool>();

function poolOf(threads: number): ScanPool {
  let p = pools.get(threads);
  if (!p || p.broken) {
    void p?.terminate(); // a broken pool's jobs have all failed already
    p = new ScanPool(threads);
    pools.set(threads, p);
  }
  return p;
}

/** Stops the scan workers (they are unref'd anyway; for tests and embedders that want threads gone). */
export async function stopCdcWorkers(): Promise<void> {
  const all = [...pools.values()];
  pools.clear();
  await Promise.all(all.map((p) => p.terminate()));
}

/** Runs the candidate scan of u8(buf)[from, to), file offset `fileAt` at `from`, split over the workers. */
async function scanRegion(p: ScanPool, buf: SharedArrayBuffer, from: number, to: number, warm: number, fileAt: number, masks: { maskS: number; maskL: number }): Promise<Candidates> {
  const parts = Math.max(1, Math.min(p.size, Math.floor((to - from) / MIN_PART)));
  const step = Math.ceil((to - from) / parts);
  const jobs: Promise<{ pos: Int32Array; strong: Uint8Array }>[] = [];
  const starts: number[] = [];
  for (let k = 0, a = from; a < to; k++, a += step) {
    starts.push(a);
    jobs.push(p.scan(k, { buf, from: a, to: Math.min(to, a + step), warm: a === from ? warm : WARM, ...masks }));
  }
  const out: Candidates = { pos: [], strong: [] };
  const replies = await Promise.all(jobs);
  replies.forEach((r, k) => {
    const base = fileAt + (starts[k]! - from);
    for (let j = 0; j < r.pos.length; j++) {
      out.pos.push(base + r.pos[j]!);
      out.strong.push(r.strong[j]!);
    }
  });
  return out;
}

/** A read buffer on shared memory (the workers scan it in place); chunks cut from it hold it. */
class SharedSlab {
  refs = 1;
  readonly buf: Buffer;
  constructor(readonly sab: SharedArrayBuffer) {
    this.buf = Buffer.from(sab);
  }
}

const slabs = new SlabPool<SharedSlab>((size) => new SharedSlab(new SharedArrayBuffer(size)));

interface Loaded {
  /** File offset of slab.buf[room]. */
  fileAt: number;
  n: number;
  eof: boolean;
  cands: Candidates;
}

export interface ParallelChunkOptions {
  /** Worker threads (default cdcThreads()). */
  threads?: number;
  /** Bytes read per slab (default 4 MiB, at least the chunker's max). */
  bufferBytes?: number;
}

/**
 * chunkFile's FastCDC path on worker threads: the same chunks (offsets, lengths, held views) as the
 * sequential cut. Slabs are `max` bytes of head room (for the unfinished chunk moved in from the previous
 * slab) plus the read; at most AHEAD + 1 are in flight beyond those held by the consumer.
 */
export async function* chunkFileParallel(path: string, params: ChunkerParams, opts: ParallelChunkOptions = {}): AsyncGenerator<RawChunk> {
  validateChunker(params);
  if (params.alg !== FASTCDC_ALG) throw new RangeError(`${params.alg} is not a rolling-hash chunker`);
  const threads = opts.threads ?? cdcThreads();
  if (threads < 1) throw new RangeError('the parallel FastCDC path needs at least one worker thread');
  const scanners = poolOf(threads);
  const masks = fastcdcMasks(params);
  const { min, avg, max } = params;
  const { maskS, maskL } = masks;
  const G = GEAR;
  const room = max;
  const block = Math.max(opts.bufferBytes ?? 4 << 20, max);
  const size = room + block;
  const fh = await fs.open(path, 'r');

  // Reads are chained (each slab's warm-up bytes are the previous read's last 31); scans start as soon
  // as their read is done and run while the consumer is still on earlier slabs.
  let chain: Promise<{ fileAt: number; eof: boolean; last: Buffer }> = Promise.resolve({ fileAt: 0, eof: false, last: Buffer.alloc(0) });
  const launch = () => {
    const slab = slabs.take(size);
    const read = chain.then(async (prev) => {
      if (prev.eof) return { fileAt: prev.fileAt, n: 0, eof: true, warm: 0 };
      slab.buf.set(prev.last, room - prev.last.length);
      const n = await readFully(fh, slab.buf.subarray(room, room + block), prev.fileAt);
      return { fileAt: prev.fileAt, n, eof: n < block, warm: prev.last.length };
    });
    chain = read.then((r) => ({ fileAt: r.fileAt + r.n, eof: r.eof, last: Buffer.from(slab.buf.subarray(room + r.n - Math.min(WARM, r.n), room + r.n)) }));
    const done: Promise<Loaded> = read.then(async (r) => ({ ...r, cands: await scanRegion(scanners, slab.sab, room, room + r.n, r.warm, r.fileAt, masks) }));
    done.catch(() => {}); // surfaced when awaited
    chain.catch(() => {});
    return { slab, done };
  };
  const ahead = Array.from({ length: AHEAD + 1 }, launch);

  let cur: SharedSlab | null = null;
  try {
    const first = ahead.shift()!;
    ahead.push(launch());
    let got = await first.done;
    cur = first.slab;
    let start = room;
    let end = room + got.n;
    let eof = got.eof;
    let fileOffset = 0; // file offset of cur.buf[start]
    const cpos = got.cands.pos;
    const cstrong = got.cands.strong;
    let head = 0; // candidates before cpos[head] lie before any chunk's scan still to come

    /** §2.1 for the chunk at cur.buf[start], or -1 when more bytes are needed to decide. */
    const cut = (buf: Buffer): number => {
      const n = end - start;
      if (n <= min) return eof || n === max ? n : -1; // n === max: min === max, the length is max whatever follows
      const limit = Math.min(n, max);
      // The first 31 positions see a hash started at s + min, not the window: roll them here.
      let h = 0;
      for (let i = min, e = Math.min(limit, min + WARM); i < e; i++) {
        h = ((h << 1) + G[buf[start + i]!]!) | 0;
        if ((h & (i < avg ? maskS : maskL)) === 0) return i + 1;
      }
      const from = fileOffset + min + WARM;
      while (head < cpos.length && cpos[head]! < from) head++;
      for (let k = head; k < cpos.length; k++) {
        const rel = cpos[k]! - fileOffset;
        if (rel >= limit) break;
        if (rel >= avg || cstrong[k] === 1) return rel + 1;
      }
      if (limit === max) return max;
      return eof ? n : -1;
    };

    for (;;) {
      if (start === end && eof) return;
      const len = start === end ? -1 : cut(cur.buf);
      if (len < 0) {
        if (eof || end - start >= room) throw new Error(`${path}: FastCDC found no cut within max bytes`);
        const next = ahead.shift()!;
        ahead.push(launch());
        got = await next.done;
        const tail = end - start;
        cur.buf.copy(next.slab.buf, room - tail, start, end);
        slabs.release(cur);
        cur = next.slab;
        start = room - tail;
        end = room + got.n;
        eof = got.eof;
        cpos.splice(0, head);
        cstrong.splice(0, head);
        head = 0;
        for (let k = 0; k < got.cands.pos.length; k++) {
          cpos.push(got.cands.pos[k]!);
          cstrong.push(got.cands.strong[k]!);
        }
        continue;
      }
      yield slabs.chunk(cur, fileOffset, start, len);
      start += len;
      fileOffset += len;
    }
  } finally {
    // Every slab still being read or scanned is released only once nobody writes or reads it.
    for (const a of ahead) {
      await a.done.catch(() => {});
      slabs.release(a.slab);
    }
    if (cur) slabs.release(cur);
    await fh.close();
  }
}

/** Scan workers alive in the pool (0 until a large FastCDC file is cut): lets tests see which path ran. */
export function cdcWorkerCount(): number {
  let n = 0;
  for (const p of pools.values()) if (!p.broken) n += p.size;
  return n;
}
