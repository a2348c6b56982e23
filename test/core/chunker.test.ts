import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { chunkFile, chunkLengths, DEFAULT_CHUNKER, GEAR, type ChunkerParams } from '../../src/core/chunker.js';
import { hashBytes } from '../../src/core/hash.js';
import { tempDir } from '../helpers.js';
import { randomBytes as seeded } from '../training/fixture.js';

/** The cut rule exactly as manifest-spec.md §2.1 words it, one byte at a time. */
function referenceLengths(data: Uint8Array, p: ChunkerParams): number[] {
  const bits = Math.log2(p.avg);
  const top = (n: number) => (0xffffffff << (32 - n)) >>> 0;
  const maskS = top(bits + 2);
  const maskL = top(Math.max(1, bits - 2));
  const out: number[] = [];
  for (let s = 0; s < data.length; ) {
    const n = data.length - s;
    let len = Math.min(n, p.max);
    if (n > p.min) {
      const normal = Math.min(n, p.avg);
      let h = 0;
      for (let i = p.min; i < Math.min(n, p.max); i++) {
        h = ((h << 1) + GEAR[data[s + i]!]!) >>> 0;
        if ((i < normal ? h & maskS : h & maskL) === 0) {
          len = i + 1;
          break;
        }
      }
    } else len = n;
    out.push(len);
    s += len;
  }
  return out;
}

const small: ChunkerParams = { alg: 'fastcdc-gear32', min: 2048, avg: 8192, max: 32768 };

test('the gear table is BLAKE3 of each byte, as the spec says', (t) => {
  t.is(GEAR[0], Buffer.from(hashBytes(Uint8Array.of(0)), 'hex').readUInt32LE(0));
  t.is(GEAR[255], Buffer.from(hashBytes(Uint8Array.of(255)), 'hex').readUInt32LE(0));
});

test('the fast word loop cuts exactly where the spec rule does, at any alignment', (t) => {
  const data = crypto.randomBytes(3 << 20);
  for (const offset of [0, 1, 2, 3, 5]) {
    const view = data.subarray(offset);
    t.deepEqual(chunkLengths(view, small), referenceLengths(view, small), `offset ${offset}`);
  }
  const big = crypto.randomBytes(24 << 20);
  t.deepEqual(chunkLengths(big), referenceLengths(big, DEFAULT_CHUNKER));
});

test('chunk sizes respect min and max, and cover the input exactly', (t) => {
  const data = crypto.randomBytes(2 << 20);
  const lens = chunkLengths(data, small);
  t.is(lens.reduce((a, b) => a + b, 0), data.length);
  for (const l of lens.slice(0, -1)) t.true(l >= small.min && l <= small.max);
  const zeros = chunkLengths(Buffer.alloc(200_000), small); // no content cuts: max-size chunks
  t.true(zeros.slice(0, -1).every((l) => l === small.max));
  t.deepEqual(chunkLengths(Buffer.alloc(0), small), []);
  t.deepEqual(chunkLengths(Buffer.alloc(100), small), [100]);
});

// FastCDC resynchronises after an edit within a few chunks, but not always within 3: over 200 random
// 4 MiB inputs, an in-place overwrite changed more than 3 of ~500 chunks 4% of the time (worst 10), so a
// test on fresh random data each run failed now and then. Fixed seeds make it reproducible; the bound
// of 12 still fails for any chunker that does not resynchronise (a fixed-size one changes ~250 after an
// insertion).
for (const seed of [1, 2, 3])
test(`an edit in one region leaves the chunks of untouched regions identical (seed ${seed})`, (t) => {
  const data = seeded(4 << 20, seed);
  const hashes = (d: Uint8Array) => {
    const out: string[] = [];
    let off = 0;
    for (const l of chunkLengths(d, small)) {
      out.push(hashBytes(d.subarray(off, off + l)));
      off += l;
    }
    return out;
  };
  const before = hashes(data);
  const edited = Buffer.concat([data.subarray(0, 2 << 20), Buffer.from('inserted bytes shift everything after'), data.subarray(2 << 20)]);
  const after = hashes(edited);
  const common = before.filter((h) => after.includes(h)).length;
  t.true(common >= before.length - 12, `${before.length - common} of ${before.length} chunks changed`);
  // Overwriting in place (same length) changes only the chunks around it too.
  const overwritten = Buffer.from(data);
  seeded(1000, seed + 100).copy(overwritten, 1 << 20);
  const o = hashes(overwritten);
  t.true(before.filter((h) => o.includes(h)).length >= before.length - 12, `${before.length - before.filter((h) => o.includes(h)).length} of ${before.length} chunks changed`);
});

test('chunkFile streams a file into the same chunks as chunking it in memory', async (t) => {
  const dir = await tempDir();
  const file = path.join(dir, 'f');
  const data = crypto.randomBytes(21 << 20);
  await fs.writeFile(file, data);
  const lens: number[] = [];
  let next = 0;
  for await (const c of chunkFile(file, DEFAULT_CHUNKER, 9 << 20)) {
    t.is(c.offset, next);
    t.true(c.data.equals(data.subarray(c.offset, c.offset + c.data.length)));
    lens.push(c.data.length);
    next += c.data.length;
  }
  t.deepEqual(lens, chunkLengths(data));
  await fs.rm(dir, { recursive: true });
});

// Planned cuts (the tensor-aware cutters): each read is whole chunks, so a file is read in slabs that
// end on cuts; the chunks must still be exactly the planned ranges, and a file that changed size while
// it was read must be refused rather than cut wrong.
const PLANNED: ChunkerParams = { alg: 'safetensors', min: 64, avg: 4096, max: 8192 };

async function plannedFile(bytes: number) {
  const file = path.join(await tempDir('ckpt-planned-'), 'f.bin');
  const data = seeded(bytes, 7);
  await fs.writeFile(file, data);
  return { file, data };
}

async function collect(file: string, lengths: number[], bufferBytes: number) {
  const out: { offset: number; data: Buffer }[] = [];
  for await (const c of chunkFile(file, PLANNED, bufferBytes, lengths)) out.push({ offset: c.offset, data: Buffer.from(c.data) });
  return out;
}

test('chunker › planned cuts come out exactly as planned, whatever the read size', async (t) => {
  const lengths = [100, 8192, 1, 4096, 4096, 3000, 8192, 64, 5000, 7];
  const { file, data } = await plannedFile(lengths.reduce((a, b) => a + b, 0));
  for (const bufferBytes of [1, 4096, 8192, 20000, 1 << 20]) {
    const chunks = await collect(file, lengths, bufferBytes);
    t.deepEqual(chunks.map((c) => c.data.length), lengths, `bufferBytes ${bufferBytes}`);
    let at = 0;
    for (const c of chunks) {
      t.is(c.offset, at);
      t.true(c.data.equals(data.subarray(at, at + c.data.length)));
      at += c.data.length;
    }
  }
});

test('chunker › a file longer or shorter than its planned cuts is refused', async (t) => {
  const { file } = await plannedFile(10_000);
  await t.throwsAsync(collect(file, [4096, 4096], 4096), { message: /grew while it was being read/ });
  await t.throwsAsync(collect(file, [4096, 4096, 4096], 8192), { message: /shrank while it was being read/ });
  await t.throwsAsync(collect(file, [4096, 9000], 4096), { message: /larger than the chunker's max/ });
  t.deepEqual((await collect(file, [4096, 4096, 1808], 4096)).map((c) => c.data.length), [4096, 4096, 1808]);
});
