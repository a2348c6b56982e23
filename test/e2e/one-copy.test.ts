// One copy on disk (manifest-spec.md §7b): a default pull or resolve keeps a checkpoint's chunks only in
// the files it writes, and the placed index says where. Later pulls, checkouts and pushes read them from
// there, verified; a file that changed makes its chunks missing locally, never wrong.

import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { loraEveryFor, loraVersion, transformerLayout, writeSafetensors } from '../../fixtures/generate.js';
import { manifestChunks } from '../../src/core/manifest.js';
import { Repository } from '../../src/core/repo.js';
import { loadManifest } from '../../src/sync/manifests.js';
import { cli, findFiles, ok, tempDir } from '../helpers.js';

const sha = async (file: string) => crypto.createHash('sha256').update(await fs.readFile(file)).digest('hex');
const tensors = transformerLayout(16 << 20);
const v2 = loraVersion(loraEveryFor(tensors, 0.1));

/** A remote holding model.safetensors as m1, then as m2 (about a tenth of its tensors changed): made once. */
async function makeRemote() {
  const remote = path.join(await tempDir(), 'remote');
  const a = await tempDir('ckpt-onecopy-');
  await ok(['init'], { cwd: a });
  await ok(['remote', 'add', 'origin', remote], { cwd: a });
  const data: string[] = [];
  for (const [name, versionOf] of [['m1', undefined], ['m2', v2]] as const) {
    await writeSafetensors(path.join(a, 'model.safetensors'), { seed: 'onecopy', tensors, versionOf });
    await ok(['add', 'model.safetensors', '--name', name], { cwd: a });
    await ok(['push', name], { cwd: a });
    data.push(await sha(path.join(a, 'model.safetensors')));
  }
  const size = (await fs.stat(path.join(a, 'model.safetensors'))).size;
  const repoA = await Repository.find(a);
  const [m1, m2] = await Promise.all(['m1', 'm2'].map(async (n) => loadManifest(repoA, await repoA.resolveName(n))));
  const old = manifestChunks(m1!);
  const changed = [...manifestChunks(m2!)].filter(([h]) => !old.has(h)).reduce((n, [, s]) => n + s, 0);
  return { remote, data, size, changed, chunks: manifestChunks(m1!).size };
}
let shared: ReturnType<typeof makeRemote> | undefined;

async function setup() {
  const r = await (shared ??= makeRemote());
  const b = await tempDir('ckpt-onecopy-');
  await ok(['init'], { cwd: b });
  await ok(['remote', 'add', 'origin', r.remote], { cwd: b });
  return { ...r, b };
}

/** Bytes a directory takes on disk (allocated blocks), every file below it. */
async function diskBytes(dir: string): Promise<number> {
  let n = 0;
  for (const e of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) n += (await fs.stat(path.join(e.parentPath, e.name))).blocks * 512;
  }
  return n;
}

const objectsIn = async (repo: string) => findFiles(path.join(repo, '.ckptsync', 'objects'), '');

test('a default pull keeps each byte once: the file holds the chunks, the index says where, verify reads them', async (t) => {
  const { b, data, size, chunks } = await setup();
  const r = await ok(['pull', 'm1', '--to', 'model.safetensors', '--json'], { cwd: b });
  t.is(r.json.result.bytesDownloaded, size);
  t.is(await sha(path.join(b, 'model.safetensors')), data[0]);
  t.deepEqual(await objectsIn(b), [], 'no chunk copied into the store');
  const store = await diskBytes(path.join(b, '.ckptsync'));
  t.log(`store after a pull of ${size} bytes: ${store} bytes on disk`);
  t.true(store < 0.05 * size, `the store takes ${store} bytes beside a ${size}-byte checkpoint`);
  const placed = await (await Repository.find(b)).placed.read();
  t.deepEqual(Object.keys(placed), ['model.safetensors']);
  t.is(placed['model.safetensors']!.manifest, r.json.result.manifest);
  const v = await ok(['verify', '--json'], { cwd: b });
  t.is(v.json.result.inFiles, chunks, 'every chunk of the name is found in the pulled file and verified');
  t.deepEqual(v.json.result.problems, []);
});

