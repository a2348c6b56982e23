// Network faults: a TCP proxy between ckptsync and a real test server resets connections, answers 503,
// stalls, throttles and cuts responses short on a seeded schedule. Push and pull of a multi-chunk
// checkpoint must still succeed (retries with backoff, timeouts on stalls), a push that gives up midway
// must not re-send on its rerun what it already uploaded, and no corrupt object may be stored on either
// side. Replay a failing run with CKPTSYNC_NETWORK_SEED=<the seed the test logged>.

import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { connect } from '../../src/api/remote.js';
import { add, init, pull, push, Repository, TransientError, verify, type Remote } from '../../src/index.js';
import { FASTCDC_ALG } from '../../src/core/chunker.js';
import type { RetryOptions } from '../../src/remote/retry.js';
import { startFaultProxy, type FaultMode, type FaultProxy } from '../servers/faultproxy.js';
import { start as startS3 } from '../servers/s3.js';
import { start as startSftp } from '../servers/sftp.js';
import { start as startWebdav, WEBDAV_USER } from '../servers/webdav.js';
import { tempDir } from '../helpers.js';
import { prng, sameTree, seedFrom, tempFilesIn, writeCheckpointDir } from './helpers.js';

const seed = seedFrom('CKPTSYNC_NETWORK_SEED');
// Printed up front too: a run that hangs never reaches the tests' own logs.
console.log(`network faults: seed ${seed} (replay with CKPTSYNC_NETWORK_SEED=${seed})`);
const ALL_MODES: FaultMode[] = ['reset', 'http503', 'stall', 'throttle', 'cut'];
/** Short, so a stall costs the test seconds, not the driver's default minute. */
const TIMEOUT_SECONDS = '2';
/** Small chunks: ~8 MiB becomes ~120 objects, so faults land on many requests of every kind. */
const SMALL_CHUNKER = { alg: FASTCDC_ALG, min: 16 << 10, avg: 64 << 10, max: 256 << 10 } as const;
/** Generous enough that a seeded run of faults never exhausts the retries, quick enough for a test. */
const PATIENT: RetryOptions = { retries: 10, baseDelayMs: 20, maxDelayMs: 500 };

/** A live server behind a fault proxy, and how to open a fresh location on it through the proxy. */
interface Proxied {
  proxy: FaultProxy;
  /** Chance that a client write is faulted. */
  faultRate: number;
  /** A URL and settings for a fresh, empty location reached through the proxy. */
  location(): { url: string; settings: Record<string, string> };
  stop(): Promise<void>;
}

/** Each driver's server, and how its URL or settings are pointed at the proxy (data, not branches in the tests). */
const targets: { name: string; start(): Promise<Proxied> }[] = [
  {
    name: 's3',
    async start() {
      const server = await startS3();
      Object.assign(process.env, server.env); // credentials come from the AWS environment chain
      const proxy = await startFaultProxy(server.port);
      const settings = { ...server.settings, endpoint: `http://127.0.0.1:${proxy.port}`, timeoutSeconds: TIMEOUT_SECONDS };
      return { proxy, faultRate: 0.05, location: () => ({ url: server.newUrl(), settings }), stop: async () => (await proxy.stop(), await server.stop()) };
    },
  },
  {
    name: 'webdav',
    async start() {
      const server = await startWebdav();
      const proxy = await startFaultProxy(server.port);
      // As for SFTP below: a lock MKCOL whose answer is cut off leaves the lock taken, and the retry
      // waits for it to go stale (60 s by default), so stale comes soon here.
      const settings = { user: WEBDAV_USER, password: server.password, timeoutSeconds: TIMEOUT_SECONDS, lockStaleSeconds: '3' };
      const url = () => server.newUrl().replace(`:${server.port}/`, `:${proxy.port}/`);
      return { proxy, faultRate: 0.05, location: () => ({ url: url(), settings }), stop: async () => (await proxy.stop(), await server.stop()) };
    },
  },
  {
    name: 'sftp',
    async start() {
      const server = await startSftp();
      // The driver reads ~/.ssh like ssh does: this process plays the user of the server's temp HOME.
      process.env.HOME = server.home;
      delete process.env.SSH_AUTH_SOCK;
      const proxy = await startFaultProxy(server.port);
      await server.trustPort(proxy.port);
      // A compare-and-swap cut off by a fault leaves its lock file behind (the unlock could not get
      // through); the retry waits for it to go stale, so stale comes soon here.
      const settings = { timeoutSeconds: TIMEOUT_SECONDS, lockStaleMs: '1500' };
      const url = () => server.newUrl().replace(`:${server.port}/`, `:${proxy.port}/`);
      // One SSH connection carries every request (and keepalives) in many small writes, and a fault kills
      // all of them: a fifth of the HTTP rate still gives dozens of faults.
      return { proxy, faultRate: 0.01, location: () => ({ url: url(), settings }), stop: async () => (await proxy.stop(), await server.stop()) };
    },
  },
];

/** A repository holding an ~8 MiB checkpoint cut into many small chunks. */
async function checkpointRepo(root: string, label: string): Promise<{ repo: Repository; data: string; chunks: number }> {
  const dir = path.join(root, 'a');
  await fs.mkdir(dir, { recursive: true });
  await init({ dir });
  const repo = await Repository.find(dir);
  const data = path.join(dir, 'ckpt');
  await writeCheckpointDir(data, `${label}-${seed}`, 12, prng(seed), 512 << 10, 900 << 10);
  const added = await add({ repo, path: data, name: 'model', chunker: SMALL_CHUNKER });
  return { repo, data, chunks: added.chunks };
}

