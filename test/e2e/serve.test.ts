// `serve --stdio` through the real binary: the hello, requests in flight at once with progress, results
// and typed errors in --json's shapes, and malformed requests answered without stopping the server.

import { spawn, type ChildProcess } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import readline from 'node:readline';
import test from 'ava';
import { cliPath, tempDir } from '../helpers.js';

type Msg = Record<string, any>;

/** A serve process and its messages, one JSON object per stdout line. */
class Server {
  readonly child: ChildProcess;
  private readonly queue: Msg[] = [];
  private waiter: (() => void) | null = null;
  readonly exited: Promise<number | null>;
  constructor(cwd: string, env: Record<string, string> = {}) {
    this.child = spawn(process.execPath, [cliPath, 'serve', '--stdio'], { cwd, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
    this.exited = new Promise((r) => this.child.on('exit', (code) => r(code)));
    readline.createInterface({ input: this.child.stdout! }).on('line', (l) => {
      this.queue.push(JSON.parse(l));
      this.waiter?.();
    });
  }
  send(x: unknown): void {
    this.child.stdin!.write((typeof x === 'string' ? x : JSON.stringify(x)) + '\n');
  }
  async next(): Promise<Msg> {
    while (this.queue.length === 0) await new Promise<void>((r) => (this.waiter = r));
    return this.queue.shift()!;
  }
  /** Messages up to and including the result for each id (progress kept too). */
  async untilResults(ids: unknown[]): Promise<Msg[]> {
    const out: Msg[] = [];
    const left = new Set(ids.map((i) => JSON.stringify(i)));
    while (left.size) {
      const m = await this.next();
      out.push(m);
      if (m.type === 'result') left.delete(JSON.stringify(m.id));
    }
    return out;
  }
  async call(id: unknown, op: string, args?: object): Promise<Msg> {
    this.send({ id, op, args });
    return (await this.untilResults([id])).find((m) => m.type === 'result' && m.id === id)!;
  }
  async close(): Promise<number | null> {
    this.child.stdin!.end();
    return this.exited;
  }
}

test('serve answers a hello, then several requests in flight at once, with progress and --json shapes', async (t) => {
  const dir = await tempDir('ckpt-serve-');
  const remote = path.join(dir, 'remote');
  const cache = path.join(dir, 'cache');
  await fs.writeFile(path.join(dir, 'a.bin'), crypto.randomBytes(6 << 20));
  await fs.writeFile(path.join(dir, 'b.bin'), crypto.randomBytes(3 << 20));
  const s = new Server(dir, { CKPTSYNC_CACHE: cache });
  const hello = await s.next();
  t.is(hello.type, 'hello');
  t.is(hello.protocol, 1);
  t.is(hello.maxLineBytes, 1 << 20);
  t.true(hello.ops.includes('resolve'));

  // Two uploads sent before either is answered; both answered, each with its own id.
  s.send({ id: 'a', op: 'upload', args: { path: path.join(dir, 'a.bin'), name: 'run/a', remote } });
  s.send({ id: 2, op: 'upload', args: { path: path.join(dir, 'b.bin'), name: 'run/b', remote } });
  const msgs = await s.untilResults(['a', 2]);
  const ra = msgs.find((m) => m.type === 'result' && m.id === 'a')!;
  const rb = msgs.find((m) => m.type === 'result' && m.id === 2)!;
  t.is(ra.status, 'ok');
  t.deepEqual(ra.warnings, []);
  t.is(ra.result.name, 'run/a');
  t.is(ra.result.bytesUploaded, 6 << 20);
  t.is(rb.result.bytesTotal, 3 << 20);
  t.true(msgs.some((m) => m.type === 'progress' && m.id === 'a' && m.progress.phase === 'upload'));

  const names = await s.call(3, 'names', { remote });
  t.deepEqual(names.result, ['run/a', 'run/b']);
  const resolved = await s.call(4, 'resolve', { id: 'run/a', remote });
  t.true(resolved.result.downloaded);
  t.true(resolved.result.path.startsWith(cache));
  t.deepEqual(await fs.readFile(resolved.result.path), await fs.readFile(path.join(dir, 'a.bin')));
  const latest = await s.call(5, 'latest', { prefix: 'run/', remote });
  t.is(latest.status, 'error'); // no numbered names: the same error `latest --json` gives
  t.is(latest.error.code, 'NOT_FOUND');
  t.is(latest.error.exitCode, 3);

  // A byte range of a pushed file, fetched into a fresh cache: only the chunks covering it.
  const cache2 = path.join(dir, 'cache2');
  const described = await s.call(6, 'describe', { name: 'run/a', remote, cacheDir: cache2 });
  t.deepEqual(described.result.files, [{ path: 'a.bin', size: 6 << 20 }]);
  const read = await s.call(7, 'read', { name: 'run/a', remote, cacheDir: cache2, offset: 5_000_000, length: 1000 });
  t.deepEqual(Buffer.from(read.result.data, 'base64'), (await fs.readFile(path.join(dir, 'a.bin'))).subarray(5_000_000, 5_001_000));
  t.true(read.result.chunksDownloaded >= 1 && read.result.chunksDownloaded <= 2);
  const chunksInCache = (await fs.readdir(path.join(cache2, '.ckptsync', 'objects'), { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
  t.is(chunksInCache.length, read.result.chunksDownloaded);
  t.is(await s.close(), 0);
});

test('serve answers malformed requests with a typed error naming the problem, writes nothing, and keeps serving', async (t) => {
  const dir = await tempDir('ckpt-serve-');
  const remote = path.join(dir, 'remote');
  await fs.writeFile(path.join(dir, 'a.bin'), crypto.randomBytes(1 << 20));
  const s = new Server(dir, { CKPTSYNC_CACHE: path.join(dir, 'cache') });
  t.is((await s.next()).type, 'hello');
  const expectUsage = async (line: string | object, id: unknown, pattern: RegExp) => {
    s.send(line);
    const m = await s.next();
    t.is(m.type, 'result');
    t.is(m.id, id);
    t.is(m.status, 'error');
    t.is(m.error.code, 'USAGE');
    t.is(m.error.exitCode, 2);
    t.regex(m.error.message, pattern);
  };
  await expectUsage('{"id": 1, "op": ', null, /not valid JSON/);
  await expectUsage('[1, 2]', null, /must be a JSON object/);
  await expectUsage({ id: { x: 1 }, op: 'names' }, null, /id must be a string or an integer/);
  await expectUsage({ id: 4, op: 'frobnicate' }, 4, /unknown op "frobnicate"/);
  await expectUsage({ id: 5, op: 42 }, 5, /op must be a string/);
  await expectUsage({ id: 6, op: 'upload', args: [] }, 6, /args must be a JSON object/);
  await expectUsage({ id: 7, op: 'upload', args: { path: path.join(dir, 'a.bin'), name: 12, remote } }, 7, /args\.name must be a string, not number/);
  await expectUsage({ id: 8, op: 'read', args: { name: 'x', offset: '0', length: 1, remote } }, 8, /args\.offset must be an integer, not string/);
  await expectUsage({ id: 9, op: 'upload', args: { remote } }, 9, /args\.path is required/);
  // A line over the limit, then a valid request in the same write: the first is refused, the second served.
  const big = JSON.stringify({ id: 10, op: 'upload', args: { path: 'x'.repeat((1 << 20) + 10) } });
  s.send(big + '\n' + JSON.stringify({ id: 11, op: 'names', args: { remote } }));
  const over = await s.next();
  t.is(over.id, null);
  t.is(over.error.code, 'USAGE');
  t.regex(over.error.message, /longer than 1048576 bytes/);
  const after = await s.next();
  t.is(after.id, 11);
  t.is(after.status, 'ok');
  t.deepEqual(after.result, []); // nothing was pushed by any malformed request
  // ...nor written anywhere: no object, manifest or name on the remote, no cache.
  t.deepEqual((await fs.readdir(remote, { recursive: true, withFileTypes: true })).filter((e) => e.isFile()), []);
  t.deepEqual((await fs.readdir(dir)).sort(), ['a.bin', 'remote']);
  const good = await s.call(12, 'upload', { path: path.join(dir, 'a.bin'), name: 'ok', remote });
  t.is(good.status, 'ok');
  t.is(await s.close(), 0);
});

test('serve cancels a request in flight: it answers CANCELLED and the name is not moved', async (t) => {
  const dir = await tempDir('ckpt-serve-');
  const remote = path.join(dir, 'remote');
  await fs.writeFile(path.join(dir, 'a.bin'), crypto.randomBytes(8 << 20));
  const s = new Server(dir, { CKPTSYNC_CACHE: path.join(dir, 'cache') });
  t.is((await s.next()).type, 'hello');
  // One write: the cancel is read in the same turn as the upload, before its transfer can start.
  s.send(JSON.stringify({ id: 1, op: 'upload', args: { path: path.join(dir, 'a.bin'), name: 'c/a', remote } }) + '\n' + JSON.stringify({ id: 2, op: 'cancel', args: { id: 1 } }));
  const msgs = await s.untilResults([1, 2]);
  const cancel = msgs.find((m) => m.type === 'result' && m.id === 2)!;
  const upload = msgs.find((m) => m.type === 'result' && m.id === 1)!;
  t.deepEqual(cancel.result, { cancelled: true });
  t.is(upload.status, 'error');
  t.is(upload.error.code, 'CANCELLED');
  t.is(upload.error.exitCode, 130);
  t.deepEqual((await s.call(3, 'names', { remote })).result, []);
  t.is(await s.close(), 0);
});

test('serve refuses to start without --stdio, with the usage exit code', async (t) => {
  const dir = await tempDir('ckpt-serve-');
  const child = spawn(process.execPath, [cliPath, 'serve', '--json'], { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const code = await new Promise((r) => child.on('exit', r));
  t.is(code, 2);
  t.is(JSON.parse(out).error.code, 'USAGE');
});
