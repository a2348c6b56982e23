import crypto from 'node:crypto';
import test from 'ava';
import { createHasher, hashBytes, hashEngine } from '../../src/core/hash.js';
import { VECTORS, input } from './blake3-vectors.js';


for (const engine of ['native', 'wasm'] as const) {
  test(`${engine} engine matches BLAKE3's official test vectors`, (t) => {
    for (const [len, want] of VECTORS) {
      t.is(hashBytes(input(len), engine), want, `input_len ${len}`);
    }
  });
}

test('the native addon is the engine here', (t) => {
  t.is(hashEngine, 'native');
});

test('native and wasm agree on inputs of 0 bytes to 64 MiB, in one update or many', (t) => {
  for (const n of [0, 1, 2049, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, (5 << 20) + 3, 16 << 20, 64 << 20]) {
    const data = crypto.randomBytes(n);
    const a = hashBytes(data, 'native');
    t.is(hashBytes(data, 'wasm'), a, `${n} bytes, one update`);
    const h = createHasher('wasm');
    for (let off = 0; off < n; off += 3 << 20) h.update(data.subarray(off, off + (3 << 20)));
    t.is(h.digest(), a, `${n} bytes, 3 MiB updates`);
  }
});
