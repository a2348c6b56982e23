// Packs (manifest-spec.md §8c): a push sends runs of small new chunks as one object each, a pull reads
// them back with ranged gets, every chunk verified; a corrupt pack entry fails the pull with nothing
// written and is named by verify; gc deletes a pack only when none of its chunks is reachable; clean
// counts packed chunks as held; --no-packs keeps every chunk whole.

import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { add } from '../../src/api/add.js';
import { clean } from '../../src/api/clean.js';
import { gc } from '../../src/api/gc.js';
import { pull } from '../../src/api/pull.js';
import { push } from '../../src/api/push.js';
import { verify } from '../../src/api/verify.js';
import { connect } from '../../src/api/remote.js';
import { hashBytes } from '../../src/core/hash.js';
import { Repository } from '../../src/core/repo.js';
import { handleOf, prefixOf } from '../../src/remote/layout.js';
import type { Remote } from '../../src/remote/types.js';
import { decodePackHeader, PACK_MAX_ENTRIES, packEntries, packIndexOf, packSize, PackIndex, planPacks, writePack } from '../../src/sync/packs.js';
import { downloadChunk } from '../../src/sync/pull.js';
import { deleteRemoteRef } from '../../src/sync/refs.js';
import { bytesFor, sameTree } from '../reliability/helpers.js';
import { findFiles, tempDir } from '../helpers.js';

async function keys(remote: Remote, kind: 'chunk' | 'pack'): Promise<string[]> {
  const out: string[] = [];
  for await (const o of remote.list(prefixOf(kind))) if (handleOf(o.key)?.kind === kind) out.push(handleOf(o.key)!.name);
  return out;
}

/** A repository with `n` small files (a few KiB each, in 4 folders) and one of 3 MB, added as `label`. */
async function setup(label: string, n: number) {
  const root = await tempDir('ckpt-packs-');
  const { repo } = await Repository.init(root);
  const data = path.join(root, label);
  for (let i = 0; i < n; i++) {
    const f = path.join(data, `d${i % 4}`, `f${i}.bin`);
    await fs.mkdir(path.dirname(f), { recursive: true });
    await fs.writeFile(f, bytesFor(`${label}-${i}`, 1000 + ((i * 37) % 4000)));
  }
  await fs.writeFile(path.join(data, 'big.bin'), bytesFor(`${label}-big`, 3_000_000));
  await fs.copyFile(path.join(data, 'd0', 'f0.bin'), path.join(data, 'same-as-f0.bin')); // two files, one chunk
  await add({ repo, path: data, name: label, pointer: false });
  const url = path.join(await tempDir('ckpt-packs-remote-'), 'r');
  const remote = await connect({ url, settings: {} });
  return { root, repo, data, url, remote };
}

const freshRepo = async () => (await Repository.init(await tempDir('ckpt-packs-b-'))).repo;

test('packs › planPacks packs runs of small chunks, closes them at the size or count bound, and sends a lone one whole', (t) => {
  const size = new Map<string, number>([['big', 1 << 20], ['lone', 100]]);
  for (let i = 0; i < 2500; i++) size.set(`s${i}`, 2000);
  const plan = planPacks([...size.keys()], (h) => size.get(h)!);
  t.deepEqual(plan.packs.map((p) => p.length), [PACK_MAX_ENTRIES, PACK_MAX_ENTRIES, 2500 + 1 - 2 * PACK_MAX_ENTRIES]);
  t.deepEqual(plan.whole, ['big']);
  t.deepEqual(planPacks(['big', 'lone'], (h) => size.get(h)!), { packs: [], whole: ['big', 'lone'] });
  const bySize = planPacks(['a', 'b', 'c'], () => 3 << 20);
  t.deepEqual(bySize.whole, ['a', 'b', 'c'], 'chunks over 256 KiB always go whole');
});

