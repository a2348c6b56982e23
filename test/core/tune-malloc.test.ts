// bin/run.js tunes glibc's malloc before anything else (tuneMalloc in src/native/store-chunk.c): buffers
// of 128 KiB and more are mapped and unmapped, and threads share two arenas (docs/benchmark.md, session 16).

import fs from 'node:fs/promises';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import test from 'ava';
import { nativeStore } from '../../src/core/store-chunk.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));

(nativeStore && process.platform === 'linux' ? test : test.skip)('the addon tunes malloc (glibc), and the CLI asks it to before it imports anything else', async (t) => {
  const addon = createRequire(import.meta.url)('../../native/store-chunk.node') as { tuneMalloc?: () => boolean };
  t.is(typeof addon.tuneMalloc, 'function');
  t.true(addon.tuneMalloc!(), 'mallopt accepted both settings');
  const cli = await fs.readFile(`${root}/bin/run.js`, 'utf8');
  const call = cli.indexOf('.tuneMalloc?.()');
  t.true(call > 0);
  t.true(call < cli.indexOf('await prepareCommandManifest'), 'before the CLI starts any work');
});
