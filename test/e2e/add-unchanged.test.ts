// add of a new version of a folder reads only the files that changed: the others are known unchanged
// from the stat cache (size, mtime, inode, ctime; manifest-spec.md §7), as git's index knows them. Any
// doubt means a read: a file rewritten with the same size and its mtime put back (ctime moved), a file
// whose stat is too recent to prove anything, a chunk no longer in the store.

import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { add, Repository, verify } from '../../src/index.js';
import { chunkFile, DEFAULT_CHUNKER } from '../../src/core/chunker.js';
import { hashBytes } from '../../src/core/hash.js';
import { loadManifest } from '../../src/sync/manifests.js';
import { bytesFor } from '../reliability/helpers.js';
import { ok, tempDir } from '../helpers.js';

/** A repository with `n` small files under ck/, added once, and its stat cache aged past the racy window. */
async function setup(n: number) {
  const root = await tempDir('ckpt-unchanged-');
  await ok(['init'], { cwd: root });
  for (let i = 0; i < n; i++) {
    await fs.mkdir(path.join(root, 'ck', `d${i % 4}`), { recursive: true });
    await fs.writeFile(path.join(root, 'ck', `d${i % 4}`, `f${i}.bin`), bytesFor(`v1-${i}`, 4096));
  }
  const repo = await Repository.find(root);
  await ageFiles(root);
  const first = await add({ repo, path: path.join(root, 'ck') });
  return { root, repo, first };
}

/**
 * Lets the files' ctime (which no call can set) fall out of the racy window before the add records their
 * stats; a stat newer than that proves nothing and the file would be read again.
 */
async function ageFiles(_root: string) {
  await new Promise((r) => setTimeout(r, 2100));
}

test('a second add of a folder with 2 of 40 files changed reads just those 2, and the snapshot is exact', async (t) => {
  const { root, repo, first } = await setup(40);
  t.is(first.filesRead, 40, 'the first add reads everything');
  await fs.writeFile(path.join(root, 'ck', 'd1', 'f5.bin'), bytesFor('v2-5', 4096));
  await fs.writeFile(path.join(root, 'ck', 'd2', 'f6.bin'), bytesFor('v2-6', 5000));
  const second = await add({ repo, path: path.join(root, 'ck') });
  t.is(second.filesRead, 2);
  t.is(second.chunksNew, 2);
  // The same snapshot as a repository without any cache computes from the same files.
  const fresh = await tempDir('ckpt-unchanged-fresh-');
  await ok(['init'], { cwd: fresh });
  await fs.cp(path.join(root, 'ck'), path.join(fresh, 'ck'), { recursive: true });
  const cold = await add({ repo: await Repository.find(fresh), path: path.join(fresh, 'ck') });
  t.is(cold.filesRead, 40);
  t.is(second.manifest, cold.manifest, 'unread files were taken exactly as they are');
  t.deepEqual((await verify({ repo })).problems, []);
});

test('the stat cache lists stats in manifest order, past names that sort around "/"; a cache of the older per-path form is still read', async (t) => {
  const { root, repo, first } = await setup(8);
  // "a.txt" sorts before "a/b" as whole paths, but after "a" as a name: the listing walks in path order.
  await fs.mkdir(path.join(root, 'ck', 'a'));
  await fs.writeFile(path.join(root, 'ck', 'a', 'b'), bytesFor('ab', 100));
  await fs.writeFile(path.join(root, 'ck', 'a.txt'), bytesFor('a.txt', 100));
  await fs.writeFile(path.join(root, 'ck', 'a-c'), bytesFor('a-c', 100));
  await ageFiles(root);
  const second = await add({ repo, path: path.join(root, 'ck') });
  t.is(second.filesRead, 3, 'the three new files, and only they, are read');
  const file = path.join(repo.dir, 'worktree-stat.json');
  const entry = JSON.parse(await fs.readFile(file, 'utf8')).ck;
  const m = await loadManifest(repo, second.manifest);
  t.is(entry.stats.length, 4 * m.files.length);
  for (const [i, f] of m.files.entries()) {
    const st = await fs.stat(path.join(root, 'ck', ...f.path.split('/')));
    t.deepEqual(entry.stats.slice(4 * i, 4 * i + 4), [st.size, st.mtimeMs, st.ino, st.ctimeMs], f.path);
  }
  const third = await add({ repo, path: path.join(root, 'ck') });
  t.is(third.filesRead, 0, 'nothing changed, nothing read');
  // Rewritten as the per-path map of earlier versions: still vouches for every file.
  entry.files = Object.fromEntries(m.files.map((f, i) => [f.path, entry.stats.slice(4 * i, 4 * i + 4)]));
  delete entry.stats;
  await fs.writeFile(file, JSON.stringify({ ck: entry }));
  await fs.writeFile(path.join(root, 'ck', 'a', 'b'), bytesFor('ab2', 100));
  const fourth = await add({ repo, path: path.join(root, 'ck') });
  t.is(fourth.filesRead, 1, 'the older cache vouches for all but the changed file');
  t.true(first.filesRead === 8 && fourth.manifest !== second.manifest);
  t.deepEqual((await verify({ repo })).problems, []);
});

