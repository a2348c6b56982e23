// Parts (manifest-spec.md §8b) against a real local-directory remote: many writers build one version,
// the name moves only when every part is there, overlapping parts are refused, attempts are kept apart,
// and gc removes abandoned records.

import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { commitParts, pushPart } from '../../src/api/parts.js';
import { gc } from '../../src/api/gc.js';
import { ls } from '../../src/api/ls.js';
import { pull } from '../../src/api/pull.js';
import { Repository } from '../../src/core/repo.js';
import { PartsIncompleteError, PartsOverlapError } from '../../src/errors.js';
import { openRemoteFor } from '../../src/api/remote.js';
import { readRemoteRef } from '../../src/sync/refs.js';
import { decodePartRecord, defaultAttempt, encodePartRecord, newPartRecord, parsePartKey, parsePartSpec, partKey } from '../../src/sync/part-records.js';
import { sweepParts } from '../../src/sync/parts.js';
import { tempDir, treeOf } from '../helpers.js';

/** Rank k's files of a sharded checkpoint: its own shard, and (rank 0 only) the metadata file. */
async function writeRankFiles(dir: string, k: number, seed = 'a', size = 300_000): Promise<void> {
  await fs.mkdir(path.join(dir, 'shards'), { recursive: true });
  await fs.writeFile(path.join(dir, 'shards', `__${k}_0.distcp`), crypto.createHash('sha256').update(`${seed}${k}`).digest().toString('hex').repeat(Math.ceil(size / 64)).slice(0, size));
  if (k === 0) await fs.writeFile(path.join(dir, '.metadata'), `meta ${seed}`);
}

async function setup(m: number) {
  const root = await tempDir('ckpt-parts-');
  const remote = path.join(root, 'remote');
  const ranks = [];
  for (let k = 0; k < m; k++) {
    const dir = path.join(root, `rank${k}`);
    const { repo } = await Repository.init(dir);
    const data = path.join(dir, 'ckpt');
    await writeRankFiles(data, k);
    ranks.push({ repo, data });
  }
  return { root, remote, ranks };
}

test('four parts pushed at once build one version: one merged manifest, the name moves once, a reader gets the union', async (t) => {
  const { root, remote, ranks } = await setup(4);
  const results = await Promise.all(ranks.map((r, k) => pushPart({ repo: r.repo, path: r.data, name: 'run1/step-10', part: k, parts: 4, attempt: 'a1', remote })));
  const completed = results.filter((r) => r.complete);
  t.true(completed.length >= 1, 'the writer that made the set whole completed it');
  t.is(new Set(completed.map((r) => r.manifest)).size, 1, 'every completer merged the same manifest');
  t.is(results.filter((r) => r.changed).length, 1, 'the name moved once');
  const { remote: rm } = await openRemoteFor(null, remote);
  const ref = (await readRemoteRef(rm, 'run1/step-10'))!.doc;
  t.is(ref.target, completed[0]!.manifest!);
  t.deepEqual(ref.history.map((h) => h.kind), ['set']);
  await rm.close();

  const reader = path.join(root, 'reader');
  const { repo } = await Repository.init(reader);
  await pull({ repo, target: 'run1/step-10', remote, to: path.join(reader, 'out') });
  const union: Record<string, string> = {};
  for (const r of ranks) Object.assign(union, await treeOf(r.data));
  t.deepEqual(await treeOf(path.join(reader, 'out')), union);
  t.is(Object.keys(union).length, 5);

  // A part pushed again after completion merges to the same manifest and moves nothing.
  const again = await pushPart({ repo: ranks[2]!.repo, path: ranks[2]!.data, name: 'run1/step-10', part: 2, parts: 4, attempt: 'a1', remote });
  t.true(again.complete);
  t.false(again.changed);
  t.is(again.manifest, completed[0]!.manifest);
  t.is(again.chunksUploaded, 0);
});

