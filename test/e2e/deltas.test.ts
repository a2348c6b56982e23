// Chunk deltas (manifest-spec.md §8a): a sparse update of a large tensor is pushed as the changed ranges
// of its chunks, pulled back (base from the store or downloaded), verified, and kept alive by gc.

import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { largeTensor, transformerLayout, writeSafetensors } from '../../fixtures/generate.js';
import { add } from '../../src/api/add.js';
import { DEFAULT_SAFETENSORS_CHUNKER } from '../../src/core/chunker.js';
import { gc } from '../../src/api/gc.js';
import { pull } from '../../src/api/pull.js';
import { push } from '../../src/api/push.js';
import { verify } from '../../src/api/verify.js';
import { connect } from '../../src/api/remote.js';
import { Repository } from '../../src/core/repo.js';
import { handleOf, prefixOf } from '../../src/remote/layout.js';
import type { Remote } from '../../src/remote/types.js';
import { deleteRemoteRef } from '../../src/sync/refs.js';
import { tempDir } from '../helpers.js';

const AVG = DEFAULT_SAFETENSORS_CHUNKER.avg;
// A tensor two and a half chunks long, so that a patch can straddle a cut inside it.
const big = largeTensor('model.big.weight', (5 * AVG) / 2);
const tensors = [...transformerLayout(12 << 20), big];
const PATCH = 256 << 10;
const sha = async (file: string) => crypto.createHash('sha256').update(await fs.readFile(file)).digest('hex');

async function keys(remote: Remote, kind: 'chunk' | 'delta'): Promise<string[]> {
  const out: string[] = [];
  for await (const o of remote.list(prefixOf(kind))) if (handleOf(o.key)?.kind === kind) out.push(handleOf(o.key)!.name);
  return out;
}

/** v1 and a sparse v3 (256 KiB rewritten across a chunk boundary of the largest tensor), both added. */
async function setup() {
  const root = await tempDir('ckpt-delta-');
  const { repo } = await Repository.init(root);
  const url = path.join(await tempDir('ckpt-delta-remote-'), 'r');
  const remote = await connect({ url, settings: {} });
  const files = { v1: path.join(root, 'v1.safetensors'), v3: path.join(root, 'v3.safetensors') };
  await writeSafetensors(files.v1, { tensors, seed: 'delta' });
  await writeSafetensors(files.v3, { tensors, seed: 'delta', patch: { tensor: big.name, offset: AVG - PATCH / 2 + 5, length: PATCH, seed: 'sparse' } });
  for (const v of ['v1', 'v3'] as const) await add({ repo, path: files[v], name: v, pointer: false });
  return { root, repo, url, remote, files };
}

test('deltas › a sparse update uploads little more than the changed bytes and pulls back byte for byte', async (t) => {
  const s = await setup();
  const p1 = await push({ repo: s.repo, target: 'v1', remote: s.remote });
  t.is(p1.chunksAsDeltas, 0);
  const p3 = await push({ repo: s.repo, target: 'v3', remote: s.remote });
  t.true(p3.chunksUploaded >= 2, 'the patch straddles a chunk boundary');
  t.is(p3.chunksAsDeltas, p3.chunksUploaded);
  t.true(p3.bytesUploaded < PATCH * 1.05, `uploaded ${p3.bytesUploaded} bytes for a ${PATCH}-byte change`);
  t.is(p3.bytesAlreadyThere, p3.bytesTotal - (await keys(s.remote, 'delta')).length * AVG);
  t.deepEqual((await keys(s.remote, 'chunk')).length, p1.chunksUploaded, 'no whole chunk was sent for v3');

  // A fresh repository has no base: it downloads the base whole, rebuilds and verifies.
  const fresh = (await Repository.init(await tempDir('ckpt-delta-'))).repo;
  const out = path.join(fresh.root, 'v3.safetensors');
  await pull({ repo: fresh, target: 'v3', remote: s.remote, to: out });
  t.is(await sha(out), await sha(s.files.v3));
  // One that pulled v1 first rebuilds v3's chunks from its own store.
  const warm = (await Repository.init(await tempDir('ckpt-delta-'))).repo;
  await pull({ repo: warm, target: 'v1', remote: s.remote });
  const r3 = await pull({ repo: warm, target: 'v3', remote: s.remote, to: path.join(warm.root, 'v3.safetensors') });
  t.is(r3.chunksDownloaded, p3.chunksUploaded);
  t.is(await sha(path.join(warm.root, 'v3.safetensors')), await sha(s.files.v3));
  t.deepEqual((await verify({ repo: warm, remote: s.remote, deep: true })).problems, []);
});

