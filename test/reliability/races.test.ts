// Races: several processes pushing different names and two pushing the same name to one remote at
// once; two processes adding into one repository at once. Nothing may be lost: every chunk present,
// every update of a name in its history, the store whole.

import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { Repository, verify } from '../../src/index.js';
import { readRemoteRef } from '../../src/sync/refs.js';
import { openRemoteFor } from '../../src/api/remote.js';
import { cli, ok, tempDir } from '../helpers.js';
import { prng, seedFrom, writeCheckpointDir } from './helpers.js';

const seed = seedFrom('CKPTSYNC_RACES_SEED');

async function repoWith(remote: string, label: string) {
  const dir = await tempDir(`ckpt-race-${label}-`);
  await ok(['init'], { cwd: dir });
  await ok(['remote', 'add', 'origin', remote], { cwd: dir });
  await writeCheckpointDir(path.join(dir, 'ckpt'), `${label}-${seed}`, 10, prng(seed), 20 << 10, 80 << 10);
  const added = await ok(['add', 'ckpt', '--name', 'model', '--json'], { cwd: dir });
  return { dir, manifest: added.json.result.manifest as string };
}

test('four processes pushing different names and two pushing the same name at once lose nothing', async (t) => {
  const remote = path.join(await tempDir('ckpt-race-remote-'), 'remote');
  const repos = await Promise.all(['p0', 'p1', 'p2', 'p3', 'same0', 'same1'].map((l) => repoWith(remote, l)));
  const runs = await Promise.all(repos.map((r, i) => cli(['push', 'model', '--as', i < 4 ? `run/${i}` : 'shared'], { cwd: r.dir })));
  runs.slice(0, 4).forEach((r, i) => t.is(r.code, 0, `push ${i}: ${r.stderr}`));
  // Of the two pushing one name, one may be told the name moved (exit 6); its version stays in history.
  for (const r of runs.slice(4)) t.true(r.code === 0 || r.code === 6, r.stderr);
  const repo = await Repository.find(repos[0]!.dir);
  const v = await verify({ repo, remote });
  t.deepEqual(v.problems, [], 'every chunk every manifest names is on the remote');
  const { remote: rem, owned } = await openRemoteFor(repo, remote);
  try {
    for (let i = 0; i < 4; i++) t.is((await readRemoteRef(rem, `run/${i}`))?.doc.target, repos[i]!.manifest);
    const shared = await readRemoteRef(rem, 'shared');
    const targets = new Set(shared!.doc.history.map((h) => h.target));
    t.true(targets.has(repos[4]!.manifest) && targets.has(repos[5]!.manifest), 'both updates of the shared name are in its history');
  } finally {
    if (owned) await rem.close();
  }
});

test('two processes adding into one repository at once both succeed and the store stays whole', async (t) => {
  const dir = await tempDir('ckpt-race-add-');
  await ok(['init'], { cwd: dir });
  await writeCheckpointDir(path.join(dir, 'x'), `x-${seed}`, 12, prng(seed));
  await writeCheckpointDir(path.join(dir, 'y'), `y-${seed}`, 12, prng(seed + 1));
  const [x, y] = await Promise.all([cli(['add', 'x'], { cwd: dir }), cli(['add', 'y'], { cwd: dir })]);
  t.is(x.code, 0, x.stderr);
  t.is(y.code, 0, y.stderr);
  const repo = await Repository.find(dir);
  t.deepEqual((await verify({ repo })).problems, []);
  t.deepEqual((await repo.listRefs()).map((r) => r.name), ['x', 'y']);
  t.true((await fs.readFile(path.join(dir, '.gitignore'), 'utf8')).split('\n').includes('/x'), '.gitignore keeps both lines');
  t.true((await fs.readFile(path.join(dir, '.gitignore'), 'utf8')).split('\n').includes('/y'));
});
