// add keeps cutting a checkpoint the way its previous version was cut (manifest-spec.md §2.2): a change
// of default chunk sizes must not cost the next version its deduplication against the last.

import path from 'node:path';
import test from 'ava';
import { largeTensor, loraVersion, transformerLayout, writeSafetensors } from '../../fixtures/generate.js';
import { add } from '../../src/api/add.js';
import { push } from '../../src/api/push.js';
import { DEFAULT_SAFETENSORS_CHUNKER, SAFETENSORS_ALG, type ChunkerParams } from '../../src/core/chunker.js';
import { decodeManifest, type ManifestFile } from '../../src/core/manifest.js';
import { Repository } from '../../src/core/repo.js';
import { tempDir } from '../helpers.js';

const OLD: ChunkerParams = { alg: SAFETENSORS_ALG, min: 64 << 10, avg: 1 << 20, max: 4 << 20 };
const tensors = [...transformerLayout(8 << 20), largeTensor('model.big.weight', 3 * DEFAULT_SAFETENSORS_CHUNKER.avg)];

/** The one file of a stored single-file snapshot. */
async function fileOf(repo: Repository, manifest: string): Promise<ManifestFile> {
  return decodeManifest(await repo.store.get('manifest', manifest)).files.at(0)!;
}

async function setup() {
  const root = await tempDir('ckpt-chunker-');
  const { repo } = await Repository.init(root);
  const file = path.join(root, 'model.safetensors');
  await writeSafetensors(file, { tensors, seed: 'sticky' });
  return { repo, file };
}

test('add › a new version under the same name is cut with the parameters of the version it follows', async (t) => {
  const { repo, file } = await setup();
  const v1 = await add({ repo, path: file, chunker: OLD });
  await writeSafetensors(file, { tensors, seed: 'sticky', versionOf: loraVersion(2) });
  const v2 = await add({ repo, path: file });
  t.deepEqual((await fileOf(repo, v2.manifest)).chunker, OLD);
  // Unchanged tensors deduplicated: far fewer new bytes than the file.
  t.true(v2.bytesNew < v2.bytes * 0.3, `v2 stored ${v2.bytesNew} of ${v2.bytes} bytes`);
  t.not(v1.manifest, v2.manifest);
});

test('add › push --from-file follows the version its pointer file names', async (t) => {
  const { repo, file } = await setup();
  await add({ repo, path: file, name: 'elsewhere', chunker: OLD }); // writes model.safetensors.ckpt
  const remote = path.join(await tempDir('ckpt-chunker-remote-'), 'r');
  await writeSafetensors(file, { tensors, seed: 'sticky', versionOf: loraVersion(2) });
  const r = await push({ repo, target: file, fromFile: true, as: 'fresh-name', remote });
  t.deepEqual((await fileOf(repo, r.manifest)).chunker, OLD);
});

test('add › a checkpoint with no previous version gets the default parameters', async (t) => {
  const { repo, file } = await setup();
  const r = await add({ repo, path: file });
  const { chunker, chunks, sizes } = await fileOf(repo, r.manifest);
  t.deepEqual(chunker, DEFAULT_SAFETENSORS_CHUNKER);
  t.is(r.chunks, chunks.length);
  // The 12 MiB tensor is cut every avg bytes (three pieces of its own), and no cut is longer than a
  // piece plus a group of small tensors.
  const { avg, min } = DEFAULT_SAFETENSORS_CHUNKER;
  t.true(sizes.filter((n) => n === avg).length >= 3);
  t.true(sizes.every((n) => n < avg + min));
});
