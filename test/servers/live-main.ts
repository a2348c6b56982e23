// A live test server for tests in other languages (python/tests/conftest.py):
// `node dist/test/servers/live-main.js s3|sftp`. Prints one JSON line {env, settings, port} once the
// server listens, then answers commands on stdin, one per line: `url` prints {"url"} (a fresh empty
// location), `counts` prints {"counts": {"GET chunk": n, ...}} (S3 only: requests seen, by method and
// object kind, counted by a pass-through HTTP proxy in front of s3rver, so a test can count downloads
// on the server's side). Stops the server when stdin closes.

import http from 'node:http';
import readline from 'node:readline';
import type { AddressInfo } from 'node:net';
import { start as startS3 } from './s3.js';
import { start as startSftp } from './sftp.js';
import type { LiveServer } from './types.js';

const kind = process.argv[2];
const server: LiveServer = kind === 's3' ? await startS3() : kind === 'sftp' ? await startSftp() : (() => { throw new Error(`unknown server ${kind}`); })();
const counts: Record<string, number> = {};
let env = server.env;
let proxy: http.Server | null = null;

if (kind === 's3') {
  const target = new URL(server.env.AWS_ENDPOINT_URL_S3!);
  proxy = http.createServer((req, res) => {
    // Path style: /bucket/<prefix>/<chunks|manifests|refs|locks|deltas>/...
    const what = /\/(chunks|manifests|refs|locks|deltas)\//.exec(req.url ?? '')?.[1]?.replace(/s$/, '') ?? 'other';
    const key = `${req.method} ${what}`;
    counts[key] = (counts[key] ?? 0) + 1;
    // Headers pass unchanged (Host included), so s3rver checks the client's SigV4 signature as sent.
    const up = http.request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (r) => {
      r.on('error', () => res.destroy());
      res.writeHead(r.statusCode ?? 502, r.headers);
      r.pipe(res);
    });
    // A client that goes away mid-request (a killed ckptsync) must not take the server down with it.
    up.on('error', () => res.destroy());
    req.on('error', () => up.destroy());
    res.on('error', () => up.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => proxy!.listen(0, '127.0.0.1', r));
  env = { ...env, AWS_ENDPOINT_URL_S3: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` };
}

const settings = proxy ? { ...server.settings, endpoint: env.AWS_ENDPOINT_URL_S3! } : server.settings;
process.stdout.write(JSON.stringify({ env, settings, port: server.port }) + '\n');
const lines = readline.createInterface({ input: process.stdin });
lines.on('line', (l) => {
  const cmd = l.trim();
  if (cmd === 'url') process.stdout.write(JSON.stringify({ url: server.newUrl() }) + '\n');
  else if (cmd === 'counts') process.stdout.write(JSON.stringify({ counts }) + '\n');
  else process.stdout.write(JSON.stringify({ error: `unknown command ${cmd}` }) + '\n');
});
lines.on('close', async () => {
  proxy?.close();
  await server.stop();
  process.exit(0);
});
