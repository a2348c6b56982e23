// remotes/kit/http-into.ts against a real HTTP server on 127.0.0.1 (node:http) that answers each path its
// own way: whole bodies, error documents, chunked answers, stalls, and connections closed mid-body or
// while idle. The server counts connections, so reuse is checked, not assumed.

import crypto from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import test from 'ava';
import { HttpDataPath, HttpIntoPool, NeedsFallback, type HttpIntoOptions } from '../../remotes/kit/http-into.js';
import { Pool } from '../../remotes/kit/undici.js';

const big = crypto.randomBytes(3 << 20); // many socket reads: most land straight in the caller's buffer
const small = crypto.randomBytes(1000);

async function serve() {
  let connections = 0;
  let hungUp = false;
  const stored = new Map<string, Buffer>();
  const sockets = new Set<import('node:net').Socket>();
  const server = http.createServer((req, res) => {
    const name = req.url!.split('/').pop()!;
    if (name === 'big') return res.writeHead(200, { 'content-length': big.length }).end(big);
    if (name === 'small') return res.writeHead(200, { 'content-length': small.length }).end(small);
    if (name === 'busy') return res.writeHead(503, { 'retry-after': '7', 'content-length': 22 }).end('<Error>SlowDown</Error>'.slice(0, 22));
    if (name === 'chunked') {
      res.writeHead(200, { 'transfer-encoding': 'chunked' });
      res.write(small.subarray(0, 400));
      return res.end(small.subarray(400));
    }
    if (name === 'stall') return void res.writeHead(200, { 'content-length': 1000 }).write('x');
    if (name === 'cut') {
      res.writeHead(200, { 'content-length': small.length }).write(small.subarray(0, 100));
      return void setTimeout(() => req.socket.destroy(), 50);
    }
    if (req.method === 'PUT') {
      // Stores the body under its name; answers 201 with a short text body, as Apache does.
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d));
      req.on('end', () => {
        const replaced = stored.has(name);
        stored.set(name, Buffer.concat(parts));
        // A replaced file gets a bare 204 (no Content-Length), as from Apache.
        if (replaced) return res.writeHead(204).end();
        res.writeHead(name === 'full' ? 507 : 201, { 'content-length': 7 }).end('Created');
      });
      return;
    }
    if (name === 'echo') {
      const text = String(req.headers['x-echo'] ?? '');
      return res.writeHead(200, { 'content-length': Buffer.byteLength(text) }).end(text);
    }
    // The first time, the connection is closed without an answer (as a server closing an idle
    // connection just as a request arrives); always, for 'hangup'.
    if (name === 'hangup' || (name === 'hangup-once' && !hungUp)) {
      hungUp = true;
      return void req.socket.destroy();
    }
    if (name === 'hangup-once') return res.writeHead(200, { 'content-length': small.length }).end(small);
    res.writeHead(404, { 'content-length': 0 }).end();
  });
  server.on('connection', (s) => {
    connections++;
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    connections: () => connections,
    stored,
    /** Closes every connection the server holds, as a server does with idle keep-alive ones. */
    dropIdle: () => sockets.forEach((s) => s.destroy()),
    stop: () => new Promise<void>((r) => (server.close(() => r()), server.closeAllConnections())),
  };
}

/** Runs `fn` with a fresh server and a pool on it, closing both after. */
async function withPool(opts: HttpIntoOptions, fn: (s: Awaited<ReturnType<typeof serve>>, pool: HttpIntoPool) => Promise<void>): Promise<void> {
  const s = await serve();
  const pool = new HttpIntoPool(s.origin, opts);
  try {
    await fn(s, pool);
  } finally {
    pool.close();
    await s.stop();
  }
}

/** As withPool, plus an HttpDataPath on the same server whose fallback is an undici pool. */
async function withDataPath(opts: HttpIntoOptions, fn: (s: Awaited<ReturnType<typeof serve>>, pool: HttpIntoPool, data: HttpDataPath) => Promise<void>): Promise<void> {
  await withPool(opts, async (s, pool) => {
    const undici = new Pool(s.origin, { connections: opts.connections });
    const data = new HttpDataPath(s.origin, undici, opts);
    try {
      await fn(s, pool, data);
    } finally {
      data.close();
      await undici.close();
    }
  });
}

test('http-into › bodies land whole and exact, on one reused connection', async (t) => {
  await withPool({ connections: 4, timeoutMs: 5000 }, async (s, pool) => {
    for (let i = 0; i < 3; i++) {
      const into = Buffer.alloc(big.length + 1);
      const r = await pool.getInto('/x/big', {}, into);
      t.is(r.status, 200);
      t.is(r.bytes, big.length);
      t.true(into.subarray(0, r.bytes).equals(big));
      const echo = Buffer.alloc(64);
      const e = await pool.getInto('/x/echo', { 'x-echo': `request ${i}` }, echo);
      t.is(echo.subarray(0, e.bytes).toString(), `request ${i}`);
    }
    t.is(s.connections(), 1, 'one connection for six requests made one after another');
  });
});

test('http-into › an object longer than the buffer fills it and drops the connection; the next request opens another', async (t) => {
  await withPool({ connections: 4, timeoutMs: 5000 }, async (s, pool) => {
    const into = Buffer.alloc(1 << 20);
    const r = await pool.getInto('/x/big', {}, into);
    t.is(r.bytes, into.length);
    t.true(into.equals(big.subarray(0, into.length)));
    const again = Buffer.alloc(small.length + 1);
    t.is((await pool.getInto('/x/small', {}, again)).bytes, small.length);
    t.is(s.connections(), 2);
  });
});

