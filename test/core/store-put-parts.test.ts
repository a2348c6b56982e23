// ObjectStore.putParts: bytes that come in parts (an encoded manifest) are hashed and written as they
// come, and land under the hash of the whole, exactly as putBytes of the same bytes would.

import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { hashBytes } from '../../src/core/hash.js';
import { joinedInPieces, ObjectStore } from '../../src/core/store.js';
import { tempDir } from '../helpers.js';

test('putParts stores the parts under the hash of their concatenation, once, and leaves no temp', async (t) => {
  const dir = await tempDir('ckpt-put-parts-');
  const store = new ObjectStore(path.join(dir, 'store'));
  const parts = [Buffer.from('manifest '), Buffer.alloc(3 << 20, 7), Buffer.from(' end')];
  const whole = Buffer.concat(parts);
  const hash = await store.putParts('manifest', parts);
  t.is(hash, hashBytes(whole));
  t.true((await store.get('manifest', hash)).equals(whole));
  t.is(await store.putParts('manifest', parts), hash, 'the same bytes again: the same object');
  t.deepEqual(await fs.readdir(path.join(dir, 'store', 'manifests')), [hash], 'no temp left beside it');
  // A source that fails midway stores nothing.
  function* failing() {
    yield Buffer.from('half');
    throw new Error('source failed');
  }
  await t.throwsAsync(() => store.putParts('manifest', failing()), { message: 'source failed' });
  t.deepEqual(await fs.readdir(path.join(dir, 'store', 'manifests')), [hash]);
});

test('joinedInPieces is the items joined, in pieces of at most the size asked for', (t) => {
  for (const n of [0, 1, 3, 4, 5, 9]) {
    const items = Array.from({ length: n }, (_, i) => `i${i}`);
    const pieces = [...joinedInPieces(items, ',', 4)];
    t.is(pieces.join(''), items.join(','), `${n} items`);
    t.is(pieces.length, Math.ceil(n / 4));
  }
});
