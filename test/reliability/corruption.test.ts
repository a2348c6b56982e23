// Corruption: a flipped byte in a chunk on the remote (its own object, or inside a pack), or in the local store. pull and checkout must
// refuse with an error naming the object and write no corrupt file; verify must report it; a pull from
// a healthy remote must repair the local store.

import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { keyOf } from '../../src/remote/layout.js';
import { decodePackHeader, packEntries } from '../../src/sync/packs.js';
import { Repository, verify } from '../../src/index.js';
import { cli, ok, tempDir } from '../helpers.js';
import { prng, sameTree, seedFrom, tempFilesIn, writeCheckpointDir } from './helpers.js';

const seed = seedFrom('CKPTSYNC_CORRUPTION_SEED');

async function flipByte(file: string, at: number) {
  const buf = await fs.readFile(file);
  buf[at % buf.length] ^= 0x40;
  await fs.writeFile(file, buf);
}

async function setup(label: string, pushArgs: string[] = []) {
  const root = await tempDir(`ckpt-corrupt-${label}-`);
  const remote = path.join(root, 'remote');
  const a = path.join(root, 'a');
  await fs.mkdir(a);
  await ok(['init'], { cwd: a });
  await ok(['remote', 'add', 'origin', remote], { cwd: a });
  await writeCheckpointDir(path.join(a, 'ckpt'), `${label}-${seed}`, 12, prng(seed));
  await ok(['add', 'ckpt', '--name', 'model'], { cwd: a });
  await ok(['push', 'model', ...pushArgs], { cwd: a });
  const b = path.join(root, 'b');
  await fs.mkdir(b);
  await ok(['init'], { cwd: b });
  await ok(['remote', 'add', 'origin', remote], { cwd: b });
  const repo = await Repository.find(a);
  const chunks: string[] = [];
  for await (const h of repo.store.list('chunk')) chunks.push(h);
  chunks.sort();
  return { root, remote, a, b, victim: chunks[seed % chunks.length]! };
}

/** Where the victim's bytes are on the remote: its own object, or its place in the pack holding it (§8c). */
async function remoteBytesOf(remote: string, victim: string): Promise<{ file: string; at: number }> {
  const whole = path.join(remote, keyOf({ kind: 'chunk', name: victim }));
  const st = await fs.stat(whole).catch(() => null);
  if (st) return { file: whole, at: seed % st.size };
  for (const pack of await fs.readdir(path.join(remote, 'packs'), { recursive: true })) {
    const file = path.join(remote, 'packs', pack);
    if (!(await fs.stat(file)).isFile()) continue;
    const bytes = await fs.readFile(file);
    const e = [...packEntries(decodePackHeader(bytes, bytes.length, path.basename(file)))].find((x) => x.hash === victim);
    if (e) return { file, at: e.offset + (seed % e.length) };
  }
  throw new Error(`chunk ${victim} is nowhere on the remote`);
}

for (const [layout, pushArgs] of [['its own object', ['--no-packs']], ['a pack', []]] as const) {
  test(`a flipped byte in a remote chunk (in ${layout}): pull refuses naming it, writes nothing, verify --deep reports it`, async (t) => {
    const w = await setup('remote', [...pushArgs]);
    const { file, at } = await remoteBytesOf(w.remote, w.victim);
    t.is(file.includes(`${path.sep}packs${path.sep}`), layout === 'a pack');
    const buf = await fs.readFile(file);
    buf[at] ^= 0x40;
    await fs.writeFile(file, buf);
    const r = await cli(['pull', 'model', '--to', 'out', '--json'], { cwd: w.b });
    t.is(r.code, 5, r.stderr);
    t.true(r.stderr.includes(w.victim), `the error names the chunk: ${r.stderr}`);
    t.is(r.json?.error?.code, 'INTEGRITY');
    t.false(await fs.stat(path.join(w.b, 'out')).then(() => true, () => false), 'no files written');
    t.deepEqual(await tempFilesIn(w.b, w.remote), []);
    const repoB = await Repository.find(w.b);
    t.false(await repoB.store.has('chunk', w.victim), 'the corrupt chunk was not stored locally');
    const v = await verify({ repo: repoB, remote: w.remote, deep: true });
    t.deepEqual(v.problems.map((p) => [p.kind, p.object]), [['corrupt-chunk', w.victim]]);
    const cliV = await cli(['verify', '--remote', 'origin', '--deep'], { cwd: w.b });
    t.is(cliV.code, 5);
    t.true(cliV.stdout.includes(`corrupt-chunk ${w.victim}`), cliV.stdout);
  });
}

test('a flipped byte in the local store: checkout refuses naming it, writes no corrupt file, verify reports it, pull repairs it', async (t) => {
  const w = await setup('local');
  await ok(['pull', 'model', '--to', 'first', '--keep-copy'], { cwd: w.b });
  const repoB = await Repository.find(w.b);
  await flipByte(repoB.store.pathOf('chunk', w.victim), seed + 7);

  const v = await cli(['verify', '--json'], { cwd: w.b });
  t.is(v.code, 5);
  const problems = JSON.parse(v.stdout.split('\n')[0]!).result.problems;
  t.true(problems.some((p: any) => p.kind === 'corrupt-chunk' && p.object === w.victim), JSON.stringify(problems));

  const co = await cli(['checkout', 'model', '--to', 'out'], { cwd: w.b });
  t.is(co.code, 5, co.stderr);
  t.true(co.stderr.includes(w.victim), `the error names the chunk: ${co.stderr}`);
  // Files before the corrupt one may be whole; none may differ from the original.
  const orig = path.join(w.a, 'ckpt');
  for (const f of await fs.readdir(path.join(w.b, 'out'), { recursive: true }).catch(() => [] as string[])) {
    const p = path.join(w.b, 'out', f);
    if ((await fs.stat(p)).isFile()) t.deepEqual(await fs.readFile(p), await fs.readFile(path.join(orig, f)), `${f} is not corrupt`);
  }
  t.deepEqual(await tempFilesIn(w.b), []);

  t.false(await repoB.store.has('chunk', w.victim), 'the corrupt chunk left the store, so pull fetches it again');
  await ok(['pull', 'model', '--to', 'repaired'], { cwd: w.b });
  t.true(await sameTree(path.join(w.b, 'repaired'), orig), 'pull from the healthy remote brings back the exact files');
  t.deepEqual((await verify({ repo: repoB })).problems, [], 'the local store is whole again');
});
