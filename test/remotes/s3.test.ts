import { Readable } from 'node:stream';
import test from 'ava';
import { runRemoteConformance } from '../conformance/suite.js';
import { startFaultProxy, type FaultMode } from '../servers/faultproxy.js';
import { start, BUCKET } from '../servers/s3.js';
import type { LiveServer } from '../servers/types.js';
import s3Remote from '../../remotes/s3/index.js';
import { AuthError, TransientError, bufferSource, readAll, withRetry, type Remote } from '../../src/remote/index.js';

let server: LiveServer;
const urls = new Map<Remote, string>();
const closeLater: Remote[] = [];

runRemoteConformance(test, {
  name: 's3',
  putCreatesLocation: false, // a bucket is made by its owner
  async start() {
    server = await start();
    // Credentials come from the environment, as for a user (the AWS chain); the endpoint from settings.
    Object.assign(process.env, server.env);
    // Every remote talks through the fault proxy, so any of them can be made to fail on demand.
    const proxy = await startFaultProxy(server.port);
    const settings = { ...server.settings, endpoint: `http://127.0.0.1:${proxy.port}` };
    const openAt = async (url: string) => {
      const r = await s3Remote.create(s3Remote.parse(url, settings));
      urls.set(r, url);
      return r;
    };
    let injections = 0;
    return {
      target: {
        open: (sameAs) => openAt(sameAs ? urls.get(sameAs)! : server.newUrl()),
        openMissing: () => openAt(server.newUrl().replace(`s3://${BUCKET}/`, 's3://ckpt-no-such-bucket/')),
        // s3rver refuses any access key id but its own with InvalidAccessKeyId (HTTP 403).
        openWithBadCredentials: () =>
          s3Remote.create(s3Remote.parse(server.newUrl(), { ...settings, accessKeyId: 'AKIAWRONGKEY', secretAccessKey: 'wrong-secret-xyz' })),
        // Alternate HTTP 503 answers and connection resets, the two faults S3 clients meet in the wild.
        injectTransientFailures: async (count) => {
          const mode: FaultMode = injections++ % 2 === 0 ? 'http503' : 'reset';
          proxy.failNext(count, mode);
        },
      },
      stop: async () => {
        await Promise.allSettled(closeLater.map((r) => r.close()));
        await proxy.stop();
        await server.stop();
      },
    };
  },
});

test.serial('s3 › AWS_ENDPOINT_URL_S3 is honoured, ahead of AWS_ENDPOINT_URL; a setting wins over both', async (t) => {
  const saved = { s3: process.env.AWS_ENDPOINT_URL_S3, any: process.env.AWS_ENDPOINT_URL };
  try {
    const real = `http://127.0.0.1:${server.port}`;
    process.env.AWS_ENDPOINT_URL_S3 = real;
    process.env.AWS_ENDPOINT_URL = 'http://127.0.0.1:9'; // nothing listens on the discard port
    const config = s3Remote.parse(server.newUrl(), {});
    t.is(config.endpoint, real);
    t.true(config.pathStyle, 'a custom endpoint defaults to path-style addressing');
    const r = await s3Remote.create(config);
    closeLater.push(r);
    await r.put('manifests/env-check', bufferSource(Buffer.from('through the env endpoint')));
    t.is((await readAll(await r.get('manifests/env-check'))).toString(), 'through the env endpoint');

    delete process.env.AWS_ENDPOINT_URL_S3;
    t.is(s3Remote.parse(server.newUrl(), {}).endpoint, 'http://127.0.0.1:9');
    t.is(s3Remote.parse(server.newUrl(), { endpoint: real }).endpoint, real);
  } finally {
    for (const [k, v] of [['AWS_ENDPOINT_URL_S3', saved.s3], ['AWS_ENDPOINT_URL', saved.any]] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
});

test.serial('s3 › redact, displayUrl and auth errors never show secrets', async (t) => {
  const redacted = s3Remote.redact('s3://AKIAEXAMPLE:topsecret@bucket/p?X-Amz-Signature=deadbeef&X-Amz-Credential=AKIA/x');
  t.false(redacted.includes('topsecret'), redacted);
  t.false(redacted.includes('deadbeef'), redacted);
  t.throws(() => s3Remote.parse('s3://AKIAEXAMPLE:topsecret@bucket/p', {}), { message: /credentials/ });

  const secret = 'wrong-secret-do-not-print-42';
  const endpoint = `http://user:endpointpw@127.0.0.1:${server.port}`;
  const r = await s3Remote.create(s3Remote.parse(`s3://${BUCKET}/x`, { endpoint, accessKeyId: 'AKIANOSUCHKEY', secretAccessKey: secret }));
  closeLater.push(r);
  t.false(r.displayUrl.includes('endpointpw'), r.displayUrl);
  const err = await t.throwsAsync(() => r.put('chunks/ab/x', bufferSource(Buffer.from('x'))));
  t.true(err instanceof AuthError, `${err?.constructor.name}: ${err?.message}`);
  t.false(`${err?.message} ${JSON.stringify((err as AuthError).data)}`.includes(secret));
});

test.serial('s3 › against s3rver (no conditional writes) the lock-based compare-and-swap is used', async (t) => {
  const r = await s3Remote.create(s3Remote.parse(server.newUrl(), server.settings));
  closeLater.push(r);
  t.truthy(await r.swapDocument('refs/probe.ref', Buffer.from('a'), null));
  t.is(r.features.casMethod, 'bakery-lock');
  const listed = [];
  for await (const o of r.list('')) listed.push(o.key);
  t.deepEqual(listed, ['refs/probe.ref'], 'lock markers and probes are hidden and cleaned up');
});

test.serial('s3 › a multipart upload that fails midway is aborted, reported as transient, and retries cleanly', async (t) => {
  const proxy = await startFaultProxy(server.port);
  try {
    const settings = { ...server.settings, endpoint: `http://127.0.0.1:${proxy.port}`, multipartThreshold: '6MiB', partSize: '5MiB' };
    const r = await s3Remote.create(s3Remote.parse(server.newUrl(), settings));
    closeLater.push(r);
    const data = Buffer.alloc(12 << 20, 7);
    let opens = 0;
    // A replayable source whose first read breaks the connection once the first part is on its way.
    const source = {
      size: data.length,
      open: () =>
        Readable.from(
          (async function* () {
            const first = opens++ === 0;
            yield data.subarray(0, 5 << 20);
            if (first) proxy.failNext(1, 'reset');
            yield data.subarray(5 << 20);
          })(),
        ),
    };
    const key = 'chunks/ab/multipart-fault';
    const err = await t.throwsAsync(() => r.put(key, source));
    t.true(err instanceof TransientError, `${err?.constructor.name}: ${err?.message}`);
    t.is(await r.stat(key), null, 'no partial object is visible');
    await withRetry(r, { baseDelayMs: 10 }).put(key, source);
    t.true((await readAll(await r.get(key))).equals(data));
  } finally {
    await proxy.stop();
  }
});
