// replaceFile: a new file takes an old one's place at once, by exchanging the names where the addon
// can (so ext4 does not write the new file out before the rename returns), else by a rename.

import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { nativeStore, replaceFile } from '../../src/core/store-chunk.js';
import { tempDir } from '../helpers.js';

test('over an existing file the names are exchanged: the target holds the new bytes, the temp name the old', async (t) => {
  const d = await tempDir('ckpt-replace-');
  const [tmp, target] = [path.join(d, 'f.tmp-1-00000000'), path.join(d, 'f')];
  await fs.writeFile(target, 'old');
  await fs.writeFile(tmp, 'new');
  const exchanged = replaceFile(tmp, target);
  t.is(await fs.readFile(target, 'utf8'), 'new');
  if (nativeStore) {
    t.true(exchanged, 'the addon exchanges the two names');
    t.is(await fs.readFile(tmp, 'utf8'), 'old', 'the old file is left under the temp name for the caller to remove');
  } else {
    t.false(exchanged);
    await t.throwsAsync(fs.access(tmp));
  }
});

test('with nothing at the target, or a directory there, it is a plain rename', async (t) => {
  const d = await tempDir('ckpt-replace-');
  const tmp = path.join(d, 'g.tmp-1-00000000');
  await fs.writeFile(tmp, 'new');
  t.false(replaceFile(tmp, path.join(d, 'g')));
  t.is(await fs.readFile(path.join(d, 'g'), 'utf8'), 'new');
  await t.throwsAsync(fs.access(tmp));
  // A directory is never exchanged with a file: the rename fails as a rename over a directory does.
  await fs.mkdir(path.join(d, 'dir'));
  await fs.writeFile(tmp, 'new');
  t.throws(() => replaceFile(tmp, path.join(d, 'dir')));
  t.true((await fs.stat(path.join(d, 'dir'))).isDirectory());
});