test('a missing part leaves the name where it was, ls --remote shows what it waits for, commit refuses, the last part moves it', async (t) => {
  const { remote, ranks } = await setup(3);
  for (const k of [2, 0]) {
    const r = await pushPart({ repo: ranks[k]!.repo, path: ranks[k]!.data, name: 'run1/step-20', part: k, parts: 3, attempt: 'a1', remote });
    t.false(r.complete);
    t.is(r.manifest, null);
  }
  const { remote: rm } = await openRemoteFor(null, remote);
  t.is(await readRemoteRef(rm, 'run1/step-20'), null, 'no name before every part is there');
  const rows = await ls({ repo: ranks[0]!.repo, remote: rm, prefix: 'run1/' });
  t.deepEqual(
    rows.map((r) => [r.name, r.manifest, r.incomplete]),
    [['run1/step-20', '', { attempt: 'a1', parts: 3, waitingFor: [1] }]],
  );
  const refused = await t.throwsAsync(commitParts({ repo: ranks[0]!.repo, name: 'run1/step-20', parts: 3, attempt: 'a1', remote: rm }), { instanceOf: PartsIncompleteError });
  t.is(refused!.exitCode, 11);
  t.regex(refused!.message, /waits for part 1 of 3/);

  const last = await pushPart({ repo: ranks[1]!.repo, path: ranks[1]!.data, name: 'run1/step-20', part: 1, parts: 3, attempt: 'a1', remote: rm });
  t.true(last.complete);
  t.true(last.changed);
  t.is((await readRemoteRef(rm, 'run1/step-20'))!.doc.target, last.manifest!);
  t.deepEqual((await ls({ repo: ranks[0]!.repo, remote: rm, prefix: 'run1/' })).map((r) => [r.name, r.incomplete]), [['run1/step-20', undefined]]);
  // The coordinator's commit after a writer completed is a no-op.
  const c = await commitParts({ repo: ranks[0]!.repo, name: 'run1/step-20', parts: 3, attempt: 'a1', remote: rm });
  t.is(c.manifest, last.manifest!);
  t.false(c.changed);
  await rm.close();
});

test('two parts holding the same file are refused naming the file, the name does not move, and ls shows the set complete but unmoved', async (t) => {
  const { remote, ranks } = await setup(2);
  await fs.writeFile(path.join(ranks[1]!.data, '.metadata'), 'rank 1 wrote it too');
  await pushPart({ repo: ranks[0]!.repo, path: ranks[0]!.data, name: 'x/step-1', part: 0, parts: 2, attempt: 'a1', remote });
  const e = await t.throwsAsync(pushPart({ repo: ranks[1]!.repo, path: ranks[1]!.data, name: 'x/step-1', part: 1, parts: 2, attempt: 'a1', remote }), { instanceOf: PartsOverlapError });
  t.is(e!.exitCode, 12);
  t.is(e!.message, 'parts 0 and 1 of x/step-1 both hold .metadata; the name did not move (each file must belong to one part)');
  const { remote: rm } = await openRemoteFor(null, remote);
  t.is(await readRemoteRef(rm, 'x/step-1'), null);
  const rows = await ls({ repo: ranks[0]!.repo, remote: rm, prefix: 'x/' });
  t.deepEqual(rows.map((r) => [r.name, r.incomplete]), [['x/step-1', { attempt: 'a1', parts: 2, waitingFor: [] }]], 'every part is there and the name never moved: ls --remote says so');
  await rm.close();
});

test('parts of an abandoned attempt are never merged with the current one', async (t) => {
  const { remote, ranks } = await setup(2);
  // Attempt a1 crashed after part 0; the job restarted and saved different files as attempt a2.
  await pushPart({ repo: ranks[0]!.repo, path: ranks[0]!.data, name: 'y/step-5', part: 0, parts: 2, attempt: 'a1', remote });
  for (const r of ranks) await writeRankFiles(r.data, ranks.indexOf(r), 'b');
  const p1 = await pushPart({ repo: ranks[1]!.repo, path: ranks[1]!.data, name: 'y/step-5', part: 1, parts: 2, attempt: 'a2', remote });
  t.false(p1.complete, 'a1 part 0 does not complete a2');
  const p0 = await pushPart({ repo: ranks[0]!.repo, path: ranks[0]!.data, name: 'y/step-5', part: 0, parts: 2, attempt: 'a2', remote });
  t.true(p0.complete);
  const root = path.dirname(remote);
  const { repo } = await Repository.init(path.join(root, 'reader'));
  await pull({ repo, target: 'y/step-5', remote, to: path.join(root, 'reader', 'out') });
  t.is(await fs.readFile(path.join(root, 'reader', 'out', '.metadata'), 'utf8'), 'meta b', 'the current attempt\'s files only');
  const rows = await ls({ repo, remote });
  t.deepEqual(rows.filter((r) => r.incomplete).map((r) => r.incomplete), [{ attempt: 'a1', parts: 2, waitingFor: [1] }], 'the abandoned attempt shows until gc');
});

