// Hostile and bad input: crafted manifests on a remote (truncated, wrong version, paths that escape,
// absurd sizes and counts), crafted pointer files, symlinks in the target pointing outside, bad URLs and
// unknown schemes, a full disk (a 20 MB tmpfs) and a read-only directory. Each must be refused with one
// error line and a non-zero exit, and nothing may be written (no target, no temp file, nothing outside).

import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { Packr } from 'msgpackr';
import { hashBytes } from '../../src/index.js';
import { encodeRef, newEntry, withMove } from '../../src/core/refs.js';
import { cli, ok, tempDir, type CliResult } from '../helpers.js';
import { assertVerifies, bytesFor, tempFilesIn, tmpfsMounter } from './helpers.js';

// The same encoder settings as src/core/manifest.ts, so a crafted manifest differs only where we mean.
const packr = new Packr({ useRecords: false, variableMapSize: true, int64AsType: 'number', mapsAsObjects: true });
const CHUNKER = { alg: 'fastcdc-gear32', min: 256 << 10, avg: 1 << 20, max: 4 << 20 };

let remote: string;
let repo: string;
let outside: string;
const CHUNK_DATA = bytesFor('hostile-chunk', 1000);
const realChunk = hashBytes(CHUNK_DATA);
let tried = 0;
// Every test runs serially: they share one repository and check that it holds no temp file, which a
// concurrent test's pull in flight would otherwise put there.

test.before(async () => {
  const root = await tempDir('ckpt-hostile-');
  remote = path.join(root, 'remote');
  repo = path.join(root, 'repo');
  outside = path.join(root, 'outside');
  await fs.mkdir(repo);
  await fs.mkdir(outside);
  await ok(['init'], { cwd: repo });
  await ok(['remote', 'add', 'origin', remote], { cwd: repo });
  // One real chunk on the remote, so crafted manifests can name something that exists.
  const data = CHUNK_DATA;
  const chunkKey = await findChunkLayout();
  await fs.mkdir(path.dirname(path.join(remote, chunkKey)), { recursive: true });
  await fs.writeFile(path.join(remote, chunkKey), data);
});

test.after.always((t) => t.log(`hostile inputs tried: ${tried}`));

/** Where the local driver keeps a chunk (the layout's key for it). */
async function findChunkLayout(): Promise<string> {
  const { keyOf } = await import('../../src/remote/layout.js');
  return keyOf({ kind: 'chunk', name: realChunk });
}

/** Puts bytes on the remote as a manifest under their real hash, and a name pointing at it. */
async function plantManifest(name: string, bytes: Buffer): Promise<string> {
  const { keyOf } = await import('../../src/remote/layout.js');
  const h = hashBytes(bytes);
  const mkey = path.join(remote, keyOf({ kind: 'manifest', name: h }));
  await fs.mkdir(path.dirname(mkey), { recursive: true });
  await fs.writeFile(mkey, bytes);
  const rkey = path.join(remote, keyOf({ kind: 'ref', name }));
  await fs.mkdir(path.dirname(rkey), { recursive: true });
  await fs.writeFile(rkey, encodeRef(withMove(null, name, newEntry(h))));
  return h;
}

function file(p: unknown, extra: Record<string, unknown> = {}) {
  return { path: p, size: 1000, mode: 0o644, chunker: CHUNKER, chunks: Buffer.from(realChunk, 'hex'), sizes: [1000], ...extra };
}

/** Exactly one stderr line, the error; a non-zero exit. */
function assertOneErrorLine(t: ExecutionContext, r: CliResult, what: string, pattern?: RegExp) {
  tried++;
  t.not(r.code, 0, `${what}: exit code`);
  const lines = r.stderr.split('\n').filter(Boolean);
  t.is(lines.length, 1, `${what}: one error line, got ${JSON.stringify(r.stderr)}`);
  t.regex(lines[0] ?? '', /^ckptsync: error: \S/, what);
  if (pattern) t.regex(lines[0] ?? '', pattern, what);
}

async function assertNothingWritten(t: ExecutionContext, out: string, what: string) {
  t.false(await fs.stat(out).then(() => true, () => false), `${what}: the target ${out} was not created`);
  t.deepEqual(await fs.readdir(outside), [], `${what}: nothing written outside`);
  t.deepEqual(await tempFilesIn(repo), [], `${what}: no temp files`);
}

