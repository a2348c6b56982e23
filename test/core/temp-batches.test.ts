// TempBatches: a pull's small files written to their temps by the thread pool, a batch at a time
// (writeNewFiles, in the addon), or one by one without it; each temp holds exactly its file's bytes.

import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { TempBatches } from '../../src/core/temp-batches.js';
import { canWriteFiles, writeNewFiles } from '../../src/core/store-chunk.js';
import { tempDir } from '../helpers.js';

test('every temp holds its own bytes and mode, across many batches, though the caller reuses its buffer at once', async (t) => {
  const d = await tempDir('ckpt-batches-');
  const temps = new TempBatches();
  const reused = Buffer.alloc(40_000);
  const want = new Map<string, { data: Buffer; mode: number }>();
  // 700 files (several batches by count) of up to 40 KB (several by bytes), one of them empty.
  for (let i = 0; i < 700; i++) {
    const size = i === 5 ? 0 : (i * 7919) % 40_000;
    const data = crypto.randomBytes(size);
    data.copy(reused);
    const mode = i % 3 ? 0o644 : 0o600;
    // In two parts, as a download's pieces may come.
    const tmp = await temps.write(path.join(d, `f${i}`), mode, [reused.subarray(0, size >> 1), reused.subarray(size >> 1, size)]);
    reused.fill(0xee); // the batch copied the bytes: changing the caller's buffer changes nothing
    want.set(tmp, { data, mode });
  }
  await temps.flush();
  t.is(want.size, 700, 'each temp has a name of its own');
  for (const [tmp, { data, mode }] of want) {
    t.true((await fs.readFile(tmp)).equals(data), tmp);
    t.is((await fs.stat(tmp)).mode & 0o777, mode & ~process.umask());
  }
});

test('a file that cannot be written fails the batch, named; flush throws it, and settle waits for the rest', async (t) => {
  t.plan(canWriteFiles ? 4 : 1);
  const d = await tempDir('ckpt-batches-');
  const temps = new TempBatches();
  const data = Buffer.from('bytes');
  if (!canWriteFiles) {
    // Without the addon the temp is written at once, and the failure is thrown there.
    await t.throwsAsync(temps.write(path.join(d, 'no-such-dir', 'f'), 0o644, [data]), { code: 'ENOENT' });
    return;
  }
  const first = await temps.write(path.join(d, 'a'), 0o644, [data]);
  await temps.write(path.join(d, 'no-such-dir', 'b'), 0o644, [data]);
  const err = await t.throwsAsync(temps.flush(), { code: 'ENOENT' });
  t.regex(err!.message, /no-such-dir/);
  await temps.settle();
  t.true((await fs.readFile(first)).equals(data), 'the file before the failure was written');
  // The addon refuses arguments that do not describe the files (an end past the data), writing nothing.
  await t.throwsAsync(writeNewFiles([path.join(d, 'c')], Uint32Array.of(0o644, 10), Buffer.from('short')), { instanceOf: TypeError });
});
