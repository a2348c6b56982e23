// The parallel FastCDC path (src/core/cdc-parallel.ts) must cut exactly where the rule does
// (manifest-spec.md §2.1): every file here is compared, chunk by chunk, with the JavaScript reference
// kernel cutting the same bytes in memory, across parameter sets, file sizes and slab boundaries.

import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { chunkFileParallel, cdcWorkerCount, stopCdcWorkers } from '../../src/core/cdc-parallel.js';
import { loadCandidateScanner } from '../../src/core/cdc-wasm.js';
import { chunkFile, DEFAULT_CHUNKER, GEAR, jsGearKernel, PARALLEL_CDC_MIN_BYTES, type ChunkerParams } from '../../src/core/chunker.js';
import { repoRoot, tempDir } from '../helpers.js';
import { byteWithoutCuts, cutLengths, fc, pairCuttingAtOnce } from './cdc-fixtures.js';

const PARAMS: ChunkerParams[] = [
  fc(64, 64, 64), // every chunk exactly 64: no candidate is ever used
  fc(64, 64, 128), // min + 31 > avg: the recomputed prefix uses both masks
  fc(64, 128, 4096), // candidates every few bytes
  fc(100, 256, 1000),
  fc(1000, 4096, 4096), // avg == max
  fc(2048, 8192, 32768),
  fc(64, 1 << 16, 200_017),
  DEFAULT_CHUNKER,
];

/** The reference: the JavaScript kernel over the whole input in memory. */
const reference = (data: Uint8Array, p: ChunkerParams): number[] => cutLengths(data, p, jsGearKernel);

async function parallelLengths(file: string, p: ChunkerParams, threads: number, bufferBytes: number): Promise<number[]> {
  const out: number[] = [];
  let offset = 0;
  for await (const c of chunkFileParallel(file, p, { threads, bufferBytes })) {
    if (c.offset !== offset) throw new Error(`chunk at ${c.offset}, expected ${offset}`);
    out.push(c.data.length);
    offset += c.data.length;
  }
  return out;
}

async function withFile<T>(data: Uint8Array, f: (file: string) => Promise<T>): Promise<T> {
  const dir = await tempDir();
  try {
    const file = path.join(dir, 'f');
    await fs.writeFile(file, data);
    return await f(file);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
}


test('parallel cuts of random files match the JS reference for every parameter set, with one and two workers', async (t) => {
  for (const p of PARAMS) {
    // Small averages make a candidate every few dozen bytes: less data keeps them quick.
    const data = crypto.randomBytes(Math.max(p.avg < 4096 ? 256 << 10 : 3 << 20, p.max * 5) + crypto.randomInt(1000));
    const want = reference(data, p);
    t.true(want.length > 1);
    await withFile(data, async (file) => {
      for (const threads of [1, 2]) {
        for (const bufferBytes of [p.max, 100_000, 1 << 20]) {
          t.deepEqual(await parallelLengths(file, p, threads, bufferBytes), want, `${JSON.stringify(p)} threads ${threads} reads of ${bufferBytes}`);
        }
      }
    });
  }
});

test('parallel cuts match at every slab boundary offset (odd read sizes move candidates across slabs)', async (t) => {
  const p = fc(2048, 8192, 32768);
  const data = crypto.randomBytes((2 << 20) + 333);
  const want = reference(data, p);
  await withFile(data, async (file) => {
    for (const bufferBytes of [32768, 32769, 40_000, 65_537, 100_003, 262_147, 524_309]) {
      t.deepEqual(await parallelLengths(file, p, 2, bufferBytes), want, `reads of ${bufferBytes}`);
    }
  });
});

test('files shorter than min, exactly min, avg or max long, and just over, are cut as the reference cuts them', async (t) => {
  for (const p of [fc(64, 128, 4096), fc(1000, 4096, 4096), fc(2048, 8192, 32768), DEFAULT_CHUNKER]) {
    const sizes = new Set([0, 1, 63, 64, 94, 95, 96, p.min - 1, p.min, p.min + 1, p.min + 31, p.min + 32, p.avg - 1, p.avg, p.avg + 1, p.max - 1, p.max, p.max + 1, 2 * p.max + 1]);
    for (const size of sizes) {
      const data = crypto.randomBytes(size);
      const got = await withFile(data, (file) => parallelLengths(file, p, 2, p.max));
      t.deepEqual(got, reference(data, p), `${JSON.stringify(p)} size ${size}`);
    }
  }
});

test('data with no cut point at all is cut every max bytes', async (t) => {
  for (const p of [fc(64, 128, 4096), fc(2048, 8192, 32768), DEFAULT_CHUNKER]) {
    const data = Buffer.alloc(3 * p.max + 5, byteWithoutCuts(p));
    const got = await withFile(data, (file) => parallelLengths(file, p, 2, p.max + 7));
    t.deepEqual(got, [p.max, p.max, p.max, 5]);
    t.deepEqual(got, reference(data, p));
  }
});

test('cut candidates right after min (inside the recomputed 31 positions) cut where the reference does', async (t) => {
  // A byte pair whose second byte satisfies maskS of fc(64, 64, 256) from h = 0: runs of it cut every
  // min + 2 bytes, a cut inside the prefix the workers' window hash cannot see.
  const p = fc(64, 64, 256);
  const pair = pairCuttingAtOnce();
  if (!pair) return t.fail('no byte pair satisfies maskS');
  const run = (n: number) => Buffer.concat(Array.from({ length: n }, () => pair!));
  const data = Buffer.concat([run(2500), crypto.randomBytes(3001), run(400), crypto.randomBytes(70_000), run(33), crypto.randomBytes(1)]);
  const got = await withFile(data, (file) => parallelLengths(file, p, 2, 1000));
  t.deepEqual(got.slice(0, 10), Array(10).fill(66));
  t.deepEqual(got, reference(data, p));
});

test.serial('chunkFile takes the parallel path for a large FastCDC file only, with the same cuts and held views', async (t) => {
  await stopCdcWorkers();
  const small = crypto.randomBytes(3 << 20);
  await withFile(small, async (file) => {
    const got: number[] = [];
    for await (const c of chunkFile(file)) got.push(c.data.length);
    t.deepEqual(got, reference(small, DEFAULT_CHUNKER));
  });
  t.is(cdcWorkerCount(), 0, 'a small file starts no worker');
  const large = crypto.randomBytes(PARALLEL_CDC_MIN_BYTES + 12345);
  await withFile(large, async (file) => {
    const got: number[] = [];
    const held: { data: Buffer; copy: Buffer; release: () => void }[] = [];
    for await (const c of chunkFile(file)) {
      got.push(c.data.length);
      if (got.length % 3 === 0) held.push({ data: c.data, copy: Buffer.from(c.data), release: c.hold() });
    }
    t.deepEqual(got, reference(large, DEFAULT_CHUNKER));
    for (const h of held) {
      t.true(h.data.equals(h.copy), 'a held chunk is not overwritten by later reads');
      h.release();
    }
  });
  t.is(cdcWorkerCount(), 2, 'a large file is scanned by two workers');
});

test.serial('a worker that dies mid-file fails the chunking with an error instead of hanging', async (t) => {
  const data = crypto.randomBytes(24 << 20);
  await withFile(data, async (file) => {
    const err = await t.throwsAsync(async () => {
      let n = 0;
      for await (const c of chunkFileParallel(file, DEFAULT_CHUNKER, { threads: 2, bufferBytes: 1 << 20 })) {
        if (n++ === 1) await stopCdcWorkers();
        void c;
      }
    });
    t.regex(err!.message, /scan worker/);
  });
  // The next file starts a fresh pool.
  const again = crypto.randomBytes(5 << 20);
  t.deepEqual(await withFile(again, (file) => parallelLengths(file, DEFAULT_CHUNKER, 2, 1 << 20)), reference(again, DEFAULT_CHUNKER));
});

test('a process that cut a large file exits on its own: idle workers do not keep it alive', async (t) => {
  const data = crypto.randomBytes(PARALLEL_CDC_MIN_BYTES + 1);
  await withFile(data, async (file) => {
    const script = `import { chunkFile } from ${JSON.stringify(path.join(repoRoot, 'dist/src/core/chunker.js'))};
      import { cdcWorkerCount } from ${JSON.stringify(path.join(repoRoot, 'dist/src/core/cdc-parallel.js'))};
      let n = 0; for await (const c of chunkFile(${JSON.stringify(file)})) n += c.data.length;
      console.log(n, cdcWorkerCount());`;
    // The timeout only turns a hang into a failure; it is far above the ~1 s this takes.
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { timeout: 60_000, env: { ...process.env, CKPTSYNC_CDC_THREADS: '2' } });
    t.is(stdout.trim(), `${data.length} 2`);
  });
});

