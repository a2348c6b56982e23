import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import test from 'ava';
import { runRemoteConformance } from '../conformance/suite.js';
import localRemote, { DOCUMENT_LOCK_STALE_MS } from '../../remotes/local/index.js';
import type { Remote } from '../../src/remote/types.js';
import { ConfigError, UsageError } from '../../src/errors.js';

runRemoteConformance(test, {
  name: 'local',
  putCreatesLocation: true,
  // A directory has no credentials, and no network to fail transiently; file-system faults are covered by
  // the reliability tests.
  notApplicable: { badCredentials: 'a local directory has no credentials', transientFailures: 'a local directory has no network' },
  async start() {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-local-remote-'));
    const roots = new Map<Remote, string>();
    let n = 0;
    const openAt = async (root: string) => {
      const r = await localRemote.create(localRemote.parse(root));
      roots.set(r, root);
      return r;
    };
    return {
      target: {
        open: (sameAs) => openAt(sameAs ? roots.get(sameAs)! : path.join(dir, `r${n++}`)),
        openMissing: () => openAt(path.join(dir, `missing${n++}`, 'deep')),
      },
      stop: () => fs.rm(dir, { recursive: true, force: true }),
    };
  },
});

test('a document lock left by a writer killed mid-swap is taken over once stale, not reported as held', async (t) => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-local-lock-'));
  try {
    const r = await localRemote.create(localRemote.parse(root));
    const key = 'refs/model.ref';
    t.truthy(await r.swapDocument(key, Buffer.from('v1'), null));
    const v1 = (await r.readDocument(key))!.version;
    // What SIGKILL leaves mid-swap: the lock directory, last refreshed 8 s ago, and nobody to remove it.
    const lock = path.join(root, `${key}.lock`);
    await fs.mkdir(lock);
    const eightSecondsAgo = new Date(Date.now() - 8_000);
    await fs.utimes(lock, eightSecondsAgo, eightSecondsAgo);
    t.truthy(await r.swapDocument(key, Buffer.from('v2'), v1), 'the swap goes through');
    // The event, not a duration: the lock was taken over only once it had gone stale. (A slow machine can
    // only make it older, so this cannot fail for load.)
    const age = Date.now() - eightSecondsAgo.getTime();
    t.true(age >= DOCUMENT_LOCK_STALE_MS, `taken over at an age of ${age} ms, not before ${DOCUMENT_LOCK_STALE_MS} ms`);
    t.is((await r.readDocument(key))!.data.toString(), 'v2');
    await r.close();
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});

test('local › an unknown option is refused, naming it', (t) => {
  const err = t.throws(() => localRemote.parse('/tmp/somewhere', { colour: 'blue' }), { instanceOf: UsageError });
  t.regex(err!.message, /unknown file option "colour" \(it takes none\)/);
});

test('local › an unexpected file-system error is a typed error naming the key, not a bare errno error', async (t) => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-local-eloop-'));
  try {
    // A symlink to itself: stat and open fail with ELOOP, which no table of typedErrno names.
    await fs.mkdir(path.join(root, 'chunks'));
    await fs.symlink('loop', path.join(root, 'chunks', 'loop'));
    const r = await localRemote.create(localRemote.parse(root));
    const err = await t.throwsAsync(() => r.stat('chunks/loop'), { instanceOf: ConfigError });
    t.regex(err!.message, /stat chunks\/loop on file:\/\/.*ELOOP/);
    await t.throwsAsync(() => r.get('chunks/loop'), { instanceOf: ConfigError });
    await r.close();
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
});
