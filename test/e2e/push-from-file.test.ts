// push --from-file: the chunks go from the checkpoint file to the remote without being copied into the
// local store, which keeps only the manifest (manifest-spec.md §7).

import crypto from 'node:crypto';
import fsSync from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { loraEveryFor, loraVersion, transformerLayout, writeSafetensors } from '../../fixtures/generate.js';
import { push } from '../../src/api/push.js';
import { Repository } from '../../src/core/repo.js';
import { cli, ok, tempDir } from '../helpers.js';

const sha = async (file: string) => crypto.createHash('sha256').update(await fs.readFile(file)).digest('hex');

async function repoWithRemote(remote: string) {
  const dir = await tempDir('ckpt-fromfile-');
  await ok(['init'], { cwd: dir });
  await ok(['remote', 'add', 'origin', remote], { cwd: dir });
  return dir;
}

/** Every file under .ckptsync/objects (where chunks live). */
async function localChunkFiles(repo: string): Promise<string[]> {
  const dir = path.join(repo, '.ckptsync', 'objects');
  const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries.filter((e) => e.isFile()).map((e) => e.name);
}

test('push --from-file uploads from the file, stores no chunks, and another repository pulls identical bytes', async (t) => {
  const remote = path.join(await tempDir(), 'remote');
  const a = await repoWithRemote(remote);
  const tensors = transformerLayout(8 << 20);
  const file = path.join(a, 'ckpt', 'model.safetensors');
  await writeSafetensors(file, { seed: 'ff', tensors });

  const v1 = await ok(['push', 'ckpt/model.safetensors', '--from-file', '--json'], { cwd: a });
  t.is(v1.json.result.name, 'ckpt/model.safetensors');
  t.true(v1.json.result.chunksTotal > 1);
  t.is(v1.json.result.chunksUploaded, v1.json.result.chunksTotal);
  t.is(v1.json.result.bytesUploaded, (await fs.stat(file)).size);
  t.deepEqual(await localChunkFiles(a), [], 'the local store holds no chunk');
  t.true((await fs.readdir(path.join(a, '.ckptsync', 'manifests'))).includes(v1.json.result.manifest), 'but it holds the manifest');
  t.regex(await fs.readFile(file + '.ckpt', 'utf8'), new RegExp(`^version .*\nmanifest ${v1.json.result.manifest}\nname ckpt/model.safetensors\n`));
  t.true((await fs.readFile(path.join(a, '.gitignore'), 'utf8')).includes('/ckpt/model.safetensors\n'));

  const local = await ok(['verify', '--json'], { cwd: a });
  t.deepEqual(local.json.result.problems, []);
  const onRemote = await ok(['verify', '--remote', 'origin', '--deep', '--json'], { cwd: a });
  t.deepEqual(onRemote.json.result.problems, []);
  t.is(onRemote.json.result.chunks, v1.json.result.chunksTotal);

  const b = await repoWithRemote(remote);
  await ok(['pull', 'ckpt/model.safetensors'], { cwd: b });
  t.is(await sha(path.join(b, 'ckpt', 'model.safetensors')), await sha(file));

  // Version 2 rewrites ~10% of the tensors: only their chunks travel.
  await writeSafetensors(file, { seed: 'ff', tensors, versionOf: loraVersion(loraEveryFor(tensors, 0.1)) });
  const v2 = await ok(['push', 'ckpt/model.safetensors', '--from-file', '--json'], { cwd: a });
  t.true(v2.json.result.changed);
  t.true(v2.json.result.chunksUploaded > 0 && v2.json.result.chunksUploaded < v2.json.result.chunksTotal / 3, `${v2.json.result.chunksUploaded} of ${v2.json.result.chunksTotal}`);
  t.true(v2.json.result.bytesUploaded < v1.json.result.bytesUploaded / 3);
  t.deepEqual(await localChunkFiles(a), []);
  t.deepEqual((await ok(['verify', '--json'], { cwd: a })).json.result.problems, []);
  t.deepEqual((await ok(['verify', '--remote', 'origin', '--json'], { cwd: a })).json.result.problems, []);
  await ok(['pull', 'ckpt/model.safetensors'], { cwd: b });
  t.is(await sha(path.join(b, 'ckpt', 'model.safetensors')), await sha(file));
});

test('the pointer written by push --from-file pulls the data back into the same repository', async (t) => {
  const remote = path.join(await tempDir(), 'remote');
  const a = await repoWithRemote(remote);
  const file = path.join(a, 'm.safetensors');
  await writeSafetensors(file, { seed: 'back', tensors: transformerLayout(4 << 20) });
  const want = await sha(file);
  await ok(['push', 'm.safetensors', '--from-file', '--as', 'run1/step-1'], { cwd: a });
  t.regex(await fs.readFile(file + '.ckpt', 'utf8'), /\nname run1\/step-1\n/);
  await fs.rm(file);
  await ok(['pull', 'm.safetensors.ckpt', '--keep-copy'], { cwd: a });
  t.is(await sha(file), want);
  t.true((await localChunkFiles(a)).length > 0, 'pull --keep-copy brought the chunks into the store');
  // Now the chunks are here, so checkout works too, and verify finds the (now named) snapshot whole.
  await fs.rm(file);
  await ok(['checkout', 'm.safetensors.ckpt'], { cwd: a });
  t.is(await sha(file), want);
  t.deepEqual((await ok(['verify', '--json'], { cwd: a })).json.result.problems, []);
});

test('a file rewritten while push --from-file reads it fails the push and names nothing', async (t) => {
  const remote = path.join(await tempDir(), 'remote');
  const a = await repoWithRemote(remote);
  const file = path.join(a, 'm.safetensors');
  await writeSafetensors(file, { seed: 'race', tensors: transformerLayout(4 << 20) });
  const repo = await Repository.find(a);
  let rewritten = false;
  const err = await t.throwsAsync(
    push({
      repo,
      target: file,
      remote: 'origin',
      fromFile: true,
      // The first progress report comes after chunking and before any upload: the trainer overwrites the file then.
      onProgress: () => {
        if (rewritten) return;
        rewritten = true;
        const fd = fsSync.openSync(file, 'r+');
        fsSync.writeSync(fd, crypto.randomBytes(4096), 0, 4096, fsSync.fstatSync(fd).size >> 1);
        fsSync.closeSync(fd);
      },
    }),
  );
  t.true(rewritten);
  t.is((err as { code?: string }).code, 'INTEGRITY');
  t.regex(err!.message, /changed while it was being pushed/);
  await t.throwsAsync(fs.access(path.join(remote, 'refs', 'm.safetensors.ref')), undefined, 'no name on the remote');
  t.deepEqual(await fs.readdir(path.join(remote, 'manifests')).catch(() => []), [], 'no manifest on the remote');
  await t.throwsAsync(fs.access(file + '.ckpt'), undefined, 'no pointer file');
  const r = await cli(['push', 'm.safetensors', '--from-file'], { cwd: a });
  t.is(r.code, 0, 'pushing again once the file is written succeeds');
});
