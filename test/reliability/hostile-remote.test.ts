// A hostile or damaged remote, and a mistyped one: objects planted on a local-directory remote (bad
// manifests, bad refs, stray keys) must only affect the operations that need them, and be named in a
// warning and by verify; a remote URL that points at nothing must be an error, not an empty remote; and
// file-system failures (read-only, full, a file in the way, names too long) must leave with a code from
// the README's table and one line naming the object. The real CLI runs every step.

import fs from 'node:fs/promises';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { Packr } from 'msgpackr';
import { hashBytes } from '../../src/index.js';
import { encodeRef, newEntry, withMove } from '../../src/core/refs.js';
import { keyOf } from '../../src/remote/layout.js';
import { cli, ok, tempDir, type CliResult } from '../helpers.js';
import { bytesFor, tmpfsMounter } from './helpers.js';

const packr = new Packr({ useRecords: false, variableMapSize: true, int64AsType: 'number', mapsAsObjects: true });
let tried = 0;
test.after.always((t) => t.log(`hostile remote inputs tried: ${tried}`));

interface World {
  repo: string;
  remote: string;
}

/** A repository with a local-directory remote holding one good name, `good/a`. */
async function world(label: string): Promise<World> {
  const root = await tempDir(`ckpt-hostile-remote-${label}-`);
  const repo = path.join(root, 'repo');
  const remote = path.join(root, 'remote');
  await fs.mkdir(repo);
  await ok(['init'], { cwd: repo });
  await ok(['remote', 'add', 'origin', remote], { cwd: repo });
  await fs.writeFile(path.join(repo, 'a.bin'), bytesFor(`${label}/a`, 50_000));
  await ok(['add', 'a.bin', '--name', 'good/a'], { cwd: repo });
  await ok(['push', 'good/a'], { cwd: repo });
  return { repo, remote };
}

async function plant(remote: string, key: string, bytes: Buffer | string): Promise<void> {
  const p = path.join(remote, key);
  await fs.mkdir(path.dirname(p), { recursive: true });
  await fs.writeFile(p, bytes);
}

/** Makes a remote object look older than gc's grace period. */
async function age(remote: string, key: string, hours = 3): Promise<void> {
  const t = new Date(Date.now() - hours * 3600_000);
  await fs.utimes(path.join(remote, key), t, t);
}

const exists = (p: string) => fs.stat(p).then(() => true, () => false);

/** One world for the tests that plant nothing on its remote (each CLI run costs ~0.3 s of a shared CPU). */
let shared: Promise<World> | undefined;
const sharedWorld = () => (shared ??= world('shared'));

function jsonOk(t: ExecutionContext, r: CliResult, what: string): any {
  t.is(r.code, 0, `${what}: exit 0, got ${r.code}: ${r.stderr}`);
  t.is(r.json?.status, 'ok', `${what}: ok envelope`);
  return r.json;
}

/** Exactly one stderr line, the error, with the given exit code. */
function oneErrorLine(t: ExecutionContext, r: CliResult, what: string, code: number, pattern: RegExp) {
  t.is(r.code, code, `${what}: exit code (stderr ${JSON.stringify(r.stderr)})`);
  const lines = r.stderr.split('\n').filter(Boolean);
  t.is(lines.length, 1, `${what}: one error line, got ${JSON.stringify(r.stderr)}`);
  t.regex(lines[0] ?? '', /^ckptsync: error: \S/, what);
  t.regex(lines[0] ?? '', pattern, what);
}

// --- Item 3: one bad manifest must not block push, gc or ls -------------------------------------------

