// moveRemoteRef's `changed`: true only for the call whose compare-and-swap moved the name. Several
// writers moving a name to the same version at once (the completers of one set of parts, §8b) must not
// all say they moved it.

import path from 'node:path';
import test from 'ava';
import { connect } from '../../src/api/remote.js';
import { readRemoteRef, moveRemoteRef } from '../../src/sync/refs.js';
import { tempDir } from '../helpers.js';

const h = (c: string) => c.repeat(64);

test('writers moving one name to the same version at once: exactly one says it moved it', async (t) => {
  const remote = await connect({ url: path.join(await tempDir('ckpt-moveref-'), 'remote'), settings: {} });
  try {
    for (let round = 0; round < 12; round++) {
      const target = h('0123456789ab'[round]!);
      const before = (await readRemoteRef(remote, 'run/step'))?.doc.target ?? null;
      const results = await Promise.all([0, 1, 2, 3].map(() => moveRemoteRef(remote, 'run/step', target, { expected: before })));
      t.is(results.filter((r) => r.changed).length, 1, `round ${round}: ${results.map((r) => r.changed).join(',')}`);
      t.is((await readRemoteRef(remote, 'run/step'))?.doc.target, target);
    }
  } finally {
    await remote.close();
  }
});
