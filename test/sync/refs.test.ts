// Moving a name on a remote whose compare-and-swap never succeeds: a bounded number of tries, then a
// TransientError naming the name, and nothing changed. The remote is the real local driver over a temp
// directory; only its swapDocument is made to lose every race, as a store that stopped honouring
// conditional writes would.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import localRemote from '../../remotes/local/index.js';
import { TransientError } from '../../src/errors.js';
import { moveRemoteRef, readRemoteRef } from '../../src/sync/refs.js';

const A = 'a'.repeat(64);
const B = 'b'.repeat(64);

test('moveRemoteRef gives up with a TransientError when every swap loses, and the name stays where it was', async (t) => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-refs-'));
  const remote = await localRemote.create(localRemote.parse(dir));
  try {
    await moveRemoteRef(remote, 'model', A);
    let swaps = 0;
    const losing = Object.assign(Object.create(remote), { swapDocument: async () => (swaps++, null) });
    const err = await t.throwsAsync(() => moveRemoteRef(losing, 'model', B, { maxAttempts: 5 }), { instanceOf: TransientError });
    t.regex(err!.message, /could not move name model .*5 compare-and-swaps in a row lost/);
    t.is(swaps, 5, 'tried exactly maxAttempts times');
    t.is((await readRemoteRef(remote, 'model'))!.doc.target, A);
  } finally {
    await remote.close();
    await fs.rm(dir, { recursive: true, force: true });
  }
});
