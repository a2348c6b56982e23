// The WebAssembly gear loop must cut exactly where the JavaScript one does (manifest-spec.md §2.1: the
// cut points are part of the format). The JS kernel is itself checked against the spec's wording in
// chunker.test.ts, so agreeing with it byte for byte is agreeing with the rule.

import { execFile } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import test from 'ava';
import { chunkFile, cutKernel, DEFAULT_CHUNKER, fastcdcCutFinder, jsGearKernel, wasmGearKernel, type ChunkerParams } from '../../src/core/chunker.js';
import { GEAR_WASM_BLOCK } from '../../src/core/gear-wasm.js';
import type { GearKernel } from '../../src/core/gear-wasm.js';
import { repoRoot, tempDir } from '../helpers.js';
import { byteWithoutCuts, cutLengths, fc, pairCuttingAtOnce } from './cdc-fixtures.js';

const wasm = wasmGearKernel!;

const lengths = cutLengths;

const PARAMS: ChunkerParams[] = [
  fc(64, 64, 64), // every chunk exactly 64: no byte is ever scanned
  fc(64, 64, 128),
  fc(64, 128, 4096),
  fc(100, 256, 1000), // min and max not powers of two
  fc(1000, 4096, 4096), // avg == max: the second (maskL) scan never runs
  fc(2048, 8192, 32768),
  fc(64, 1 << 16, 3 * GEAR_WASM_BLOCK + 17), // one chunk's scan spans several copies into wasm memory
  DEFAULT_CHUNKER,
];


test('WebAssembly is the default kernel on this runtime', (t) => {
  t.is(cutKernel, 'wasm');
  t.truthy(wasmGearKernel);
});

test('wasm and JS kernels cut random data at the same points for every parameter set', (t) => {
  for (const p of PARAMS) {
    const data = crypto.randomBytes(Math.max(1 << 20, p.max * 6));
    const want = lengths(data, p, jsGearKernel);
    t.deepEqual(lengths(data, p, wasm), want, JSON.stringify(p));
    t.true(want.length > 1);
  }
});

test('wasm and JS kernels agree on tiny inputs, inputs shorter than min, and exactly min, avg or max long', (t) => {
  for (const p of PARAMS) {
    const sizes = new Set([0, 1, 63, p.min - 1, p.min, p.min + 1, p.avg - 1, p.avg, p.avg + 1, p.max - 1, p.max, p.max + 1, 2 * p.max, 2 * p.max + 1]);
    for (const size of sizes) {
      const data = crypto.randomBytes(size);
      const got = lengths(data, p, wasm);
      t.deepEqual(got, lengths(data, p, jsGearKernel), `${JSON.stringify(p)} size ${size}`);
      t.is(got.reduce((a, b) => a + b, 0), size);
    }
  }
});

test('data with no cut point is cut every max bytes by both kernels', (t) => {
  for (const p of PARAMS) {
    const data = Buffer.alloc(3 * p.max + 5, byteWithoutCuts(p));
    const got = lengths(data, p, wasm);
    t.deepEqual(got, [p.max, p.max, p.max, 5].filter((n) => n > 0), JSON.stringify(p));
    t.deepEqual(got, lengths(data, p, jsGearKernel));
  }
});

test('data that cuts as soon as the hash can is cut identically by both kernels', (t) => {
  // No single byte satisfies maskS (top 8 bits) on its own, so find a pair that does on its second byte:
  // runs of that pair cut every min + 2 bytes.
  const p = fc(64, 64, 256);
  const pair = pairCuttingAtOnce();
  if (!pair) return t.fail('no byte pair satisfies maskS');
  const run = (n: number) => Buffer.concat(Array.from({ length: n }, () => pair!));
  const data = Buffer.concat([run(2500), crypto.randomBytes(3001), run(400), crypto.randomBytes(1)]);
  const got = lengths(data, p, wasm);
  t.deepEqual(got.slice(0, 10), Array(10).fill(66));
  t.deepEqual(got, lengths(data, p, jsGearKernel));
});

test('wasm and JS kernels agree at every buffer alignment', (t) => {
  const backing = crypto.randomBytes((2 << 20) + 8);
  const p = fc(2048, 8192, 32768);
  for (let offset = 0; offset < 8; offset++) {
    const view = new Uint8Array(backing.buffer, backing.byteOffset + offset, 2 << 20);
    t.deepEqual(lengths(view, p, wasm), lengths(view, p, jsGearKernel), `offset ${offset}`);
  }
});

test('a scan returns the same index and leaves the same hash in both kernels, across copy boundaries', (t) => {
  const data = crypto.randomBytes(3 * GEAR_WASM_BLOCK + 1000);
  const B = GEAR_WASM_BLOCK;
  const ranges: [number, number][] = [[0, 0], [5, 5], [0, 1], [0, data.length], [1, data.length - 1], [B - 3, B + 3], [B - 1, 2 * B + 1], [B, 2 * B], [2 * B + 7, 3 * B + 999]];
  for (let i = 0; i < 200; i++) {
    const a = crypto.randomInt(data.length);
    ranges.push([a, a + crypto.randomInt(data.length - a + 1)]);
  }
  for (const [from, to] of ranges) {
    for (const bits of [1, 4, 8, 13, 20, 24, 32]) {
      const mask = (0xffffffff << (32 - bits)) | 0;
      const h = crypto.randomInt(2 ** 32) | 0;
      const want = jsGearKernel.scan(data, from, to, mask, h);
      const wantHash = jsGearKernel.hash;
      const got = wasm.scan(data, from, to, mask, h);
      t.is(got, want, `[${from}, ${to}) mask ${bits} bits`);
      if (want < 0) t.is(wasm.hash, wantHash, `hash after [${from}, ${to})`);
    }
  }
});