test('deltas › --no-deltas sends whole chunks', async (t) => {
  const s = await setup();
  await push({ repo: s.repo, target: 'v1', remote: s.remote });
  const p3 = await push({ repo: s.repo, target: 'v3', remote: s.remote, deltas: false });
  t.is(p3.chunksAsDeltas, 0);
  t.is(p3.bytesUploaded, p3.bytesTotal - p3.bytesAlreadyThere);
  t.deepEqual(await keys(s.remote, 'delta'), []);
});

test('deltas › a corrupt delta is refused and no file is left behind', async (t) => {
  const s = await setup();
  await push({ repo: s.repo, target: 'v1', remote: s.remote });
  await push({ repo: s.repo, target: 'v3', remote: s.remote });
  const [name] = await keys(s.remote, 'delta');
  const [chunk, base] = name!.split('-');
  const file = path.join(s.url, 'deltas', chunk!.slice(0, 2), `${chunk}-${base}`);
  const d = await fs.readFile(file);
  d[d.length - 1] ^= 0xff; // a patch byte: the rebuilt chunk no longer hashes to its name
  await fs.writeFile(file, d);
  const fresh = (await Repository.init(await tempDir('ckpt-delta-'))).repo;
  const out = path.join(fresh.root, 'v3.safetensors');
  await t.throwsAsync(pull({ repo: fresh, target: 'v3', remote: s.remote, to: out }), { message: new RegExp(`chunk ${chunk} rebuilt from delta .* is corrupt`) });
  await t.throwsAsync(fs.access(out));
  const problems = (await verify({ repo: fresh, remote: s.remote, deep: true })).problems;
  t.deepEqual(problems.map((p) => [p.kind, p.object]), [['corrupt-chunk', chunk]]);
});

test('deltas › gc keeps the base of a live delta when the version it came from is gone, and drops dead deltas', async (t) => {
  const s = await setup();
  await push({ repo: s.repo, target: 'v1', remote: s.remote });
  await push({ repo: s.repo, target: 'v3', remote: s.remote });
  const [name] = await keys(s.remote, 'delta');
  const base = name!.split('-')[1]!;
  await deleteRemoteRef(s.remote, 'v1');
  const r = await gc({ remote: s.remote, graceMs: 0, allowShortGrace: true });
  t.is(r.manifestsDeleted, 1);
  t.is(r.deltasDeleted, 0);
  t.true((await keys(s.remote, 'chunk')).includes(base), 'the base only v1 named is kept');
  t.is(r.chunksDeleted, 0, 'the only chunks v1 alone named are the bases of v3\'s deltas');
  const fresh = (await Repository.init(await tempDir('ckpt-delta-'))).repo;
  const out = path.join(fresh.root, 'v3.safetensors');
  await pull({ repo: fresh, target: 'v3', remote: s.remote, to: out });
  t.is(await sha(out), await sha(s.files.v3));

  await deleteRemoteRef(s.remote, 'v3');
  const r2 = await gc({ remote: s.remote, graceMs: 0, allowShortGrace: true });
  t.true(r2.deltasDeleted >= 2);
  t.deepEqual(await keys(s.remote, 'delta'), []);
  t.deepEqual(await keys(s.remote, 'chunk'), []);
});

test('deltas › verify reports a delta whose base is missing', async (t) => {
  const s = await setup();
  await push({ repo: s.repo, target: 'v1', remote: s.remote });
  await push({ repo: s.repo, target: 'v3', remote: s.remote });
  const base = (await keys(s.remote, 'delta'))[0]!.split('-')[1]!;
  await s.remote.delete(`chunks/${base.slice(0, 2)}/${base}`);
  const problems = (await verify({ repo: s.repo, remote: s.remote })).problems;
  t.true(problems.some((p) => p.kind === 'missing-chunk' && p.object === base && /base of the delta/.test(p.detail)), JSON.stringify(problems));
});
