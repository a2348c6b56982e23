import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { resolveCheckpoint, resolveCheckpointInfo } from '../../src/api/resolve.js';
import { pushSnapshot } from '../../src/sync/push.js';
import { cli, findFiles, tempDir } from '../helpers.js';
import { localRemote, newRepo, randomBytes, writeAndAdd } from './fixture.js';

const MB = 1 << 20;

/** A remote with one checkpoint pushed under `name`; returns its bytes. */
async function published(name: string, size = 3 * MB, seed = 11) {
  const { repo } = await newRepo();
  const { url, remote } = await localRemote();
  const data = randomBytes(size, seed);
  const manifest = await writeAndAdd(repo, path.basename(name), data, name);
  await pushSnapshot(repo, remote, name, manifest);
  return { repo, url, remote, data, manifest };
}

test('resolve › 8 processes resolving one missing checkpoint download it once and get one path', async (t) => {
  const name = 'convnext_tiny_22k_1k_384.pth';
  const p = await published(name);
  const cache = await tempDir('ckpt-cache-');
  const cwd = await tempDir('ckpt-norepo-'); // no repository: --remote and the cache alone
  const runs = await Promise.all(Array.from({ length: 8 }, () => cli(['resolve', name, '--remote', p.url, '--cache', cache, '--json'], { cwd })));
  for (const r of runs) t.is(r.code, 0, r.stderr);
  const results = runs.map((r) => r.json.result);
  t.is(new Set(results.map((r) => r.path)).size, 1, 'every process prints the same path');
  t.is(results.filter((r) => r.downloaded).length, 1, 'exactly one process downloads');
  const chunks = results.reduce((n, r) => n + r.chunksDownloaded, 0);
  const bytes = results.reduce((n, r) => n + r.bytesDownloaded, 0);
  t.is(bytes, p.data.length, 'the checkpoint crossed the network once in all');
  t.true(chunks > 0);
  t.true((await fs.readFile(results[0].path)).equals(p.data));
  t.true(results[0].path.endsWith(`/${name}`), 'the file keeps its name (and extension)');
  t.is((await fs.stat(results[0].path)).mode & 0o222, 0, 'a shared checkpoint is read-only: copy it to change it');
  t.deepEqual(await findFiles(cache, '.tmp-'), [], 'no temp files are left');
});

test('resolve › a name that moved on the remote resolves to the new version, sharing chunks in the cache', async (t) => {
  const name = 'lstm_v1/2019-05-01-2209';
  const p = await published(name, 8 * MB, 3);
  const cache = await tempDir('ckpt-cache-');
  const first = await resolveCheckpointInfo(name, { repo: null, remote: p.url, cacheDir: cache });
  t.true(first.downloaded);
  t.true((await fs.readFile(first.path)).equals(p.data));

  const changed = Buffer.from(p.data);
  randomBytes(64 << 10, 5).copy(changed, 4 * MB);
  const m2 = await writeAndAdd(p.repo, path.basename(name), changed, name);
  await pushSnapshot(p.repo, p.remote, name, m2);
  const second = await resolveCheckpointInfo(name, { repo: null, remote: p.url, cacheDir: cache });
  t.not(second.path, first.path, 'the new version gets its own path');
  t.true((await fs.readFile(second.path)).equals(changed));
  t.true(second.bytesDownloaded < changed.length / 2, `only the changed chunks are downloaded (${second.bytesDownloaded} bytes)`);
  const again = await resolveCheckpointInfo(name, { repo: null, remote: p.url, cacheDir: cache });
  t.is(again.path, second.path);
  t.false(again.downloaded, 'a cached version is not downloaded again');
});

test('resolve › offline mode serves cached checkpoints and names the cache for missing ones', async (t) => {
  const p = await published('epoch_3.pt', MB, 4);
  const cache = await tempDir('ckpt-cache-');
  const cwd = await tempDir('ckpt-norepo-');
  const missing = await cli(['resolve', 'epoch_3.pt', '--remote', p.url, '--cache', cache, '--offline', '--json'], { cwd });
  t.is(missing.code, 3, 'not found');
  t.is(missing.json.error.code, 'NOT_FOUND');
  t.true(missing.json.error.message.includes('epoch_3.pt') && missing.json.error.message.includes(cache), missing.json.error.message);
  t.deepEqual(await fs.readdir(path.join(cache, 'snapshots')).catch(() => []), [], 'nothing was downloaded');

  const online = await resolveCheckpoint('epoch_3.pt', { repo: null, remote: p.url, cacheDir: cache });
  await fs.rm(p.url, { recursive: true }); // the remote is gone: offline must not need it
  const env = { CKPTSYNC_OFFLINE: '1', CKPTSYNC_CACHE: cache };
  const cached = await cli(['resolve', 'epoch_3.pt', '--remote', p.url, '--json'], { cwd, env });
  t.is(cached.code, 0, cached.stderr);
  t.is(cached.json.result.path, online);
});

test('resolve › an absolute path is used as is and a pointer file resolves through the cache', async (t) => {
  const p = await published('run/model.bin', MB, 8);
  const cache = await tempDir('ckpt-cache-');
  const abs = path.join(p.repo.root, 'model.bin');
  t.is(await resolveCheckpoint(abs, { repo: null, cacheDir: cache }), abs);
  const pointer = abs + '.ckpt';
  const viaPointer = await resolveCheckpoint(pointer, { repo: null, remote: p.url, cacheDir: cache });
  t.true(viaPointer.startsWith(cache));
  t.true((await fs.readFile(viaPointer)).equals(p.data));
});

test("resolve › a temp a killed resolve left in the cache's store is removed by the next resolve; a live writer's is kept", async (t) => {
  const name = 'swept/model.bin';
  const p = await published(name, MB, 7);
  const cache = await tempDir('ckpt-cache-');
  await resolveCheckpointInfo(name, { repo: null, remote: p.url, cacheDir: cache });
  const found = await findFiles(cache, p.manifest);
  t.is(found.length, 1, "the cache's store holds the manifest");
  const store = path.join(cache, found[0]!);
  const dead = await new Promise<number>((done) => {
    const child = spawn(process.execPath, ['-e', '0']);
    child.on('exit', () => done(child.pid!));
  });
  // As a resolve killed while it downloaded a manifest leaves it (the store writes it as it comes).
  const leftover = `${store}.tmp-${dead}-0badcafe`;
  const live = `${store}.tmp-${process.pid}-0badf00d`;
  await fs.writeFile(leftover, 'partial');
  await fs.writeFile(live, 'partial');
  await resolveCheckpointInfo(name, { repo: null, remote: p.url, cacheDir: cache });
  t.false(await fs.stat(leftover).then(() => true, () => false), 'the dead writer’s temp is gone');
  t.true(await fs.stat(live).then(() => true, () => false), 'a live writer’s temp is kept');
});
