import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import test from 'ava';
import { runRemoteConformance } from '../conformance/suite.js';
import { startB2Emulator, type B2Emulator } from '../servers/b2.js';
import b2Remote from '../../remotes/b2/index.js';
import { resolveChain, swapAccepted } from '../../remotes/b2/chain.js';
import { bufferSource, fileRangeSource, readAll } from '../../src/remote/source.js';
import { withRetry } from '../../src/remote/retry.js';
import type { Remote } from '../../src/remote/types.js';

// One emulator for the whole file. Its list pages hold at most 250 names (B2: 10,000) so that the
// 1,100-key pagination test turns several pages; parts may be 64 KiB so the large-file test is quick.
let emu: B2Emulator;
let n = 0;
const run = `run-${crypto.randomBytes(3).toString('hex')}`;
const urls = new Map<Remote, string>();
const settingsFor = (e: B2Emulator, extra: Record<string, string> = {}) => ({ applicationKeyId: e.keyId, applicationKey: e.key, apiUrl: e.url, ...extra });
async function openAt(url: string, extra: Record<string, string> = {}): Promise<Remote> {
  const r = await b2Remote.create(b2Remote.parse(url, settingsFor(emu, extra)));
  urls.set(r, url);
  return r;
}
const freshUrl = () => `b2://${emu.bucketName}/${run}/r${n++}`;
const nameIn = (r: Remote, key: string) => `${urls.get(r)!.replace(/^b2:\/\/[^/]+\//, '')}/${key}`;

runRemoteConformance(test, {
  name: 'b2',
  putCreatesLocation: false, // a bucket is made by its owner
  async start() {
    emu = await startB2Emulator({ maxPageSize: 250, minPartSize: 64 << 10 });
    return {
      target: {
        open: (sameAs) => openAt(sameAs ? urls.get(sameAs)! : freshUrl()),
        openMissing: () => openAt(`b2://ckpt-no-such-bucket/${run}/r${n++}`),
        openWithBadCredentials: () => b2Remote.create(b2Remote.parse(freshUrl(), { ...settingsFor(emu), applicationKey: 'K00wrong' })),
        // The emulator answers 503 service_unavailable to the next requests, whatever they are.
        injectTransientFailures: async (count) => emu.faults.failNext(count),
      },
      stop: () => emu.stop(),
    };
  },
});

const key = (s: string) => `chunks/${crypto.createHash('sha256').update(s + Math.random()).digest('hex').slice(0, 2)}/${crypto.createHash('sha256').update(s + Math.random()).digest('hex')}`;

test.serial('b2 › an expired account token is renewed once and the calls go on', async (t) => {
  const r = await openAt(freshUrl());
  const k = key('exp');
  await r.put(k, bufferSource(Buffer.from('before')));
  const before = emu.stats.authorizations;
  emu.faults.expireTokens(); // the account token and the pooled upload URL's token
  await Promise.all([r.put(key('exp2'), bufferSource(Buffer.from('after'))), r.stat(k), readAll(await r.get(k))]);
  t.is((await readAll(await r.get(k))).toString(), 'before');
  t.is(emu.stats.authorizations - before, 1, 'concurrent callers share one re-authorization');
  await r.close();
});

test.serial('b2 › a busy upload URL is replaced by a fresh one inside the driver', async (t) => {
  const r = await openAt(freshUrl());
  await r.put(key('warm'), bufferSource(Buffer.from('warm')));
  const urlsBefore = emu.stats.uploadUrls;
  emu.faults.busyUploads(2);
  const k = key('busy');
  await r.put(k, bufferSource(crypto.randomBytes(1000))); // no retry wrapper: the driver retries
  t.is((await r.stat(k))?.size, 1000);
  t.is(emu.stats.uploadUrls - urlsBefore, 2, 'each busy URL is thrown away for a new one');
  t.is(emu.stats.uploadUrlSharing, 0, 'an upload URL is never used by two uploads at once');
  await r.close();
});

