import test from 'ava';
import { BufferPool } from '../../src/core/buffer-pool.js';

test('buffer pool › a released buffer serves the next request it fits, the smallest that fits first', (t) => {
  const pool = new BufferPool();
  const big = pool.take(4 << 20);
  const small = pool.take((1 << 20) + 1);
  t.true(big.length >= 4 << 20);
  t.true(small.length >= (1 << 20) + 1 && small.length < (1 << 20) + (128 << 10), `capacity ${small.length}`);
  pool.release(big);
  pool.release(small);
  t.is(pool.take(1 << 20), small);
  t.is(pool.take(3 << 20), big);
  t.not(pool.take(8 << 20), big, 'nothing free fits: a new buffer');
});

test('buffer pool › keeps at most maxFreeBytes of buffers, the largest ones', (t) => {
  const pool = new BufferPool(5 << 20);
  const bufs = [1, 2, 3].map((m) => pool.take(m << 20));
  for (const b of bufs) pool.release(b);
  t.is(pool.take(1), bufs[1], 'the 1 MiB buffer was dropped; the 2 MiB one is the smallest left');
  t.is(pool.take(1), bufs[2]);
  t.not(pool.take(1), bufs[0]);
});
