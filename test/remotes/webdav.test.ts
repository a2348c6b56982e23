import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { runRemoteConformance } from '../conformance/suite.js';
import { startFaultProxy, type FaultProxy, type FaultMode } from '../servers/faultproxy.js';
import { start, WEBDAV_USER, type WebdavLiveServer } from '../servers/webdav.js';
import webdavRemote from '../../remotes/webdav/index.js';
import { parseNetrc } from '../../remotes/webdav/credentials.js';
import { hrefPath, parseMultistatus } from '../../remotes/webdav/wire.js';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { AuthError, ConfigError, NoSpaceError, TransientError, UsageError } from '../../src/errors.js';
import { bufferSource } from '../../src/remote/source.js';
import type { Remote } from '../../src/remote/types.js';

let server: WebdavLiveServer;
let proxy: FaultProxy;
const urls = new Map<Remote, string>();

/** Parses with the server's temp HOME, so credentials come from its ~/.netrc for real. */
function parseWithHome(url: string, home = server.home) {
  const saved = process.env.HOME;
  process.env.HOME = home;
  try {
    return webdavRemote.parse(url, server.settings);
  } finally {
    process.env.HOME = saved;
  }
}

async function openAt(url: string): Promise<Remote> {
  const r = await webdavRemote.create(parseWithHome(url));
  urls.set(r, url);
  return r;
}

/** The URL of a fresh location reached through the fault proxy. */
const proxiedUrl = () => server.newUrl().replace(`:${server.port}/`, `:${proxy.port}/`);

runRemoteConformance(test, {
  name: 'webdav',
  putCreatesLocation: true,
  async start() {
    server = await start();
    proxy = await startFaultProxy(server.port);
    let modes: FaultMode[] = ['http503', 'reset'];
    return {
      target: {
        // Every remote goes through the fault proxy; it passes traffic untouched unless told to fail.
        open: (sameAs) => openAt(sameAs ? urls.get(sameAs)! : proxiedUrl()),
        openMissing: () => openAt(`${proxiedUrl()}/missing/deep`),
        openWithBadCredentials: () => openAt(proxiedUrl().replace('webdav://', `webdav://${WEBDAV_USER}:wrong-password@`)),
        injectTransientFailures: async (count) => {
          // Alternate a 503 answer and a connection reset, the two failures a WebDAV client meets.
          proxy.failNext(count, modes[0]);
          modes = [modes[1]!, modes[0]!];
        },
      },
      stop: async () => {
        await proxy.stop();
        await server.stop();
      },
    };
  },
});

function assertNoSecret(t: import('ava').ExecutionContext, text: string) {
  t.false(text.includes(server.password), 'the password is never shown');
  t.false(text.includes('wrong-password'), 'a password from the URL is never shown');
}

test.serial('webdav › a wrong password gives one clear AuthError line without the password', async (t) => {
  const url = server.newUrl().replace('webdav://', `webdav://${WEBDAV_USER}:wrong-password@`);
  const r = await webdavRemote.create(parseWithHome(url));
  try {
    const err = await t.throwsAsync(() => r.put('chunks/aa/' + 'a'.repeat(64), bufferSource(Buffer.from('x'))), { instanceOf: AuthError });
    t.regex(err!.message, /refused the credentials from the URL/);
    t.false(err!.message.includes('\n'));
    assertNoSecret(t, `${err!.message} ${JSON.stringify((err as AuthError).data)} ${r.displayUrl}`);
    t.false(r.displayUrl.includes('@'), 'displayUrl has no userinfo');
  } finally {
    await r.close();
  }
});

test.serial('webdav › a missing .netrc entry gives one AuthError line saying where credentials were looked for', async (t) => {
  const home = path.join(server.home, 'other-home');
  await fs.mkdir(home, { recursive: true });
  await fs.writeFile(path.join(home, '.netrc'), 'machine elsewhere.example login someone password secret-elsewhere\n');
  const r = await webdavRemote.create(parseWithHome(server.newUrl(), home));
  try {
    const err = await t.throwsAsync(() => r.readDocument('refs/x.ref'), { instanceOf: AuthError });
    t.false(err!.message.includes('\n'));
    t.true(err!.message.includes(path.join(home, '.netrc')), err!.message);
    t.regex(err!.message, /CKPTSYNC_WEBDAV_USER/);
    t.false(err!.message.includes('secret-elsewhere'));
  } finally {
    await r.close();
  }
});

