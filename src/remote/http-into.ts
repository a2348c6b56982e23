// readInto over plain HTTP/1.1 without undici, for the drivers that fetch chunks by GET (WebDAV, S3 on an
// http:// endpoint). Each connection reads from the kernel straight into the caller's buffer (net's
// `onread` with a buffer function): no piece is allocated per read and nothing is copied once the
// headers are parsed. 1 GiB of 1 MiB objects from Apache over loopback, 16 at once, hashed and written
// to a file: ~630-790 MB/s, 1.7-2.2 CPU-s, 91 MiB peak RSS, against 315-440 MB/s, 3.3-4.9 CPU-s and
// 143-147 MiB through undici's dispatch API (README.md, "Speed").
//
// Deliberately small: GET only, one request at a time per connection, a body delimited by
// Content-Length. An answer framed any other way (chunked, or up to the close) is not parsed: the pool
// falls back for good (`NeedsFallback`, the caller then asks undici) so that no server is misread.
// https stays on undici, which holds the TLS settings.

import net from 'node:net';
import { dispatchInto, type DispatchedFill } from './fill.js';
import type { Dispatcher } from './undici.js';

export interface HttpIntoOptions {
  /** Connections at most, each with one request in flight. */
  connections: number;
  /** A connection waiting this long for the next bytes of an answer (or to connect) is dropped: ETIMEDOUT. */
  timeoutMs: number;
}

/** The answer could not be read by this client (not framed by Content-Length); ask another. */
export class NeedsFallback extends Error {
  readonly code = 'ERR_HTTP_INTO_FALLBACK';
}

/** Largest response head accepted. */
const HEAD_LIMIT = 64 << 10;
const SCRATCH = 64 << 10;

interface Pending {
  into: Buffer;
  errorBodyLimit: number;
  /** Head bytes so far, while the head is incomplete. */
  head: Buffer[];
  headBytes: number;
  status: number;
  retryAfter?: string;
  /** Body bytes announced, -1 until the head is parsed. */
  length: number;
  /** Body bytes received (copied into `into` or, past its end or for an error, counted only). */
  received: number;
  /** Bytes in `into`. */
  filled: number;
  errorBody: Buffer[];
  errorBytes: number;
  keepAlive: boolean;
  /** Any byte of the answer arrived: a failure after this is not retried on a fresh connection. */
  answered: boolean;
  resolve(r: DispatchedFill): void;
  reject(e: Error): void;
}

class Connection {
  readonly socket: net.Socket;
  private readonly scratch = Buffer.allocUnsafeSlow(SCRATCH);
  private pending: Pending | null = null;
  /** A request was sent on it before: a failure before any answer may be the server closing an idle connection. */
  used = false;
  dead = false;