test('a pull of v2 over v1 copies the unchanged chunks from v1 and downloads only the changed ones', async (t) => {
  const { b, data, size, changed } = await setup();
  await ok(['pull', 'm1', '--to', 'model.safetensors'], { cwd: b });
  const r = await ok(['pull', 'm2', '--to', 'model.safetensors', '--json'], { cwd: b });
  t.is(await sha(path.join(b, 'model.safetensors')), data[1]);
  t.is(r.json.result.bytesDownloaded, changed, 'only the changed chunks were downloaded');
  t.is(r.json.result.bytesDownloaded + r.json.result.bytesSeeded, r.json.result.bytesTotal);
  t.deepEqual(await objectsIn(b), []);
  const disk = (await diskBytes(path.join(b, '.ckptsync'))) + (await fs.stat(path.join(b, 'model.safetensors'))).blocks * 512;
  t.true(disk < size * 1.05, `v1 then v2 take ${disk} bytes for a ${size}-byte checkpoint`);
  const v = await ok(['verify', '--json'], { cwd: b });
  t.deepEqual(v.json.result.problems, []);
  t.true(v.json.result.remoteOnly > 0, "v1's changed chunks are now only on the remote");
});

test('checkout and push of a pulled name read its chunks from the pulled file', async (t) => {
  const { b, data } = await setup();
  await ok(['pull', 'm1', '--to', 'model.safetensors'], { cwd: b });
  await ok(['checkout', 'm1', '--to', 'copy.safetensors'], { cwd: b });
  t.is(await sha(path.join(b, 'copy.safetensors')), data[0]);
  // Over the very file it reads from: the new file holds the chunks now, and the index says so.
  await ok(['checkout', 'm1', '--to', 'model.safetensors'], { cwd: b });
  t.is(await sha(path.join(b, 'model.safetensors')), data[0]);
  await fs.rm(path.join(b, 'copy.safetensors'));
  const v = await ok(['verify', '--json'], { cwd: b });
  t.deepEqual([v.json.result.inFiles, v.json.result.remoteOnly, v.json.result.problems], [(await shared!).chunks, undefined, []]);
  // A second remote gets every chunk from the pulled file; a fresh repository pulls it back whole.
  const second = path.join(await tempDir(), 'second');
  await ok(['push', 'm1', '-r', second], { cwd: b });
  const c = await tempDir('ckpt-onecopy-');
  await ok(['init'], { cwd: c });
  await ok(['pull', 'm1', '-r', second, '--to', 'model.safetensors'], { cwd: c });
  t.is(await sha(path.join(c, 'model.safetensors')), data[0]);
});

test('a pulled file changed in place: its chunks are missing locally, never wrong, and a pull brings them back', async (t) => {
  const { b, data, chunks } = await setup();
  const file = path.join(b, 'model.safetensors');
  await ok(['pull', 'm1', '--to', 'model.safetensors'], { cwd: b });
  const fh = await fs.open(file, 'r+');
  await fh.write(crypto.randomBytes(1 << 20), 0, 1 << 20, 4 << 20);
  await fh.close();
  const edited = await sha(file);
  const co = await cli(['checkout', 'm1', '--to', 'copy.safetensors'], { cwd: b });
  t.not(co.code, 0);
  t.regex(co.stderr, /not in the local store/);
  await t.throwsAsync(fs.access(path.join(b, 'copy.safetensors')), undefined, 'no file written');
  t.is(await sha(file), edited, "the user's file is left as they made it");
  const v = await ok(['verify', '--json'], { cwd: b });
  t.deepEqual(v.json.result.problems, []);
  t.is(v.json.result.remoteOnly, chunks, 'the chunks count as held by the remote');
  const r = await ok(['pull', 'm1', '--to', 'copy.safetensors', '--json'], { cwd: b });
  t.is(await sha(path.join(b, 'copy.safetensors')), data[0]);
  t.true(r.json.result.bytesDownloaded > 0);
});

