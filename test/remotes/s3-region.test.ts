// The S3 driver follows a region redirect, as the AWS SDK's followRegionRedirects does: a bucket that
// lives in another region than the one configured answers 301 PermanentRedirect with
// x-amz-bucket-region. The bucket here is s3rver's on 127.0.0.1, behind a small loopback proxy that
// plays S3's part: it answers 301 naming eu-west-3 to every request signed for any other region, and
// forwards the rest. The driver must retry there with the right signing region and remember it.

import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { start } from '../servers/s3.js';
import type { LiveServer } from '../servers/types.js';
import s3Remote from '../../remotes/s3/index.js';
import { bufferSource, readAll } from '../../src/remote/index.js';

const BUCKET_REGION = 'eu-west-3';

interface Seen {
  method: string;
  region: string;
  redirected: boolean;
  /** Sent by the AWS SDK (list, head, documents) rather than the driver's own data path (chunk GET/PUT). */
  sdk: boolean;
}

let server: LiveServer;
let proxy: http.Server;
const seen: Seen[] = [];

test.before(async () => {
  server = await start();
  Object.assign(process.env, server.env);
  proxy = http.createServer((req, res) => {
    const region = /Credential=[^/]+\/\d{8}\/([^/]+)\//.exec(String(req.headers.authorization ?? ''))?.[1] ?? '';
    const redirected = region !== BUCKET_REGION;
    seen.push({ method: req.method!, region, redirected, sdk: /aws-sdk-js/.test(String(req.headers['user-agent'] ?? '')) });
    if (redirected) {
      // Read what the client sends first, as S3 does, so the answer is not lost to a reset.
      req.resume();
      req.on('end', () => {
        const body = req.method === 'HEAD' ? '' : `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint.</Message></Error>`;
        res.writeHead(301, { 'x-amz-bucket-region': BUCKET_REGION, 'content-type': 'application/xml', 'content-length': Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }
    const up = http.request({ host: '127.0.0.1', port: server.port, method: req.method, path: req.url, headers: req.headers }, (upRes) => {
      res.writeHead(upRes.statusCode!, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
});

test.after.always(async () => {
  proxy?.close();
  await server?.stop();
});

test('s3 region › a bucket in another region is followed there (301 + x-amz-bucket-region), and the region is remembered', async (t) => {
  const endpoint = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
  // Configured for us-east-1: the first request of each path is signed for the wrong region.
  const r = await s3Remote.create(s3Remote.parse(server.newUrl(), { ...server.settings, endpoint, region: 'us-east-1' }));
  try {
    const data = crypto.randomBytes(200_000);
    await r.put('chunks/ab/one', bufferSource(data));
    await r.put('chunks/ab/two', bufferSource(data.subarray(1000)));
    t.true((await readAll(await r.get('chunks/ab/one'))).equals(data));
    const into = Buffer.alloc(data.length);
    t.is(await r.readInto!('chunks/ab/two', into), data.length - 1000);
    t.true(into.subarray(0, data.length - 1000).equals(data.subarray(1000)));
    t.true((await readAll(await r.get('chunks/ab/one', { offset: 10, length: 100 }))).equals(data.subarray(10, 110)));

    const dataPath = seen.filter((s) => !s.sdk);
    // One redirect for the data path: the region is kept for every later request.
    t.is(dataPath.filter((s) => s.redirected).length, 1, JSON.stringify(dataPath));
    t.deepEqual(dataPath.filter((s) => !s.redirected).map((s) => s.region), Array(5).fill(BUCKET_REGION));

    // The SDK's requests (stat, list, documents) follow too.
    t.is((await r.stat('chunks/ab/one'))?.size, data.length);
    const keys: string[] = [];
    for await (const o of r.list('chunks/')) keys.push(o.key);
    t.deepEqual(keys.sort(), ['chunks/ab/one', 'chunks/ab/two']);
    t.truthy(await r.swapDocument('refs/main.ref', Buffer.from('v1'), null));
    t.is((await r.readDocument('refs/main.ref'))?.data.toString(), 'v1');
    t.true(seen.some((s) => s.sdk && s.redirected), 'the SDK was redirected as well');
  } finally {
    await r.close();
  }
});
