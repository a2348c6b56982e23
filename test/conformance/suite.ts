// The one conformance suite every remote driver runs against a live server (STYLE.md, "Remotes").
// A driver's test file names its server and its quirks as data; this file never asks which driver it is.

import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { ExecutionContext, TestFn } from 'ava';
import { AuthError, IntegrityError, NotFoundError, RefConflictError, TransientError } from '../../src/errors.js';
import { fileRangeSource, bufferSource, readAll } from '../../src/remote/source.js';
import { withRetry } from '../../src/remote/retry.js';
import { keyOf } from '../../src/remote/layout.js';
import { moveRemoteRef, readRemoteRef } from '../../src/sync/refs.js';
import { DOCUMENT_MAX_BYTES, type Remote } from '../../src/remote/types.js';

export interface ConformanceTarget {
  /**
   * Opens a fresh, empty remote (a new random prefix each call) on the live server; given `sameAs`,
   * opens a second, independent connection to the same location as that remote.
   */
  open(sameAs?: Remote): Promise<Remote>;
  /**
   * Opens a remote whose location does not exist (a missing directory or bucket). It may instead reject
   * with NotFoundError, for a driver that looks its location up when opening.
   */
  openMissing(): Promise<Remote>;
  /** Opens the same server with wrong credentials (absent only when `notApplicable.badCredentials` says why). */
  openWithBadCredentials?: () => Promise<Remote>;
  /**
   * Makes the server (or a proxy in front of it) fail the next `count` requests or connections
   * transiently (5xx or connection reset); absent only when `notApplicable.transientFailures` says why.
   */
  injectTransientFailures?: (count: number) => Promise<void>;
  /** Size of the large-object test; at least 64 MiB. */
  largeObjectBytes?: number;
  /** Keys put in the pagination test; more than the backend's page size. */
  paginationKeys?: number;
}

export interface ConformanceOptions {
  /** Shown in test titles, e.g. "s3". */
  name: string;
  /** Starts the live server once for the whole file; returns the target and a stop function. */
  start(): Promise<{ target: ConformanceTarget; stop(): Promise<void> }>;
  /**
   * Scenarios this driver or server cannot run, each with the reason. They are declared as skipped, the
   * reason in the title (tests are declared before any server starts, so this is data, not a probe); a
   * scenario not named here runs and fails if the target cannot do what it needs.
   */
  notApplicable?: {
    /** The driver has no readInto (an optional method of Remote). */
    readInto?: string;
    badCredentials?: string;
    transientFailures?: string;
  };
  /**
   * The first put into a missing location creates it (a directory). False where the location is a bucket,
   * which its owner creates, never ckptsync.
   */
  putCreatesLocation: boolean;
}

const sha = (b: Buffer) => crypto.createHash('sha256').update(b).digest('hex');
const fakeHash = (i: number | string) => crypto.createHash('sha256').update(`chunk-${i}-${Math.random()}`).digest('hex');

async function getBuffer(remote: Remote, key: string, range?: { offset: number; length: number }): Promise<Buffer> {
  return readAll(await remote.get(key, range));
}

