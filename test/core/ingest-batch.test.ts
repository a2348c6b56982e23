// Small files go through the store in synchronous batches (ingest.ts, ingestSmall): the batching keeps
// every guarantee of the one-file-at-a-time path. What is stored under a hash is what hashes to it, a
// file that changes size while the batch runs fails the add with nothing half-written, a file rewritten
// in place is recorded as the bytes that were read and stored, a small file in a tensor format still
// gets its tensor-aware cutter, and a killed batch leaves nothing but temps the next add sweeps away.

import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { ingestPath, type Listing, type Unchanged } from '../../src/core/ingest.js';
import { hashBytes } from '../../src/core/hash.js';
import { ObjectStore } from '../../src/core/store.js';
import { SAFETENSORS_ALG, FASTCDC_ALG } from '../../src/core/chunker.js';
import { largeTensor, writeSafetensors } from '../../fixtures/generate.js';
import { bytesFor, cliKilledAfter, tempFilesIn, assertVerifies } from '../reliability/helpers.js';
import { ok, tempDir } from '../helpers.js';

/** A folder of `n` small files in 4 subfolders, and an empty store beside it. */
async function setup(n: number, size = 4096) {
  const root = await tempDir('ckpt-batch-');
  const data = path.join(root, 'data');
  const files: string[] = [];
  for (let i = 0; i < n; i++) {
    const f = path.join(data, `d${i % 4}`, `f${String(i).padStart(4, '0')}.bin`);
    await fs.mkdir(path.dirname(f), { recursive: true });
    await fs.writeFile(f, bytesFor(`small-${i}`, size));
    files.push(f);
  }
  return { root, data, files, store: new ObjectStore(path.join(root, 'store')) };
}

/** Every object in the store hashes to its name; returns how many there are. */
async function storeIsWhole(t: import('ava').ExecutionContext, store: ObjectStore): Promise<number> {
  let n = 0;
  for await (const h of store.list('chunk')) {
    t.is(hashBytes(await fs.readFile(store.pathOf('chunk', h))), h, `object ${h} holds what hashes to its name`);
    n++;
  }
  return n;
}

/**
 * `unchanged` is asked about each file in turn just before the batch reads it: a hook that changes a
 * later file of the same batch (synchronously, as the batch runs), after the listing and before that
 * file is read.
 */
/** An `unchanged` lookup that vouches for nothing, and runs `then` when asked about the file at `about`. */
function whenAsked(about: string, then: () => void): (files: Listing) => Promise<Unchanged> {
  const entryOf = (files: Listing, k: number) => {
    if (files.at(k).abs === about) then();
    return undefined;
  };
  return async (files) => ({ entryOf: (k) => entryOf(files, k), count: 0 });
}

test('a batch of small files stores one object per distinct file, each holding what hashes to its name', async (t) => {
  const { data, files, store } = await setup(300);
  await fs.writeFile(files[7]!, bytesFor('small-3', 4096)); // a duplicate of file 3
  await fs.writeFile(files[9]!, ''); // an empty file has no chunk
  const r = await ingestPath(store, data);
  t.is(r.filesRead, 300);
  t.is(r.chunks, 299);
  t.is(r.chunksNew, 298, 'the duplicate is stored once');
  t.is(await storeIsWhole(t, store), 298);
  const byPath = new Map(r.manifest.files.map((f) => [f.path, f]));
  const f3 = byPath.get('d3/f0003.bin')!;
  t.deepEqual(f3.chunks, [hashBytes(bytesFor('small-3', 4096))]);
  t.deepEqual(f3.sizes, [4096]);
  t.is(f3.chunker.alg, FASTCDC_ALG);
  t.deepEqual(byPath.get('d1/f0009.bin')!.chunks, []);
  t.deepEqual(await tempFilesIn(store.root), []);
});

test('a small file that grows after it was listed fails the add, and the store holds no partial or wrong object', async (t) => {
  const { data, files, store } = await setup(200);
  const grown = files[150]!;
  const err = await t.throwsAsync(ingestPath(store, data, { unchanged: whenAsked(files[100]!, () => fsSync.appendFileSync(grown, 'more')) }));
  t.regex(err!.message, /f0150\.bin grew while it was being read/);
  await storeIsWhole(t, store);
  t.false(await store.has('chunk', hashBytes(bytesFor('small-150', 4096))), 'nothing of the file that changed was stored');
  t.deepEqual(await tempFilesIn(store.root), [], 'no temp left behind');
});

test('a small file rewritten with the same size before the batch reads it is recorded as the bytes stored', async (t) => {
  const { data, files, store } = await setup(200);
  const target = files[120]!;
  const r = await ingestPath(store, data, { unchanged: whenAsked(files[60]!, () => fsSync.writeFileSync(target, bytesFor('rewritten', 4096))) });
  const entry = r.manifest.files.find((f) => f.path === 'd0/f0120.bin')!;
  t.deepEqual(entry.chunks, [hashBytes(bytesFor('rewritten', 4096))]);
  t.deepEqual(await store.get('chunk', entry.chunks[0]!), bytesFor('rewritten', 4096));
  await storeIsWhole(t, store);
});

test('a small safetensors file among small files still gets the tensor-aware cutter', async (t) => {
  const { data, store } = await setup(20);
  await writeSafetensors(path.join(data, 'd1', 'tiny.safetensors'), { tensors: [largeTensor('a', 64 << 10), largeTensor('b', 64 << 10)] });
  const r = await ingestPath(store, data);
  const tiny = r.manifest.files.find((f) => f.path === 'd1/tiny.safetensors')!;
  t.is(tiny.chunker.alg, SAFETENSORS_ALG);
  t.true(tiny.chunks.length > 1, 'cut at its tensors, not stored as one chunk');
  t.is(r.manifest.files.filter((f) => f.chunker.alg === FASTCDC_ALG).length, 20);
  await storeIsWhole(t, store);
});

test('an add of many small files killed mid-batch leaves only temps, which the next add removes; the result is whole', async (t) => {
  const { root, data } = await setup(3000);
  await ok(['init'], { cwd: root });
  // The first add's duration on this machine, then kills spread over it.
  const probe = await tempDir('ckpt-batch-probe-');
  await ok(['init'], { cwd: probe });
  await fs.cp(data, path.join(probe, 'data'), { recursive: true });
  const t0 = Date.now();
  await ok(['add', 'data', '--no-pointer'], { cwd: probe });
  const ms = Date.now() - t0;
  let killedMidWrite = 0;
  for (const at of [0.5, 0.7, 0.9]) {
    const r = await cliKilledAfter(['add', 'data', '--no-pointer', '--name', `k${at}`], { cwd: root }, Math.round(ms * at));
    if (!r.killed) continue;
    const store = new ObjectStore(path.join(root, '.ckptsync'));
    await storeIsWhole(t, store);
    if ((await tempFilesIn(path.join(root, '.ckptsync', 'objects'))).length) killedMidWrite++;
  }
  await ok(['add', 'data', '--no-pointer', '--name', 'done'], { cwd: root });
  t.deepEqual(await tempFilesIn(path.join(root, '.ckptsync', 'objects')), [], 'the rerun swept every temp');
  await assertVerifies(t, root);
  t.log(`kills that left a temp: ${killedMidWrite}`);
});

