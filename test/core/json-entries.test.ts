// objectEntries: the stat cache is rewritten from the entries it keeps, its large old entry read past
// unparsed. It must agree with JSON.parse on any object, across the megabyte pieces it reads in.

import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { numbersField, objectEntries } from '../../src/core/json-entries.js';
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

test('numbersField reads a list of numbers as they come, into a Float64Array equal to what JSON.parse gives, the rest parsed as usual', async (t) => {
  const dir = await tempDir('ckpt-json-entries-');
  const file = path.join(dir, 'cache.json');
  const numbers = Array.from({ length: 400_000 }, (_, i) => (i % 4 === 1 ? 1765000000000 + i / 7 : i % 9 === 0 ? -1 : i * 4096));
  const entry = { manifest: 'm', at: 1.5, files: {}, note: '"stats": [9] in a string', inner: { stats: ['not', 'this'] }, stats: numbers };
  for (const text of [JSON.stringify({ other: tricky, e: entry }), JSON.stringify({ e: entry, other: 1 }, null, 3), '{"e":{"stats":[],"x":[1]}}']) {
    await fs.writeFile(file, text);
    const got = (await objectEntries(file, (k) => k === 'e' && numbersField('stats')))!.e as Record<string, unknown>;
    const expected = JSON.parse(text).e;
    t.true(got.stats instanceof Float64Array);
    t.deepEqual([...(got.stats as Float64Array)], expected.stats);
    t.deepEqual({ ...got, stats: [] }, { ...expected, stats: [] });
    // With a sink: each number given there in order, none kept, and the field says how many.
    const sunk: number[] = [];
    const counted = (await objectEntries(file, (k) => k === 'e' && numbersField('stats', (x) => sunk.push(x))))!.e as Record<string, unknown>;
    t.deepEqual(sunk, expected.stats);
    t.deepEqual(counted, { ...expected, stats: expected.stats.length });
  }
  // Not a flat list of numbers, the field twice, or cut short: refused as invalid JSON is (null).
  for (const bad of ['{"e":{"stats":[1,"2"]}}', '{"e":{"stats":[1,[2]]}}', '{"e":{"stats":[1,]}}', '{"e":{"stats":[,1]}}', '{"e":{"stats":[0x10]}}', '{"e":{"stats":[1],"stats":[2]}}', '{"e":{"stats":[1,2', '{"e":{"stats":[Infinity]}}']) {
    await fs.writeFile(file, bad);
    t.is(await objectEntries(file, (k) => k === 'e' && numbersField('stats')), null, bad);
  }
  // Without the field, the value is what JSON.parse gives.
  await fs.writeFile(file, JSON.stringify({ e: { a: [1, 2], b: 'stats' } }));
  t.deepEqual(await objectEntries(file, (k) => k === 'e' && numbersField('stats')), { e: { a: [1, 2], b: 'stats' } });
});
