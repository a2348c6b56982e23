import { PerformanceObserver, constants, performance, type PerformanceEntry } from 'node:perf_hooks';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { minorCollectionEvery } from '../../src/core/reclaim.js';

const MiB = 1 << 20;
const run = promisify(execFile);

/** Runs `f` and returns the minor collections that started while it ran (V8 reports them a little later). */
async function minorCollectionsDuring(f: () => void): Promise<number> {
  const seen: PerformanceEntry[] = [];
  const obs = new PerformanceObserver((list) => seen.push(...list.getEntries()));
  obs.observe({ entryTypes: ['gc'] });
  const t0 = performance.now();
  f();
  const t1 = performance.now();
  await new Promise((r) => setTimeout(r, 50));
  obs.disconnect();
  return seen.filter((e) => (e as unknown as { detail: { kind: number } }).detail.kind === constants.NODE_PERFORMANCE_GC_MINOR && e.startTime >= t0 && e.startTime <= t1).length;
}

test('reclaim › a minor collection runs when the bytes counted reach the mark, not before', async (t) => {
  const count = minorCollectionEvery(8 * MiB);
  t.is(await minorCollectionsDuring(() => count(8 * MiB - 1)), 0);
  t.is(await minorCollectionsDuring(() => count(1)), 1, 'counts add up across calls');
  t.is(await minorCollectionsDuring(() => count(4 * MiB)), 0, 'the count starts over');
  t.is(await minorCollectionsDuring(() => count(20 * MiB)), 1, 'one collection however far past the mark');
});

// In a process of its own: in AVA's worker thread process.memoryUsage() does not see the worker's Buffers.
// Prints what is allocated outside V8's heap before, with 32 MiB of dead Buffers, and `wait` ms after
// the count passes the mark (V8 frees dead Buffers' memory on a background thread after a collection).
const FREES = `
const { minorCollectionEvery } = await import(process.argv[1]);
const wait = Number(process.argv[2]);
const count = minorCollectionEvery(1 << 20);
const outside = () => process.memoryUsage().arrayBuffers;
const before = outside();
for (let i = 0; i < 512; i++) Buffer.alloc(64 << 10, 1); // 32 MiB that die at once, like ssh2's packets
const dead = outside();
count(1 << 20);
const until = Date.now() + wait;
while (Date.now() < until && outside() >= before + (4 << 20)) await new Promise((r) => setTimeout(r, 5));
console.log(JSON.stringify({ before, dead, after: outside() }));
`;

async function frees(wait: number, env: NodeJS.ProcessEnv = process.env) {
  const module = fileURLToPath(new URL('../../src/core/reclaim.js', import.meta.url));
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', FREES, module, String(wait)], { env });
  return JSON.parse(stdout) as { before: number; dead: number; after: number };
}

test('reclaim › the collection frees dead Buffers at once', async (t) => {
  const { before, dead, after } = await frees(300);
  t.true(dead >= before + 30 * MiB, `${before} -> ${dead}`);
  t.true(after < before + 4 * MiB, `${before} -> ${dead} -> ${after}`);
  // The control: without the collection V8 got to them ~450 ms later here, on its own schedule.
  const off = await frees(100, { ...process.env, CKPTSYNC_RECLAIM: '0' });
  t.true(off.after >= off.before + 30 * MiB, `${off.before} -> ${off.dead} -> ${off.after}`);
});
