// ckptsync install: git hooks that push checkpoint data before git pushes the commits pointing at it,
// chain existing hooks, and (opt-in) materialize changed pointers after a pull. Real git, real CLI.

import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { ckpt, git, run } from './helpers.js';

async function setup() {
  const base = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-hooks-'));
  const origin = path.join(base, 'origin.git');
  const store = path.join(base, 'store');
  const a = path.join(base, 'a');
  await git(base, 'init', '-q', '--bare', '-b', 'main', origin);
  await git(base, 'clone', '-q', origin, a);
  await ckpt(a, 'init');
  await ckpt(a, 'remote', 'add', 'store', store, '--default');
  await fs.writeFile(path.join(a, '.gitignore'), '/.ckptsync/\n');
  return { base, origin, store, a };
}

async function addCheckpoint(repo: string, file: string, data: Buffer) {
  await fs.writeFile(path.join(repo, file), data);
  await ckpt(repo, 'add', file);
  await git(repo, 'add', '.gitignore', `${file}.ckpt`);
}

test('hooks › git push uploads the checkpoint data before git sends the commits; the existing hook still runs', async (t) => {
  const { base, origin, store, a } = await setup();
  try {
    // A hook that was there before: must still run, with git's arguments and stdin.
    const hooksDir = path.join(a, '.git/hooks');
    const oldHook = `#!/bin/sh\necho "old hook $1" > ${path.join(base, 'old-hook-ran')}\ncat >> ${path.join(base, 'old-hook-ran')}\n`;
    await fs.writeFile(path.join(hooksDir, 'pre-push'), oldHook, { mode: 0o755 });
    // On the receiving side: record which manifests the ckptsync remote holds when the commits arrive.
    await fs.writeFile(path.join(origin, 'hooks/pre-receive'), `#!/bin/sh\nls ${path.join(store, 'manifests')} > ${path.join(base, 'at-receive')} 2>/dev/null\nexit 0\n`, { mode: 0o755 });

    const out = await ckpt(a, 'install', '--json');
    t.deepEqual(JSON.parse(out).result.hooks.map((h: { hook: string; chained?: string }) => [h.hook, !!h.chained]), [['pre-push', true]]);
    await addCheckpoint(a, 'model.bin', crypto.randomBytes(3 << 20));
    await git(a, 'commit', '-q', '-m', 'model v1');
    const manifest = /manifest ([0-9a-f]{64})/.exec(await fs.readFile(path.join(a, 'model.bin.ckpt'), 'utf8'))![1]!;

    const pushed = await run('git', ['push', 'origin', 'main'], a);
    t.is(pushed.code, 0, pushed.stderr);
    t.regex(pushed.stderr, /model\.bin\.ckpt: pushed/);
    t.true((await fs.readFile(path.join(base, 'at-receive'), 'utf8')).split('\n').includes(manifest), 'the manifest was on the remote when git received the commits');
    t.regex(await fs.readFile(path.join(base, 'old-hook-ran'), 'utf8'), /^old hook origin\nrefs\/heads\/main [0-9a-f]{40} refs\/heads\/main 0{40}\n$/);
    t.truthy(await fs.stat(path.join(store, 'refs/model.bin.ref')));

    // A second push with nothing new moves no data.
    await fs.writeFile(path.join(a, 'README'), 'hi\n');
    await git(a, 'add', 'README');
    await git(a, 'commit', '-q', '-m', 'readme');
    const again = await run('git', ['push', 'origin', 'main'], a);
    t.is(again.code, 0, again.stderr);
    t.notRegex(again.stderr, /pushed \(/);

    // uninstall puts the old hook back, byte for byte.
    await ckpt(a, 'uninstall');
    t.is(await fs.readFile(path.join(hooksDir, 'pre-push'), 'utf8'), oldHook);
    t.is(await fs.stat(path.join(hooksDir, 'pre-push.pre-ckptsync')).catch(() => null), null);
  } finally {
    await fs.rm(base, { recursive: true, force: true });
  }
});

test('hooks › git push is refused when a pointer names data that is neither local nor on the remote', async (t) => {
  const { base, origin, a } = await setup();
  try {
    await ckpt(a, 'install');
    const fake = crypto.randomBytes(32).toString('hex');
    await fs.writeFile(path.join(a, 'ghost.ckpt'), `version https://ckptsync.dev/spec/pointer/v1\nmanifest ${fake}\nname ghost\nsize 10\n`);
    await git(a, 'add', 'ghost.ckpt');
    await git(a, 'commit', '-q', '-m', 'ghost');
    const pushed = await run('git', ['push', 'origin', 'main'], a);
    t.not(pushed.code, 0);
    t.regex(pushed.stderr, /neither in the local store nor on/);
    t.is((await run('git', ['rev-parse', '--verify', '-q', 'refs/heads/main'], origin)).stdout, '', 'origin did not get the commit');
  } finally {
    await fs.rm(base, { recursive: true, force: true });
  }
});

test('hooks › with --checkout, git pull materializes changed pointers and leaves hand-modified data alone', async (t) => {
  const { base, origin, store, a } = await setup();
  try {
    await ckpt(a, 'install');
    const v1 = crypto.randomBytes(2 << 20);
    await addCheckpoint(a, 'model.bin', v1);
    await addCheckpoint(a, 'other.bin', crypto.randomBytes(1 << 20));
    await git(a, 'commit', '-q', '-m', 'v1');
    await git(a, 'push', '-q', 'origin', 'main');

    const b = path.join(base, 'b');
    await git(base, 'clone', '-q', origin, b);
    await ckpt(b, 'init');
    await ckpt(b, 'remote', 'add', 'store', store, '--default');
    await ckpt(b, 'install', '--checkout');
    await git(b, 'pull', '-q', 'origin', 'main'); // nothing new yet: no data moves
    t.is(await fs.stat(path.join(b, 'model.bin')).catch(() => null), null, 'opt-in hooks act on changes only');
    await ckpt(b, 'pull', 'model.bin.ckpt');
    await ckpt(b, 'pull', 'other.bin.ckpt');
    const mine = crypto.randomBytes(1 << 20);
    await fs.writeFile(path.join(b, 'other.bin'), mine); // edited by hand in b

    const v2 = Buffer.from(v1);
    crypto.randomBytes(4096).copy(v2, 1 << 20);
    await fs.writeFile(path.join(a, 'model.bin'), v2);
    await ckpt(a, 'add', 'model.bin');
    await fs.writeFile(path.join(a, 'other.bin'), crypto.randomBytes(1 << 20));
    await ckpt(a, 'add', 'other.bin');
    await git(a, 'commit', '-q', '-am', 'v2');
    await git(a, 'push', '-q', 'origin', 'main');

    const pulled = await run('git', ['pull', 'origin', 'main'], b);
    t.is(pulled.code, 0, pulled.stderr);
    t.true((await fs.readFile(path.join(b, 'model.bin'))).equals(v2), 'post-merge materialized the new version');
    t.true((await fs.readFile(path.join(b, 'other.bin'))).equals(mine), 'hand-modified data was not overwritten');
    t.regex(pulled.stderr, /other\.bin\.ckpt: skipped-modified/);
  } finally {
    await fs.rm(base, { recursive: true, force: true });
  }
});
