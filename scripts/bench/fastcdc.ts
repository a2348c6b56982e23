// The FastCDC fallback's speed alone, as the main bench's "fastcdc" row measures it (chunkFile over a
// warm file with the default chunker; chunking only, then chunking + BLAKE3 of every chunk), repeated so
// one noisy run on a shared 2-core machine does not decide. Also times the cut alone in memory. Each line
// gives wall-clock MB/s and MB per CPU-second of this process (reads included): on a machine shared with
// other work the second is the steadier figure. CKPTSYNC_CDC=js measures the JavaScript kernel.
//
//   node dist/scripts/bench/fastcdc.js [MiB] [runs] [FILE]
//
// Without FILE it writes MiB of random bytes under .bench/ and removes them afterwards.

import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEFAULT_CHUNKER, chunkFile, chunkLengths, cutKernel } from '../../src/core/chunker.js';
import { hashBytes } from '../../src/core/hash.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const mib = Number(process.argv[2] ?? 512);
const runs = Number(process.argv[3] ?? 5);
let file = process.argv[4];
let work: string | undefined;

const mbps = (bytes: number, s: number) => bytes / s / 1e6;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
interface Timing {
  wall: number;
  cpu: number;
}
const secondsOf = async (f: () => Promise<void> | void): Promise<Timing> => {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await f();
  const c = process.cpuUsage(c0);
  return { wall: Number(process.hrtime.bigint() - t0) / 1e9, cpu: (c.user + c.system) / 1e6 };
};

try {
  if (!file) {
    await fs.mkdir(path.join(ROOT, '.bench'), { recursive: true });
    work = await fs.mkdtemp(path.join(ROOT, '.bench/fastcdc-'));
    file = path.join(work, 'random.bin');
    const fh = await fs.open(file, 'w');
    for (let i = 0; i < mib; i += 16) await fh.write(crypto.randomBytes(Math.min(16, mib - i) << 20));
    await fh.close();
  }
  const bytes = (await fs.stat(file)).size;
  await fs.readFile(file); // warm page cache, like the main bench's `cat`
  const chunkOnly: Timing[] = [];
  const withHash: Timing[] = [];
  for (let r = 0; r < runs; r++) {
    let n = 0;
    chunkOnly.push(await secondsOf(async () => {
      for await (const c of chunkFile(file!, DEFAULT_CHUNKER)) n += c.data.length;
    }));
    if (n !== bytes) throw new Error('fastcdc lost bytes');
    withHash.push(await secondsOf(async () => {
      for await (const c of chunkFile(file!, DEFAULT_CHUNKER)) hashBytes(c.data);
    }));
  }
  const rate = (xs: number[]) => `median ${mbps(bytes, median(xs)).toFixed(0)}, best ${mbps(bytes, Math.min(...xs)).toFixed(0)}`;
  const fmt = (ts: Timing[]) => `wall MB/s ${rate(ts.map((t) => t.wall))}; MB/cpu-s ${rate(ts.map((t) => t.cpu))}`;
  // CKPTSYNC_CDC_THREADS=0 measures the sequential cut (files >= 16 MiB otherwise scan on worker threads).
  console.log(`kernel: ${cutKernel}; scan threads: ${process.env.CKPTSYNC_CDC_THREADS ?? 'default'}; ${bytes} bytes; ${runs} runs`);
  console.log(`FastCDC chunking only:    ${fmt(chunkOnly)}`);
  console.log(`FastCDC chunking + BLAKE3: ${fmt(withHash)}`);
  // In memory, no file reads: what the cut kernel alone costs.
  const mem = crypto.randomBytes(Math.min(bytes, 256 << 20));
  const memRuns: Timing[] = [];
  for (let r = 0; r < runs; r++) memRuns.push(await secondsOf(() => void chunkLengths(mem, DEFAULT_CHUNKER)));
  const scale = bytes / mem.length;
  console.log(`chunkLengths in memory:    ${fmt(memRuns.map((t) => ({ wall: t.wall * scale, cpu: t.cpu * scale })))}`);
} finally {
  if (work) await fs.rm(work, { recursive: true, force: true });
}
