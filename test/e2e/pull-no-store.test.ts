// pull --no-store writes a checkpoint once (no second copy in the store), and a later pull reads the
// chunks it lacks from the file already at the destination (verified) instead of downloading them.

import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { loraEveryFor, loraVersion, transformerLayout, writeSafetensors } from '../../fixtures/generate.js';
import { cli, findFiles, ok, tempDir } from '../helpers.js';
import { pull } from '../../src/api/pull.js';
import { Repository } from '../../src/core/repo.js';

const sha = async (file: string) => crypto.createHash('sha256').update(await fs.readFile(file)).digest('hex');
const tensors = transformerLayout(16 << 20);
const v2 = loraVersion(loraEveryFor(tensors, 0.1));

/** A remote holding model.safetensors v1, then v2, plus the pointer file of each: made once for all tests. */
async function makeRemote() {
  const remote = path.join(await tempDir(), 'remote');
  const a = await tempDir('ckpt-nostore-');
  await ok(['init'], { cwd: a });
  await ok(['remote', 'add', 'origin', remote], { cwd: a });
  const pointers: string[] = [];
  const data: string[] = [];
  for (const versionOf of [undefined, v2]) {
    await writeSafetensors(path.join(a, 'model.safetensors'), { seed: 'nostore', tensors, versionOf });
    await ok(['add', 'model.safetensors'], { cwd: a });
    await ok(['push', 'model.safetensors'], { cwd: a });
    pointers.push(await fs.readFile(path.join(a, 'model.safetensors.ckpt'), 'utf8'));
    data.push(await sha(path.join(a, 'model.safetensors')));
  }
  return { remote, pointers, data };
}
let shared: ReturnType<typeof makeRemote> | undefined;

/** A fresh repository with the shared remote as origin. */
async function setup() {
  const { remote, pointers, data } = await (shared ??= makeRemote());
  const b = await tempDir('ckpt-nostore-');
  await ok(['init'], { cwd: b });
  await ok(['remote', 'add', 'origin', remote], { cwd: b });
  return { b, pointers, data };
}

const chunkObjects = async (repo: string) => (await findFiles(path.join(repo, '.ckptsync', 'objects'), '')).length;

test('pull --no-store writes the file but no chunk copy, and verify counts the chunks as remote-only', async (t) => {
  const { b, pointers, data } = await setup();
  await fs.writeFile(path.join(b, 'model.safetensors.ckpt'), pointers[0]!);
  const r = await ok(['pull', 'model.safetensors.ckpt', '--no-store', '--json'], { cwd: b });
  t.is(r.json.result.bytesDownloaded, r.json.result.bytesTotal);
  t.is(await sha(path.join(b, 'model.safetensors')), data[0]);
  t.is(await chunkObjects(b), 0);
  const v = await cli(['verify', '--json'], { cwd: b });
  t.is(v.code, 0, v.stdout + v.stderr);
  t.deepEqual(await findFiles(b, '.tmp-'), []);
});

test('a later pull moves only the changed chunks: the rest is read from the file at the destination', async (t) => {
  const { b, pointers, data } = await setup();
  await fs.writeFile(path.join(b, 'model.safetensors.ckpt'), pointers[0]!);
  const first = await ok(['pull', 'model.safetensors.ckpt', '--no-store', '--json'], { cwd: b });
  await fs.writeFile(path.join(b, 'model.safetensors.ckpt'), pointers[1]!);
  const r = await ok(['pull', 'model.safetensors.ckpt', '--no-store', '--json'], { cwd: b });
  t.is(await sha(path.join(b, 'model.safetensors')), data[1]);
  t.true(r.json.result.bytesSeeded > 0.8 * first.json.result.bytesTotal, `seeded ${r.json.result.bytesSeeded}`);
  t.true(r.json.result.bytesDownloaded < 0.15 * first.json.result.bytesTotal, `downloaded ${r.json.result.bytesDownloaded}`);
  t.is(r.json.result.bytesDownloaded + r.json.result.bytesSeeded, r.json.result.bytesTotal);
  t.is(await chunkObjects(b), 0);
});

test('a pull that keeps chunks stores the seeded ones too, each verified, and verify finds them all', async (t) => {
  const { b, pointers, data } = await setup();
  await fs.writeFile(path.join(b, 'model.safetensors.ckpt'), pointers[0]!);
  await ok(['pull', 'model.safetensors.ckpt', '--no-store'], { cwd: b });
  await fs.writeFile(path.join(b, 'model.safetensors.ckpt'), pointers[1]!);
  const r = await ok(['pull', 'model.safetensors.ckpt', '--keep-copy', '--json'], { cwd: b });
  t.is(await sha(path.join(b, 'model.safetensors')), data[1]);
  t.true(r.json.result.bytesSeeded > 0.8 * r.json.result.bytesTotal, `seeded ${r.json.result.bytesSeeded}`);
  t.is(await chunkObjects(b), r.json.result.chunksTotal, 'every chunk of v2 is in the store');
  const v = await cli(['verify', '--json'], { cwd: b });
  t.is(v.code, 0, v.stdout + v.stderr);
  t.deepEqual(await findFiles(b, '.tmp-'), []);
});