const good = { format: 1, type: 'dir', files: [file('a.bin')] };
const hostileManifests: Array<[string, Buffer, RegExp]> = [
  ['truncated', packr.pack(good).subarray(0, 40), /malformed|not valid msgpack|truncated/],
  ['not msgpack at all', Buffer.from('{"format":1}'), /malformed|not valid msgpack/],
  ['a newer format', packr.pack({ ...good, format: 2 }), /format 2 is newer/],
  ['format 0', packr.pack({ ...good, format: 0 }), /unknown format/],
  ['an unknown type', packr.pack({ ...good, type: 'link' }), /type must be/],
  ['a ../ path', packr.pack({ ...good, files: [file('../outside/evil.bin')] }), /unsafe path/],
  ['a nested ../ path', packr.pack({ ...good, files: [file('a/../../outside/evil.bin')] }), /unsafe path/],
  ['an absolute path', packr.pack({ ...good, files: [file('/tmp/evil.bin')] }), /unsafe path/],
  ['a backslash path', packr.pack({ ...good, files: [file('..\\outside\\evil.bin')] }), /unsafe path/],
  ['a NUL in a path', packr.pack({ ...good, files: [file('a\0b')] }), /unsafe path/],
  ['a file that is also a directory', packr.pack({ ...good, files: [file('a'), file('a/b')] }), /also a directory/],
  ['a duplicate path', packr.pack({ ...good, files: [file('a'), file('a')] }), /duplicate path/],
  ['an absurd file size', packr.pack({ ...good, files: [file('a', { size: 2 ** 60 })] }), /invalid size/],
  ['sizes that do not add up', packr.pack({ ...good, files: [file('a', { size: 5000 })] }), /add up/],
  ['an absurd chunk size', packr.pack({ ...good, files: [file('a', { size: 2 ** 31, sizes: [2 ** 31] })] }), /invalid chunk size/],
  ['more sizes than chunks', packr.pack({ ...good, files: [file('a', { sizes: [500, 500] })] }), /sizes for/],
  ['a negative mode', packr.pack({ ...good, files: [file('a', { mode: -1 })] }), /invalid mode/],
  ['an absurd file count (4 billion claimed)', Buffer.concat([packr.pack({ format: 1, type: 'dir' }).subarray(0, 1).map((b) => b + 1), packr.pack({ format: 1, type: 'dir' }).subarray(1), packr.pack('files'), Buffer.from([0xdd, 0xff, 0xff, 0xff, 0xff])]), /malformed|not valid msgpack/],
  ['a file snapshot with two files', packr.pack({ format: 1, type: 'file', files: [file('a'), file('b')] }), /exactly one file/],
];

for (const [what, bytes, pattern] of hostileManifests) {
  test.serial(`pull refuses a manifest with ${what} before writing anything`, async (t) => {
    const name = `hostile/${what.replace(/[^a-z0-9]+/gi, '-')}`;
    await plantManifest(name, bytes);
    const out = path.join(repo, 'out', name);
    const r = await cli(['pull', name, '--to', out], { cwd: repo });
    assertOneErrorLine(t, r, what, pattern);
    await assertNothingWritten(t, out, what);
  });
}

test.serial('a control manifest crafted the same way pulls fine (the crafting itself is sound)', async (t) => {
  await plantManifest('hostile/control', packr.pack(good));
  const out = path.join(repo, 'out-control');
  await ok(['pull', 'hostile/control', '--to', out], { cwd: repo });
  t.deepEqual(await fs.readFile(path.join(out, 'a.bin')), bytesFor('hostile-chunk', 1000));
});

test.serial('pull refuses to write through a symlink in the target that points outside', async (t) => {
  await plantManifest('hostile/through-link', packr.pack({ ...good, files: [file('sub/x.bin')] }));
  const out = path.join(repo, 'linked');
  await fs.mkdir(out);
  await fs.symlink(outside, path.join(out, 'sub'));
  const r = await cli(['pull', 'hostile/through-link', '--to', out], { cwd: repo });
  assertOneErrorLine(t, r, 'symlink in the target', /symlink/);
  t.deepEqual(await fs.readdir(outside), [], 'nothing written through the symlink');
  t.deepEqual(await tempFilesIn(repo), []);
});

