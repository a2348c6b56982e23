import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { gc } from '../../src/api/gc.js';
import { pull } from '../../src/api/pull.js';
import { LockHeldError } from '../../src/errors.js';
import { manifestChunks } from '../../src/core/manifest.js';
import { keyOf, prefixOf } from '../../src/remote/layout.js';
import type { Remote } from '../../src/remote/types.js';
import { holdGcLease } from '../../src/sync/locks.js';
import { loadManifest } from '../../src/sync/manifests.js';
import { pushSnapshot } from '../../src/sync/push.js';
import { deleteRemoteRef, readRemoteRef } from '../../src/sync/refs.js';
import { cli } from '../helpers.js';
import { barrier, localRemote, newRepo, randomBytes, writeAndAdd } from './fixture.js';

const MB = 1 << 20;
const SHORT = { graceMs: 0, allowShortGrace: true };

/** A remote whose chunk uploads (whole or as deltas) wait until `open()` is called, and which reports the first one. */
function gatedUploads(remote: Remote) {
  const first = barrier();
  const gate = barrier();
  const wrapped: Remote = Object.create(remote);
  wrapped.put = async (key, source) => {
    if (key.startsWith(prefixOf('chunk')) || key.startsWith(prefixOf('delta'))) {
      first.hit();
      await gate.reached;
    }
    return remote.put(key, source);
  };
  return { remote: wrapped, firstUpload: first.reached, open: gate.hit };
}

async function remoteChunks(remote: Remote): Promise<Set<string>> {
  const out = new Set<string>();
  for await (const o of remote.list(prefixOf('chunk'))) out.add(o.key.split('/').pop()!);
  return out;
}

/** A remote holding an unnamed old version (A) whose chunks a new version (B, local only) mostly shares. */
async function oldUnnamedVersion() {
  const { repo, root } = await newRepo();
  const { url, remote } = await localRemote();
  const a = randomBytes(4 * MB, 7);
  const mA = await writeAndAdd(repo, 'model.bin', a, 'old');
  await pushSnapshot(repo, remote, 'old', mA);
  await deleteRemoteRef(remote, 'old');
  const b = Buffer.from(a);
  randomBytes(256 << 10, 99).copy(b, 2 * MB); // one changed region: most chunks shared with A
  const mB = await writeAndAdd(repo, 'model.bin', b, 'new');
  const chunksA = manifestChunks(await loadManifest(repo, mA));
  const chunksB = manifestChunks(await loadManifest(repo, mB));
  return { repo, root, url, remote, mA, mB, b, chunksA, chunksB };
}

test('gc › a push in progress blocks gc; gc waits, then deletes nothing the push needs', async (t) => {
  const s = await oldUnnamedVersion();
  const shared = [...s.chunksB.keys()].filter((h) => s.chunksA.has(h));
  t.true(shared.length > 0, 'the new version reuses chunks only the unnamed old manifest names');

  const gated = gatedUploads(s.remote);
  // Whole chunks, so that every chunk of B is an object of its own (deltas and gc: test/e2e/deltas.test.ts).
  const pushing = pushSnapshot(s.repo, gated.remote, 'new', s.mB, { deltas: false });
  await gated.firstUpload; // the push has listed the old manifest and decided to skip the shared chunks

  const refused = await t.throwsAsync(gc({ remote: s.url, ...SHORT }));
  t.true(refused instanceof LockHeldError, 'gc without waiting refuses while a push holds a lease');

  const collecting = gc({ remote: s.url, ...SHORT, lock: { waitMs: 60_000, pollMs: 20 } });
  gated.open();
  await pushing;
  const r = await collecting;

  const onRemote = await remoteChunks(s.remote);
  for (const h of s.chunksB.keys()) t.true(onRemote.has(h), `chunk ${h.slice(0, 12)} of the pushed version survives gc`);
  t.is(r.manifestsDeleted, 1, 'the unnamed old manifest is deleted');
  t.is(r.chunksDeleted, [...s.chunksA.keys()].filter((h) => !s.chunksB.has(h)).length, 'exactly the chunks only A named are deleted');

  const other = await newRepo();
  const got = await pull({ repo: other.repo, target: 'new', remote: s.url, to: path.join(other.root, 'out.bin') });
  t.true((await fs.readFile(got.path!)).equals(s.b), 'the pushed version restores byte for byte after gc');
});