test('packs › a pack is its header then its chunks; a header that does not tile the pack is refused', async (t) => {
  const chunks = ['one', 'two!', 'three'].map((s) => ({ data: Buffer.from(s), hash: hashBytes(Buffer.from(s)) }));
  const bytes = Buffer.alloc(packSize(chunks.map((c) => c.data.length)));
  const name = await writePack(bytes, chunks.map((c) => ({ hash: c.hash, size: c.data.length })), async (h, at) => void at.set(chunks.find((c) => c.hash === h)!.data));
  t.is(name, hashBytes(bytes));
  const entries = [...packEntries(decodePackHeader(bytes, bytes.length, name))];
  t.deepEqual(entries.map((e) => bytes.subarray(e.offset, e.offset + e.length).toString()), ['one', 'two!', 'three']);
  t.throws(() => decodePackHeader(bytes, bytes.length + 1, name), { message: /end at byte 128 of 129/ });
  t.throws(() => decodePackHeader(Buffer.from('PK\x03\x04\x01\x00\x00\x00'), 8, name), { message: /CKP1/ });
  const big = Buffer.from(bytes);
  big.writeUInt32LE(300 << 10, 8 + 32);
  t.throws(() => decodePackHeader(big, big.length, name), { message: /chunk 0 has 307200 bytes/ });
  const huge = Buffer.from(bytes);
  huge.writeUInt32LE(1 << 30, 4);
  t.throws(() => decodePackHeader(huge, huge.length, name), { message: /names 1073741824 chunks/ });
});

test('packs › small files go up in one pack and come back byte for byte, with the store and without', async (t) => {
  const s = await setup('a', 300);
  const r = await push({ repo: s.repo, target: 'a', remote: s.remote });
  t.is(r.chunksUploaded, r.chunksTotal);
  const packs = await keys(s.remote, 'pack');
  t.is(packs.length, 1, 'about 750 KB of small files: one pack');
  const whole = await keys(s.remote, 'chunk');
  t.is(whole.length, r.chunksTotal - 300, "only the 3 MB file's chunks are whole objects");
  const index = await PackIndex.load(s.remote);
  t.is(index.count, 300, 'every small file (two of them one chunk)');
  for (const keep of ['files', 'none'] as const) {
    const b = await freshRepo();
    const got = await pull({ repo: b, target: 'a', remote: s.remote, to: path.join(b.root, 'out'), store: keep });
    t.is(got.chunksDownloaded, r.chunksTotal);
    t.true(await sameTree(s.data, path.join(b.root, 'out')));
    t.deepEqual(await findFiles(b.root, '.tmp-'), []);
    t.deepEqual((await verify({ repo: b })).problems, [], `the store after a pull with store: ${keep}`);
  }
  t.deepEqual((await verify({ repo: s.repo, remote: s.remote, deep: true })).problems, []);
});

test('packs › push --no-packs sends every chunk whole', async (t) => {
  const s = await setup('a', 40);
  const r = await push({ repo: s.repo, target: 'a', remote: s.remote, packs: false });
  t.deepEqual(await keys(s.remote, 'pack'), []);
  t.is((await keys(s.remote, 'chunk')).length, r.chunksTotal);
});

test('packs › a corrupt chunk in a pack fails the pull with nothing written, and verify names that chunk alone', async (t) => {
  const s = await setup('a', 120);
  await push({ repo: s.repo, target: 'a', remote: s.remote });
  const [pack] = await keys(s.remote, 'pack');
  const file = path.join(s.url, 'packs', pack!.slice(0, 2), pack!);
  const bytes = await fs.readFile(file);
  const victim = [...packEntries(decodePackHeader(bytes, bytes.length, pack!))][77]!;
  bytes[victim.offset + 10] ^= 1;
  await fs.writeFile(file, bytes);
  const b = await freshRepo();
  const out = path.join(b.root, 'out');
  await t.throwsAsync(pull({ repo: b, target: 'a', remote: s.remote, to: out }), { message: new RegExp(`chunk ${victim.hash} in pack ${pack} .* is corrupt`) });
  await t.throwsAsync(fs.lstat(out), undefined, 'no file of the snapshot, nor the folder the pull made');
  t.deepEqual(await findFiles(b.root, '.tmp-'), []);
  const problems = (await verify({ repo: b, remote: s.remote, deep: true })).problems;
  t.deepEqual(problems.map((p) => [p.kind, p.object]), [['corrupt-chunk', victim.hash]]);
});

