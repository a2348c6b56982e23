import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { formatPointer, isCanonicalPointer, parsePointer, PointerError } from '../../src/core/pointer.js';
import { repoRoot } from '../helpers.js';

const dir = path.join(repoRoot, 'fixtures', 'pointers');
const read = async (kind: string) => {
  const names = (await fs.readdir(path.join(dir, kind))).sort();
  return Promise.all(names.map(async (n) => ({ name: n, bytes: await fs.readFile(path.join(dir, kind, n)) })));
};

test('valid fixtures parse and re-encode byte for byte', async (t) => {
  const all = await read('valid');
  t.true(all.length >= 3);
  for (const f of all) {
    const p = parsePointer(f.bytes, f.name);
    t.is(formatPointer(p), f.bytes.toString('utf8'), f.name);
    t.true(isCanonicalPointer(f.bytes), f.name);
  }
});

test('unknown keys are preserved', async (t) => {
  const p = parsePointer(await fs.readFile(path.join(dir, 'valid', 'unknown-key.ckpt')));
  t.deepEqual(p.extra, { 'x-team': 'vision' });
  t.is(p.size, 102_400_000_000);
  t.regex(formatPointer(p), /\nx-team vision\n$/);
});

test('non-canonical fixtures parse, and are rewritten in the canonical form', async (t) => {
  for (const f of await read('noncanonical')) {
    const p = parsePointer(f.bytes, f.name);
    t.false(isCanonicalPointer(f.bytes), f.name);
    const canonical = formatPointer(p);
    t.not(canonical, f.bytes.toString('utf8'));
    t.deepEqual(parsePointer(canonical), p);
    t.true(canonical.startsWith('version https://ckptsync.dev/spec/pointer/v1\n'));
  }
});

test('invalid fixtures are refused with a one-line PointerError naming the problem', async (t) => {
  const all = await read('invalid');
  t.true(all.length >= 10);
  for (const f of all) {
    const e = t.throws(() => parsePointer(f.bytes, f.name), { instanceOf: PointerError }, f.name);
    t.false(e!.message.includes('\n'), f.name);
    t.true(e!.message.startsWith(f.name), f.name);
  }
});