test.serial('checkout refuses a symlinked directory on the way even when a sibling file is fine', async (t) => {
  await plantManifest('hostile/sibling', packr.pack({ ...good, files: [file('ok.bin'), file('sub/deep/x.bin')] }));
  const out = path.join(repo, 'linked2');
  await fs.mkdir(path.join(out, 'sub'), { recursive: true });
  await fs.symlink(outside, path.join(out, 'sub', 'deep'));
  const r = await cli(['pull', 'hostile/sibling', '--to', out], { cwd: repo });
  assertOneErrorLine(t, r, 'nested symlink', /symlink/);
  t.deepEqual(await fs.readdir(outside), []);
});

test.serial('add refuses a directory holding a symlink that points outside', async (t) => {
  const dir = path.join(repo, 'withlink');
  await fs.mkdir(dir);
  await fs.writeFile(path.join(dir, 'a.bin'), 'a');
  await fs.writeFile(path.join(outside, '..', 'secret.txt'), 'secret');
  await fs.symlink(path.join(outside, '..', 'secret.txt'), path.join(dir, 'leak'));
  const r = await cli(['add', 'withlink'], { cwd: repo });
  assertOneErrorLine(t, r, 'add with symlink', /symlink/);
  t.false(await fs.stat(path.join(repo, 'withlink.ckpt')).then(() => true, () => false), 'no pointer written');
});

const M = 'a'.repeat(64);
const hostilePointers: Array<[string, string]> = [
  ['an empty pointer', ''],
  ['a truncated pointer', `version https://ckptsync.dev/spec/pointer/v1\nmanifest ${M.slice(0, 30)}`],
  ['a newer pointer version', `version https://ckptsync.dev/spec/pointer/v9\nmanifest ${M}\nsize 1\n`],
  ['a git-lfs pointer', `version https://git-lfs.github.com/spec/v1\noid sha256:${M}\nsize 1\n`],
  ['a manifest that is not a hash', `version https://ckptsync.dev/spec/pointer/v1\nmanifest ../../etc/passwd\nsize 1\n`],
  ['a name that escapes', `version https://ckptsync.dev/spec/pointer/v1\nmanifest ${M}\nname ../../outside/x\nsize 1\n`],
  ['an absurd size', `version https://ckptsync.dev/spec/pointer/v1\nmanifest ${M}\nsize 99999999999999999999\n`],
  ['a huge pointer', `version https://ckptsync.dev/spec/pointer/v1\nmanifest ${M}\nsize 1\n${'x y\n'.repeat(2000)}`],
  ['binary garbage', '\u0000\u0001\u0002\u00ff'],
];

for (const [what, text] of hostilePointers) {
  test.serial(`pull refuses ${what} as a pointer file before writing anything`, async (t) => {
    const base = `ptr-${what.replace(/[^a-z0-9]+/gi, '-')}`;
    await fs.writeFile(path.join(repo, `${base}.ckpt`), text);
    const r = await cli(['pull', `${base}.ckpt`], { cwd: repo });
    assertOneErrorLine(t, r, what);
    await assertNothingWritten(t, path.join(repo, base), what);
  });
}

const badRemotes: Array<[string, string[], RegExp]> = [
  ['an unknown scheme', ['remote', 'add', 'x', 'gopher://example.invalid/ckpt'], /gopher|scheme/i],
  ['a malformed URL', ['remote', 'add', 'x', 's3://'], /./],
  ['an sftp URL with no host', ['remote', 'add', 'x', 'sftp:///path'], /./],
  ['verify against an unknown scheme', ['verify', '--remote', 'gopher://h/x'], /gopher|scheme/i],
  ['pulling from a remote name that does not exist', ['pull', 'x', '-r', 'nosuchremote'], /nosuchremote/],
  ['pulling from a webdav host that does not resolve', ['pull', 'x', '-r', 'webdav://ckptsync-test.invalid/dav'], /ckptsync-test\.invalid|resolve|ENOTFOUND|EAI_AGAIN/],
];

