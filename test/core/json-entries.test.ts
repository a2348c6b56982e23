// objectEntries: the stat cache is rewritten from the entries it keeps, its large old entry read past
// unparsed. It must agree with JSON.parse on any object, across the megabyte pieces it reads in.

import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { objectEntries } from '../../src/core/json-entries.js';
import { tempDir } from '../helpers.js';

const tricky = {
  'a "quoted" key': { files: {}, stats: [1, -1, 2.5e3], note: 'braces } { and ] [ in a string, an escaped \\" quote' },
  'dir/ünïcödé': 'a plain string value',
  big: { manifest: 'x', stats: Array.from({ length: 300_000 }, (_, i) => i * 1.25) }, // ~2.6 MB: crosses pieces
  n: 42,
  t: true,
  z: null,
  nested: [[{ a: [] }], {}],
};

test('the kept entries are what JSON.parse gives, whatever the skipped ones hold and wherever pieces end', async (t) => {
  const dir = await tempDir('ckpt-json-entries-');
  const file = path.join(dir, 'cache.json');
  for (const text of [JSON.stringify(tricky), JSON.stringify(tricky, null, 2)]) {
    await fs.writeFile(file, text);
    const parsed = JSON.parse(text) as Record<string, unknown>;
    t.deepEqual(await objectEntries(file, (k) => k !== 'big'), Object.fromEntries(Object.entries(parsed).filter(([k]) => k !== 'big')));
    t.deepEqual(await objectEntries(file, () => true), parsed);
    t.deepEqual(await objectEntries(file, (k) => k === 'a "quoted" key'), { 'a "quoted" key': tricky['a "quoted" key'] });
  }
  await fs.writeFile(file, '{}');
  t.deepEqual(await objectEntries(file, () => true), {});
});

test('a file that is not one JSON object, or is missing, gives null', async (t) => {
  const dir = await tempDir('ckpt-json-entries-');
  const file = path.join(dir, 'cache.json');
  for (const bad of ['', '[]', '{"a":1', '{"a":}', '{"a" 1}', '{"a":1} x', '{a:1}', 'null', '{"a":1,"b":[1,2}']) {
    await fs.writeFile(file, bad);
    t.is(await objectEntries(file, () => true), null, bad);
  }
  t.is(await objectEntries(path.join(dir, 'missing.json'), () => true), null);
});