test('a file rewritten with the same size and its mtime put back is still read (its ctime moved)', async (t) => {
  const { root, repo } = await setup(8);
  const f = path.join(root, 'ck', 'd3', 'f3.bin');
  const T = Math.floor(Date.now() / 1000) - 60; // whole seconds, so the mtime can be put back exactly
  await fs.utimes(f, T, T);
  await ageFiles(root);
  t.is((await add({ repo, path: path.join(root, 'ck') })).filesRead, 1, 'the touched file is read once');
  const st = await fs.stat(f);
  await fs.writeFile(f, bytesFor('sneaky', 4096));
  await fs.utimes(f, T, T);
  t.is((await fs.stat(f)).mtimeMs, st.mtimeMs, 'the mtime is what it was');
  const second = await add({ repo, path: path.join(root, 'ck') });
  t.is(second.filesRead, 1);
  t.is(second.chunksNew, 1, 'the new content was stored');
});

test('files changed shortly before the last add are read again (their stat proves nothing yet)', async (t) => {
  const { root, repo } = await setup(8);
  await fs.writeFile(path.join(root, 'ck', 'd0', 'f0.bin'), bytesFor('fresh', 4096)); // mtime: now
  const second = await add({ repo, path: path.join(root, 'ck') });
  t.is(second.filesRead, 1);
  const third = await add({ repo, path: path.join(root, 'ck') });
  t.is(third.filesRead, 1, 'f0 was written within the racy window of the second add: read once more');
});

test('a file whose chunk left the store is read again, so the new version is whole', async (t) => {
  const { root, repo, first } = await setup(8);
  // Remove one stored chunk (as a damaged disk would): the file holding it must be read, not trusted.
  const objects = path.join(root, '.ckptsync', 'objects');
  const dir = (await fs.readdir(objects)).find((d) => /^[0-9a-f]{2}$/.test(d))!;
  const victim = (await fs.readdir(path.join(objects, dir)))[0]!;
  await fs.rm(path.join(objects, dir, victim));
  const second = await add({ repo, path: path.join(root, 'ck') });
  t.is(second.filesRead, 1);
  t.true(await fs.stat(path.join(objects, dir, victim)).then(() => true, () => false), 'the chunk is back');
  t.deepEqual((await verify({ repo })).problems.filter((p) => p.object === victim), []);
});

test('small files, taken many at a time and without the chunker below its min, are cut exactly as the chunker cuts them', async (t) => {
  const root = await tempDir('ckpt-small-');
  await ok(['init'], { cwd: root });
  const sizes = [0, 1, 1000, DEFAULT_CHUNKER.min - 1, DEFAULT_CHUNKER.min, DEFAULT_CHUNKER.min + 1, 3 << 20];
  await fs.mkdir(path.join(root, 'ck'));
  for (const [i, n] of sizes.entries()) await fs.writeFile(path.join(root, 'ck', `f${i}.bin`), bytesFor(`small-${i}`, n));
  const r = await add({ repo: await Repository.find(root), path: path.join(root, 'ck') });
  const m = await loadManifest(await Repository.find(root), r.manifest);
  for (const [i, n] of sizes.entries()) {
    const want: string[] = [];
    for await (const c of chunkFile(path.join(root, 'ck', `f${i}.bin`), DEFAULT_CHUNKER)) want.push(hashBytes(c.data));
    const entry = m.files.find((f) => f.path === `f${i}.bin`)!;
    t.deepEqual(entry.chunks, want, `a file of ${n} bytes`);
    t.is(entry.size, n);
  }
});

