// `serve` keeps each remote it opens for its whole life: a Python client's many small calls pay an SSH
// handshake once, not per call. Counted on the wire, by a proxy in front of a real OpenSSH server.

import fs from 'node:fs/promises';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import test from 'ava';
import { serve } from '../../src/serve/server.js';
import { ok, tempDir } from '../helpers.js';
import { startFaultProxy } from '../servers/faultproxy.js';
import * as sftp from '../servers/sftp.js';

test('serve opens an SFTP remote once: later requests make no new connection, and the end closes it', async (t) => {
  const srv = await sftp.start();
  const proxy = await startFaultProxy(srv.port);
  try {
    await srv.trustPort(proxy.port);
    Object.assign(process.env, srv.env); // the server below runs in this process: its HOME has the keys
    const dir = await tempDir('ckpt-serve-remote-');
    await ok(['init'], { cwd: dir, env: srv.env });
    await ok(['remote', 'add', 'origin', srv.newUrl().replace(`:${srv.port}/`, `:${proxy.port}/`)], { cwd: dir, env: srv.env });
    await fs.writeFile(path.join(dir, 'w.bin'), Buffer.alloc(300_000, 7));

    const input = new PassThrough();
    const output = new PassThrough();
    const answers = new Map<number, (a: any) => void>();
    let buffered = '';
    output.on('data', (b: Buffer) => {
      buffered += b.toString();
      for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
        const msg = JSON.parse(buffered.slice(0, nl));
        buffered = buffered.slice(nl + 1);
        if (msg.type === 'result') answers.get(msg.id)?.(msg);
      }
    });
    const served = serve({ input, output, cwd: dir, version: 'test' });
    let id = 0;
    const call = (op: string, args: Record<string, unknown>) =>
      new Promise<any>((resolve) => {
        answers.set(++id, resolve);
        input.write(JSON.stringify({ id, op, args }) + '\n');
      });

    const up = await call('upload', { path: path.join(dir, 'w.bin'), name: 'w/v1' });
    t.is(up.status, 'ok', JSON.stringify(up.error));
    const afterFirst = proxy.connections;
    t.true(afterFirst >= 1);
    for (let i = 0; i < 5; i++) {
      const r = await call(i % 2 ? 'names' : 'ls', { remote: 'origin' });
      t.is(r.status, 'ok', JSON.stringify(r.error));
    }
    const names = await call('names', { remote: 'origin' });
    t.deepEqual(names.result, ['w/v1']);
    t.is(proxy.connections, afterFirst, 'no request after the first opened a connection');
    input.end();
    await served;
  } finally {
    await proxy.stop();
    await srv.stop();
  }
});
