// A worker thread of the parallel FastCDC path (src/core/cdc-parallel.ts): finds every cut candidate of
// a region of a slab, independent of where chunks start (manifest-spec.md §2.1, "candidates in parallel").
// The gear hash at byte i depends only on bytes i-31..i, so a scan started 31 bytes before the region
// with h = 0 gives, from the region's first byte on, the hash the rule sees for any chunk whose scan began
// at least 31 bytes earlier. The main thread applies the rule to the candidates reported here.

import { parentPort, workerData } from 'node:worker_threads';
import { loadCandidateScanner } from './cdc-wasm.js';
import { loadGearKernel, type GearKernel } from './gear-wasm.js';

/** main -> worker: scan u8(buf)[from, to) with the hash warmed over [from - warm, from). */
export interface ScanJob {
  id: number;
  buf: SharedArrayBuffer;
  from: number;
  to: number;
  warm: number;
  maskL: number;
  maskS: number;
}

/** worker -> main: candidate offsets relative to `from` (hash & maskL == 0), each flagged 1 if maskS holds too. */
export type ScanReply = { id: number; pos: Int32Array; strong: Uint8Array } | { id: number; error: string };

export interface WorkerInit {
  gear: Uint32Array;
}

const { gear } = workerData as WorkerInit;

/** The JavaScript loop where WebAssembly cannot load (same contract as GearKernel.scan). */
const jsKernel: GearKernel = {
  hash: 0,
  scan(buf, from, to, mask, h) {
    for (let i = from; i < to; i++) {
      h = ((h << 1) + gear[buf[i]!]!) | 0;
      if ((h & mask) === 0) return i;
    }
    jsKernel.hash = h;
    return -1;
  },
};
const kernel = loadGearKernel(gear) ?? jsKernel;
/** The record-every-hit scanner where WebAssembly loads (CKPTSYNC_CDC_SCAN=loop uses the cut loop instead, for A/B runs). */
const scanner = process.env.CKPTSYNC_CDC_SCAN === 'loop' ? null : loadCandidateScanner(gear);

/** The hash at `at` of a scan started with h = 0 at `lo` (at most the last 32 bytes count). */
function windowHash(u8: Uint8Array, lo: number, at: number): number {
  let h = 0;
  for (let i = Math.max(lo, at - 31); i <= at; i++) h = ((h << 1) + gear[u8[i]!]!) | 0;
  return h;
}

export function findCandidates(job: ScanJob): { pos: Int32Array; strong: Uint8Array } {
  const u8 = new Uint8Array(job.buf);
  const lo = job.from - job.warm;
  let pos = new Int32Array(64);
  let strong = new Uint8Array(64);
  let count = 0;
  let h = job.from > lo ? windowHash(u8, lo, job.from - 1) : 0;
  const grow = () => {
    const p2 = new Int32Array(count * 2);
    p2.set(pos);
    pos = p2;
    const s2 = new Uint8Array(count * 2);
    s2.set(strong);
    strong = s2;
  };
  if (scanner) {
    scanner.scan(
      u8,
      job.from,
      job.to,
      job.maskL,
      h,
      (at) => windowHash(u8, lo, at - 1),
      (at, hash) => {
        if (count === pos.length) grow();
        pos[count] = at - job.from;
        strong[count++] = (hash & job.maskS) === 0 ? 1 : 0;
      },
    );
    return { pos: pos.slice(0, count), strong: strong.slice(0, count) };
  }
  for (let i = job.from; i < job.to; ) {
    const at = kernel.scan(u8, i, job.to, job.maskL, h);
    if (at < 0) break;
    // The kernel stops at a hit without reporting its hash: recompute it from the window (hits are rare).
    h = windowHash(u8, lo, at);
    if (count === pos.length) grow();
    pos[count] = at - job.from;
    strong[count] = (h & job.maskS) === 0 ? 1 : 0;
    count++;
    i = at + 1;
  }
  return { pos: pos.slice(0, count), strong: strong.slice(0, count) };
}

parentPort?.on('message', (job: ScanJob) => {
  let reply: ScanReply;
  try {
    reply = { id: job.id, ...findCandidates(job) };
  } catch (e) {
    reply = { id: job.id, error: e instanceof Error ? (e.stack ?? e.message) : String(e) };
  }
  parentPort!.postMessage(reply, 'error' in reply ? [] : [reply.pos.buffer as ArrayBuffer, reply.strong.buffer as ArrayBuffer]);
});