test('a file at the destination that holds other bytes seeds nothing, and the pull is still exact', async (t) => {
  const { b, pointers, data } = await setup();
  await fs.writeFile(path.join(b, 'model.safetensors.ckpt'), pointers[1]!);
  await fs.writeFile(path.join(b, 'model.safetensors'), crypto.randomBytes(1 << 20));
  // --force: a file ckptsync did not write is otherwise kept (pull refuses to overwrite local edits).
  const r = await ok(['pull', 'model.safetensors.ckpt', '--keep-copy', '--json', '--force'], { cwd: b });
  t.is(r.json.result.bytesSeeded, 0);
  t.is(r.json.result.bytesDownloaded, r.json.result.bytesTotal);
  t.is(await sha(path.join(b, 'model.safetensors')), data[1]);
  t.true((await chunkObjects(b)) > 0, 'with --keep-copy the chunks are kept');
});

test('seeding never reads through a symlink at the destination', async (t) => {
  const { b, pointers } = await setup();
  await fs.writeFile(path.join(b, 'model.safetensors.ckpt'), pointers[0]!);
  await ok(['pull', 'model.safetensors.ckpt', '--to', 'real.safetensors', '--no-store'], { cwd: b });
  await fs.symlink(path.join(b, 'real.safetensors'), path.join(b, 'model.safetensors'));
  await fs.writeFile(path.join(b, 'model.safetensors.ckpt'), pointers[1]!);
  // --force: a symlink where the file should be is not what ckptsync wrote, so it is otherwise refused.
  const r = await ok(['pull', 'model.safetensors.ckpt', '--no-store', '--json', '--force'], { cwd: b });
  t.is(r.json.result.bytesSeeded, 0);
  t.is(r.json.result.bytesDownloaded, r.json.result.bytesTotal);
});

test('--no-store with --no-checkout is refused: there would be nothing to keep', async (t) => {
  const { b, pointers } = await setup();
  await fs.writeFile(path.join(b, 'model.safetensors.ckpt'), pointers[0]!);
  const r = await cli(['pull', 'model.safetensors.ckpt', '--no-store', '--no-checkout'], { cwd: b });
  t.is(r.code, 2);
  t.regex(r.stderr, /--no-store needs a checkout/);
});

test('bytes that moved (an insertion near the start of a FastCDC file) are still found in the old file', async (t) => {
  const remote = path.join(await tempDir(), 'remote');
  const a = await tempDir('ckpt-nostore-');
  await ok(['init'], { cwd: a });
  await ok(['remote', 'add', 'origin', remote], { cwd: a });
  const v1 = crypto.randomBytes(8 << 20);
  const v2 = Buffer.concat([v1.subarray(0, 1000), crypto.randomBytes(4096), v1.subarray(1000)]);
  const pointers: string[] = [];
  for (const data of [v1, v2]) {
    await fs.writeFile(path.join(a, 'x.bin'), data);
    await ok(['add', 'x.bin'], { cwd: a });
    await ok(['push', 'x.bin'], { cwd: a });
    pointers.push(await fs.readFile(path.join(a, 'x.bin.ckpt'), 'utf8'));
  }
  const b = await tempDir('ckpt-nostore-');
  await ok(['init'], { cwd: b });
  await ok(['remote', 'add', 'origin', remote], { cwd: b });
  await fs.writeFile(path.join(b, 'x.bin.ckpt'), pointers[0]!);
  await ok(['pull', 'x.bin.ckpt', '--no-store'], { cwd: b });
  await fs.writeFile(path.join(b, 'x.bin.ckpt'), pointers[1]!);
  const r = await ok(['pull', 'x.bin.ckpt', '--no-store', '--json'], { cwd: b });
  t.true((await fs.readFile(path.join(b, 'x.bin'))).equals(v2));
  t.true(r.json.result.bytesSeeded > v1.length / 2, `seeded ${r.json.result.bytesSeeded}`);
  t.is(r.json.result.bytesDownloaded + r.json.result.bytesSeeded, r.json.result.bytesTotal);
});

test('a tensor file at the destination rewritten in place: same-offset pieces that no longer match are downloaded, and progress adds up', async (t) => {
  const { b, pointers, data } = await setup();
  await fs.writeFile(path.join(b, 'model.safetensors.ckpt'), pointers[0]!);
  await ok(['pull', 'model.safetensors.ckpt', '--no-store'], { cwd: b });
  // The old file keeps its size and layout, but 3 MiB in its middle now hold other bytes: the pieces
  // there are still candidates at their offsets, and fail their hash when the pull reads them.
  const fh = await fs.open(path.join(b, 'model.safetensors'), 'r+');
  const size = (await fh.stat()).size;
  await fh.write(crypto.randomBytes(3 << 20), 0, 3 << 20, Math.floor(size / 2));
  await fh.close();
  await fs.writeFile(path.join(b, 'model.safetensors.ckpt'), pointers[1]!);
  const progress: { bytesMoved: number; bytesToMove: number; bytesSkipped: number; objectsMoved: number; objectsToMove: number }[] = [];
  // force: the old file was edited, which pull otherwise refuses to overwrite.
  const r = await pull({ repo: await Repository.find(b), target: path.join(b, 'model.safetensors.ckpt'), store: 'none', force: true, onProgress: (p) => progress.push({ ...p }) });
  t.is(await sha(path.join(b, 'model.safetensors')), data[1]);
  t.is(r.bytesDownloaded + r.bytesSeeded, r.bytesTotal);
  t.true(r.bytesDownloaded >= 3 << 20, `the overwritten region was downloaded (${r.bytesDownloaded})`);
  t.true(r.bytesSeeded > 0.7 * r.bytesTotal, `the rest was read from the old file (${r.bytesSeeded})`);
  const last = progress.at(-1)!;
  t.is(last.bytesMoved, last.bytesToMove, 'the bytes to move grew by the candidates that failed');
  t.is(last.objectsMoved, last.objectsToMove);
  t.is(last.bytesSkipped + last.bytesToMove, r.bytesTotal);
});