  constructor(host: string, port: number, timeoutMs: number, private readonly onIdle: (c: Connection) => void, private readonly onDead: (c: Connection) => void) {
    this.socket = net.connect({
      host,
      port,
      noDelay: true,
      onread: { buffer: () => this.nextBuffer(), callback: (n: number, buf: Uint8Array) => this.onRead(n, buf as Buffer) },
    });
    this.socket.setTimeout(timeoutMs, () => this.fail(Object.assign(new Error(`no answer for ${timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    this.socket.on('error', (e) => this.fail(e));
    this.socket.on('close', () => this.fail(Object.assign(new Error('the server closed the connection'), { code: 'ECONNRESET' })));
  }

  send(head: string, p: Pending): void {
    this.pending = p;
    this.used = true;
    this.socket.write(head);
  }

  close(): void {
    this.dead = true;
    this.socket.destroy();
  }

  /** Where the next read lands: the rest of the caller's buffer while a 200 body is expected, else scratch. */
  private nextBuffer(): Buffer {
    const p = this.pending;
    if (p && p.length >= 0 && p.status === 200 && p.filled < p.into.length) return p.into.subarray(p.filled);
    return this.scratch;
  }

  /** Takes one read; false stops reading (the connection is finished with). */
  private onRead(n: number, buf: Buffer): boolean {
    const p = this.pending;
    if (!p) {
      // Bytes nobody asked for: the connection is out of step, never reused.
      this.close();
      this.onDead(this);
      return false;
    }
    p.answered = true;
    if (buf !== this.scratch) {
      // Straight into place (nextBuffer handed out the rest of `into`).
      p.filled += n;
      p.received += n;
    } else if (p.length < 0) {
      if (!this.readHead(p, buf.subarray(0, n))) return !this.dead;
    } else {
      this.body(p, buf.subarray(0, n));
    }
    this.maybeDone(p);
    return !this.dead;
  }

  /** Collects head bytes; once the head is whole, parses it and takes the body bytes that followed. */
  private readHead(p: Pending, bytes: Buffer): boolean {
    p.head.push(Buffer.from(bytes));
    p.headBytes += bytes.length;
    const all = p.head.length === 1 ? p.head[0]! : Buffer.concat(p.head);
    const end = all.indexOf('\r\n\r\n');
    if (end < 0) {
      if (p.headBytes > HEAD_LIMIT) this.fail(Object.assign(new Error(`an answer's head is over ${HEAD_LIMIT} bytes`), { code: 'EPROTO' }));
      return false;
    }
    p.head = [];
    const lines = all.subarray(0, end).toString('latin1').split('\r\n');
    const m = /^HTTP\/1\.([01]) (\d{3})/.exec(lines[0]!);
    if (!m) {
      this.fail(Object.assign(new Error(`not an HTTP/1.x answer: ${JSON.stringify(lines[0]!.slice(0, 40))}`), { code: 'EPROTO' }));
      return false;
    }
    p.status = Number(m[2]);
    p.keepAlive = m[1] === '1';
    let length = -1;
    let framed = true;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i]!;
      const colon = line.indexOf(':');
      if (colon <= 0) continue;
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      if (name === 'content-length') {
        if (!/^\d+$/.test(value) || (length >= 0 && Number(value) !== length)) framed = false;
        length = Number(value);
      } else if (name === 'transfer-encoding') framed = false;
      else if (name === 'connection') p.keepAlive = !/close/i.test(value) && (m[1] === '1' || /keep-alive/i.test(value));
      else if (name === 'retry-after') p.retryAfter = value;
    }
    if (p.status < 200 || !framed || length < 0) {
      // 1xx, chunked or close-delimited: not for this client.
      this.fail(new NeedsFallback(`HTTP ${p.status} answer not framed by Content-Length`));
      return false;
    }
    p.length = length;
    this.body(p, all.subarray(end + 4));
    return true;
  }

  /** Body bytes that landed in scratch: the first after the head, a 200 body past `into`, or an error body. */
  private body(p: Pending, bytes: Buffer): void {
    if (bytes.length === 0) return;
    if (p.status === 200) {
      const k = Math.min(bytes.length, p.into.length - p.filled);
      bytes.copy(p.into, p.filled, 0, k);
      p.filled += k;
    } else {
      if (p.errorBytes < p.errorBodyLimit) p.errorBody.push(Buffer.from(bytes.subarray(0, p.errorBodyLimit - p.errorBytes)));
      p.errorBytes += bytes.length;
    }
    p.received += bytes.length;
  }

  private maybeDone(p: Pending): void {
    const full = p.status === 200 && p.filled === p.into.length && p.received < p.length;
    if (p.received > p.length) {
      this.fail(Object.assign(new Error('the server sent more than its Content-Length'), { code: 'EPROTO' }));
      return;
    }
    if (p.received < p.length && !full) return;
    this.pending = null;
    if (full || !p.keepAlive) this.close(); // a longer object's rest is not read: the connection goes
    p.resolve({ status: p.status, bytes: p.status === 200 ? p.filled : 0, retryAfter: p.retryAfter, errorBody: Buffer.concat(p.errorBody).toString('utf8') });
    if (this.dead) this.onDead(this);
    else this.onIdle(this);
  }

  private fail(e: Error): void {
    if (this.dead && !this.pending) return;
    const p = this.pending;
    this.pending = null;
    this.close();
    this.onDead(this);
    p?.reject(e);
  }
}

/**
 * A small pool of keep-alive connections to one http:// origin that answers GETs into caller buffers,
 * with the result shape of dispatchInto (fill.ts): the status, the bytes copied for a 200, a retry-after,
 * and the start of any other answer's body.
 */
export class HttpIntoPool {
  private readonly host: string;
  private readonly port: number;
  private readonly hostHeader: string;
  private readonly idle: Connection[] = [];
  private readonly all = new Set<Connection>();
  private readonly waiting: Array<() => void> = [];
  private closed = false;