async function freshRepo(root: string, name: string): Promise<Repository> {
  const dir = path.join(root, name);
  await fs.mkdir(dir, { recursive: true });
  await init({ dir });
  return Repository.find(dir);
}

async function withRemote<T>(loc: { url: string; settings: Record<string, string> }, retry: RetryOptions, fn: (r: Remote) => Promise<T>): Promise<T> {
  const remote = await connect(loc, { retry });
  try {
    return await fn(remote);
  } finally {
    await remote.close();
  }
}

for (const target of targets) {
  test.serial(`${target.name} › a stalled request times out as a TransientError instead of hanging`, async (t) => {
    const srv = await target.start();
    try {
      await withRemote(srv.location(), { retries: 0 }, async (remote) => {
        srv.proxy.failNext(1, 'stall');
        await t.throwsAsync(() => remote.stat('chunks/00/' + '0'.repeat(64)), { instanceOf: TransientError });
        t.is(srv.proxy.injected, 1);
        t.is(await remote.stat('chunks/00/' + '0'.repeat(64)), null, 'the next request goes through');
      });
    } finally {
      await srv.stop();
    }
  });

  test.serial(`${target.name} › push and pull through seeded resets, 503s, stalls, throttling and cut responses give identical bytes and clean stores`, async (t) => {
    const root = await tempDir(`ckpt-net-${target.name}-`);
    const srv = await target.start();
    try {
      const { repo, data, chunks } = await checkpointRepo(root, target.name);
      t.true(chunks >= 60, `a multi-chunk checkpoint (${chunks} chunks)`);
      const loc = srv.location();
      let retries = 0;
      const retry = { ...PATIENT, onRetry: () => void retries++ };
      const b = await freshRepo(root, 'b');
      const out = path.join(b.root, 'out');
      // Both opened before the faults start (a driver may connect when opened); they reconnect as needed.
      const [up, down] = [await connect(loc, { retry }), await connect(loc, { retry })];
      srv.proxy.schedule(seed, srv.faultRate, ALL_MODES);
      const pushed = await push({ repo, target: 'model', remote: up }).finally(() => up.close());
      t.is(pushed.chunksTotal, chunks);
      const pulled = await pull({ repo: b, target: 'model', remote: down, to: out }).finally(() => down.close());
      t.is(pulled.manifest, pushed.manifest);
      t.is(pulled.chunksDownloaded, chunks);
      t.log(`seed ${seed} (CKPTSYNC_NETWORK_SEED=${seed} replays it): ${srv.proxy.injected} faults injected, ${retries} retries`);
      t.true(srv.proxy.injected > 0, 'faults were injected');

      srv.proxy.schedule(seed, 0, []); // the checks below look at what was stored, through a clean line
      t.true(await sameTree(data, out), 'the pulled files are byte-identical');
      const remoteCheck = await withRemote(loc, PATIENT, (remote) => verify({ repo: b, remote, deep: true }));
      t.deepEqual(remoteCheck.problems, [], 'no missing or corrupt object on the remote');
      t.true(remoteCheck.chunks >= chunks, `every chunk was read back and hashed (${remoteCheck.chunks})`);
      for (const r of [repo, b]) t.deepEqual((await verify({ repo: r })).problems, [], `the local store of ${r.root} verifies clean`);
      t.deepEqual(await tempFilesIn(repo.root, b.root), [], 'no temp files left locally');
    } finally {
      await srv.stop();
    }
  });

  test.serial(`${target.name} › a push that runs out of retries midway does not re-send on its rerun the chunks it uploaded`, async (t) => {
    const root = await tempDir(`ckpt-net-resume-${target.name}-`);
    const srv = await target.start();
    try {
      const { repo, chunks } = await checkpointRepo(root, `${target.name}-resume`);
      const loc = srv.location();
      const cutAt = Math.floor(chunks / 3);
      let moved = 0;
      const err = await t.throwsAsync(() =>
        withRemote(loc, { retries: 2, baseDelayMs: 10 }, (remote) =>
          push({
            repo,
            target: 'model',
            remote,
            onProgress: (p) => {
              moved = p.objectsMoved;
              // From here on every connection is reset: the retries run out and the push fails.
              if (moved === cutAt) srv.proxy.failNext(1_000_000, 'reset');
            },
          }),
        ),
      );
      t.true(err instanceof TransientError, `the failure is transient: ${err?.constructor.name}: ${err?.message}`);
      t.true(moved >= cutAt && moved < chunks, `the push stopped midway (${moved} of ${chunks} uploaded)`);

      srv.proxy.failNext(0);
      srv.proxy.schedule(seed, srv.faultRate / 2, ALL_MODES);
      const rerun = await withRemote(loc, PATIENT, (remote) => push({ repo, target: 'model', remote }));
      t.log(`seed ${seed}: first push uploaded ${moved} of ${chunks} chunks; the rerun uploaded ${rerun.chunksUploaded}; ${srv.proxy.injected} faults injected`);
      t.is(rerun.chunksTotal, chunks);
      t.true(rerun.chunksUploaded <= chunks - moved, `the rerun sent only what was missing (${rerun.chunksUploaded} <= ${chunks} - ${moved})`);
      t.true(rerun.changed);

      srv.proxy.schedule(seed, 0, []);
      const b = await freshRepo(root, 'b');
      const check = await withRemote(loc, PATIENT, (remote) => verify({ repo: b, remote, deep: true }));
      t.deepEqual(check.problems, [], 'the remote holds every chunk, none corrupt');
      t.is(check.names, 1);
    } finally {
      await srv.stop();
    }
  });
}
