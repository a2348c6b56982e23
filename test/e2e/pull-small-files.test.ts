// A pull of many small files writes each in one tick after its download (fetch-checkout.ts, landSmall):
// the files come out byte-identical with their modes, a chunk two files share is downloaded once, --no-store
// keeps no chunk but the shared one, a corrupt chunk on the remote fails the pull with no file of the
// snapshot written, and no temp is left anywhere.

import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { hashBytes } from '../../src/core/hash.js';
import { bytesFor, sameTree } from '../reliability/helpers.js';
import { cli, findFiles, ok, tempDir } from '../helpers.js';

/** A remote holding `data` (n small files in 5 folders, two of them the same bytes, one empty) as `small`. */
async function makeRemote(n: number) {
  const root = await tempDir('ckpt-pullsmall-');
  const a = path.join(root, 'a');
  const remote = path.join(root, 'remote');
  const data = path.join(a, 'data');
  for (let i = 0; i < n; i++) {
    const f = path.join(data, `d${i % 5}`, `f${i}.bin`);
    await fs.mkdir(path.dirname(f), { recursive: true });
    await fs.writeFile(f, i === 3 ? bytesFor('small-2', 3002) : i === 4 ? '' : bytesFor(`small-${i}`, 3000 + i), { mode: i === 5 ? 0o600 : 0o644 });
  }
  await ok(['init'], { cwd: a });
  await ok(['remote', 'add', 'origin', remote], { cwd: a });
  await ok(['add', 'data', '--name', 'small', '--no-pointer'], { cwd: a });
  // Each chunk its own object: the per-file path (landSmall). Small files in packs: packs.test.ts.
  await ok(['push', 'small', '--no-packs'], { cwd: a });
  return { root, data, remote };
}

async function freshRepo(remote: string) {
  const b = await tempDir('ckpt-pullsmall-b-');
  await ok(['init'], { cwd: b });
  await ok(['remote', 'add', 'origin', remote], { cwd: b });
  return b;
}

const objects = async (repo: string) => (await findFiles(path.join(repo, '.ckptsync', 'objects'), '')).map((f) => path.basename(f));

test('a pull --keep-copy of many small files writes them byte-identical with their modes, each chunk stored once and verified', async (t) => {
  const { data, remote } = await makeRemote(300);
  const b = await freshRepo(remote);
  const r = await ok(['pull', 'small', '--to', 'out', '--keep-copy', '--json'], { cwd: b });
  t.is(r.json.result.chunksDownloaded, 298, 'the shared chunk once; the empty file has none');
  t.true(await sameTree(data, path.join(b, 'out')));
  t.is((await fs.stat(path.join(b, 'out', 'd0', 'f5.bin'))).mode & 0o777, 0o600);
  const stored = await objects(b);
  t.is(stored.length, 298);
  for (const h of stored) t.is(hashBytes(await fs.readFile(path.join(b, '.ckptsync', 'objects', h.slice(0, 2), h))), h);
  t.deepEqual(await findFiles(b, '.tmp-'), []);
});

test('pull --no-store of small files keeps only the chunk two files share, and writes them all', async (t) => {
  const { data, remote } = await makeRemote(60);
  const b = await freshRepo(remote);
  await ok(['pull', 'small', '--to', 'out', '--no-store'], { cwd: b });
  t.true(await sameTree(data, path.join(b, 'out')));
  t.deepEqual(await objects(b), [hashBytes(bytesFor('small-2', 3002))]);
  t.deepEqual(await findFiles(b, '.tmp-'), []);
  const v = await cli(['verify', '--json'], { cwd: b });
  t.is(v.code, 0, v.stdout + v.stderr);
});

test('a corrupt small chunk on the remote fails the pull, and no file of the snapshot is written', async (t) => {
  const { remote } = await makeRemote(120);
  const victim = hashBytes(bytesFor('small-77', 3077));
  const [file] = (await findFiles(remote, victim)).map((f) => path.join(remote, f));
  t.truthy(file, 'the chunk is on the remote as a file');
  const bytes = await fs.readFile(file!);
  bytes[100] ^= 1;
  await fs.writeFile(file!, bytes);
  const b = await freshRepo(remote);
  const r = await cli(['pull', 'small', '--to', 'out', '--no-store'], { cwd: b });
  t.not(r.code, 0);
  t.regex(r.stderr, new RegExp(victim));
  await t.throwsAsync(fs.lstat(path.join(b, 'out')), undefined, 'the destination this pull created is gone');
  t.deepEqual(await findFiles(b, '.tmp-'), []);
});