export function runRemoteConformance(test: TestFn, options: ConformanceOptions): void {
  let target: ConformanceTarget;
  let stop: (() => Promise<void>) | undefined;
  const opened: Remote[] = [];
  const open = async (sameAs?: Remote) => {
    const r = await target.open(sameAs);
    opened.push(r);
    return r;
  };
  const t = (title: string) => `${options.name} › ${title}`;
  /** Registers a scenario, or declares it skipped with the reason the driver's test file gives. */
  const scenario = (title: string, why: string | undefined, body: (tt: ExecutionContext) => Promise<void>) =>
    why ? test.serial.skip(t(`${title} (not applicable: ${why})`), body) : test.serial(t(title), body);

  test.before(async () => {
    ({ target, stop } = await options.start());
  });
  test.after.always(async () => {
    await Promise.allSettled(opened.map((r) => r.close()));
    await stop?.();
  });

  test.serial(t('put then get returns the same bytes, also for an empty object'), async (tt) => {
    const r = await open();
    const data = crypto.randomBytes(100_000);
    const key = keyOf({ kind: 'chunk', name: fakeHash(1) });
    await r.put(key, bufferSource(data));
    tt.is(sha(await getBuffer(r, key)), sha(data));
    tt.deepEqual((await r.stat(key))?.size, data.length);
    const empty = keyOf({ kind: 'chunk', name: fakeHash(2) });
    await r.put(empty, bufferSource(Buffer.alloc(0)));
    tt.is((await getBuffer(r, empty)).length, 0);
    tt.is((await r.stat(empty))?.size, 0);
  });

  {
    scenario('readInto returns the whole object, fills a smaller buffer, gives 0 for an empty object and NotFoundError for a missing key', options.notApplicable?.readInto, async (tt) => {
      const r = await open();
      if (typeof r.readInto !== 'function') return tt.fail('the driver has no readInto and its test file does not say why (notApplicable.readInto)');
      const data = crypto.randomBytes(1_000_003); // several of any driver's read requests, the last one short
      const key = keyOf({ kind: 'chunk', name: fakeHash('ri') });
      await r.put(key, bufferSource(data));
      const big = Buffer.alloc(2 << 20, 0xaa);
      tt.is(await r.readInto!(key, big), data.length);
      tt.true(big.subarray(0, data.length).equals(data));
      tt.is(big[data.length], 0xaa, 'nothing is written past the object');
      const small = Buffer.alloc(300_001);
      tt.is(await r.readInto!(key, small), small.length);
      tt.true(small.equals(data.subarray(0, small.length)));
      const empty = keyOf({ kind: 'chunk', name: fakeHash('ri-empty') });
      await r.put(empty, bufferSource(Buffer.alloc(0)));
      tt.is(await r.readInto!(empty, Buffer.alloc(4096)), 0);
      await tt.throwsAsync(() => r.readInto!(keyOf({ kind: 'chunk', name: fakeHash('ri-missing') }), Buffer.alloc(4096)), { instanceOf: NotFoundError });
    });
  }

  test.serial(t('byte-range get returns exactly the range'), async (tt) => {
    const r = await open();
    const data = crypto.randomBytes(300_000);
    const key = keyOf({ kind: 'chunk', name: fakeHash(3) });
    await r.put(key, bufferSource(data));
    for (const [offset, length] of [[0, 1], [1234, 56_789], [299_999, 1], [100_000, 200_000]] as const) {
      tt.true((await getBuffer(r, key, { offset, length })).equals(data.subarray(offset, offset + length)), `range ${offset}+${length}`);
    }
  });

  test.serial(t('putting the same content twice is harmless'), async (tt) => {
    const r = await open();
    const data = crypto.randomBytes(5000);
    const key = keyOf({ kind: 'manifest', name: fakeHash(4) });
    await r.put(key, bufferSource(data));
    await r.put(key, bufferSource(data));
    tt.true((await getBuffer(r, key)).equals(data));
    const listed = [];
    for await (const o of r.list('manifests/')) listed.push(o.key);
    tt.deepEqual(listed, [key]);
  });

  test.serial(t('a missing key gives NotFoundError on get and null on stat and readDocument'), async (tt) => {
    const r = await open();
    const key = keyOf({ kind: 'chunk', name: fakeHash(5) });
    await tt.throwsAsync(() => r.get(key), { instanceOf: NotFoundError });
    tt.is(await r.stat(key), null);
    tt.is(await r.readDocument(keyOf({ kind: 'ref', name: 'no/such/name' })), null);
  });

  test.serial(t('exists() is false for a missing location, asking creates nothing, and a remote holding objects exists'), async (tt) => {
    let missing: Remote | null = null;
    try {
      missing = await target.openMissing();
      opened.push(missing);
    } catch (e) {
      tt.true(e instanceof NotFoundError, `opening a missing location may only fail as not found: ${String(e)}`);
    }
    if (missing) {
      tt.false(await missing.exists(), 'a missing location does not exist');
      tt.false(await missing.exists(), 'and asking did not create it');
      // Reading it finds nothing, or fails as not found (a missing bucket); either way it creates nothing.
      const orNotFound = async <T>(p: Promise<T>, empty: T) =>
        p.catch((e) => {
          tt.true(e instanceof NotFoundError, `reading a missing location may only fail as not found: ${String(e)}`);
          return empty;
        });
      const listed = await orNotFound(
        (async () => {
          const keys: string[] = [];
          for await (const o of missing.list('refs/')) keys.push(o.key);
          return keys;
        })(),
        [],
      );
      tt.deepEqual(listed, [], 'it lists as empty');
      tt.is(await orNotFound(missing.readDocument(keyOf({ kind: 'ref', name: 'no/such' })), null), null);
      tt.false(await missing.exists(), 'reading created nothing');
      if (options.putCreatesLocation) {
        const key = keyOf({ kind: 'chunk', name: fakeHash('creates') });
        await missing.put(key, bufferSource(Buffer.from('first')));
        tt.true(await missing.exists(), 'the first put created the location');
        tt.is((await getBuffer(missing, key)).toString(), 'first');
      }
    }
    const r = await open();
    await r.put(keyOf({ kind: 'chunk', name: fakeHash('exists') }), bufferSource(Buffer.from('x')));
    tt.true(await r.exists(), 'a remote holding an object exists');
  });

  test.serial(t('a document larger than DOCUMENT_MAX_BYTES is refused with IntegrityError, not returned'), async (tt) => {
    const r = await open();
    const key = keyOf({ kind: 'ref', name: 'huge' });
    tt.truthy(await r.swapDocument(key, Buffer.alloc(DOCUMENT_MAX_BYTES + 1, 0x20), null), 'written as a document');
    await tt.throwsAsync(() => r.readDocument(key), { instanceOf: IntegrityError });
    await r.delete(key);
  });

  test.serial(t('delete removes an object; deleting a missing key is not an error'), async (tt) => {
    const r = await open();
    const key = keyOf({ kind: 'chunk', name: fakeHash(6) });
    await r.put(key, bufferSource(Buffer.from('x')));
    await r.delete(key);
    tt.is(await r.stat(key), null);
    await tt.notThrowsAsync(() => r.delete(key));
  });

  test.serial(t('listing follows pagination past 1,000 keys and honours the prefix'), async (tt) => {
    const r = await open();
    const n = target.paginationKeys ?? 1100;
    const keys = Array.from({ length: n }, (_, i) => keyOf({ kind: 'chunk', name: fakeHash(`p${i}`) }));
    await pool(keys, 32, (k) => r.put(k, bufferSource(Buffer.from(k))));
    await r.put(keyOf({ kind: 'manifest', name: fakeHash('other') }), bufferSource(Buffer.from('m')));
    const listed = new Map<string, number>();
    for await (const o of r.list('chunks/')) listed.set(o.key, o.size);
    tt.is(listed.size, n);
    tt.true(keys.every((k) => listed.get(k) === Buffer.byteLength(k)));
    const sub = keys[0]!.slice(0, 'chunks/ab/'.length);
    const subListed: string[] = [];
    for await (const o of r.list(sub)) subListed.push(o.key);
    tt.deepEqual(subListed.sort(), keys.filter((k) => k.startsWith(sub)).sort());
  });

  test.serial(t('existence checks in batches tell present from missing keys'), async (tt) => {
    const r = await open();
    const keys = Array.from({ length: 200 }, (_, i) => keyOf({ kind: 'chunk', name: fakeHash(`e${i}`) }));
    const present = new Set(keys.filter((_, i) => i % 3 === 0));
    await pool([...present], 16, (k) => r.put(k, bufferSource(Buffer.from('e'))));
    const found = await pool(keys, 32, async (k) => (await r.stat(k)) !== null);
    tt.deepEqual(found, keys.map((k) => present.has(k)));
  });

  test.serial(t('many concurrent puts all land intact'), async (tt) => {
    const r = await open();
    const items = Array.from({ length: 64 }, (_, i) => ({ key: keyOf({ kind: 'chunk', name: fakeHash(`c${i}`) }), data: crypto.randomBytes(50_000 + i) }));
    await Promise.all(items.map((it) => r.put(it.key, bufferSource(it.data))));
    const back = await pool(items, 16, async (it) => sha(await getBuffer(r, it.key)) === sha(it.data));
    tt.true(back.every(Boolean));
  });

  test.serial(t('objects of 64 MiB and more round-trip, streamed from a file, with ranged reads'), async (tt) => {
    const r = await open();
    const size = Math.max(64 << 20, target.largeObjectBytes ?? 64 << 20);
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-conf-'));
    try {
      const file = path.join(dir, 'big');
      const data = crypto.randomBytes(size);
      await fs.writeFile(file, data);
      const key = keyOf({ kind: 'chunk', name: fakeHash('big') });
      await r.put(key, fileRangeSource(file, 0, size));
      tt.is((await r.stat(key))?.size, size);
      const h = crypto.createHash('sha256');
      for await (const part of await r.get(key)) h.update(part as Buffer);
      tt.is(h.digest('hex'), sha(data));
      const off = size - (3 << 20) - 17;
      tt.true((await getBuffer(r, key, { offset: off, length: 2 << 20 })).equals(data.subarray(off, off + (2 << 20))));
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  test.serial(t('a range of a file is uploaded as just those bytes, from its start or from within it'), async (tt) => {
    const r = await open();
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-conf-'));
    try {
      const file = path.join(dir, 'f');
      const data = crypto.randomBytes(300_000);
      await fs.writeFile(file, data);
      for (const [offset, length] of [[0, 200_000], [1000, 250_000], [0, data.length]] as const) {
        const key = keyOf({ kind: 'chunk', name: fakeHash(`range-${offset}-${length}`) });
        await r.put(key, fileRangeSource(file, offset, length));
        tt.true((await getBuffer(r, key)).equals(data.subarray(offset, offset + length)), `${length} bytes from ${offset}`);
      }
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });

  test.serial(t('swapDocument is compare-and-swap: one of many racing writers wins'), async (tt) => {
    const r = await open();
    const key = keyOf({ kind: 'ref', name: 'cas/doc' });
    tt.truthy(await r.swapDocument(key, Buffer.from('v0'), null));
    tt.is(await r.swapDocument(key, Buffer.from('again'), null), null, 'create-only swap must fail when the document exists');
    const v0 = (await r.readDocument(key))!;
    tt.is(v0.data.toString(), 'v0');
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => r.swapDocument(key, Buffer.from(`w${i}`), v0.version)));
    const winners = results.filter((v) => v !== null);
    tt.is(winners.length, 1);
    const now = (await r.readDocument(key))!;
    tt.is(now.data.toString(), `w${results.findIndex((v) => v !== null)}`);
    tt.is(await r.swapDocument(key, Buffer.from('stale'), v0.version), null);
    tt.truthy(await r.swapDocument(key, Buffer.from('next'), now.version));
  });

  test.serial(t('two writers racing to move a name: both kept in history, one current, the other told'), async (tt) => {
    const shared = await open();
    const other = await open(shared);
    const base = fakeHash('base');
    await moveRemoteRef(shared, 'race/model', base, { expected: null });
    const [ta, tb] = [fakeHash('A'), fakeHash('B')];
    const outcomes = await Promise.allSettled([
      moveRemoteRef(shared, 'race/model', ta, { expected: base }),
      moveRemoteRef(other, 'race/model', tb, { expected: base }),
    ]);
    const rejected = outcomes.filter((o) => o.status === 'rejected');
    tt.is(rejected.length, 1, 'exactly one writer is told its update is not current');
    tt.true((rejected[0] as PromiseRejectedResult).reason instanceof RefConflictError);
    const doc = (await readRemoteRef(shared, 'race/model'))!.doc;
    const targets = doc.history.map((h) => h.target);
    tt.true(targets.includes(ta) && targets.includes(tb), 'both updates are in the history');
    tt.is(doc.target, outcomes[0]!.status === 'fulfilled' ? ta : tb);
  });

  test.serial(t('a name move whose answer was lost is retried and still reported as a move'), async (tt) => {
    const r = await open();
    const base = fakeHash('lost-base');
    await moveRemoteRef(r, 'lost/model', base, { expected: null });
    // The swap lands on the server, then its answer is lost (a reset after the write): the retry finds
    // the document changed under it, and moveRemoteRef must see that the change is its own.
    let lost = 0;
    const answerLost = {
      displayUrl: r.displayUrl,
      features: r.features,
      readDocument: (key: string) => r.readDocument(key),
      swapDocument: async (key: string, data: Buffer, expected: string | null) => {
        const version = await r.swapDocument(key, data, expected);
        if (lost++ === 0) throw new TransientError('connection reset after the write');
        return version;
      },
    } as Remote;
    const next = fakeHash('lost-next');
    const moved = await moveRemoteRef(withRetry(answerLost, { baseDelayMs: 1 }), 'lost/model', next, { expected: base });
    tt.is(lost, 2, 'the swap was sent again after the lost answer');
    tt.true(moved.changed, 'the name moved during this call');
    const doc = (await readRemoteRef(r, 'lost/model'))!.doc;
    tt.is(doc.target, next);
    tt.deepEqual(doc.history.map((h) => h.target), [base, next], 'written once, no conflict entry');
  });

  scenario('bad credentials give AuthError at once, not a retry loop', options.notApplicable?.badCredentials, async (tt) => {
    const bad = target.openWithBadCredentials;
    if (!bad) return tt.fail('the target gives no openWithBadCredentials and the test file does not say why (notApplicable.badCredentials)');
    let retries = 0;
    const err = await tt.throwsAsync(async () => {
      const r = withRetry(await bad(), { onRetry: () => retries++ });
      opened.push(r);
      await r.put(keyOf({ kind: 'chunk', name: fakeHash('auth') }), bufferSource(Buffer.from('x')));
    });
    tt.true(err instanceof AuthError, `expected AuthError, got ${err?.constructor.name}: ${err?.message}`);
    tt.is(retries, 0); // the event that matters: no retry loop (a time bound would fail on a loaded machine)
  });

  scenario('transient failures are retried with backoff and then succeed', options.notApplicable?.transientFailures, async (tt) => {
    const inject = target.injectTransientFailures;
    if (!inject) return tt.fail('the target gives no injectTransientFailures and the test file does not say why (notApplicable.transientFailures)');
    let retries = 0;
    const r = withRetry(await open(), { baseDelayMs: 20, onRetry: () => retries++ });
    const data = crypto.randomBytes(200_000);
    const key = keyOf({ kind: 'chunk', name: fakeHash('flaky') });
    await inject(2);
    await r.put(key, bufferSource(data));
    await inject(2);
    tt.true((await getBuffer(r, key)).equals(data));
    await inject(1);
    tt.is((await r.stat(key))?.size, data.length);
    tt.true(retries >= 3, `retried ${retries} times`);
  });
}

/** Runs fn over items with at most `limit` in flight; results in input order. */
export async function pool<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, items.length) }, async () => {
      while (next < items.length) {
        const i = next++;
        out[i] = await fn(items[i]!);
      }
    }),
  );
  return out;
}