test.serial('webdav › credentials from the netrc work and never appear in displayUrl, redact or errors', async (t) => {
  const plain = server.newUrl();
  const url = plain.replace('webdav://', `webdav://${WEBDAV_USER}:${server.password}@`);
  t.false(webdavRemote.redact(url).includes(server.password));
  const r = await openAt(plain);
  const withUrlCreds = await webdavRemote.create(parseWithHome(url));
  try {
    assertNoSecret(t, r.displayUrl + withUrlCreds.displayUrl);
    const key = 'manifests/' + crypto.randomBytes(32).toString('hex');
    await withUrlCreds.put(key, bufferSource(Buffer.from('m')));
    t.is((await r.stat(key))?.size, 1);
    const err = await t.throwsAsync(() => withUrlCreds.get('manifests/' + 'b'.repeat(64)));
    assertNoSecret(t, err!.message);
  } finally {
    await Promise.all([r.close(), withUrlCreds.close()]);
  }
});

test('webdav › the multistatus parser reads Nextcloud-style answers (other prefixes, absolute hrefs, entities)', (t) => {
  const xml = `<?xml version="1.0"?>
<d:multistatus xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns">
 <d:response><d:href>https://cloud.example/remote.php/dav/files/me/ckpt/</d:href>
  <d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>
 </d:response>
 <d:response><d:href>/remote.php/dav/files/me/ckpt/a%20b&amp;c</d:href>
  <d:propstat><d:prop><d:resourcetype/><d:getcontentlength>42</d:getcontentlength>
   <d:getlastmodified>Sun, 22 Nov 2026 11:05:48 GMT</d:getlastmodified></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>
  <d:propstat><d:prop><oc:size/></d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>
 </d:response>
 <response xmlns="DAV:"><href><![CDATA[/remote.php/dav/files/me/ckpt/sub/]]></href>
  <propstat><prop><resourcetype><collection/></resourcetype></prop><status>HTTP/1.1 200 OK</status></propstat></response>
</d:multistatus>`;
  const entries = parseMultistatus(xml);
  t.deepEqual(entries.map((e) => [hrefPath(e.href), e.collection, e.size]), [
    ['/remote.php/dav/files/me/ckpt', true, undefined],
    ['/remote.php/dav/files/me/ckpt/a b&c', false, 42],
    ['/remote.php/dav/files/me/ckpt/sub', true, undefined],
  ]);
  t.is(entries[1]!.mtimeMs, Date.UTC(2026, 10, 22, 11, 5, 48));
  t.throws(() => parseMultistatus('<html>not dav</html>'));
});

test('webdav › netrc parsing: machine, default, quoted values, macdef skipped', (t) => {
  const entries = parseNetrc('# comment\nmachine a.example login u1 password "p 1"\nmacdef init\ncd /x\n\ndefault login anon password guest\n');
  t.deepEqual(entries, [
    { machine: 'a.example', login: 'u1', password: 'p 1' },
    { machine: null, login: 'anon', password: 'guest' },
  ]);
});

test('webdav › answers the driver does not expect become typed errors, never a plain Error', async (t) => {
  // A loopback HTTP server that is not quite a WebDAV share: 418 to a HEAD, 507 to a PUT, and a 207
  // whose body is not a multistatus to a PROPFIND.
  const odd = http.createServer((req, res) => {
    req.resume();
    const status = req.method === 'HEAD' ? 418 : req.method === 'PROPFIND' ? 207 : req.method === 'MKCOL' ? 201 : 507;
    res.writeHead(status, { 'content-type': 'text/plain' }).end(req.method === 'HEAD' ? undefined : 'hello');
  });
  await new Promise<void>((r) => odd.listen(0, '127.0.0.1', r));
  const r = await webdavRemote.create(webdavRemote.parse(`webdav://127.0.0.1:${(odd.address() as AddressInfo).port}/share`, { user: 'u', password: 'p' }));
  try {
    const teapot = await t.throwsAsync(() => r.stat('chunks/ab/x'), { instanceOf: ConfigError });
    t.regex(teapot!.message, /HEAD chunks\/ab\/x on webdav:\/\/127\.0\.0\.1:\d+\/share: unexpected answer \(HTTP 418\)/);
    await t.throwsAsync(() => r.put('manifests/m', bufferSource(Buffer.from('x'))), { instanceOf: NoSpaceError });
    await t.throwsAsync(() => r.exists(), { instanceOf: TransientError, message: /not a WebDAV multistatus/ });
  } finally {
    await r.close();
    odd.close();
  }
});

test('webdav › an unknown option is refused, naming it and the known ones', (t) => {
  const err = t.throws(() => webdavRemote.parse('webdav://127.0.0.1/share', { conections: '4' }), { instanceOf: UsageError });
  t.regex(err!.message, /unknown webdav option "conections" \(known: user, password, caFile, connections, /);
});