test('http-into › another status gives the start of its body and its retry-after, and the connection is reused', async (t) => {
  await withPool({ connections: 1, timeoutMs: 5000 }, async (s, pool) => {
    const into = Buffer.alloc(16);
    const { headers, ...r } = await pool.getInto('/x/busy', {}, into, 10);
    t.deepEqual(r, { status: 503, bytes: 0, retryAfter: '7', errorBody: '<Error>Slo' });
    t.is(headers?.['retry-after'], '7', 'the headers of an answer other than 200 are kept for the caller');
    t.is((await pool.getInto('/x/missing', {}, into)).status, 404);
    t.is((await pool.getInto('/x/small', {}, Buffer.alloc(2000))).bytes, small.length);
    t.is(s.connections(), 1);
  });
});

test('http-into › a chunked answer is not parsed here: the pool says so, and HttpDataPath asks undici from then on', async (t) => {
  await withDataPath({ connections: 1, timeoutMs: 5000 }, async (s, pool, getter) => {
    await t.throwsAsync(pool.getInto('/x/chunked', {}, Buffer.alloc(2000)), { instanceOf: NeedsFallback });
    for (let i = 0; i < 2; i++) {
      const into = Buffer.alloc(2000);
      const r = await getter.get('/x/chunked', {}, into);
      t.is(r.status, 200);
      t.true(into.subarray(0, r.bytes).equals(small));
    }
  });
});

test('http-into › a request on a reused connection that the server closes unanswered is sent again on a fresh one, once', async (t) => {
  await withPool({ connections: 1, timeoutMs: 5000 }, async (s, pool) => {
    const into = Buffer.alloc(2000);
    t.is((await pool.getInto('/x/small', {}, into)).bytes, small.length);
    into.fill(0);
    t.is((await pool.getInto('/x/hangup-once', {}, into)).bytes, small.length);
    t.true(into.subarray(0, small.length).equals(small));
    t.is(s.connections(), 2);
    // Closed unanswered again and again: the one retry fails too, and the failure is reported.
    await t.throwsAsync(pool.getInto('/x/hangup', {}, into), { code: 'ECONNRESET' } as never);
    t.is(s.connections(), 3);
    // A connection the server closed while idle is not used again.
    t.is((await pool.getInto('/x/small', {}, into)).bytes, small.length);
    s.dropIdle();
    await new Promise((r) => setTimeout(r, 50));
    t.is((await pool.getInto('/x/small', {}, into)).bytes, small.length);
    t.is(s.connections(), 5);
  });
});

test('http-into › a body cut short or a silent server fail with a retryable code, never a short success', async (t) => {
  await withPool({ connections: 2, timeoutMs: 500 }, async (s, pool) => {
    await t.throwsAsync(pool.getInto('/x/cut', {}, Buffer.alloc(2000)), { code: 'ECONNRESET' } as never);
    // The event: the silent server is dropped by the idle timeout (ETIMEDOUT), not by a reset or a short read.
    await t.throwsAsync(pool.getInto('/x/stall', {}, Buffer.alloc(2000)), { code: 'ETIMEDOUT', message: /no answer for 500 ms/ } as never);
    t.is((await pool.getInto('/x/small', {}, Buffer.alloc(2000))).bytes, small.length, 'the pool goes on after failures');
  });
});

test('http-into › nothing listening is ECONNREFUSED; a closed pool refuses work', async (t) => {
  const pool = new HttpIntoPool('http://127.0.0.1:9', { connections: 1, timeoutMs: 2000 });
  await t.throwsAsync(pool.getInto('/x', {}, Buffer.alloc(10)), { code: 'ECONNREFUSED' } as never);
  pool.close();
  await t.throwsAsync(pool.getInto('/x', {}, Buffer.alloc(10)), { message: /closed/ });
});

test('http-into › more requests than connections wait their turn and all complete', async (t) => {
  await withPool({ connections: 3, timeoutMs: 5000 }, async (s, pool) => {
    const results = await Promise.all(
      Array.from({ length: 12 }, async () => {
        const into = Buffer.alloc(big.length + 1);
        const r = await pool.getInto('/x/big', {}, into);
        return r.bytes === big.length && into.subarray(0, r.bytes).equals(big);
      }),
    );
    t.deepEqual(results, Array(12).fill(true));
    t.is(s.connections(), 3);
  });
});

test('http-into › PUTs send their body whole (content-length set by the pool) and report the status and body start; GETs go on on the same connection', async (t) => {
  await withDataPath({ connections: 1, timeoutMs: 5000 }, async (s, pool, data) => {
    const { headers: _, ...r } = await pool.request('PUT', '/x/a', { 'content-length': '1' }, big, null, 4);
    t.deepEqual(r, { status: 201, bytes: 0, retryAfter: undefined, errorBody: 'Crea' });
    t.true(s.stored.get('a')!.equals(big));
    t.is((await data.put('/x/b', {}, small, 100)).errorBody, 'Created');
    t.true(s.stored.get('b')!.equals(small));
    t.is((await data.put('/x/full', {}, small)).status, 507);
    t.is((await pool.request('PUT', '/x/a', {}, small, null)).status, 204);
    t.true(s.stored.get('a')!.equals(small));
    t.is((await pool.getInto('/x/small', {}, Buffer.alloc(2000))).bytes, small.length);
    t.is(s.connections(), 2, 'one connection for the pool, one for the data path');
  });
});
