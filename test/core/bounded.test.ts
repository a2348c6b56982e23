// runBounded: the loop behind every transfer. Its two bounds (items and bytes in flight) are what keep a
// pull's memory flat whatever the chunk size, so they are checked here with timers, not with a network.

import test from 'ava';
import { runBounded } from '../../src/core/bounded.js';
import { CancelledError } from '../../src/errors.js';

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs items that each take a few ms, recording the most items and weight in flight at once. */
async function observe(weights: number[], limit: number, maxWeight?: number) {
  let items = 0;
  let weight = 0;
  const peak = { items: 0, weight: 0 };
  const done: number[] = [];
  await runBounded(
    weights.map((w, i) => ({ w, i })),
    limit,
    async ({ w, i }) => {
      items++;
      weight += w;
      peak.items = Math.max(peak.items, items);
      peak.weight = Math.max(peak.weight, weight);
      await tick(2 + (i % 3));
      items--;
      weight -= w;
      done.push(i);
    },
    { weigh: (x) => x.w, maxWeight },
  );
  return { peak, done };
}

test('bounded › never more than limit items in flight, and all of them run', async (t) => {
  const { peak, done } = await observe(Array(40).fill(1), 6);
  t.is(peak.items, 6);
  t.deepEqual([...done].sort((a, b) => a - b), [...Array(40).keys()]);
});

test('bounded › the weight in flight stays under maxWeight whatever the item limit', async (t) => {
  const MiB = 1 << 20;
  const { peak, done } = await observe(Array(30).fill(4 * MiB), 16, 16 * MiB);
  t.is(peak.weight, 16 * MiB);
  t.is(peak.items, 4);
  t.is(done.length, 30);
  // Small items still run up to the item limit.
  const small = await observe(Array(30).fill(MiB / 2), 16, 16 * MiB);
  t.is(small.peak.items, 16);
});

test('bounded › an item heavier than maxWeight runs alone rather than never', async (t) => {
  const { peak, done } = await observe([1, 100, 1, 1], 4, 10);
  t.is(done.length, 4);
  t.true(peak.weight <= 100);
  t.true(peak.weight >= 100, 'the heavy item ran');
});

test('bounded › the first failure stops new work and is what the run throws', async (t) => {
  const started: number[] = [];
  const err = await t.throwsAsync(
    runBounded([...Array(20).keys()], 2, async (i) => {
      started.push(i);
      await tick(1);
      if (i === 3) throw new Error('item 3 failed');
    }),
  );
  t.is(err?.message, 'item 3 failed');
  t.true(started.length < 20, `started ${started.length} items`);
});

test('bounded › an aborted signal cancels the run', async (t) => {
  const ac = new AbortController();
  const ran: number[] = [];
  const p = runBounded(
    [...Array(50).keys()],
    2,
    async (i) => {
      ran.push(i);
      if (i === 4) ac.abort();
      await tick(1);
    },
    { signal: ac.signal },
  );
  await t.throwsAsync(p, { instanceOf: CancelledError });
  t.true(ran.length < 50);
});