test('a change the file identity cannot show is caught by the hash: the chunk is missing, not wrong', async (t) => {
  // As if the file changed within one timestamp tick: its bytes differ, its recorded identity matches.
  const { b, data } = await setup();
  const file = path.join(b, 'model.safetensors');
  await ok(['pull', 'm1', '--to', 'model.safetensors'], { cwd: b });
  const fh = await fs.open(file, 'r+');
  await fh.write(Buffer.from('not the same bytes'), 0, 18, 6 << 20);
  await fh.close();
  const edited = await sha(file);
  const index = path.join(b, '.ckptsync', 'placed.json');
  const doc = JSON.parse(await fs.readFile(index, 'utf8'));
  const st = await fs.stat(file);
  doc.entries['model.safetensors'].files[''] = [st.size, st.mtimeMs, st.ino, st.ctimeMs, st.dev];
  await fs.writeFile(index, JSON.stringify(doc));

  const co = await cli(['checkout', 'm1', '--to', 'copy.safetensors'], { cwd: b });
  t.not(co.code, 0);
  t.regex(co.stderr, /model\.safetensors, which held it, has changed/);
  await t.throwsAsync(fs.access(path.join(b, 'copy.safetensors')), undefined, 'no file written');
  t.deepEqual(await findFiles(b, '.tmp-'), [], 'no temp file left');
  t.is(await sha(file), edited, "the user's file is never deleted or repaired behind their back");
  // A pull reads what still matches from the file, downloads the rest, and writes the exact version.
  const r = await ok(['pull', 'm1', '--to', 'copy.safetensors', '--json'], { cwd: b });
  t.is(await sha(path.join(b, 'copy.safetensors')), data[0]);
  t.true(r.json.result.bytesDownloaded > 0 && r.json.result.bytesSeeded > 0, JSON.stringify(r.json.result));
});

test('resolve keeps one copy in the cache, and the next version copies unchanged chunks from the previous snapshot', async (t) => {
  const { b, data, size, changed } = await setup();
  const cache = path.join(await tempDir(), 'cache');
  const env = { CKPTSYNC_CACHE: cache };
  const r1 = await ok(['resolve', 'm1', '--json'], { cwd: b, env });
  t.is(await sha(r1.json.result.path), data[0]);
  const disk = await diskBytes(cache);
  t.true(disk < size * 1.05, `the cache takes ${disk} bytes for a ${size}-byte checkpoint`);
  t.deepEqual(await objectsIn(cache), []);
  const r2 = await ok(['resolve', 'm2', '--json'], { cwd: b, env });
  t.is(await sha(r2.json.result.path), data[1]);
  t.is(r2.json.result.bytesDownloaded, changed, 'only the changed chunks were downloaded');
  t.is((await fs.stat(r2.json.result.path)).mode & 0o222, 0, 'read-only');
});

test('--no-store writes no index, --keep-copy also keeps a copy of every chunk in the store', async (t) => {
  const { b, chunks } = await setup();
  await ok(['pull', 'm1', '--to', 'plain.safetensors', '--no-store'], { cwd: b });
  await t.throwsAsync(fs.access(path.join(b, '.ckptsync', 'placed.json')));
  t.deepEqual(await objectsIn(b), []);
  await ok(['pull', 'm1', '--to', 'kept.safetensors', '--keep-copy'], { cwd: b });
  t.is((await objectsIn(b)).length, chunks);
  await t.throwsAsync(fs.access(path.join(b, '.ckptsync', 'placed.json')), undefined, 'nothing to index: the store holds it');
  const both = await cli(['pull', 'm1', '--no-store', '--keep-copy'], { cwd: b });
  t.is(both.code, 2);
});

test('clean drops the index entries of pulled files that are gone, and never touches a pulled file', async (t) => {
  const { b, data } = await setup();
  await ok(['pull', 'm1', '--to', 'kept.safetensors'], { cwd: b });
  await ok(['pull', 'm1', '--to', 'gone.safetensors'], { cwd: b });
  await fs.rm(path.join(b, 'gone.safetensors'));
  const r = await ok(['clean', '--json'], { cwd: b });
  t.is(r.json.result.placedFiles, 1);
  t.deepEqual(Object.keys(await (await Repository.find(b)).placed.read()), ['kept.safetensors']);
  t.is(await sha(path.join(b, 'kept.safetensors')), data[0]);
});