test("a stat cache temp left by a killed writer is removed by the next add; a live writer's is kept", async (t) => {
  const root = await tempDir('ckpt-unchanged-temp-');
  await ok(['init'], { cwd: root });
  await fs.writeFile(path.join(root, 'w.bin'), bytesFor('w', 4096));
  const repo = await Repository.find(root);
  const dead = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, ['-e', '0']);
    child.on('exit', () => resolve(child.pid!));
  });
  const leftover = path.join(repo.dir, `worktree-stat.json.tmp-${dead}-0badcafe`);
  const live = path.join(repo.dir, `worktree-stat.json.tmp-${process.pid}-0badf00d`);
  await fs.writeFile(leftover, '{"half');
  await fs.writeFile(live, '{"half');
  await add({ repo, path: path.join(root, 'w.bin') });
  await t.throwsAsync(fs.access(leftover), undefined, 'the dead writer\'s temp is gone');
  await t.notThrowsAsync(fs.access(live), 'a live writer\'s temp is left alone');
});

test('re-adding one folder rewrites its stat cache entry and keeps the other folders\' entries as they were', async (t) => {
  const { root, repo } = await setup(8);
  await fs.mkdir(path.join(root, 'other'));
  for (let i = 0; i < 3; i++) await fs.writeFile(path.join(root, 'other', `o${i}.bin`), bytesFor(`o${i}`, 1000));
  await ageFiles(root);
  await add({ repo, path: path.join(root, 'other') });
  const file = path.join(repo.dir, 'worktree-stat.json');
  const before = JSON.parse(await fs.readFile(file, 'utf8'));
  await fs.writeFile(path.join(root, 'ck', 'd1', 'f1.bin'), bytesFor('changed', 4096));
  await ageFiles(root);
  t.is((await add({ repo, path: path.join(root, 'ck') })).filesRead, 1);
  const after = JSON.parse(await fs.readFile(file, 'utf8'));
  t.deepEqual(Object.keys(after).sort(), ['ck', 'other']);
  t.deepEqual(after.other, before.other, 'the other folder\'s entry, read past and written back unchanged');
  t.notDeepEqual(after.ck, before.ck);
  t.is((await add({ repo, path: path.join(root, 'other') })).filesRead, 0, 'and it still vouches for its files');
});

test('a stat cache too large to parse whole is read as it comes: its entry still vouches for the unchanged files', async (t) => {
  const { root, repo } = await setup(8);
  // Another folder's entry of ~6 MB (1.2 million numbers) makes the cache larger than is parsed whole.
  const file = path.join(repo.dir, 'worktree-stat.json');
  const cache = JSON.parse(await fs.readFile(file, 'utf8'));
  cache['big/folder'] = { manifest: 'f'.repeat(64), at: 1, files: {}, stats: Array.from({ length: 1_200_000 }, (_, i) => i * 1.5) };
  await fs.writeFile(file, JSON.stringify(cache));
  t.true((await fs.stat(file)).size > 4 << 20);
  await fs.writeFile(path.join(root, 'ck', 'd2', 'f2.bin'), bytesFor('changed', 4096));
  await ageFiles(root);
  t.is((await add({ repo, path: path.join(root, 'ck') })).filesRead, 1, 'only the changed file is read');
  const after = JSON.parse(await fs.readFile(file, 'utf8'));
  t.deepEqual(after['big/folder'], cache['big/folder'], 'the other entry is written back as it was');
  // A damaged entry of ours (a string among the stats) is no cache at all: every file is read.
  after.ck.stats[5] = 'x';
  await fs.writeFile(file, JSON.stringify(after));
  await fs.writeFile(path.join(root, 'ck', 'd3', 'f3.bin'), bytesFor('changed again', 4096));
  await ageFiles(root);
  t.is((await add({ repo, path: path.join(root, 'ck') })).filesRead, 8);
});