const good = { format: 1, type: 'file', files: [{ path: 'x.bin', size: 1, mode: 0o644, chunker: { alg: 'fastcdc-gear32', min: 256 << 10, avg: 1 << 20, max: 4 << 20 }, chunks: Buffer.alloc(32, 1), sizes: [1] }] };
const badManifests: Array<[string, () => { hash: string; bytes: Buffer }]> = [
  ['an empty file under the hash of nothing', () => ({ hash: hashBytes(Buffer.alloc(0)), bytes: Buffer.alloc(0) })],
  ['garbage under its own hash', () => ({ hash: hashBytes(Buffer.from('garbage\n')), bytes: Buffer.from('garbage\n') })],
  ['a valid manifest under the wrong hash', () => ({ hash: 'ab'.repeat(32), bytes: packr.pack(good) })],
  ['a manifest failing validation (a ../ path)', () => {
    const bytes = packr.pack({ ...good, files: [{ ...good.files[0], path: '../evil' }] });
    return { hash: hashBytes(bytes), bytes };
  }],
];

for (const [what, make] of badManifests) {
  test(`with ${what} on the remote, push of another name, ls, gc and verify --remote keep working and name it`, async (t) => {
    const w = await world(`m${++tried}`);
    const bad = make();
    await plant(w.remote, keyOf({ kind: 'manifest', name: bad.hash }), bad.bytes);

    await fs.writeFile(path.join(w.repo, 'b.bin'), bytesFor(`${what}/b`, 40_000));
    await ok(['add', 'b.bin', '--name', 'good/b'], { cwd: w.repo });
    const push = jsonOk(t, await cli(['push', 'good/b', '--json'], { cwd: w.repo }), 'push');
    t.true(push.warnings.some((x: string) => x.includes(bad.hash)), `push warns naming the manifest: ${JSON.stringify(push.warnings)}`);
    t.is(push.result.warnings, undefined, 'warnings live in the envelope, not the result');

    const ls = jsonOk(t, await cli(['ls', '--remote', 'origin', '--json'], { cwd: w.repo }), 'ls --remote');
    t.deepEqual(ls.result.map((e: any) => e.name), ['good/a', 'good/b']);

    // The bad manifest is young and unreachable: gc keeps it, and since its chunks are unknown, every chunk.
    const orphan = keyOf({ kind: 'chunk', name: hashBytes(Buffer.from('orphan')) });
    await plant(w.remote, orphan, 'orphan');
    await age(w.remote, orphan);
    const gc1 = jsonOk(t, await cli(['gc', '--json'], { cwd: w.repo }), 'gc');
    t.true(gc1.warnings.some((x: string) => x.includes(bad.hash)), `gc warns naming the manifest: ${JSON.stringify(gc1.warnings)}`);
    t.true(await exists(path.join(w.remote, orphan)), 'no chunk deleted while a kept manifest cannot be read');

    const v = await cli(['verify', '--remote', 'origin', '--json'], { cwd: w.repo });
    t.is(v.code, 5, 'verify --remote exits 5');
    t.true(
      v.json?.status === 'error' || v.json?.result?.problems?.some((p: any) => p.object === bad.hash),
      `verify lists the manifest: ${v.stdout}`,
    );
    t.regex(v.stdout, new RegExp(`corrupt-manifest.*${bad.hash}|${bad.hash}.*corrupt`));

    // Once older than the grace, the unreachable bad manifest goes, and with it the block on chunks.
    await age(w.remote, keyOf({ kind: 'manifest', name: bad.hash }));
    const gc2 = jsonOk(t, await cli(['gc', '--json'], { cwd: w.repo }), 'gc after the grace');
    t.is(gc2.result.manifestsDeleted, 1, 'the old unreachable bad manifest is deleted');
    t.false(await exists(path.join(w.remote, orphan)), 'and the orphan chunk with it');
    await ok(['pull', 'good/a', '--to', path.join(w.repo, 'out-a')], { cwd: w.repo });
    t.deepEqual(await fs.readFile(path.join(w.repo, 'out-a')), await fs.readFile(path.join(w.repo, 'a.bin')), 'the good name still pulls');
  });
}