test.serial('b2 › 429 is retried after the Retry-After the server asks for', async (t) => {
  const r = await openAt(freshUrl());
  const delays: number[] = [];
  const wrapped = withRetry(r, { onRetry: (i) => delays.push(i.delayMs) });
  emu.faults.tooManyRequests(1, 1);
  t.is(await wrapped.stat(key('429')), null);
  // The event: one retry, scheduled after the 1 s the server asked for (not the wrapper's own backoff).
  t.deepEqual(delays, [1000]);
  await r.close();
});

test.serial('b2 › large files go up in parts, and a failed one is cancelled', async (t) => {
  const r = await openAt(freshUrl(), { largeFileThreshold: '256K', partSize: '64K', partConcurrency: '3' });
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-b2-'));
  try {
    const data = crypto.randomBytes(1_000_003);
    await fs.writeFile(path.join(dir, 'f'), data);
    const k = key('large');
    const finished = emu.stats.largeFinished;
    emu.faults.busyUploads(1); // one part gets a new part URL
    await r.put(k, fileRangeSource(path.join(dir, 'f'), 0, data.length));
    t.is(emu.stats.largeFinished - finished, 1);
    t.true((await readAll(await r.get(k))).equals(data));
    t.true((await readAll(await r.get(k, { offset: 70_000, length: 200_000 }))).equals(data.subarray(70_000, 270_000)));
    // A source that breaks after two parts: the large file is cancelled, nothing is visible.
    const cancelled = emu.stats.largeCancelled;
    const broken = {
      size: 500_000,
      open: () => Readable.from((async function* () {
        yield crypto.randomBytes(150_000);
        throw new Error('disk gone');
      })()),
    };
    const k2 = key('broken');
    await t.throwsAsync(() => r.put(k2, broken), { message: /disk gone/ });
    t.is(emu.stats.largeCancelled - cancelled, 1);
    t.is(await r.stat(k2), null);
    t.is(emu.stats.uploadUrlSharing, 0);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
    await r.close();
  }
});

test.serial('b2 › delete removes every version, also of a swapped document', async (t) => {
  const r = await openAt(freshUrl());
  const k = key('versions');
  for (const v of ['a', 'bb', 'ccc']) await r.put(k, bufferSource(Buffer.from(v)));
  t.is(emu.versionsOf(nameIn(r, k)).length, 3);
  t.is((await r.stat(k))?.size, 3, 'the newest version is the object');
  await r.delete(k);
  t.is(emu.versionsOf(nameIn(r, k)).length, 0);
  t.is(await r.stat(k), null);

  const doc = 'refs/some/doc.ref';
  const v1 = await r.swapDocument(doc, Buffer.from('one'), null);
  const v2 = await r.swapDocument(doc, Buffer.from('two'), v1);
  t.truthy(v2);
  t.is(await r.swapDocument(doc, Buffer.from('late'), v1), null);
  t.is(emu.versionsOf(nameIn(r, doc)).length, 2, 'the losing version was removed');
  await r.delete(doc);
  t.is(await r.readDocument(doc), null);
  t.truthy(await r.swapDocument(doc, Buffer.from('again'), null), 'a deleted document can be created again');
  await r.close();
});

test('b2 › the document chain accepts the first version naming each accepted one, whatever came later', (t) => {
  let ts = 0;
  const v = (fileId: string, prev: string) => ({ fileId, fileName: 'd', action: 'upload' as const, contentLength: 1, fileInfo: { 'ckpt-prev': prev, 'ckpt-swap': fileId }, uploadTimestamp: ts++ });
  // a and x both create; b and y both follow a; z follows the rejected x; c follows b.
  const versions = [v('a', 'none'), v('x', 'none'), v('b', 'a'), v('z', 'x'), v('y', 'a'), v('c', 'b')];
  const chain = resolveChain(versions);
  t.deepEqual(chain.accepted.map((f) => f.fileId), ['a', 'b', 'c']);
  t.is(chain.head?.fileId, 'c');
  t.is(swapAccepted(chain, 'y'), null);
  // Removing rejected versions changes nothing; an empty listing has no document.
  t.deepEqual(resolveChain(versions.filter((f) => !'xyz'.includes(f.fileId))).accepted.map((f) => f.fileId), ['a', 'b', 'c']);
  t.is(resolveChain([]).head, null);
});
