import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { add } from '../../src/api/add.js';
import { clean } from '../../src/api/clean.js';
import { verify } from '../../src/api/verify.js';
import { diff } from '../../src/api/diff.js';
import { pull } from '../../src/api/pull.js';
import { pushSnapshot } from '../../src/sync/push.js';
import { cli } from '../helpers.js';
import { localRemote, newRepo, randomBytes } from './fixture.js';

const KB = 1024;

/** A safetensors file: 8-byte header length, JSON header, then each tensor's bytes in order. */
function safetensors(tensors: [string, Buffer][]): Buffer {
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let off = 0;
  for (const [name, data] of tensors) {
    header[name] = { dtype: 'F32', shape: [data.length / 4], data_offsets: [off, off + data.length] };
    off += data.length;
  }
  const json = Buffer.from(JSON.stringify(header));
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(json.length));
  return Buffer.concat([len, json, ...tensors.map(([, d]) => d)]);
}

/** Two versions of a model directory: one tensor rewritten, one added, a file removed and one added. */
async function twoVersions() {
  const { repo, root } = await newRepo();
  const dir = path.join(root, 'model');
  await fs.mkdir(dir);
  const w = (seed: number) => randomBytes(512 * KB, seed);
  await fs.writeFile(path.join(dir, 'model.safetensors'), safetensors([['embed', w(1)], ['layer.0', w(2)], ['layer.1', w(3)]]));
  await fs.writeFile(path.join(dir, 'config.json'), '{"d": 256}');
  await fs.writeFile(path.join(dir, 'optimizer.bin'), w(4));
  const a = await add({ repo, path: dir, name: 'model@1' });
  await fs.writeFile(path.join(dir, 'model.safetensors'), safetensors([['embed', w(1)], ['layer.0', w(22)], ['layer.1', w(3)], ['head', w(5)]]));
  await fs.rm(path.join(dir, 'optimizer.bin'));
  await fs.writeFile(path.join(dir, 'README.md'), 'v2');
  const b = await add({ repo, path: dir, name: 'model@2' });
  return { repo, root, a, b };
}

test('diff › files added, removed and changed, bytes shared, and which safetensors tensors changed', async (t) => {
  const s = await twoVersions();
  const r = await diff({ a: 'model@1', b: 'model@2', repo: s.repo });
  t.deepEqual(r.added, ['README.md']);
  t.deepEqual(r.removed, ['optimizer.bin']);
  t.deepEqual(r.changed.map((c) => c.path), ['model.safetensors']);
  t.is(r.unchanged, 1, 'config.json');
  t.deepEqual(r.changed[0]!.tensors, { added: ['head'], removed: [], changed: ['layer.0'], unchanged: 2 });
  t.true(r.bytes.shared > 0 && r.bytes.uniqueB > 0 && r.bytes.uniqueA > 0);
  t.is(r.bytes.a, r.bytes.shared + r.bytes.uniqueA);
});

test('diff › the CLI compares names on a remote from a fresh repository, with --json', async (t) => {
  const s = await twoVersions();
  const { url, remote } = await localRemote();
  await pushSnapshot(s.repo, remote, 'model@1', s.a.manifest);
  await pushSnapshot(s.repo, remote, 'model@2', s.b.manifest);
  const other = await newRepo();
  const r = await cli(['diff', 'model@1', 'model@2', '--remote', url, '--json'], { cwd: other.root });
  t.is(r.code, 0, r.stderr);
  t.deepEqual(r.json.result.changed[0].tensors.changed, ['layer.0']);
  const human = await cli(['diff', 'model@1', 'model@2', '--remote', url], { cwd: other.root });
  t.regex(human.stdout, /changed +model\.safetensors/);
});

test('clean › drops local chunks the remote holds under a name, keeps the rest, and pull restores them', async (t) => {
  const s = await twoVersions();
  const { url, remote } = await localRemote();
  await pushSnapshot(s.repo, remote, 'model@1', s.a.manifest); // model@2 stays local only
  const r = await clean({ repo: s.repo, remote: url });
  t.true(r.chunksRemoved > 0);
  t.true(r.chunksKept > 0, 'chunks only model@2 has stay');
  t.is(r.bytesFreed > 0, true);
  const again = await clean({ repo: s.repo, remote: url, dryRun: true });
  t.is(again.chunksRemoved, 0);
  // Chunks dropped on purpose are not reported as missing by verify.
  const v = await verify({ repo: s.repo });
  t.deepEqual(v.problems, []);
  t.is(v.remoteOnly, r.chunksRemoved);
  const back = await pull({ repo: s.repo, target: 'model@1', remote: url, to: path.join(s.root, 'restored') });
  t.true(back.chunksDownloaded > 0);
  t.is(await fs.readFile(path.join(s.root, 'restored', 'config.json'), 'utf8'), '{"d": 256}');
});