test('a name pointing at a corrupt manifest: ls skips it with a warning, gc deletes no chunk but still old unreachable manifests', async (t) => {
  tried++;
  const w = await world('reachable-bad');
  const bytes = Buffer.from('not a manifest');
  const h = hashBytes(bytes);
  await plant(w.remote, keyOf({ kind: 'manifest', name: h }), bytes);
  await plant(w.remote, keyOf({ kind: 'ref', name: 'broken' }), encodeRef(withMove(null, 'broken', newEntry(h))));
  // An old unreachable (readable) manifest and an old orphan chunk.
  const unreachable = packr.pack({ ...good, files: [{ ...good.files[0], path: 'old.bin' }] });
  const uh = hashBytes(unreachable);
  await plant(w.remote, keyOf({ kind: 'manifest', name: uh }), unreachable);
  await age(w.remote, keyOf({ kind: 'manifest', name: uh }));
  const orphan = keyOf({ kind: 'chunk', name: hashBytes(Buffer.from('orphan2')) });
  await plant(w.remote, orphan, 'orphan2');
  await age(w.remote, orphan);

  const ls = jsonOk(t, await cli(['ls', '-r', 'origin', '--json'], { cwd: w.repo }), 'ls');
  t.deepEqual(ls.result.map((e: any) => e.name), ['good/a']);
  t.true(ls.warnings.some((x: string) => x.includes('broken') && x.includes(h)), JSON.stringify(ls.warnings));

  const gc = jsonOk(t, await cli(['gc', '--json'], { cwd: w.repo }), 'gc');
  t.true(gc.warnings.some((x: string) => x.includes(h)), JSON.stringify(gc.warnings));
  t.is(gc.result.manifestsDeleted, 1, 'the old unreachable manifest is deleted');
  t.false(await exists(path.join(w.remote, keyOf({ kind: 'manifest', name: uh }))));
  t.true(await exists(path.join(w.remote, orphan)), 'no chunk is deleted: the corrupt manifest may name any');
  t.is(gc.result.chunksDeleted, 0);
});

// --- Item 7: one bad ref must not hide the others --------------------------------------------------

const badRefs: Array<[string, string, Buffer | string]> = [
  ['garbage', 'refs/garbage.ref', 'garbage'],
  ['an empty ref', 'refs/empty.ref', ''],
  ['a ref naming another name', 'refs/liar.ref', encodeRef(withMove(null, 'good/a', newEntry('ab'.repeat(32))))],
  ['a deeply nested history', 'refs/nested.ref', `{"version":1,"name":"nested","target":"${'ab'.repeat(32)}","history":${'['.repeat(5000)}${']'.repeat(5000)}}`],
  ['a history entry of the wrong type', 'refs/typed.ref', `{"version":1,"name":"typed","target":"${'ab'.repeat(32)}","history":[[]]}`],
  ['a stray file name under refs/', 'refs/x/stray', 'hello'],
  ['a key with an invalid name', 'refs/bad name.ref', 'hello'],
];