test('chunkFile cuts min == max parameters every max bytes on both paths (a full chunk needs no more data)', async (t) => {
  const p = fc(64, 64, 64);
  const data = crypto.randomBytes(64 * 1000 + 17);
  await withFile(data, async (file) => {
    const seq: number[] = [];
    for await (const c of chunkFile(file, p, 1000)) seq.push(c.data.length);
    t.deepEqual(seq, reference(data, p));
    t.deepEqual(await parallelLengths(file, p, 2, 1000), seq);
  });
});

test('the WebAssembly candidate scanner reports every position (and hash) the JS gear loop hits, across window copies', (t) => {
  const scanner = loadCandidateScanner(GEAR);
  if (!scanner) return t.fail('WebAssembly candidate scanner did not load');
  const data = crypto.randomBytes(3 * 65536 + 4321);
  for (const [from, to] of [[0, data.length], [31, 65536 + 31], [100, 100], [5000, 5001], [65535, 3 * 65536 + 1]] as const) {
    for (const bits of [2, 5, 12]) {
      const mask = (0xffffffff << (32 - bits)) | 0;
      const want: [number, number][] = [];
      let h = 0;
      for (let i = from; i < to; i++) {
        h = ((h << 1) + GEAR[data[i]!]!) | 0;
        if ((h & mask) === 0) want.push([i, h]);
      }
      const got: [number, number][] = [];
      const warm = (at: number) => {
        let w = 0;
        for (let i = Math.max(from, at - 31); i < at; i++) w = ((w << 1) + GEAR[data[i]!]!) | 0;
        return w;
      };
      scanner.scan(data, from, to, mask, 0, warm, (i, hash) => got.push([i, hash]));
      // Lanes after the first start from a 31-byte warm-up: the same hash once 32 bytes are in.
      const settled = (xs: [number, number][]) => xs.filter(([i]) => (i - from) % 65536 >= 31 || i - from < 65536);
      t.deepEqual(settled(got), settled(want), `[${from}, ${to}) ${bits} bits`);
      t.true(want.length > 0 || to - from < 100);
    }
  }
});