for (const [what, args, pattern] of badRemotes) {
  test.serial(`${what}: one error line and a non-zero exit`, async (t) => {
    const r = await cli(args, { cwd: repo, env: { CKPTSYNC_RETRIES: '1' } });
    assertOneErrorLine(t, r, what, pattern);
    const cfg = JSON.parse(await fs.readFile(path.join(repo, '.ckptsync', 'config.json'), 'utf8'));
    t.false('x' in cfg.remotes, 'no remote was configured');
  });
}

const mountTmpfs = tmpfsMounter(test);
const smallTmpfs = (sizeMb: number, ro = false) => mountTmpfs(sizeMb << 10, ro);

test.serial('add onto a full disk fails with one error line, leaves no temp file, and the store stays whole', async (t) => {
  const disk = await smallTmpfs(20);
  await ok(['init'], { cwd: disk });
  await fs.writeFile(path.join(disk, 'big.bin'), bytesFor('full-disk-add', 12 << 20)); // fits once, not twice
  const r = await cli(['add', 'big.bin'], { cwd: disk });
  assertOneErrorLine(t, r, 'add on a full disk', /no space|ENOSPC/i);
  t.deepEqual(await tempFilesIn(disk), [], 'no temp files');
  t.false(await fs.stat(path.join(disk, 'big.bin.ckpt')).then(() => true, () => false), 'no pointer written');
  const v = await cli(['verify'], { cwd: disk });
  t.is(v.code, 0, `the store is whole after ENOSPC: ${v.stdout}${v.stderr}`);
});

test.serial('pull onto a full disk fails with one error line and writes no half file', async (t) => {
  const src = await tempDir('ckpt-full-src-');
  await ok(['init'], { cwd: src });
  await ok(['remote', 'add', 'origin', path.join(src, 'remote')], { cwd: src });
  // Larger than the disk: a pull keeps one copy (§7b), so 12 MiB would fit on 20 MB.
  await fs.writeFile(path.join(src, 'big.bin'), bytesFor('full-disk-pull', 24 << 20));
  await ok(['add', 'big.bin', '--name', 'big'], { cwd: src });
  await ok(['push', 'big'], { cwd: src });
  const disk = await smallTmpfs(20);
  await ok(['init'], { cwd: disk });
  const r = await cli(['pull', 'big', '-r', path.join(src, 'remote'), '--to', 'big.bin'], { cwd: disk });
  assertOneErrorLine(t, r, 'pull on a full disk', /no space|ENOSPC/i);
  t.false(await fs.stat(path.join(disk, 'big.bin')).then(() => true, () => false), 'no half-written file');
  t.deepEqual(await tempFilesIn(disk), [], 'no temp files');
  const v = await cli(['verify'], { cwd: disk });
  t.is(v.code, 0, `the store is whole after ENOSPC: ${v.stdout}${v.stderr}`);
});

test.serial('pull into a read-only directory fails with one error line and writes nothing', async (t) => {
  await plantManifest('hostile/readonly', packr.pack(good));
  const ro = await smallTmpfs(1, true);
  const r = await cli(['pull', 'hostile/readonly', '--to', path.join(ro, 'out')], { cwd: repo });
  assertOneErrorLine(t, r, 'read-only target', /read-only|EROFS/i);
  t.deepEqual(await fs.readdir(ro), []);
});

// ---- Writes that must stay inside the repository (issue: pointer names, symlinked folders, .git/) ----

/** A new repository (a git work tree too, when asked) on the shared crafted remote. */
async function freshRepo(opts: { git?: boolean; ownRemote?: boolean } = {}): Promise<{ dir: string; above: string }> {
  const above = await tempDir('ckpt-hostile-above-');
  const dir = path.join(above, 'repo');
  await fs.mkdir(dir);
  if (opts.git) execFileSync('git', ['init', '-q', dir]);
  await ok(['init'], { cwd: dir });
  // A remote of its own for a test that pushes: the shared one holds crafted objects on purpose.
  await ok(['remote', 'add', 'origin', opts.ownRemote ? path.join(above, 'remote') : remote], { cwd: dir });
  return { dir, above };
}

const exists = (p: string) => fs.lstat(p).then(() => true, () => false);

/** A pointer file at `file` naming the planted manifest `h` (1000 bytes). */
async function writePointer(file: string, h: string, size = 1000): Promise<void> {
  const { formatPointer } = await import('../../src/core/pointer.js');
  await fs.writeFile(file, formatPointer({ manifest: h, size }));
}

