import crypto from 'node:crypto';
import test from 'ava';
import { applyDelta, deltaHeader, encodeDelta, mayFit, sampleOffsets, SAMPLE_BYTES, samplesMayFit } from '../../src/core/delta.js';
import { IntegrityError } from '../../src/errors.js';

const BASE_HASH = 'ab'.repeat(32);
const base = crypto.randomBytes(1 << 20);

function changed(ranges: [number, number][]): Buffer {
  const out = Buffer.from(base);
  for (const [off, len] of ranges) crypto.randomBytes(len).copy(out, off);
  return out;
}

test('delta › rebuilds the chunk from its base and carries little more than the changed bytes', (t) => {
  const target = changed([[100, 10], [300_000, 4096], [(1 << 20) - 7, 7]]);
  const d = encodeDelta(target, base, BASE_HASH, 1 << 20)!;
  t.truthy(d);
  t.true(d.length < 10 + 4096 + 7 + 44 + 3 * 8 + 64, `delta is ${d.length} bytes`);
  t.deepEqual(deltaHeader(d, 'd'), { base: BASE_HASH, size: 1 << 20 });
  t.true(applyDelta(d, base, 'd').equals(target));
});

test('delta › identical chunks give an empty delta; differing sizes give none', (t) => {
  const d = encodeDelta(Buffer.from(base), base, BASE_HASH, 100)!;
  t.is(d.length, 44);
  t.true(applyDelta(d, base, 'd').equals(base));
  t.is(encodeDelta(base.subarray(1), base, BASE_HASH, 1 << 20), null);
});

test('delta › returns null once the delta would exceed its budget', (t) => {
  const target = changed([[0, 600_000]]);
  t.is(encodeDelta(target, base, BASE_HASH, 500_000), null);
  t.truthy(encodeDelta(target, base, BASE_HASH, 700_000));
});

test('delta › the sampled blocks alone refuse a rewritten chunk and let a sparse update through to the full test', (t) => {
  const offsets = sampleOffsets(base.length);
  t.is(offsets.length, 32);
  t.is(offsets[0], 0);
  t.is(offsets.at(-1), base.length - SAMPLE_BYTES);
  const samplesOf = (b: Buffer) => Buffer.concat(offsets.map((at) => b.subarray(at, at + SAMPLE_BYTES)));
  const budget = Math.floor(base.length * 0.75);
  const rewritten = crypto.randomBytes(base.length);
  t.false(samplesMayFit(rewritten, samplesOf(base), budget));
  t.false(mayFit(rewritten, base, budget));
  // 64 KiB changed in the middle: at most a few samples differ, so only the full test can decide.
  const sparse = changed([[500_000, 65_536]]);
  t.true(samplesMayFit(sparse, samplesOf(base), budget));
  t.true(mayFit(sparse, base, budget));
  t.truthy(encodeDelta(sparse, base, BASE_HASH, budget));
  // Samples of a shorter base (a short read) never pass.
  t.false(samplesMayFit(sparse, samplesOf(base).subarray(0, 3 * SAMPLE_BYTES), budget));
});

test('delta › malformed deltas are refused, naming the object', (t) => {
  const target = changed([[10, 5], [1000, 5]]);
  const d = encodeDelta(target, base, BASE_HASH, 1 << 20)!;
  const bad = (mutate: (b: Buffer) => Buffer, message: RegExp, baseBytes = base) =>
    t.throws(() => applyDelta(mutate(Buffer.from(d)), baseBytes, 'delta X'), { instanceOf: IntegrityError, message });
  bad((b) => Buffer.concat([Buffer.from('XXXX'), b.subarray(4)]), /delta X is not a chunk delta/);
  bad((b) => b.subarray(0, b.length - 2), /delta X (is truncated|has a patch out of order or out of bounds)/);
  bad((b) => Buffer.concat([b, Buffer.from([0])]), /bytes after its last patch/);
  bad((b) => (b.writeUInt32LE(5, 44 + 8 + 5), b), /out of order or out of bounds/); // second patch starts before the first ends
  bad((b) => (b.writeUInt32LE(1 << 20, 44), b), /out of order or out of bounds/); // patch past the end
  bad((b) => b, /is for a 1048576-byte base/, base.subarray(1));
});
