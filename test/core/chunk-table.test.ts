// ChunkTable: the set of chunk hashes a pull or push of many small files keeps as bytes, each with an id
// and a size. It must agree with a Set of the hex strings through growth and collisions of its slots.

import crypto from 'node:crypto';
import test from 'ava';
import { ChunkTable, Uint32List } from '../../src/core/chunk-table.js';
import { chunkTableOf, decodeManifest, encodeManifest, manifestFile } from '../../src/core/manifest.js';
import { DEFAULT_CHUNKER } from '../../src/core/chunker.js';

const randomHash = () => crypto.randomBytes(32).toString('hex');

test('ids follow first insertion; a repeated hash keeps its id and first size; it agrees with a Set through growth', (t) => {
  const table = new ChunkTable(1); // grows many times
  const hashes = Array.from({ length: 5000 }, randomHash);
  // Hashes that share their first word land in the same slot run: they must still be told apart.
  const twin = hashes[0]!.slice(0, 8) + randomHash().slice(8);
  hashes.push(twin);
  hashes.forEach((h, i) => t.is(table.add(h, i + 1), i));
  t.is(table.count, hashes.length);
  t.is(table.add(hashes[7]!, 999), 7, 'a known hash keeps its id');
  t.is(table.sizeOf(7), 8, 'and its first size');
  t.is(table.count, hashes.length);
  for (const [i, h] of hashes.entries()) {
    t.is(table.idOf(h), i);
    t.is(table.idOfRaw(Buffer.from(h, 'hex')), i);
    t.is(table.hashOf(i), h);
  }
  t.is(table.idOfRaw(Buffer.from(randomHash(), 'hex')), -1);
  t.is(table.idOf(twin), hashes.length - 1);
  t.is(table.idOf(randomHash()), -1);
  t.false(table.has(hashes[0]!.slice(0, 8) + randomHash().slice(8)));
  t.deepEqual([...table], hashes);
  t.is(table.totalSize(), (hashes.length * (hashes.length + 1)) / 2);
  t.is(table.firstByte(3), parseInt(hashes[3]!.slice(0, 2), 16));
});

test('idOfEntry finds another table\'s chunk by its bytes; bad hashes are refused', (t) => {
  const a = new ChunkTable();
  const b = new ChunkTable();
  const shared = randomHash();
  a.add(randomHash());
  a.add(shared);
  b.add(shared);
  t.is(b.idOfEntry(a, 1), 0);
  t.is(b.idOfEntry(a, 0), -1);
  t.is(a.idOf(shared.toUpperCase()), 1, 'hex is read in either case');
  for (const bad of ['', 'ab', shared.slice(1) + 'z', shared + '00']) t.throws(() => a.add(bad), { message: /not a chunk hash/ });
});

test('chunkTableOf holds each distinct chunk of a manifest once, with its size, decoded or built', (t) => {
  const h = Array.from({ length: 3 }, randomHash);
  const m = {
    format: 1,
    type: 'dir' as const,
    files: [
      manifestFile('a', 5, 0o644, DEFAULT_CHUNKER, [h[0]!], [5]),
      manifestFile('b', 12, 0o644, DEFAULT_CHUNKER, [h[1]!, h[0]!, h[2]!], [4, 5, 3]),
      manifestFile('c', 5, 0o600, DEFAULT_CHUNKER, [h[0]!], [5]),
    ],
  };
  for (const x of [m, decodeManifest(encodeManifest(m))]) {
    const table = chunkTableOf(x);
    t.deepEqual([...table], h);
    t.deepEqual([0, 1, 2].map((id) => table.sizeOf(id)), [5, 4, 3]);
    t.deepEqual(x.files.map((f) => [f.path, f.mode, f.chunks, f.sizes]), m.files.map((f) => [f.path, f.mode, f.chunks, f.sizes]));
  }
});

test('a table filled to the count it expected grows for a new hash, not when asked for one it holds', (t) => {
  const hashes = Array.from({ length: 101 }, (_, i) => crypto.createHash('sha256').update(`chunk ${i}`).digest('hex'));
  const table = new ChunkTable(100);
  for (const h of hashes.slice(0, 100)) table.add(h, 7);
  t.is(table.capacity, 100);
  t.is(table.add(hashes[42]!, 7), 42);
  t.is(table.addRaw(Buffer.from(hashes[99]!, 'hex'), 7), 99);
  t.is(table.capacity, 100, 'no room made for a hash it holds');
  t.is(table.add(hashes[100]!, 9), 100);
  t.true(table.capacity > 100);
  t.deepEqual([...table], hashes);
  t.is(table.sizeOf(100), 9);
});

test('Uint32List keeps what is pushed through growth', (t) => {
  const list = new Uint32List(1);
  for (let i = 0; i < 1000; i++) list.push(i * 7919);
  t.is(list.length, 1000);
  t.is(list.at(999), 999 * 7919);
  t.is(list.at(0), 0);
});