for (const ptrName of ['.ckpt', '..ckpt', '...ckpt']) {
  test.serial(`a pointer file named ${ptrName} is refused by pull and checkout, and no git hook is written`, async (t) => {
    const h = await plantManifest(`hostile/hook-${ptrName.length}`, packr.pack({ ...good, files: [file('.git/hooks/post-checkout', { mode: 0o755 }), file('escaped.bin')] }));
    const { dir, above } = await freshRepo({ git: true });
    await writePointer(path.join(dir, ptrName), h);
    const before = await fs.readdir(above);
    for (const args of [['pull', ptrName], ['pull', ptrName, '--no-store'], ['checkout', ptrName]]) {
      if (args[0] === 'checkout') await ok(['pull', `hostile/hook-${ptrName.length}`, '--no-checkout'], { cwd: dir });
      const r = await cli(args, { cwd: dir });
      assertOneErrorLine(t, r, args.join(' '), /not a usable pointer file name/);
      t.is(r.code, 2, `${args.join(' ')}: usage exit code`);
      t.false(await exists(path.join(dir, '.git', 'hooks', 'post-checkout')), `${args.join(' ')}: no hook written`);
      t.false(await exists(path.join(dir, 'escaped.bin')), `${args.join(' ')}: nothing in the repository root`);
      t.deepEqual(await fs.readdir(above), before, `${args.join(' ')}: nothing written above the repository`);
    }
  });
}

test.serial('a directory checkpoint holding .git/ or .ckptsync/ paths is refused before anything is written', async (t) => {
  for (const [i, evil] of ['.git/hooks/post-checkout', 'sub/.GIT/config', '.ckptsync/refs/x.ref'].entries()) {
    const h = await plantManifest(`hostile/reserved-${i}`, packr.pack({ ...good, files: [file('a.bin'), file(evil)] }));
    const { dir } = await freshRepo({ git: true });
    await writePointer(path.join(dir, 'model.ckpt'), h, 2000);
    const r = await cli(['pull', 'model.ckpt'], { cwd: dir });
    assertOneErrorLine(t, r, evil, /lies in a \.git|lies in a \.ckptsync/i);
    t.false(await exists(path.join(dir, 'model')), `${evil}: no part of the checkpoint was written`);
    t.deepEqual(await tempFilesIn(dir), [], `${evil}: no temp files`);
  }
});

test.serial('pull and checkout through a symlinked folder are refused, and nothing is written where it leads', async (t) => {
  const h = await plantManifest('hostile/via-link', packr.pack(good));
  const { dir } = await freshRepo();
  const elsewhere = await tempDir('ckpt-hostile-elsewhere-');
  await fs.symlink(elsewhere, path.join(dir, 'sub'));
  await writePointer(path.join(elsewhere, 'f.bin.ckpt'), h, 1000); // read through the link: sub/f.bin.ckpt
  for (const args of [['pull', 'sub/f.bin'], ['pull', 'sub/f.bin.ckpt', '--no-store'], ['checkout', 'sub/f.bin']]) {
    if (args[0] === 'checkout') await ok(['pull', 'hostile/via-link', '--no-checkout'], { cwd: dir });
    const r = await cli(args, { cwd: dir });
    assertOneErrorLine(t, r, args.join(' '), /symlink/);
    t.deepEqual(await fs.readdir(elsewhere), ['f.bin.ckpt'], `${args.join(' ')}: nothing written through the link`);
  }
});

test.serial('add through a symlinked folder is refused: no snapshot of the outside file and no pointer written there', async (t) => {
  const { dir } = await freshRepo();
  const elsewhere = await tempDir('ckpt-hostile-elsewhere-');
  await fs.writeFile(path.join(elsewhere, 'secret'), 'not for the repository');
  await fs.symlink(elsewhere, path.join(dir, 'sl'));
  for (const args of [['add', 'sl/secret'], ['push', 'sl/secret', '--from-file']]) {
    const r = await cli(args, { cwd: dir });
    assertOneErrorLine(t, r, args.join(' '), /symlink/);
    t.deepEqual(await fs.readdir(elsewhere), ['secret'], `${args.join(' ')}: no pointer written outside`);
  }
  t.deepEqual(await fs.readdir(path.join(dir, '.ckptsync', 'manifests')), [], 'nothing was snapshotted');
});

