import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { Checkpointer } from '../../src/api/checkpointer.js';
import { latest } from '../../src/api/latest.js';
import { prune } from '../../src/api/prune.js';
import { pushSnapshot } from '../../src/sync/push.js';
import { readRemoteRef } from '../../src/sync/refs.js';
import { cli, tempDir } from '../helpers.js';
import { localRemote, newRepo, randomBytes, writeAndAdd } from './fixture.js';

/** A repository and remote with names run/epoch_<n> for each n, all pushed. */
async function epochs(ns: number[]) {
  const { repo, root } = await newRepo();
  const { url, remote } = await localRemote();
  for (const n of ns) {
    const m = await writeAndAdd(repo, `run/epoch_${n}`, randomBytes(4096, n + 1), `run/epoch_${n}`);
    await pushSnapshot(repo, remote, `run/epoch_${n}`, m);
  }
  return { repo, root, url, remote };
}

test('latest › picks the largest number, not the last in text order, on a remote and in a directory', async (t) => {
  const s = await epochs([9, 100, 20]);
  t.is((await latest({ prefix: 'run/epoch_', remote: s.url })).name, 'run/epoch_100');
  const dir = await tempDir('ckpt-latest-');
  for (const n of ['ckpt-000200.safetensors', 'ckpt-000999.safetensors', 'ckpt-001000.safetensors', 'ckpt-001001.safetensors.tmp-1-ab', 'other-5000.pt']) {
    await fs.writeFile(path.join(dir, n), 'x');
  }
  const r = await latest({ prefix: path.join(dir, 'ckpt-'), repo: null });
  t.is(r.name, path.join(dir, 'ckpt-001000.safetensors'), 'temp files and other prefixes are ignored');
  const viaCli = await cli(['latest', 'run/epoch', '--remote', s.url, '--json'], { cwd: s.root });
  t.is(viaCli.code, 0, viaCli.stderr);
  t.is(viaCli.json.result.name, 'run/epoch_100', 'a separator between prefix and number is optional');
  const none = await cli(['latest', 'run/step_', '--remote', s.url, '--json'], { cwd: s.root });
  t.is(none.code, 3);
});

test('prune › keeps the last N and every K-th, on the remote and locally', async (t) => {
  const s = await epochs([1, 2, 3, 4, 5, 6, 7, 8]);
  const r = await prune({ prefix: 'run/epoch_', keepLast: 2, keepEvery: 4, remote: s.url, repo: s.repo, local: true });
  t.deepEqual(r.kept, ['run/epoch_4', 'run/epoch_7', 'run/epoch_8']);
  t.is(r.removed.length, 10, '5 names in each of two places');
  for (const n of [1, 2, 3, 5, 6]) {
    t.is(await readRemoteRef(s.remote, `run/epoch_${n}`), null);
    t.is(await s.repo.readRef(`run/epoch_${n}`), null);
  }
  for (const n of [4, 7, 8]) t.truthy(await readRemoteRef(s.remote, `run/epoch_${n}`));
});

test('prune › the CLI dry run removes nothing', async (t) => {
  const s = await epochs([1, 2, 3]);
  const r = await cli(['prune', 'run/epoch_', '--keep-last', '1', '--remote', s.url, '--dry-run', '--json'], { cwd: s.root });
  t.is(r.code, 0, r.stderr);
  t.deepEqual(r.json.result.removed.map((x: any) => x.name), ['run/epoch_1', 'run/epoch_2']);
  t.truthy(await readRemoteRef(s.remote, 'run/epoch_1'));
});

test('Checkpointer › saves every period and when forced, keeps the last N, finds the latest, loads by step or name', async (t) => {
  const dir = await tempDir('ckpt-ckptr-');
  await fs.writeFile(path.join(dir, 'ckpt-000099.pt'), 'from an earlier run');
  const c = await Checkpointer.create({ dir, prefix: 'ckpt-', ext: '.pt', period: 10, keepLast: 2, clearAtStart: true });
  t.deepEqual(await c.list(), [], 'an earlier run is cleared at start');
  const saved: number[] = [];
  for (let step = 1; step <= 35; step++) {
    const r = await c.save(step, (tmp) => fs.writeFile(tmp, `step ${step}`), { force: step === 35 });
    if (r) saved.push(r.step);
  }
  t.deepEqual(saved, [10, 20, 30, 35]);
  t.deepEqual((await c.list()).map((x) => x.step), [30, 35], 'keep-last 2');
  t.is((await c.latest())?.path, path.join(dir, 'ckpt-000035.pt'));
  t.is(await fs.readFile(await c.load(30), 'utf8'), 'step 30');
  t.false((await fs.readdir(dir)).some((n) => n.includes('.tmp-')), 'no temp files left');

  const s = await epochs([1]);
  const viaName = await Checkpointer.create({ dir, remote: s.url, cacheDir: await tempDir('ckpt-cache-') }).then((x) => x.load('run/epoch_1'));
  t.true((await fs.readFile(viaName)).equals(randomBytes(4096, 2)), 'a name not in dir is resolved through the cache');
});