  constructor(origin: string, private readonly opts: HttpIntoOptions) {
    const u = new URL(origin);
    if (u.protocol !== 'http:') throw new Error(`HttpIntoPool: http:// only, not ${u.protocol}`);
    this.host = u.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(u.port || 80);
    this.hostHeader = u.host;
  }

  async getInto(path: string, headers: Record<string, string>, into: Buffer, errorBodyLimit = 0): Promise<DispatchedFill> {
    let head = `GET ${path} HTTP/1.1\r\nhost: ${this.hostHeader}\r\n`;
    for (const [k, v] of Object.entries(headers)) {
      if (k.toLowerCase() === 'host') continue;
      if (/[\r\n]/.test(k + v)) throw new Error(`header ${k} holds a line break`);
      head += `${k}: ${v}\r\n`;
    }
    head += '\r\n';
    for (;;) {
      const c = await this.acquire();
      const reused = c.used;
      let p!: Pending;
      try {
        return await new Promise<DispatchedFill>((resolve, reject) => {
          p = { into, errorBodyLimit, head: [], headBytes: 0, status: 0, length: -1, received: 0, filled: 0, errorBody: [], errorBytes: 0, keepAlive: true, answered: false, resolve, reject };
          c.send(head, p);
        });
      } catch (e) {
        // A server may close an idle connection just as a request goes out on it: such a request is
        // sent again on a fresh connection (a GET changes nothing).
        if (reused && !p.answered && !(e instanceof NeedsFallback) && !this.closed) continue;
        throw e;
      }
    }
  }

  close(): void {
    this.closed = true;
    for (const c of this.all) c.close();
    this.all.clear();
    this.idle.length = 0;
    for (const w of this.waiting.splice(0)) w();
  }

  private async acquire(): Promise<Connection> {
    for (;;) {
      if (this.closed) throw new Error('the connection pool is closed');
      const c = this.idle.pop();
      if (c && !c.dead) {
        c.socket.ref();
        return c;
      }
      if (c) continue;
      if (this.all.size < this.opts.connections) {
        const fresh = new Connection(this.host, this.port, this.opts.timeoutMs, (x) => this.release(x), (x) => this.drop(x));
        this.all.add(fresh);
        return fresh;
      }
      await new Promise<void>((res) => this.waiting.push(res));
    }
  }

  private release(c: Connection): void {
    if (this.closed) return c.close();
    c.socket.unref(); // an idle connection does not keep the process alive
    this.idle.push(c);
    this.waiting.shift()?.();
  }

  private drop(c: Connection): void {
    if (!this.all.delete(c)) return;
    const i = this.idle.indexOf(c);
    if (i >= 0) this.idle.splice(i, 1);
    this.waiting.shift()?.();
  }
}

/**
 * GETs into caller buffers for an HTTP driver: HttpIntoPool for an http:// origin, undici's dispatch API
 * (dispatchInto) for https:// or once a server's answer needed the fallback. CKPTSYNC_GET_CLIENT=undici
 * picks undici always (to compare the two).
 */
export class GetInto {
  private readonly direct?: HttpIntoPool;
  private fallback = false;

  constructor(origin: string, private readonly dispatcher: Dispatcher, opts: HttpIntoOptions) {
    if (origin.startsWith('http:') && process.env.CKPTSYNC_GET_CLIENT !== 'undici') this.direct = new HttpIntoPool(origin, opts);
  }

  async get(path: string, headers: Record<string, string>, into: Buffer, errorBodyLimit = 0): Promise<DispatchedFill> {
    if (this.direct && !this.fallback) {
      try {
        return await this.direct.getInto(path, headers, into, errorBodyLimit);
      } catch (e) {
        if (!(e instanceof NeedsFallback)) throw e;
        this.fallback = true; // requests in flight on the direct pool finish there
      }
    }
    return dispatchInto(this.dispatcher, { method: 'GET', path, headers }, into, errorBodyLimit);
  }

  close(): void {
    this.direct?.close();
  }
}