test('chunkFile with the wasm kernel cuts a file where the JS kernel cuts it in memory', async (t) => {
  const dir = await tempDir();
  try {
    const file = path.join(dir, 'f');
    const data = crypto.randomBytes(13 << 20);
    await fs.writeFile(file, data);
    const got: number[] = [];
    for await (const c of chunkFile(file, DEFAULT_CHUNKER, 5 << 20)) got.push(c.data.length);
    t.deepEqual(got, lengths(data, DEFAULT_CHUNKER, jsGearKernel));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

/**
 * Feeds data to a cut finder the way chunkFile does: it arrives in pieces of random size, and the
 * unfinished chunk is moved to the front of a fresh buffer (at another offset) before each refill.
 */
function streamedLengths(data: Uint8Array, p: ChunkerParams, kernel: GearKernel, maxPiece: number): number[] {
  const cut = fastcdcCutFinder(p, kernel);
  const out: number[] = [];
  let buf = new Uint8Array(0);
  let start = 0;
  let arrived = 0;
  for (;;) {
    const eof = arrived === data.length;
    if (start === buf.length && eof) return out;
    const len = start === buf.length ? -1 : cut(buf, start, buf.length, eof);
    if (len >= 0) {
      out.push(len);
      start += len;
      continue;
    }
    const piece = 1 + crypto.randomInt(maxPiece);
    const next = Math.min(data.length, arrived + piece);
    const lead = crypto.randomInt(8);
    const fresh = new Uint8Array(lead + buf.length - start + next - arrived);
    fresh.set(buf.subarray(start), lead);
    fresh.set(data.subarray(arrived, next), lead + buf.length - start);
    buf = fresh;
    start = lead;
    arrived = next;
  }
}

test('a chunk whose data arrives in pieces is cut where it is cut all at once, by both kernels', (t) => {
  for (const p of PARAMS.filter((x) => x.max <= 1 << 20)) {
    const data = crypto.randomBytes(Math.max(512 << 10, p.max * 6) + crypto.randomInt(1000));
    const want = lengths(data, p, jsGearKernel);
    for (const maxPiece of [1 + Math.max(p.max >> 4, 512), p.avg, p.max * 2]) {
      t.deepEqual(streamedLengths(data, p, wasm, maxPiece), want, `${JSON.stringify(p)} pieces <= ${maxPiece}`);
      t.deepEqual(streamedLengths(data, p, jsGearKernel, maxPiece), want, `js ${JSON.stringify(p)} pieces <= ${maxPiece}`);
    }
  }
});

test('chunkFile cuts where chunking in memory does for small parameters and read sizes', async (t) => {
  const dir = await tempDir();
  try {
    const file = path.join(dir, 'f');
    const data = crypto.randomBytes((3 << 20) + 12345);
    await fs.writeFile(file, data);
    for (const p of [fc(64, 128, 4096), fc(2048, 8192, 32768), fc(64, 1 << 16, 3 * GEAR_WASM_BLOCK + 17)]) {
      for (const bufferBytes of [1000, 40000, 1 << 20]) {
        const got: number[] = [];
        for await (const c of chunkFile(file, p, bufferBytes)) got.push(c.data.length);
        t.deepEqual(got, lengths(data, p, jsGearKernel), `${JSON.stringify(p)} reads of ${bufferBytes}`);
      }
    }
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('CKPTSYNC_CDC=js selects the JavaScript kernel in a fresh process, with the same cuts', async (t) => {
  // Deterministic data both processes can build: BLAKE3-free, from a counter through SHA-256.
  const script = `
    import crypto from 'node:crypto';
    import { chunkLengths, cutKernel } from ${JSON.stringify(path.join(repoRoot, 'dist/src/core/chunker.js'))};
    const parts = [];
    for (let i = 0; i < 40000; i++) parts.push(crypto.createHash('sha256').update(String(i)).digest());
    const data = Buffer.concat(parts);
    console.log(JSON.stringify({ cutKernel, lengths: chunkLengths(data, { alg: 'fastcdc-gear32', min: 2048, avg: 8192, max: 32768 }) }));
  `;
  const run = async (env: Record<string, string>) => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { env: { ...process.env, ...env } });
    return JSON.parse(stdout) as { cutKernel: string; lengths: number[] };
  };
  const js = await run({ CKPTSYNC_CDC: 'js' });
  const fast = await run({ CKPTSYNC_CDC: '' });
  t.is(js.cutKernel, 'js');
  t.is(fast.cutKernel, 'wasm');
  t.true(js.lengths.length > 10);
  t.deepEqual(fast.lengths, js.lengths);
});
