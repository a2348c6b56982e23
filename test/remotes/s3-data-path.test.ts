// The S3 driver's own data path (remotes/s3/data-path.ts) against a small S3 stand-in on 127.0.0.1 that
// checks every request's SigV4 signature with the AWS SDK's signer (s3rver does not check V4
// signatures) and answers with S3's error documents on demand.

import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import type { S3Client } from '@aws-sdk/client-s3';
import s3Remote from '../../remotes/s3/index.js';
import { S3DataPath, objectBaseUrl } from '../../remotes/s3/data-path.js';
import { smithySigner } from './smithy-signer.js';
import { AuthError, NotFoundError, TransientError, bufferSource, readAll, type Remote } from '../../src/remote/index.js';

const creds = { accessKeyId: 'AKIDDATAPATHTEST', secretAccessKey: 'data-path-secret-never-printed', sessionToken: 'session/token+abc=' };
const object = crypto.randomBytes(300_000);

const smithy = smithySigner(creds, 'us-east-1');

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  signatureOk: boolean;
}

/** Recomputes the request's signature with the SDK's signer from the signed headers as they arrived. */
async function verify(req: http.IncomingMessage): Promise<boolean> {
  const auth = String(req.headers.authorization ?? '');
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/\d{8}\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]{64})$/.exec(auth);
  if (!m || m[1] !== creds.accessKeyId) return false;
  const headers: Record<string, string> = {};
  for (const h of m[3]!.split(';')) headers[h] = String(req.headers[h] ?? '');
  const when = String(req.headers['x-amz-date']).replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z');
  const [hostname, port] = headers.host!.split(':');
  const signed = await smithy.sign(
    { method: req.method!, protocol: 'http:', hostname: hostname!, port: Number(port), path: req.url!, query: {}, headers },
    { signingDate: new Date(when), signingRegion: m[2] },
  );
  return String(signed.headers.authorization).endsWith(`Signature=${m[4]}`);
}

const errorXml = (code: string, message: string) => `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>1</RequestId></Error>`;

