// The S3 test server keeps S3's promises under the concurrency the other tests create (s3rver-fixes.ts):
// without its fixes, the first test killed the server and the second read torn documents.

import crypto from 'node:crypto';
import test from 'ava';
import { start } from './s3.js';
import type { LiveServer } from './types.js';
import s3Remote from '../../remotes/s3/index.js';
import { bufferSource, type Remote } from '../../src/remote/index.js';

let server: LiveServer;
const open = async (): Promise<Remote> => s3Remote.create(s3Remote.parse(server.newUrl(), server.settings));

test.before(async () => {
  server = await start();
  Object.assign(process.env, server.env);
});
test.after.always(() => server?.stop());

test('keys put and deleted side by side in one directory, while it is listed, all succeed and the server lives', async (t) => {
  const r = await open();
  const failures: string[] = [];
  for (let round = 0; round < 60; round++) {
    const ops: Promise<unknown>[] = [];
    for (let i = 0; i < 8; i++) {
      const key = `locks/name/push.lock/c-${round}-${i}`; // as ranks racing for one lock write their markers
      ops.push(r.put(key, bufferSource(Buffer.alloc(100, i))).then(() => r.delete(key)));
    }
    ops.push((async () => { for await (const o of r.list('locks/name/')) void o; })());
    for (const e of await Promise.allSettled(ops)) if (e.status === 'rejected') failures.push(String(e.reason));
  }
  t.deepEqual(failures.slice(0, 3), []);
  const left = [];
  for await (const o of r.list('locks/')) left.push(o.key);
  t.deepEqual(left, []);
});

test('a document read while it is overwritten is read whole, with the ETag of what was read', async (t) => {
  const r = await open();
  const sizes = [1_000, 70_000, 300_000];
  let reads = 0;
  const torn: string[] = [];
  for (let round = 0; round < 60; round++) {
    const k = round % sizes.length;
    const ops: Promise<unknown>[] = [r.put('refs/doc', bufferSource(Buffer.alloc(sizes[k]!, k)))];
    for (let j = 0; j < 3; j++) {
      ops.push(
        r.readDocument!('refs/doc').then((d) => {
          if (!d) return;
          reads++;
          const etag = JSON.stringify(crypto.createHash('md5').update(d.data).digest('hex'));
          if (d.data.length !== sizes[d.data[0]!] || d.version !== etag) torn.push(`${d.data.length} bytes of ${d.data[0]}, ETag ${d.version}`);
        }),
      );
    }
    await Promise.all(ops);
  }
  t.true(reads > 0);
  t.deepEqual(torn.slice(0, 3), []);
});