// ---- A lying manifest must not cost local data ----

test.serial('a manifest that lies about a chunk size fails the pull and keeps the good local chunk', async (t) => {
  const { dir } = await freshRepo();
  await fs.writeFile(path.join(dir, 'only-copy.bin'), CHUNK_DATA);
  await ok(['add', 'only-copy.bin'], { cwd: dir }); // one chunk: realChunk, stored only here
  const obj = path.join(dir, '.ckptsync', 'objects', realChunk.slice(0, 2), realChunk);
  t.true(await exists(obj));
  for (const size of [999, 1001]) {
    const name = `hostile/lying-size-${size}`;
    await plantManifest(name, packr.pack({ ...good, type: 'file', files: [file('x.bin', { size, sizes: [size] })] }));
    for (const args of [['pull', name, '--to', `out-${size}.bin`], ['checkout', name, '--to', `co-${size}.bin`]]) {
      if (args[0] === 'checkout') await ok(['pull', name, '--no-checkout'], { cwd: dir }); // the chunk is here: nothing to fetch
      const r = await cli(args, { cwd: dir });
      assertOneErrorLine(t, r, `${args[0]} with sizes [${size}]`, /manifest is wrong/);
      t.is(r.code, 5, 'integrity exit code');
      t.true(await exists(obj), `${args[0]} with sizes [${size}]: the local chunk is still there`);
      t.false(await exists(path.join(dir, args.at(-1)!)), 'no file written');
    }
  }
  await assertVerifies(t, dir);
});

// ---- Modes from a manifest ----

test.serial('modes from a manifest keep only permission bits, readable by the owner, under the umask', async (t) => {
  const old = process.umask(0o002); // inherited by the CLI child: group-writable allowed, world-writable not
  try {
    const cases: Array<[number, number]> = [[0o4777, 0o775], [0o6755, 0o755], [0o1777, 0o775], [0o000, 0o644], [0o200, 0o600], [0o755, 0o755]];
    for (const [mode, want] of cases) {
      const name = `hostile/mode-${mode.toString(8)}`;
      await plantManifest(name, packr.pack({ ...good, files: [file('m.bin', { mode })] }));
      const out = path.join(repo, 'out-modes', mode.toString(8));
      await ok(['pull', name, '--to', out], { cwd: repo });
      const st = await fs.stat(path.join(out, 'm.bin'));
      t.is(st.mode & 0o7777, want, `mode ${mode.toString(8)} became ${(st.mode & 0o7777).toString(8)}`);
    }
  } finally {
    process.umask(old);
  }
});

// ---- Local edits ----

test.serial('pull and checkout keep a locally modified file unless --force', async (t) => {
  const { dir } = await freshRepo({ ownRemote: true });
  const f = path.join(dir, 'w.bin');
  await fs.writeFile(f, bytesFor('worktree-v1', 3000));
  await ok(['add', 'w.bin'], { cwd: dir });
  await ok(['push', 'w.bin'], { cwd: dir });
  const edited = bytesFor('my-local-edit', 3000);
  await fs.writeFile(f, edited);
  for (const args of [['checkout', 'w.bin.ckpt'], ['pull', 'w.bin.ckpt'], ['pull', 'w.bin.ckpt', '--no-store']]) {
    const r = await cli(args, { cwd: dir });
    assertOneErrorLine(t, r, args.join(' '), /w\.bin differs from what ckptsync last wrote there.*--force/);
    t.is(r.code, 6, `${args.join(' ')}: conflict exit code`);
    t.true((await fs.readFile(f)).equals(edited), `${args.join(' ')}: the edit is kept`);
  }
  await ok(['checkout', 'w.bin.ckpt', '--force'], { cwd: dir });
  t.true((await fs.readFile(f)).equals(bytesFor('worktree-v1', 3000)), '--force restores the checkpoint');
  // Unchanged data is replaced without a word (what checkout itself wrote, by stat or by content).
  await ok(['checkout', 'w.bin.ckpt'], { cwd: dir });
  await fs.utimes(f, new Date(), new Date(Date.now() + 5000)); // stat changed, content the same
  await ok(['pull', 'w.bin.ckpt'], { cwd: dir });
});