test('packs › gc deletes a pack once none of its chunks is reachable, never while one is', async (t) => {
  const s = await setup('a', 50);
  await push({ repo: s.repo, target: 'a', remote: s.remote });
  // b: 50 new small files beside 10 of a's: its pack holds only the new ones.
  const bData = path.join(s.root, 'b');
  await fs.mkdir(bData);
  for (let i = 0; i < 50; i++) await fs.writeFile(path.join(bData, `n${i}.bin`), bytesFor(`b-${i}`, 2000 + i));
  for (let i = 0; i < 10; i++) await fs.copyFile(path.join(s.data, `d${i % 4}`, `f${i}.bin`), path.join(bData, `old${i}.bin`));
  await add({ repo: s.repo, path: bData, name: 'b', pointer: false });
  await push({ repo: s.repo, target: 'b', remote: s.remote });
  t.is((await keys(s.remote, 'pack')).length, 2);

  await deleteRemoteRef(s.remote, 'a');
  const r1 = await gc({ remote: s.remote, graceMs: 0, allowShortGrace: true });
  t.is(r1.packsDeleted, 0, "a's pack holds 10 chunks b names");
  await deleteRemoteRef(s.remote, 'b');
  const r2 = await gc({ remote: s.remote, graceMs: 0, allowShortGrace: true });
  t.is(r2.packsDeleted, 2);
  t.deepEqual(await keys(s.remote, 'pack'), []);
});

test('packs › gc keeps a young unreachable pack, and a pack still named keeps its version pullable', async (t) => {
  const s = await setup('a', 30);
  await push({ repo: s.repo, target: 'a', remote: s.remote });
  const r = await gc({ remote: s.remote, graceMs: 0, allowShortGrace: true });
  t.is(r.packsDeleted, 0);
  const b = await freshRepo();
  await pull({ repo: b, target: 'a', remote: s.remote, to: path.join(b.root, 'out') });
  t.true(await sameTree(s.data, path.join(b.root, 'out')));
  await deleteRemoteRef(s.remote, 'a');
  const young = await gc({ remote: s.remote, graceMs: 3_600_000, allowShortGrace: true });
  t.is(young.packsDeleted, 0);
  t.true(young.keptYoung >= 1);
  t.is((await keys(s.remote, 'pack')).length, 1);
});

test('packs › clean drops local chunks the remote holds in packs, and a pull brings them back from there', async (t) => {
  const s = await setup('a', 60);
  await push({ repo: s.repo, target: 'a', remote: s.remote });
  const c = await clean({ repo: s.repo, remote: s.remote });
  t.true(c.chunksRemoved >= 60, `removed ${c.chunksRemoved}`);
  const out = path.join(s.root, 'again');
  await pull({ repo: s.repo, target: 'a', remote: s.remote, to: out });
  t.true(await sameTree(s.data, out));
});

test('packs › a single read finds a chunk in a pack written after this process first read the pack index', async (t) => {
  const s = await setup('a', 20);
  const before = await packIndexOf(s.remote); // empty: nothing pushed yet
  t.is(before.count, 0);
  await push({ repo: s.repo, target: 'a', remote: s.remote });
  const file = path.join(s.data, 'd1', 'f5.bin');
  const bytes = await fs.readFile(file);
  const got = await downloadChunk(s.remote, hashBytes(bytes), bytes.length);
  t.true(Buffer.concat(got.data).equals(bytes));
  const index = await packIndexOf(s.remote);
  t.is(index.count, 20, 'the index was read again');
  t.is(index.select((h) => h === hashBytes(bytes)).count, 1);
  t.is(index.select(() => true).count, index.count);
  t.truthy(index.locate(hashBytes(bytes)));
  t.is(index.locate(hashBytes(Buffer.from('not there'))), undefined);
});

test("packs › a header-cache temp left by a killed pull is removed by the next pull; a live writer's is kept", async (t) => {
  const s = await setup('h', 20);
  await push({ repo: s.repo, target: 'h', remote: s.remote });
  const b = await freshRepo();
  await pull({ repo: b, target: 'h', remote: s.remote, to: path.join(b.root, 'one') });
  const dir = path.join(b.remoteStateDir(s.remote.displayUrl), 'packs');
  const [header] = await fs.readdir(dir);
  const dead = await new Promise<number>((resolve) => {
    const child = spawn(process.execPath, ['-e', '0']);
    child.on('exit', () => resolve(child.pid!));
  });
  const leftover = path.join(dir, `${header}.tmp-${dead}-0badcafe`);
  const live = path.join(dir, `${header}.tmp-${process.pid}-0badf00d`);
  await fs.writeFile(leftover, 'CKP1');
  await fs.writeFile(live, 'CKP1');
  // A new connection, as a new process has: this process's index of the remote's packs is not reused.
  await pull({ repo: b, target: 'h', remote: await connect({ url: s.url, settings: {} }), to: path.join(b.root, 'two') });
  t.true(await sameTree(s.data, path.join(b.root, 'two')));
  t.false(await fs.stat(leftover).then(() => true, () => false), 'the dead writer’s temp is gone');
  t.true(await fs.stat(live).then(() => true, () => false), 'a live writer’s temp is kept');
});
