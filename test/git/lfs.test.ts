// git-lfs interop, end to end with Debian's git-lfs: ckptsync as a standalone custom transfer agent,
// two clones, git lfs push / git lfs pull, and a second version that uploads only its changed chunks.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { BIN, ckpt, git, run } from './helpers.js';
import { randomBytes } from '../training/fixture.js';

const sha256 = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');

async function dirBytes(dir: string): Promise<number> {
  let n = 0;
  for (const e of await fs.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) n += (await fs.stat(path.join(e.parentPath ?? (e as any).path, e.name))).size;
  }
  return n;
}

test('lfs › two clones round-trip LFS objects through a ckptsync remote; a second version uploads only changed chunks', async (t) => {
  const base = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-lfs-'));
  try {
    const origin = path.join(base, 'origin.git');
    const store = path.join(base, 'ckpt-remote');
    const log = path.join(base, 'agent.ndjson');
    const env = { CKPTSYNC_LFS_LOG: log, HOME: base };
    await git(base, 'init', '-q', '--bare', '-b', 'main', origin);
    const a = path.join(base, 'a');
    await git(base, 'clone', '-q', origin, a);
    await run('git', ['lfs', 'install', '--local'], a, env);
    await ckpt(a, 'lfs', 'install', '--remote', store);
    await git(a, 'lfs', 'track', '*.bin');

    // 8 MiB of random data: several 1 MiB-average chunks.
    // Seeded, not fresh random bytes: a FastCDC cut sequence sometimes takes several chunks to
    // resynchronise after an edit (one run in the suite re-uploaded 7.2 of 8 MB), which fresh data
    // turned into a rare failure; these bytes are the same every run.
    const v1 = randomBytes(8 << 20, 11);
    await fs.writeFile(path.join(a, 'model.bin'), v1);
    await git(a, 'add', '.gitattributes', 'model.bin');
    await git(a, 'commit', '-q', '-m', 'v1');
    const pushed1 = await run('git', ['push', '-q', 'origin', 'main'], a, env);
    t.is(pushed1.code, 0, pushed1.stderr);
    const lfsPush1 = await run('git', ['lfs', 'push', 'origin', 'main'], a, env);
    t.is(lfsPush1.code, 0, lfsPush1.stderr);
    t.truthy(await fs.stat(path.join(store, 'refs/lfs/sha256', `${sha256(v1)}.ref`)), 'the object is named lfs/sha256/<oid> on the remote');
    const afterV1 = await dirBytes(store);
    t.is(await fs.stat(path.join(origin, 'lfs')).catch(() => null), null, "git-lfs's own file transfer did not store anything in origin");

    // Second clone: pointers only, then git lfs pull through the agent.
    const b = path.join(base, 'b');
    await run('git', ['clone', '-q', origin, b], base, { ...env, GIT_LFS_SKIP_SMUDGE: '1' });
    await run('git', ['lfs', 'install', '--local'], b, env);
    await ckpt(b, 'lfs', 'install', '--remote', store);
    t.regex(await fs.readFile(path.join(b, 'model.bin'), 'utf8').catch(() => ''), /^version https:\/\/git-lfs/, 'b starts with the LFS pointer');
    const pull1 = await run('git', ['lfs', 'pull', 'origin'], b, env);
    t.is(pull1.code, 0, pull1.stderr);
    t.is(sha256(await fs.readFile(path.join(b, 'model.bin'))), sha256(v1));

    // Version 2: 64 KiB rewritten in the middle.
    const v2 = Buffer.from(v1);
    randomBytes(64 << 10, 12).copy(v2, 3 << 20);
    await fs.writeFile(path.join(a, 'model.bin'), v2);
    await git(a, 'commit', '-q', '-am', 'v2');
    await fs.rm(log, { force: true });
    const pushed2 = await run('git', ['push', '-q', 'origin', 'main'], a, env);
    t.is(pushed2.code, 0, pushed2.stderr);
    const lfsPush2 = await run('git', ['lfs', 'push', 'origin', 'main'], a, env);
    t.is(lfsPush2.code, 0, lfsPush2.stderr);
    const records = (await fs.readFile(log, 'utf8')).trim().split('\n').map((l) => JSON.parse(l));
    const up = records.find((r) => r.operation === 'upload' && r.oid === sha256(v2) && !r.skipped);
    t.truthy(up, `upload of v2 recorded: ${JSON.stringify(records)}`);
    const grown = (await dirBytes(store)) - afterV1;
    t.log(`v2 (${v2.length} bytes): agent uploaded ${up.bytesMoved} bytes of chunks; the remote grew by ${grown} bytes`);
    t.true(up.bytesMoved > 0 && up.bytesMoved < v2.length / 2, `uploaded ${up.bytesMoved} of ${v2.length}`);
    t.true(grown < v2.length / 2, `remote grew by ${grown}`);

    // b has the smudge filter now: git pull itself fetches v2 through the agent.
    const pulled = await run('git', ['pull', '-q', 'origin', 'main'], b, env);
    t.is(pulled.code, 0, pulled.stderr);
    const pull2 = await run('git', ['lfs', 'pull', 'origin'], b, env);
    t.is(pull2.code, 0, pull2.stderr);
    t.is(sha256(await fs.readFile(path.join(b, 'model.bin'))), sha256(v2));
    const down = (await fs.readFile(log, 'utf8')).trim().split('\n').map((l) => JSON.parse(l)).find((r) => r.operation === 'download' && r.oid === sha256(v2));
    t.truthy(down);
    t.true(down.bytesMoved < v2.length / 2, `b downloaded only changed chunks: ${down.bytesMoved}`);
  } finally {
    await fs.rm(base, { recursive: true, force: true });
  }
});

test('lfs › a download session refuses a remote location that does not exist; an upload session may create it', async (t) => {
  const base = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-lfs-missing-'));
  try {
    const missing = path.join(base, 'no-such-remote');
    /** Starts the agent as git-lfs does, sends `init` for `operation`, returns its answer. */
    const init = (operation: string) =>
      new Promise<Record<string, any>>((resolve, reject) => {
        const child = spawn(process.execPath, [BIN, 'lfs', 'agent', '--remote', missing, '--store', path.join(base, 'store')], { cwd: base });
        let out = '';
        child.stdout.on('data', (b: Buffer) => {
          out += b.toString();
          if (out.includes('\n')) {
            child.stdin.end(JSON.stringify({ event: 'terminate' }) + '\n');
            resolve(JSON.parse(out.split('\n')[0]!));
          }
        });
        child.on('error', reject);
        child.stdin.write(JSON.stringify({ event: 'init', operation, remote: 'origin', concurrent: true, concurrenttransfers: 1 }) + '\n');
      });
    const down = await init('download');
    t.is(down.error?.code, 32);
    t.regex(down.error?.message ?? '', /does not exist: check the path or URL/);
    t.deepEqual(await init('upload'), {}, 'an upload may create the location with its first write');
    t.is(await fs.stat(missing).catch(() => null), null, 'opening created nothing');
  } finally {
    await fs.rm(base, { recursive: true, force: true });
  }
});