test('gc › a push waits while gc holds the lock, then uploads what gc removed', async (t) => {
  const s = await oldUnnamedVersion();
  const lease = await holdGcLease(s.remote);
  const readGcLock = barrier();
  const watched: Remote = Object.create(s.remote);
  watched.readDocument = async (key) => {
    if (key === keyOf({ kind: 'lock', name: 'gc' })) readGcLock.hit();
    return s.remote.readDocument(key);
  };
  const pushing = pushSnapshot(s.repo, watched, 'new', s.mB);
  await readGcLock.reached;
  t.is(await readRemoteRef(s.remote, 'new'), null, 'the push has not moved the name while gc holds the lock');
  await lease.release();
  const r = await pushing;
  t.is(r.chunksUploaded, r.chunksTotal - [...s.chunksB.keys()].filter((h) => s.chunksA.has(h)).length);
  t.truthy(await readRemoteRef(s.remote, 'new'));
});

test('gc › unreachable objects younger than the grace period are kept', async (t) => {
  const s = await oldUnnamedVersion();
  const young = await gc({ remote: s.url });
  t.is(young.manifestsDeleted + young.chunksDeleted, 0);
  t.is(young.keptYoung, 1, 'the unnamed manifest is kept as young, and the chunks it names with it');
  t.is((await remoteChunks(s.remote)).size, s.chunksA.size);
  const old = await gc({ remote: s.url, ...SHORT });
  t.is(old.manifestsDeleted, 1);
  t.is(old.chunksDeleted, s.chunksA.size);
  t.is((await remoteChunks(s.remote)).size, 0);
});

test('gc › a manifest kept for being young keeps its chunks, however old they are', async (t) => {
  const s = await oldUnnamedVersion();
  // The chunks are old (shared with long-gone versions); the unnamed manifest naming them is new, as a
  // push killed just before moving its name leaves it. A later push may name it, trusting its chunks.
  const old = new Date(Date.now() - 3 * 60 * 60_000);
  for (const h of s.chunksA.keys()) await fs.utimes(path.join(s.url, keyOf({ kind: 'chunk', name: h })), old, old);
  const r = await gc({ remote: s.url });
  t.is(r.manifestsDeleted, 0);
  t.is(r.chunksDeleted, 0);
  t.is((await remoteChunks(s.remote)).size, s.chunksA.size);
});

test('gc › versions in a name\'s history are kept', async (t) => {
  const s = await oldUnnamedVersion();
  await pushSnapshot(s.repo, s.remote, 'model', s.mA);
  await pushSnapshot(s.repo, s.remote, 'model', s.mB); // A stays in the history of "model"
  const r = await gc({ remote: s.url, ...SHORT });
  t.is(r.manifestsDeleted + r.chunksDeleted, 0);
  t.is(r.manifestsReachable, 2);
});

test('gc › refuses a grace shorter than the upload-log trust window unless told', async (t) => {
  const { url } = await localRemote();
  const e = await t.throwsAsync(gc({ remote: url, graceMs: 0 }));
  t.is((e as { code?: string }).code, 'USAGE');
});

test('gc › the CLI reports deletions in the JSON envelope', async (t) => {
  const s = await oldUnnamedVersion();
  const dry = await cli(['gc', '--remote', s.url, '--grace', '0', '--unsafe-grace', '--dry-run', '--json'], { cwd: s.root });
  t.is(dry.code, 0, dry.stderr);
  t.is(dry.json.result.manifestsDeleted, 1);
  t.is((await remoteChunks(s.remote)).size, s.chunksA.size, 'a dry run deletes nothing');
  const real = await cli(['gc', '--remote', s.url, '--grace', '0s', '--unsafe-grace', '--json'], { cwd: s.root });
  t.is(real.code, 0, real.stderr);
  t.is(real.json.result.chunksDeleted, s.chunksA.size);
});
