// status reports each state of a pointer file's data: ok, data-missing, modified (also same size,
// different bytes), not-in-store, invalid-pointer; and pushed or not with --remote. Real CLI, --json.

import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { ckpt } from './helpers.js';

test('status › reports ok, data-missing, modified, not-in-store, invalid-pointer, and pushed or not', async (t) => {
  const base = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-status-'));
  try {
    const repo = path.join(base, 'repo');
    const store = path.join(base, 'store');
    await fs.mkdir(repo);
    await ckpt(repo, 'init');
    await ckpt(repo, 'remote', 'add', 'store', store, '--default');
    const files = ['ok.bin', 'gone.bin', 'edited.bin', 'grown.bin', 'orphan.bin'];
    for (const f of files) {
      await fs.writeFile(path.join(repo, f), crypto.randomBytes(300_000));
      await ckpt(repo, 'add', f);
    }
    await fs.mkdir(path.join(repo, 'dir'));
    await fs.writeFile(path.join(repo, 'dir/a'), 'a');
    await ckpt(repo, 'add', 'dir');
    await ckpt(repo, 'push', 'ok.bin');

    await fs.rm(path.join(repo, 'gone.bin'));
    // Same size, one byte different: only the content tells.
    const edited = await fs.readFile(path.join(repo, 'edited.bin'));
    edited[150_000] ^= 0xff;
    await fs.writeFile(path.join(repo, 'edited.bin'), edited);
    await fs.appendFile(path.join(repo, 'grown.bin'), 'x');
    await fs.writeFile(path.join(repo, 'dir/b'), 'new file in a directory snapshot');
    // Data whose objects are not in this store (e.g. a pointer from a colleague's commit).
    const orphan = await fs.readFile(path.join(repo, 'orphan.bin.ckpt'), 'utf8');
    const manifest = /manifest ([0-9a-f]{64})/.exec(orphan)![1]!;
    await fs.rm(path.join(repo, '.ckptsync/manifests', manifest));
    await fs.writeFile(path.join(repo, 'bad.ckpt'), 'not a pointer\n');

    const rows: { pointer: string; state: string; pushed: boolean | null }[] = JSON.parse(await ckpt(repo, 'status', '--remote', 'store', '--json')).result;
    const state = Object.fromEntries(rows.map((r) => [r.pointer, r.state]));
    t.deepEqual(state, {
      'bad.ckpt': 'invalid-pointer',
      'dir.ckpt': 'modified',
      'edited.bin.ckpt': 'modified',
      'gone.bin.ckpt': 'data-missing',
      'grown.bin.ckpt': 'modified',
      'ok.bin.ckpt': 'ok',
      'orphan.bin.ckpt': 'not-in-store',
    });
    t.is(rows.find((r) => r.pointer === 'ok.bin.ckpt')!.pushed, true);
    t.is(rows.find((r) => r.pointer === 'edited.bin.ckpt')!.pushed, false);

    // Restoring the bytes (new mtime, same content) is ok again: the content is compared, not the stat.
    edited[150_000] ^= 0xff;
    await fs.writeFile(path.join(repo, 'edited.bin'), edited);
    const again: { pointer: string; state: string }[] = JSON.parse(await ckpt(repo, 'status', '--json')).result;
    t.is(again.find((r) => r.pointer === 'edited.bin.ckpt')!.state, 'ok');
    // --quick trusts the stat: a touched file is reported without reading it.
    const later = new Date(Date.now() + 5000);
    await fs.utimes(path.join(repo, 'ok.bin'), later, later);
    const quick: { pointer: string; state: string; detail?: string }[] = JSON.parse(await ckpt(repo, 'status', '--quick', '--json')).result;
    t.is(quick.find((r) => r.pointer === 'ok.bin.ckpt')!.state, 'modified');
    t.is((JSON.parse(await ckpt(repo, 'status', '--json')).result as { pointer: string; state: string }[]).find((r) => r.pointer === 'ok.bin.ckpt')!.state, 'ok');
  } finally {
    await fs.rm(base, { recursive: true, force: true });
  }
});
