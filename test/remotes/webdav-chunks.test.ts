// How the WebDAV driver stores chunks (remotes/webdav/README.md, "Speed"): one PUT straight to the
// chunk's name, never rewriting a complete copy; other objects keep the temp name + MOVE. Requests are
// observed on undici's diagnostics channel and on the data path's own (remotes/kit/http-into.ts), i.e.
// exactly what went to the live Apache server.

import crypto from 'node:crypto';
import diagnostics from 'node:diagnostics_channel';
import test from 'ava';
import { start, type WebdavLiveServer } from '../servers/webdav.js';
import webdavRemote from '../../remotes/webdav/index.js';
import { keyOf } from '../../src/remote/layout.js';
import { bufferSource } from '../../src/remote/source.js';
import { readAll } from '../../src/remote/index.js';
import { requestChannel } from '../../remotes/kit/http-into.js';
import type { Remote } from '../../src/remote/types.js';

let server: WebdavLiveServer;
const requests: string[] = [];
const seen = ({ method, path }: { method: string; path: string }) => requests.push(`${method} ${decodeURIComponent(path.slice(path.lastIndexOf('/') + 1))}`);
const onRequest = (msg: unknown) => seen((msg as { request: { method: string; path: string } }).request);
const onDirect = (msg: unknown) => seen(msg as { method: string; path: string });

test.before(async () => {
  server = await start();
  diagnostics.subscribe('undici:request:create', onRequest);
  requestChannel.subscribe(onDirect);
});
test.after.always(async () => {
  diagnostics.unsubscribe('undici:request:create', onRequest);
  requestChannel.unsubscribe(onDirect);
  await server?.stop();
});

async function open(): Promise<Remote> {
  const saved = process.env.HOME;
  process.env.HOME = server.home; // credentials come from the server's temp ~/.netrc
  try {
    return await webdavRemote.create(webdavRemote.parse(server.newUrl(), server.settings));
  } finally {
    process.env.HOME = saved;
  }
}

const hash = () => crypto.randomBytes(32).toString('hex');
const read = async (r: Remote, key: string) => readAll(await r.get(key), 1 << 20);

test.serial('a chunk is stored with a single PUT to its own name (no temp name, no MOVE)', async (t) => {
  const r = await open();
  try {
    const name = hash();
    const key = keyOf({ kind: 'chunk', name });
    await r.put(key, bufferSource(crypto.randomBytes(1000))); // creates chunks/ab/ first
    requests.length = 0;
    const other = hash().replace(/^../, name.slice(0, 2)); // same collection, already known
    await r.put(keyOf({ kind: 'chunk', name: other }), bufferSource(crypto.randomBytes(2000)));
    t.deepEqual(requests, [`PUT ${other}`]);
  } finally {
    await r.close();
  }
});

test.serial('a manifest is still uploaded to a temp name and moved into place', async (t) => {
  const r = await open();
  try {
    const name = hash();
    await r.put(keyOf({ kind: 'manifest', name }), bufferSource(Buffer.from('m1')));
    requests.length = 0;
    await r.put(keyOf({ kind: 'manifest', name }), bufferSource(Buffer.from('m2')));
    t.is(requests.length, 2);
    t.regex(requests[0]!, /^PUT \.ckpt-tmp-[0-9a-f]+$/);
    t.is(requests[1], requests[0]!.replace('PUT', 'MOVE'));
    t.is((await read(r, keyOf({ kind: 'manifest', name }))).toString(), 'm2');
  } finally {
    await r.close();
  }
});

test.serial('uploading a chunk that is already there does not rewrite it; a copy of the wrong size is replaced', async (t) => {
  const r = await open();
  try {
    const key = keyOf({ kind: 'chunk', name: hash() });
    const first = crypto.randomBytes(5000);
    await r.put(key, bufferSource(first));
    // Same size, other bytes: were the PUT unconditional, these would replace the first copy.
    await r.put(key, bufferSource(crypto.randomBytes(5000)));
    t.true((await read(r, key)).equals(first), 'the complete copy is left alone');
    // A short copy, as an interrupted upload to a server that writes in place would leave.
    const short = keyOf({ kind: 'chunk', name: hash() });
    await r.put(short, bufferSource(crypto.randomBytes(100)));
    const whole = crypto.randomBytes(5000);
    await r.put(short, bufferSource(whole));
    t.true((await read(r, short)).equals(whole), 'the wrong-size copy is replaced');
  } finally {
    await r.close();
  }
});
