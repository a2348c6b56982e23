// pull with a checkout writes each chunk into the store and into the target's temp file in one pass
// (src/sync/fetch-checkout.ts). These prove it keeps pull's promises: exact files, every chunk stored,
// and on failure no file of the snapshot, no temp file, no name, and nothing written outside the target.

import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { IntegrityError, UnsafePathError } from '../../src/errors.js';
import { keyOf } from '../../src/remote/layout.js';
import { loadManifest } from '../../src/sync/manifests.js';
import { add, pull, push, Repository } from '../../src/index.js';
import { tempDir } from '../helpers.js';
import { bytesFor, sameTree, tempFilesIn } from '../reliability/helpers.js';

/** Repository a holds and has pushed a directory snapshot 'model'; b is an empty repository. */
async function world(label: string) {
  const root = await tempDir(`ckpt-pull1-${label}-`);
  const remote = path.join(root, 'remote');
  const ckpt = path.join(root, 'a', 'ckpt');
  await fs.mkdir(path.join(ckpt, 'sub'), { recursive: true });
  const big = bytesFor(`${label}-big`, 3 << 20);
  await fs.writeFile(path.join(ckpt, 'a.bin'), big);
  await fs.writeFile(path.join(ckpt, 'sub', 'copy.bin'), big); // the same chunks again, in another file
  await fs.writeFile(path.join(ckpt, 'empty'), '');
  await fs.writeFile(path.join(ckpt, 'z-last.bin'), bytesFor(`${label}-last`, 1 << 20));
  const { repo: a } = await Repository.init(path.join(root, 'a'));
  const added = await add({ repo: a, path: ckpt, name: 'model', pointer: false });
  await push({ repo: a, target: 'model', remote });
  const { repo: b } = await Repository.init(path.join(root, 'b'));
  const manifest = await loadManifest(a, added.manifest);
  return { root, remote, ckpt, a, b, manifest };
}

test('a pull with checkout (--keep-copy) writes the exact files, downloads each repeated chunk once, reuses chunks already stored, and stores them all', async (t) => {
  const w = await world('exact');
  const chunks = [...new Set([...w.manifest.files].flatMap((f) => f.chunks))];
  const reused = chunks[0]!;
  await fs.mkdir(path.dirname(w.b.store.pathOf('chunk', reused)), { recursive: true });
  await fs.copyFile(w.a.store.pathOf('chunk', reused), w.b.store.pathOf('chunk', reused));
  const out = path.join(w.root, 'out');
  let lastCheckout = 0;
  const r = await pull({ repo: w.b, target: 'model', remote: w.remote, to: out, store: 'copy', onCheckoutProgress: (done) => (lastCheckout = done) });
  t.true(await sameTree(out, w.ckpt), 'pulled files are byte-identical');
  t.is(r.chunksTotal, chunks.length);
  t.is(r.chunksDownloaded, chunks.length - 1, 'the chunk already in the store was not downloaded, the repeated ones only once');
  for (const h of chunks) t.true(await w.b.store.has('chunk', h), `chunk ${h} stored`);
  t.is(lastCheckout, w.manifest.files.reduce((n, f) => n + f.size, 0), 'checkout progress reaches every byte');
  t.is((await w.b.readRef('model'))?.target, (await w.a.readRef('model'))!.target, 'the name is set');
  t.deepEqual(await tempFilesIn(out, w.b.root), []);
});

test('a corrupt chunk of the last file: pull fails, leaving no file of the snapshot, no temp file, no destination and no name', async (t) => {
  const w = await world('corrupt');
  const victim = w.manifest.files.find((f) => f.path === 'z-last.bin')!.chunks.at(-1)!;
  const onRemote = path.join(w.remote, keyOf({ kind: 'chunk', name: victim }));
  const buf = await fs.readFile(onRemote);
  buf[buf.length >> 1] ^= 0x40;
  await fs.writeFile(onRemote, buf);
  const out = path.join(w.root, 'out');
  // Sequential, so every other file is complete before the corrupt chunk arrives.
  const e = await t.throwsAsync(pull({ repo: w.b, target: 'model', remote: w.remote, to: out, concurrency: 1 }));
  t.true(e instanceof IntegrityError, String(e));
  t.true(e!.message.includes(victim));
  t.false(await fs.stat(out).then(() => true, () => false), 'no destination left behind');
  t.deepEqual(await tempFilesIn(w.root), []);
  t.is(await w.b.readRef('model'), null, 'the name is not set');
  t.false(await w.b.store.has('chunk', victim));
});

test('a failed pull into an existing directory keeps what was there and adds nothing', async (t) => {
  const w = await world('existing');
  const victim = w.manifest.files.find((f) => f.path === 'z-last.bin')!.chunks[0]!;
  await fs.writeFile(path.join(w.remote, keyOf({ kind: 'chunk', name: victim })), 'not the chunk');
  const out = path.join(w.root, 'out');
  await fs.mkdir(out);
  await fs.writeFile(path.join(out, 'mine.txt'), 'keep me');
  await t.throwsAsync(pull({ repo: w.b, target: 'model', remote: w.remote, to: out, concurrency: 1 }), { instanceOf: IntegrityError });
  t.deepEqual(await fs.readdir(out), ['mine.txt'], 'only the user file is there');
  t.is(await fs.readFile(path.join(out, 'mine.txt'), 'utf8'), 'keep me');
  t.deepEqual(await tempFilesIn(w.root), []);
});

test('a symlinked directory inside the destination is refused and nothing is written through it', async (t) => {
  const w = await world('symlink');
  const out = path.join(w.root, 'out');
  const elsewhere = path.join(w.root, 'elsewhere');
  await fs.mkdir(out);
  await fs.mkdir(elsewhere);
  await fs.symlink(elsewhere, path.join(out, 'sub'));
  await t.throwsAsync(pull({ repo: w.b, target: 'model', remote: w.remote, to: out }), { instanceOf: UnsafePathError });
  t.deepEqual(await fs.readdir(elsewhere), [], 'nothing written outside the destination');
  t.deepEqual(await tempFilesIn(w.root), []);
});