async function startStandIn() {
  const seen: Seen[] = [];
  const server = http.createServer(async (req, res) => {
    const body = await readAll(req);
    seen.push({ method: req.method!, url: req.url!, headers: req.headers, signatureOk: await verify(req) });
    const name = req.url!.split('/').pop();
    const xml = (status: number, code: string, message: string, headers: Record<string, string> = {}) => {
      const body = errorXml(code, message);
      res.writeHead(status, { 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body), ...headers }).end(body);
    };
    if (name === 'missing') return xml(404, 'NoSuchKey', 'The specified key does not exist.');
    if (name === 'denied') return xml(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided.');
    if (name === 'busy') return xml(503, 'SlowDown', 'Please reduce your request rate.', { 'retry-after': '2' });
    if (name === 'stall') return void res.writeHead(200, { 'content-length': 1000 }).write('x'); // then silence
    if (req.method === 'PUT') {
      const answer = String(body.length === Number(req.headers['content-length']));
      return res.writeHead(200, { etag: '"x"', 'content-length': answer.length }).end(answer);
    }
    const range = /^bytes=(\d+)-(\d+)$/.exec(String(req.headers.range ?? ''));
    if (range) return res.writeHead(206).end(object.subarray(Number(range[1]), Number(range[2]) + 1));
    res.writeHead(200, { 'content-length': object.length }).end(object);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { seen, endpoint, stop: () => new Promise<void>((resolve) => (server.close(() => resolve()), server.closeAllConnections())) };
}

const open = (endpoint: string, extra: Record<string, string> = {}): Promise<Remote> =>
  s3Remote.create(s3Remote.parse('s3://bkt/some prefix', { endpoint, region: 'us-east-1', ...creds, ...extra }));

/** Runs `fn` with a fresh stand-in and the driver opened on it (settings `extra`), closing both after. */
async function onStandIn(extra: Record<string, string>, fn: (s: Awaited<ReturnType<typeof startStandIn>>, r: Remote) => Promise<void>): Promise<void> {
  const s = await startStandIn();
  const r = await open(s.endpoint, extra);
  try {
    await fn(s, r);
  } finally {
    await r.close();
    await s.stop();
  }
}

test('s3 data path › get, ranged get, readInto and put carry a SigV4 signature the SDK signer reproduces, with the session token and no SDK headers', async (t) => {
  await onStandIn({}, async (s, r) => {
    t.true((await readAll(await r.get('chunks/ab/ok'))).equals(object));
    t.true((await readAll(await r.get('chunks/ab/ok', { offset: 1000, length: 5000 }))).equals(object.subarray(1000, 6000)));
    const buf = Buffer.alloc(1 << 20);
    t.is(await r.readInto!('chunks/ab/ok', buf), object.length);
    t.true(buf.subarray(0, object.length).equals(object));
    await r.put('chunks/ab/up', bufferSource(object));
    t.is(s.seen.length, 4);
    for (const q of s.seen) {
      t.true(q.signatureOk, `${q.method} ${q.url}: ${q.headers.authorization}`);
      t.is(q.headers['x-amz-security-token'], creds.sessionToken);
      t.is(q.headers['amz-sdk-invocation-id'], undefined, 'not sent through the SDK');
    }
    t.is(s.seen[0]!.url, '/bkt/some%20prefix/chunks/ab/ok', 'path style, each segment encoded');
    t.is(s.seen[1]!.headers.range, 'bytes=1000-5999');
    t.is(s.seen[3]!.headers['x-amz-content-sha256'], 'UNSIGNED-PAYLOAD');
    t.is(s.seen[3]!.headers['content-length'], String(object.length));
  });
});

test('s3 data path › sdkData=true (or CKPTSYNC_S3_SDK_DATA=1) sends chunk requests through the SDK instead', async (t) => {
  await onStandIn({ sdkData: 'true' }, async (s, r) => {
    t.true((await readAll(await r.get('chunks/ab/ok'))).equals(object));
    t.truthy(s.seen[0]!.headers['amz-sdk-invocation-id']);
    process.env.CKPTSYNC_S3_SDK_DATA = '1';
    t.true(s3Remote.parse('s3://bkt/p', { endpoint: s.endpoint }).sdkData);
    delete process.env.CKPTSYNC_S3_SDK_DATA;
    t.false(s3Remote.parse('s3://bkt/p', { endpoint: s.endpoint }).sdkData);
  });
});

test('s3 data path › S3 error answers become typed errors: NoSuchKey → NotFoundError, SignatureDoesNotMatch → AuthError without the secret, SlowDown → TransientError with Retry-After', async (t) => {
  await onStandIn({}, async (s, r) => {
    for (const read of [(k: string) => r.get(k), (k: string) => r.readInto!(k, Buffer.alloc(1024)), (k: string) => r.put(k, bufferSource(object))]) {
      await t.throwsAsync(read('chunks/ab/missing'), { instanceOf: NotFoundError });
      const denied = await t.throwsAsync(read('chunks/ab/denied'), { instanceOf: AuthError });
      t.regex(denied!.message, /SignatureDoesNotMatch \(HTTP 403\): The request signature we calculated/);
      t.false(`${denied!.message} ${JSON.stringify((denied as AuthError).data)}`.includes(creds.secretAccessKey));
      const busy = await t.throwsAsync(read('chunks/ab/busy'), { instanceOf: TransientError });
      t.regex(busy!.message, /SlowDown/);
      t.is((busy as TransientError).retryAfterMs, 2000);
    }
  });
});

test('s3 data path › a body that stalls is dropped after timeoutSeconds as a TransientError (get and readInto)', async (t) => {
  await onStandIn({ timeoutSeconds: '1' }, async (s, r) => {
    await t.throwsAsync(readAll(await r.get('chunks/ab/stall')), { instanceOf: Error, message: /timeout|terminated|aborted/i });
    const err = await t.throwsAsync(r.readInto!('chunks/ab/stall', Buffer.alloc(4096)), { instanceOf: TransientError });
    t.regex(err!.message, /ETIMEDOUT/); // readInto on http:// runs on remotes/kit/http-into.ts
  });
});

test('s3 data path › a connection refused is a TransientError', async (t) => {
  const r = await open('http://127.0.0.1:9'); // the discard port: nothing listens
  try {
    await t.throwsAsync(r.get('chunks/ab/ok'), { instanceOf: TransientError });
    await t.throwsAsync(r.readInto!('chunks/ab/ok', Buffer.alloc(16)), { instanceOf: TransientError });
  } finally {
    await r.close();
  }
});

test('s3 data path › object URLs: custom endpoint path-style or virtual-hosted; AWS virtual-hosted for one-label bucket names, else path style', (t) => {
  t.deepEqual(objectBaseUrl({ endpoint: 'http://u:pw@127.0.0.1:9000/', pathStyle: true, bucket: 'b' }, 'x'), { origin: 'http://127.0.0.1:9000', base: '/b' });
  t.deepEqual(objectBaseUrl({ endpoint: 'https://minio.example/s3', pathStyle: true, bucket: 'b' }, 'x'), { origin: 'https://minio.example', base: '/s3/b' });
  t.deepEqual(objectBaseUrl({ endpoint: 'https://r2.example', pathStyle: false, bucket: 'b1' }, 'auto'), { origin: 'https://b1.r2.example', base: '' });
  t.deepEqual(objectBaseUrl({ pathStyle: false, bucket: 'my-bucket' }, 'eu-west-3'), { origin: 'https://my-bucket.s3.eu-west-3.amazonaws.com', base: '' });
  t.deepEqual(objectBaseUrl({ pathStyle: false, bucket: 'my.dotted.bucket' }, 'us-east-1'), { origin: 'https://s3.us-east-1.amazonaws.com', base: '/my.dotted.bucket' });
});

test('s3 data path › credentials are asked of the SDK once while they last, and again when they are about to expire', async (t) => {
  const s = await startStandIn();
  let asks = 0;
  let lifetimeMs = 30_000; // inside the refresh margin: the next request must ask again
  // The data path asks only client.config's credentials() and region(); a real S3Client's resolved
  // credentials() is wrapped in the SDK's own memoizing layer, which is not what is under test here.
  const client = {
    config: {
      region: async () => 'us-east-1',
      credentials: async () => {
        asks++;
        return { ...creds, expiration: new Date(Date.now() + lifetimeMs) };
      },
    },
  } as unknown as S3Client;
  const config = s3Remote.parse('s3://bkt/p', { endpoint: s.endpoint });
  const data = new S3DataPath(config, client, 's3://bkt/p');
  try {
    await readAll(await data.get('p/chunks/ab/ok', 'chunks/ab/ok'));
    lifetimeMs = 3_600_000;
    await readAll(await data.get('p/chunks/ab/ok', 'chunks/ab/ok'));
    await data.readInto('p/chunks/ab/ok', 'chunks/ab/ok', Buffer.alloc(1 << 20));
    await readAll(await data.get('p/chunks/ab/ok', 'chunks/ab/ok'));
    t.is(asks, 2, 'asked for the first request, again for the second (expiring), then never');
    t.true(s.seen.every((q) => q.signatureOk));
  } finally {
    await data.close();
    await s.stop();
  }
});
