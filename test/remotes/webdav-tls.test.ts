// The WebDAV driver over https (webdavs://) against the live Apache with mod_ssl, its certificate signed
// by a throwaway CA: certificates are verified by default, `caFile` trusts a private CA, and the chunk
// data path (readInto, chunk PUTs) runs on undici there (remotes/kit/http-into.ts is http only).

import crypto from 'node:crypto';
import test from 'ava';
import { start, type WebdavLiveServer, type WebdavTls } from '../servers/webdav.js';
import webdavRemote from '../../remotes/webdav/index.js';
import { ConfigError, isRetryable } from '../../src/errors.js';
import { keyOf } from '../../src/remote/layout.js';
import { bufferSource, readAll } from '../../src/remote/source.js';
import type { Remote } from '../../src/remote/types.js';

let server: WebdavLiveServer & { tls?: WebdavTls };

test.before(async () => {
  server = await start({ tls: true });
});
test.after.always(async () => {
  await server?.stop();
});

async function open(settings: Record<string, string>, url = server.newUrl()): Promise<Remote> {
  const saved = process.env.HOME;
  process.env.HOME = server.home; // credentials from the server's temp ~/.netrc
  try {
    return await webdavRemote.create(webdavRemote.parse(url, settings));
  } finally {
    process.env.HOME = saved;
  }
}

test.serial('webdavs › with caFile naming the CA: chunks, documents and listing work over https', async (t) => {
  t.regex(server.newUrl(), /^webdavs:\/\/127\.0\.0\.1:/);
  const r = await open({ caFile: server.tls!.caFile });
  try {
    const data = crypto.randomBytes(300_000);
    const name = crypto.createHash('sha256').update(data).digest('hex');
    const key = keyOf({ kind: 'chunk', name });
    await r.put(key, bufferSource(data));
    const into = Buffer.alloc(data.length + 1);
    t.is(await r.readInto!(key, into), data.length);
    t.true(into.subarray(0, data.length).equals(data));
    t.true((await readAll(await r.get(key, { offset: 10, length: 100 }))).equals(data.subarray(10, 110)));
    const v = await r.swapDocument('refs/doc', Buffer.from('one'), null);
    t.truthy(v);
    t.is((await r.readDocument('refs/doc'))!.data.toString(), 'one');
    const listed: string[] = [];
    for await (const o of r.list('chunks/')) listed.push(o.key);
    t.deepEqual(listed, [key]);
  } finally {
    await r.close();
  }
});

test.serial('webdavs › without caFile the private CA is not trusted: one ConfigError naming the problem, no retry loop', async (t) => {
  const r = await open({});
  try {
    const err = await t.throwsAsync(r.readDocument('refs/doc'), { instanceOf: ConfigError });
    t.regex(err!.message, /TLS certificate is not trusted \(.+\); set caFile/);
    // The event, not a duration: the retry wrapper asks isRetryable, and this error says no.
    t.false(isRetryable(err), 'not retried as if transient');
    await t.throwsAsync(r.readInto!(keyOf({ kind: 'chunk', name: 'ab'.repeat(32) }), Buffer.alloc(16)), { instanceOf: ConfigError });
  } finally {
    await r.close();
  }
});

test.serial('webdavs › a certificate for another name is refused even with the CA trusted', async (t) => {
  // The certificate names IP 127.0.0.1 only; "localhost" reaches the same server.
  const url = server.newUrl().replace('127.0.0.1', 'localhost');
  const r = await open({ caFile: server.tls!.caFile }, url);
  try {
    const err = await t.throwsAsync(r.readDocument('refs/doc'), { instanceOf: ConfigError });
    t.regex(err!.message, /not trusted|ERR_TLS_CERT_ALTNAME_INVALID/);
  } finally {
    await r.close();
  }
});