test('sweepParts deletes the records of a set once its newest is older than the grace, and keeps the part manifests of younger sets', async (t) => {
  const { remote, ranks } = await setup(2);
  const p = await pushPart({ repo: ranks[0]!.repo, path: ranks[0]!.data, name: 'z/step-1', part: 0, parts: 2, attempt: 'a1', remote });
  const { remote: rm } = await openRemoteFor(null, remote);
  const young = await sweepParts(rm, 60_000, false);
  t.deepEqual([...young.keep], [p.partManifest]);
  t.is(young.recordsDeleted, 0);
  const dry = await sweepParts(rm, 60_000, true, undefined, Date.now() + 120_000);
  t.is(dry.recordsDeleted, 1);
  t.truthy(await rm.stat(partKey({ name: 'z/step-1', attempt: 'a1', parts: 2 }, 0)), 'a dry run deletes nothing');
  // gc with a grace the record has outlived: the record goes, then its part manifest as unreachable.
  await new Promise((r) => setTimeout(r, 1100));
  const r = await gc({ remote: rm, graceMs: 1000, allowShortGrace: true });
  t.is(r.manifestsDeleted, 1);
  t.is(await rm.stat(partKey({ name: 'z/step-1', attempt: 'a1', parts: 2 }, 0)), null);
  t.deepEqual(await ls({ repo: ranks[0]!.repo, remote: rm }), []);
  await rm.close();
});

test('gc keeps the part manifest and chunks of a waiting part past the grace while its set is young', async (t) => {
  const { remote, ranks } = await setup(2);
  await pushPart({ repo: ranks[0]!.repo, path: ranks[0]!.data, name: 'w/step-1', part: 0, parts: 2, attempt: 'a1', remote });
  const { remote: rm } = await openRemoteFor(null, remote);
  // Make the part manifest and its chunks old, but not the record: the set is still waiting.
  const old = new Date(Date.now() - 3 * 3600_000);
  for await (const o of rm.list('')) if (!o.key.startsWith('parts/') && !o.key.startsWith('locks/')) await fs.utimes(path.join(remote, o.key), old, old);
  const r = await gc({ remote: rm });
  t.is(r.manifestsDeleted, 0);
  t.is(r.chunksDeleted, 0);
  const last = await pushPart({ repo: ranks[1]!.repo, path: ranks[1]!.data, name: 'w/step-1', part: 1, parts: 2, attempt: 'a1', remote: rm });
  t.true(last.complete);
  const reader = path.join(path.dirname(remote), 'reader');
  const { repo } = await Repository.init(reader);
  await pull({ repo, target: 'w/step-1', remote: rm, to: path.join(reader, 'out') });
  t.is(Object.keys(await treeOf(path.join(reader, 'out'))).length, 3);
  await rm.close();
});

test('part records: keys parse back, a record must match its key, --part K/M and attempt defaults', (t) => {
  const set = { name: 'run1/step-100', attempt: 'job7.r0', parts: 4 };
  const key = partKey(set, 3);
  t.is(key, 'parts/run1/step-100/@job7.r0/3-of-4');
  t.deepEqual(parsePartKey(key), { ...set, part: 3 });
  t.is(parsePartKey('parts/run1/step-100/@job7.r0/4-of-4'), null);
  t.is(parsePartKey('parts/run1/step-100/@job7.r0/03-of-4'), null);
  t.is(parsePartKey('parts/run1/step-100/@job7.r0/3-of-4.tmp-12-abcd'), null);
  const rec = newPartRecord(set, 3, 'a'.repeat(64), 10);
  t.deepEqual(decodePartRecord(encodePartRecord(rec), key, 'r'), rec);
  t.throws(() => decodePartRecord(encodePartRecord(rec), partKey(set, 2), 'r'), { message: /does not name the part its key names/ });
  t.throws(() => decodePartRecord(Buffer.from(JSON.stringify({ ...rec, version: 2 })), key, 'r'), { message: /version 2/ });
  t.deepEqual(parsePartSpec('3/4'), { part: 3, parts: 4 });
  t.throws(() => parsePartSpec('4'), { message: /--part takes K\/M/ });
  t.is(defaultAttempt(undefined, {}), '0');
  t.is(defaultAttempt(undefined, { TORCHELASTIC_RUN_ID: 'abc', TORCHELASTIC_RESTART_COUNT: '2', SLURM_JOB_ID: '9' }), 'abc.r2');
  t.is(defaultAttempt(undefined, { SLURM_JOB_ID: '9' }), '9.r0');
  t.regex(defaultAttempt(undefined, { CKPTSYNC_ATTEMPT: 'has space' }), /^h[0-9a-f]{16}$/);
  t.is(defaultAttempt('mine', { CKPTSYNC_ATTEMPT: 'x' }), 'mine');
});
