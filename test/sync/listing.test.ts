// Listing a remote by kind (sync/listing.ts) and what its names reach (sync/reach.ts), on the real local
// driver over a temp directory, with foreign files and bad objects beside the good ones.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import localRemote from '../../remotes/local/index.js';
import { ChunkTable } from '../../src/core/chunk-table.js';
import { DEFAULT_CHUNKER } from '../../src/core/chunk-params.js';
import { hashBytes } from '../../src/core/hash.js';
import { encodeManifest } from '../../src/core/manifest.js';
import { Repository } from '../../src/core/repo.js';
import { deltaName, keyOf } from '../../src/remote/layout.js';
import { bufferSource } from '../../src/remote/source.js';
import type { Remote } from '../../src/remote/types.js';
import { listDeltas, listObjects } from '../../src/sync/listing.js';
import { chunksOfManifests, heldOf, namedManifests } from '../../src/sync/reach.js';
import { moveRemoteRef } from '../../src/sync/refs.js';

const hex = (c: string) => c.repeat(64);

async function withRemote(t: { teardown(fn: () => Promise<void>): void }): Promise<{ remote: Remote; dir: string }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-listing-'));
  const remote = await localRemote.create(localRemote.parse(dir));
  t.teardown(async () => {
    await remote.close();
    await fs.rm(dir, { recursive: true, force: true });
  });
  return { remote, dir };
}

const put = (remote: Remote, key: string, data: string | Buffer) => remote.put(key, bufferSource(Buffer.from(data)));

test('listObjects yields one kind by name, tells onStray of foreign keys, and a ref folder narrows the listing', async (t) => {
  const { remote } = await withRemote(t);
  for (const c of ['a', 'b']) await put(remote, keyOf({ kind: 'chunk', name: hex(c) }), c);
  await put(remote, keyOf({ kind: 'manifest', name: hex('c') }), 'm');
  await put(remote, 'chunks/aa/notes.txt', 'foreign');
  for (const name of ['run1/ep1', 'run1/ep2', 'run2/ep1']) await put(remote, keyOf({ kind: 'ref', name }), '{}');
  await put(remote, 'refs/stray.txt', 'foreign');

  const chunks = [];
  for await (const o of listObjects(remote, 'chunk')) chunks.push(o);
  t.deepEqual(chunks.map((o) => o.name).sort(), [hex('a'), hex('b')]);
  t.true(chunks.every((o) => o.size === 1 && o.key === keyOf({ kind: 'chunk', name: o.name })));

  const stray: string[] = [];
  const refs: string[] = [];
  for await (const o of listObjects(remote, 'ref', { onStray: (s) => stray.push(s.key) })) refs.push(o.name);
  t.deepEqual(refs.sort(), ['run1/ep1', 'run1/ep2', 'run2/ep1']);
  t.deepEqual(stray, ['refs/stray.txt']);

  const inFolder: string[] = [];
  for await (const o of listObjects(remote, 'ref', { folder: 'run1/' })) inFolder.push(o.name);
  t.deepEqual(inFolder.sort(), ['run1/ep1', 'run1/ep2']);
});

test('listDeltas parses each delta name, and with a chunk lists only that chunk\'s deltas', async (t) => {
  const { remote } = await withRemote(t);
  // Two chunks sharing their two-digit folder, so only the name tells their deltas apart.
  const [c1, c2, base] = ['ab' + '1'.repeat(62), 'ab' + '2'.repeat(62), hex('f')];
  await put(remote, keyOf({ kind: 'delta', name: deltaName(c1, base) }), 'd1');
  await put(remote, keyOf({ kind: 'delta', name: deltaName(c2, base) }), 'd2');
  const all = [];
  for await (const d of listDeltas(remote)) all.push([d.chunk, d.base]);
  t.deepEqual(all.sort(), [[c1, base], [c2, base]]);
  const one = [];
  for await (const d of listDeltas(remote, c2)) one.push(d.chunk);
  t.deepEqual(one, [c2]);
});

test('what names reach: targets and history; a missing manifest is told apart from a corrupt one, and neither stops the read', async (t) => {
  const { remote } = await withRemote(t);
  const file = (chunks: string[]) => ({ path: 'w.bin', size: chunks.length, mode: 0o644, chunker: DEFAULT_CHUNKER, chunks, sizes: chunks.map(() => 1) });
  const good = encodeManifest({ format: 1, type: 'file', files: [file([hex('1'), hex('2')])] });
  const goodHash = hashBytes(good);
  await put(remote, keyOf({ kind: 'manifest', name: goodHash }), good);
  const corrupt = hex('c');
  await put(remote, keyOf({ kind: 'manifest', name: corrupt }), 'not the bytes of that hash');
  const missing = hex('d');
  // model moved twice (its first target stays in its history); other points at the corrupt one.
  await moveRemoteRef(remote, 'model', missing);
  await moveRemoteRef(remote, 'model', goodHash);
  await moveRemoteRef(remote, 'other', corrupt);
  await put(remote, 'refs/stray.txt', 'foreign');

  const named = await namedManifests(remote);
  t.deepEqual(named.refs.map((r) => r.name), ['model', 'other']);
  t.deepEqual([...named.manifests].sort(), [goodHash, corrupt, missing].sort());
  t.deepEqual(named.bad.map((b) => [b.key, b.name]), [['refs/stray.txt', undefined]]);

  const read = await chunksOfManifests(null, remote, named.manifests);
  t.deepEqual([...read.readable], [goodHash]);
  t.deepEqual([...read.chunks].sort(), [hex('1'), hex('2')]);
  t.deepEqual([...read.bad.keys()].sort(), [corrupt, missing].sort());
  t.deepEqual([...read.missing], [missing]);
  t.regex(read.bad.get(corrupt)!, /corrupt/);

  // What a push asks: which of its chunks the manifests name, read one at a time (each listed as large).
  const { repo } = await Repository.init(await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-held-')));
  const wanted = new ChunkTable();
  for (const h of [hex('2'), hex('3'), hex('1')]) wanted.add(h, 1);
  const held = await heldOf(repo, remote, named.manifests, wanted, { sizeOf: () => 1 << 30 });
  t.deepEqual([...held.held], [1, 0, 1]);
  t.deepEqual([...held.readable], [goodHash]);
  t.deepEqual([...held.bad.keys()].sort(), [corrupt, missing].sort());
  t.deepEqual([...held.missing], [missing]);

  // A manifest that hashes right but is malformed after naming chunk 3 (a path twice) marks nothing.
  const twice = { ...file([hex('3')]), path: 'd/x.bin' };
  const malformed = encodeManifest({ format: 1, type: 'dir', files: [twice, twice] });
  const malformedHash = hashBytes(malformed);
  await put(remote, keyOf({ kind: 'manifest', name: malformedHash }), malformed);
  const withMalformed = await heldOf(repo, remote, [goodHash, malformedHash], wanted);
  t.deepEqual([...withMalformed.held], [1, 0, 1]);
  t.regex(withMalformed.bad.get(malformedHash)!, /duplicate path/);
});