test.serial('a directory pulled over one with a user-edited shard is refused; extra files of the user stay', async (t) => {
  const { dir } = await freshRepo();
  const d = path.join(dir, 'shards');
  await fs.mkdir(d);
  await fs.writeFile(path.join(d, 'a.bin'), bytesFor('shard-a', 2000));
  await fs.writeFile(path.join(d, 'b.bin'), bytesFor('shard-b', 2000));
  await ok(['add', 'shards'], { cwd: dir });
  await fs.writeFile(path.join(d, 'notes.txt'), 'mine'); // not in the checkpoint: never a reason to refuse
  await ok(['checkout', 'shards.ckpt'], { cwd: dir });
  await fs.writeFile(path.join(d, 'b.bin'), bytesFor('edited', 2000));
  const r = await cli(['checkout', 'shards.ckpt'], { cwd: dir });
  assertOneErrorLine(t, r, 'dir checkout over an edit', /shards\/b\.bin differs/);
  t.true((await fs.readFile(path.join(d, 'b.bin'))).equals(bytesFor('edited', 2000)));
  t.is(await fs.readFile(path.join(d, 'notes.txt'), 'utf8'), 'mine');
});

// ---- Pointers and -C ----

test.serial('a pointer whose size disagrees with its manifest is refused before anything is written', async (t) => {
  const h = await plantManifest('hostile/size-lie', packr.pack(good));
  const { dir } = await freshRepo();
  await writePointer(path.join(dir, 'p.ckpt'), h, 999);
  const r = await cli(['pull', 'p.ckpt'], { cwd: dir });
  assertOneErrorLine(t, r, 'pointer size', /says 999 bytes but its manifest .* holds 1000/);
  t.is(r.code, 2);
  t.false(await exists(path.join(dir, 'p')));
});

test.serial('-C DIR applies to path arguments: checkout f.bin -C A writes A/f.bin, not ./f.bin', async (t) => {
  const { dir, above } = await freshRepo();
  await fs.writeFile(path.join(dir, 'f.bin'), bytesFor('dash-C', 1500));
  await ok(['add', 'f.bin', '--name', 'dash-c/model'], { cwd: dir }); // a name unlike the path: only the pointer finds it
  await fs.rm(path.join(dir, 'f.bin'));
  await ok(['checkout', 'f.bin', '-C', dir], { cwd: above });
  t.true((await fs.readFile(path.join(dir, 'f.bin'))).equals(bytesFor('dash-C', 1500)), 'written in A');
  await ok(['checkout', 'f.bin.ckpt', '-C', dir, '--to', 'copy.bin'], { cwd: above });
  t.true(await exists(path.join(dir, 'copy.bin')), '--to is read from A too');
  t.deepEqual(await fs.readdir(above), ['repo'], 'nothing written in the current directory');
  const r = await cli(['status', '-C', path.join(above, 'nope')], { cwd: above });
  assertOneErrorLine(t, r, '-C to a missing directory', /-C .*nope: no such directory/);
});

// ---- The store stays out of git ----

test.serial('init in a git repository keeps the object store out of git; status warns when it is tracked anyway', async (t) => {
  const { dir } = await freshRepo({ git: true });
  await fs.writeFile(path.join(dir, 'big.bin'), bytesFor('git-add', 5000));
  await ok(['add', 'big.bin'], { cwd: dir });
  execFileSync('git', ['add', '-A'], { cwd: dir });
  const staged = execFileSync('git', ['ls-files'], { cwd: dir, encoding: 'utf8' }).split('\n').filter(Boolean).sort();
  t.deepEqual(staged, ['.ckptsync/.gitignore', '.gitignore', 'big.bin.ckpt'], 'only the pointer, the ignore files');
  const quiet = await ok(['status', '--json'], { cwd: dir });
  t.deepEqual(quiet.json.warnings, []);
  execFileSync('git', ['add', '-f', '.ckptsync/config.json', '.ckptsync/manifests'], { cwd: dir });
  const loud = await ok(['status', '--json'], { cwd: dir });
  t.is(loud.json.warnings.length, 1);
  t.regex(loud.json.warnings[0], /git tracks 2 file\(s\) under \.ckptsync\//);
});
