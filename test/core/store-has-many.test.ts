// ObjectStore.hasMany answers as has() does, object by object, whether it looks each one up or lists the
// objects/ab directories (many chunks at once): present, absent, removed, and a temp that is not an object.

import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { ChunkTable } from '../../src/core/chunk-table.js';
import { hashBytes } from '../../src/core/hash.js';
import { ObjectStore, tempPathFor } from '../../src/core/store.js';
import { tempDir } from '../helpers.js';

async function storeWith(n: number): Promise<{ store: ObjectStore; hashes: string[] }> {
  const store = new ObjectStore(path.join(await tempDir('ckpt-hasmany-'), 'store'));
  const hashes: string[] = [];
  for (let i = 0; i < n; i++) hashes.push(await store.putBytes('chunk', Buffer.from(`chunk ${i}`)));
  return { store, hashes };
}

test('hasMany of many chunks agrees with has() for present, absent, removed and half-written chunks', async (t) => {
  const { store, hashes } = await storeWith(1500);
  await store.remove('chunk', hashes[10]!);
  const absent = Array.from({ length: 200 }, (_, i) => hashBytes(Buffer.from(`absent ${i}`)));
  // A killed writer's temp beside where an absent chunk would go is not that chunk.
  const tmp = tempPathFor(store.pathOf('chunk', absent[0]!));
  await fs.mkdir(path.dirname(tmp), { recursive: true });
  await fs.writeFile(tmp, 'partial');
  // A file named as an absent chunk but in another chunk's directory is not that chunk either.
  const stray = absent.find((h) => h.slice(0, 2) !== hashes[0]!.slice(0, 2))!;
  await fs.writeFile(path.join(path.dirname(store.pathOf('chunk', hashes[0]!)), stray), 'misplaced');
  const query = [...hashes, ...absent];
  const many = await store.hasMany('chunk', query);
  const one = await Promise.all(query.map((h) => store.has('chunk', h)));
  t.deepEqual(many, one);
  t.is(many.filter(Boolean).length, 1499);
  t.false(many[10]);
  // Asked with a table of the chunks (names looked up in it, not hashes in the names): the same answers.
  const table = new ChunkTable();
  for (const h of query) table.add(h);
  t.deepEqual(await store.hasMany('chunk', table), one);
});

test('hasMany of a few chunks in a larger store agrees with has()', async (t) => {
  const { store, hashes } = await storeWith(1200);
  const query = [...hashes.slice(0, 5), hashBytes(Buffer.from('nope'))];
  t.deepEqual(await store.hasMany('chunk', query), [true, true, true, true, true, false]);
});