for (const [what, key, bytes] of badRefs) {
  test(`with ${what} on the remote, ls --remote lists the rest and warns, verify --remote reports it`, async (t) => {
    const w = await world(`r${++tried}`);
    await plant(w.remote, key, bytes);
    const ls = jsonOk(t, await cli(['ls', '--remote', 'origin', '--json'], { cwd: w.repo }), 'ls --remote');
    t.deepEqual(ls.result.map((e: any) => e.name), ['good/a']);
    const named = key.replace(/^refs\//, '').replace(/\.ref$/, '');
    t.true(ls.warnings.some((x: string) => x.includes(named)), `the warning names ${named}: ${JSON.stringify(ls.warnings)}`);
    const human = await cli(['ls', '--remote', 'origin'], { cwd: w.repo });
    t.is(human.code, 0);
    t.regex(human.stderr, /^ckptsync: warning: /m);
    t.regex(human.stdout, /good\/a/);
    const v = await cli(['verify', '--remote', 'origin'], { cwd: w.repo });
    t.is(v.code, 5, `verify exits 5: ${v.stdout}${v.stderr}`);
    t.regex(v.stdout, new RegExp(`bad-ref .*${named.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  });
}

test('a ref pointing at a missing manifest: ls lists the rest and warns, verify names it', async (t) => {
  tried++;
  const w = await world('missing-target');
  const missing = 'cd'.repeat(32);
  await plant(w.remote, 'refs/dangling.ref', encodeRef(withMove(null, 'dangling', newEntry(missing))));
  const ls = jsonOk(t, await cli(['ls', '-r', 'origin', '--json'], { cwd: w.repo }), 'ls');
  t.deepEqual(ls.result.map((e: any) => e.name), ['good/a']);
  t.true(ls.warnings.some((x: string) => x.includes('dangling') && x.includes(missing)), JSON.stringify(ls.warnings));
  const v = await cli(['verify', '-r', 'origin'], { cwd: w.repo });
  t.is(v.code, 5);
  t.regex(v.stdout, /bad-ref dangling: points at missing manifest/);
});

test('an oversized ref is skipped by its listed size, unread, and named', async (t) => {
  tried++;
  const w = await world('oversized');
  await plant(w.remote, 'refs/huge.ref', Buffer.alloc((16 << 20) + 1, 0x20));
  const ls = jsonOk(t, await cli(['ls', '-r', 'origin', '--json'], { cwd: w.repo }), 'ls');
  t.deepEqual(ls.result.map((e: any) => e.name), ['good/a']);
  t.true(ls.warnings.some((x: string) => x.includes('huge') && /cap/.test(x)), JSON.stringify(ls.warnings));
  const pull = await cli(['pull', 'huge', '--to', path.join(w.repo, 'h')], { cwd: w.repo });
  oneErrorLine(t, pull, 'pull of an oversized ref', 5, /huge.*larger than/);
});

test('gc keeps every manifest while a ref cannot be read, but still sweeps chunks no manifest names', async (t) => {
  tried++;
  const w = await world('gc-bad-ref');
  await plant(w.remote, 'refs/garbage.ref', 'garbage');
  const unreachable = packr.pack({ ...good, files: [{ ...good.files[0], path: 'old.bin' }] });
  const uh = hashBytes(unreachable);
  await plant(w.remote, keyOf({ kind: 'manifest', name: uh }), unreachable);
  await age(w.remote, keyOf({ kind: 'manifest', name: uh }));
  const orphan = keyOf({ kind: 'chunk', name: hashBytes(Buffer.from('orphan3')) });
  await plant(w.remote, orphan, 'orphan3');
  await age(w.remote, orphan);
  const gc = jsonOk(t, await cli(['gc', '--json'], { cwd: w.repo }), 'gc');
  t.true(gc.warnings.some((x: string) => x.includes('garbage')), JSON.stringify(gc.warnings));
  t.is(gc.result.manifestsDeleted, 0, 'the garbage ref might have named it');
  t.true(await exists(path.join(w.remote, keyOf({ kind: 'manifest', name: uh }))));
  t.false(await exists(path.join(w.remote, orphan)), 'a chunk no manifest names is still swept');
});

// --- Item 9: a remote that points at nothing -------------------------------------------------------

const missingRemoteCommands: Array<[string, (r: string, repo: string) => string[]]> = [
  ['ls --remote', (r) => ['ls', '--remote', r]],
  ['verify --remote', (r) => ['verify', '--remote', r]],
  ['gc -r', (r) => ['gc', '-r', r]],
  ['pull -r', (r, repo) => ['pull', 'good/a', '-r', r, '--to', path.join(repo, 'never')]],
  ['clean -r', (r) => ['clean', '-r', r]],
  ['status --remote', (r) => ['status', '--remote', r]],
  ['prune -r', (r) => ['prune', 'good/', '--keep-last', '1', '-r', r]],
];

for (const [what, args] of missingRemoteCommands) {
  test(`${what} with a remote path that does not exist: not found (exit 3), one line naming it, nothing created`, async (t) => {
    tried++;
    const w = await sharedWorld();
    const typo = path.join(path.dirname(w.remote), 'remtoe');
    const r = await cli(args(typo, w.repo), { cwd: w.repo });
    oneErrorLine(t, r, what, 3, /remtoe.*does not exist/);
    t.false(await exists(typo), 'the mistyped remote was not created');
  });
}

test('a configured remote whose directory vanished is an error naming it, and push may still create it', async (t) => {
  tried++;
  const w = await world('vanished');
  await fs.rm(w.remote, { recursive: true });
  oneErrorLine(t, await cli(['ls', '-r', 'origin'], { cwd: w.repo }), 'ls of a vanished remote', 3, /remote origin .*does not exist/);
  await ok(['push', 'good/a'], { cwd: w.repo });
  t.true(await exists(path.join(w.remote, 'refs', 'good', 'a.ref')), 'push created the remote');
  const ls = jsonOk(t, await cli(['ls', '-r', 'origin', '--json'], { cwd: w.repo }), 'ls after push');
  t.deepEqual(ls.result.map((e: any) => e.name), ['good/a']);
});

test('remote add refuses a local path whose parent does not exist, and accepts a new folder in an existing one', async (t) => {
  tried++;
  const w = await world('remote-add');
  const deep = path.join(path.dirname(w.remote), 'nope', 'deep');
  oneErrorLine(t, await cli(['remote', 'add', 'typo', deep], { cwd: w.repo }), 'remote add of a deep missing path', 3, /nope/);
  const cfg = JSON.parse(await fs.readFile(path.join(w.repo, '.ckptsync', 'config.json'), 'utf8'));
  t.false('typo' in cfg.remotes, 'nothing was configured');
  t.false(await exists(path.dirname(deep)));
  await ok(['remote', 'add', 'fresh', path.join(path.dirname(w.remote), 'fresh')], { cwd: w.repo });
  t.false(await exists(path.join(path.dirname(w.remote), 'fresh')), 'remote add creates nothing');
});

test('a remote path that is a file: usage error (exit 2) naming it, for reads and for push', async (t) => {
  tried++;
  const w = await world('file-remote');
  const f = path.join(path.dirname(w.remote), 'a-file');
  await fs.writeFile(f, 'x');
  oneErrorLine(t, await cli(['ls', '-r', f], { cwd: w.repo }), 'ls of a file', 2, /a-file.* is a file/);
  oneErrorLine(t, await cli(['push', 'good/a', '-r', f], { cwd: w.repo }), 'push to a file', 2, /a-file.*ENOTDIR|a-file.*EEXIST/);
  t.is(await fs.readFile(f, 'utf8'), 'x');
});

test('init refuses a target whose parent does not exist (git init DIR creates one level only)', async (t) => {
  tried++;
  const root = await tempDir('ckpt-init-deep-');
  oneErrorLine(t, await cli(['init', '-C', path.join(root, 'nonexistent', 'deep')], { cwd: root }), 'init -C a deep missing path', 3, /nonexistent/);
  t.false(await exists(path.join(root, 'nonexistent')), 'no folder created');
  await ok(['init', '-C', path.join(root, 'one')], { cwd: root });
  t.true(await exists(path.join(root, 'one', '.ckptsync', 'config.json')));
});

// --- Item 10: failures that left the exit-code table -------------------------------------------------

// A tmpfs (mount needs root, as in CI; chmod would not stop root), read-only or small.
const tmpfs = tmpfsMounter(test);

test.serial('push to a read-only remote: permission error (exit 4) naming the remote, not ENOENT', async (t) => {
  const w = await world('ro');
  const ro = await tmpfs(1024, true);
  for (const target of [ro, path.join(ro, 'sub', 'deeper')]) {
    tried++;
    oneErrorLine(t, await cli(['push', 'good/a', '-r', target], { cwd: w.repo }), `push to read-only ${target}`, 4, /read-only file system: .*EROFS/);
  }
});

test.serial('push to a full remote: no-space error (exit 10) naming the object, and nothing half-written', async (t) => {
  tried++;
  const w = await world('full');
  const small = await tmpfs(256, false);
  await fs.writeFile(path.join(w.repo, 'big.bin'), bytesFor('full-remote', 1 << 20));
  await ok(['add', 'big.bin', '--name', 'big'], { cwd: w.repo });
  const r = await cli(['push', 'big', '-r', path.join(small, 'r')], { cwd: w.repo });
  oneErrorLine(t, r, 'push to a full remote', 10, /no space left on device: writing chunks\/.*ENOSPC/);
  const leftovers = (await fs.readdir(path.join(small, 'r'), { recursive: true })).filter((f) => String(f).includes('.tmp-'));
  t.deepEqual(leftovers, [], 'no temp file left on the remote');
  t.false(await exists(path.join(small, 'r', 'refs', 'big.ref')), 'the name did not move');
});

test('a name with a 201-255 byte part is refused as a usage error before anything is written', async (t) => {
  const w = await world('longname');
  for (const n of [201, 233, 255]) {
    tried += 2;
    const name = 'n'.repeat(n);
    const r = await cli(['add', 'a.bin', '--name', name], { cwd: w.repo });
    oneErrorLine(t, r, `a ${n}-byte name`, 2, /invalid name .*at most 200 bytes/);
    const pushed = await cli(['push', 'good/a', '--as', `x/${name}`], { cwd: w.repo });
    oneErrorLine(t, pushed, `push --as a ${n}-byte part`, 2, /invalid name/);
  }
  t.deepEqual(await fs.readdir(path.join(w.remote, 'refs')), ['good'], 'no ref written on the remote');
  await ok(['add', 'a.bin', '--name', 'n'.repeat(200)], { cwd: w.repo });
  await ok(['push', 'n'.repeat(200)], { cwd: w.repo });
});

const badConfigs: Array<[string, string]> = [
  ['null', 'null\n'],
  ['an array', '[1]\n'],
  ['a string', '"x"\n'],
  ['a remote that is null', '{"format":1,"remotes":{"origin":null}}\n'],
  ['remotes that are a list', '{"format":1,"remotes":[]}\n'],
];

test('config.json holding null, a list, a string or bad remotes: configuration error (exit 9) naming the file', async (t) => {
  const w = await world('config');
  for (const [what, text] of badConfigs) {
    tried++;
    await fs.writeFile(path.join(w.repo, '.ckptsync', 'config.json'), text);
    oneErrorLine(t, await cli(['ls', '-r', 'origin'], { cwd: w.repo }), `config ${what}`, 9, /config\.json/);
    oneErrorLine(t, await cli(['remote', 'list'], { cwd: w.repo }), `config ${what} (remote list)`, 9, /config\.json/);
  }
});

test('a ref on the remote stored under another name is refused when read by name', async (t) => {
  tried++;
  const w = await world('misnamed');
  const doc = (await fs.readFile(path.join(w.remote, 'refs', 'good', 'a.ref'))).toString();
  await plant(w.remote, 'refs/other.ref', doc); // names good/a, stored as other
  const r = await cli(['pull', 'other', '--to', path.join(w.repo, 'o')], { cwd: w.repo });
  oneErrorLine(t, r, 'pull of a misnamed ref', 5, /ref other .*not the name it is stored under/);
  t.false(await exists(path.join(w.repo, 'o')));
});

const usageErrors: Array<[string, string[], RegExp]> = [
  ['a non-integer --jobs', ['push', 'good/a', '--jobs', 'x'], /--jobs.*Expected an integer but received: x/],
  ['a missing argument', ['pull'], /Missing 1 required arg: target/],
];

for (const [what, args, pattern] of usageErrors) {
  test(`${what}: the one usage line carries the reason, not only its first line`, async (t) => {
    tried++;
    const w = await sharedWorld();
    oneErrorLine(t, await cli(args, { cwd: w.repo }), what, 2, pattern);
    const j = await cli([...args, '--json'], { cwd: w.repo });
    t.regex(j.json?.error?.message ?? '', pattern);
  });
}
