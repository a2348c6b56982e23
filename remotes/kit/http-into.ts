// Chunk data over plain HTTP/1.1 without undici, for the HTTP drivers (WebDAV, S3 on an http://
// endpoint): GETs into pull's buffers (readInto) and PUTs of push's buffers. Each connection reads from
// the kernel straight into the caller's buffer (net's `onread` with a buffer function): no piece is
// allocated per read and nothing is copied once the headers are parsed. 1 GiB of 1 MiB objects from
// Apache over loopback, 16 at once, hashed and written to a file: ~630-790 MB/s, 1.7-2.2 CPU-s, 91 MiB
// peak RSS, against 315-440 MB/s, 3.3-4.9 CPU-s and 143-147 MiB through undici's dispatch API.
// 512 PUTs of 1 MiB: 695-912 vs 439-564 MB/s, 0.2-0.3 vs 0.4-0.7 client CPU-s (remotes/webdav/README.md).
//
// Deliberately small: one request at a time per connection, answers delimited by Content-Length, and
// only requests that may be sent twice (a GET, a PUT of a chunk under its hash). An answer framed any
// other way (chunked, or up to the close) is not parsed: HttpDataPath falls back to undici for good
// (`NeedsFallback`) so that no server is misread. https stays on undici, which holds the TLS settings.

import diagnostics from 'node:diagnostics_channel';
import net from 'node:net';
import { bodyStart, dispatchInto, type DispatchedFill } from './fill.js';
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

/** Every request this client sends, as `{method, path}` (as undici's `undici:request:create`): for tests and tracing. */
export const requestChannel = diagnostics.channel('ckptsync:http-into:request');

/** Largest response head accepted. */
const HEAD_LIMIT = 64 << 10;
const SCRATCH = 64 << 10;

interface Pending {
  /** Where a 200 answer's body goes; null: it is only counted (and its start kept, as for other statuses). */
  into: Buffer | null;
  errorBodyLimit: number;
  /** Head bytes so far, while the head is incomplete. */
  head: Buffer[];
  status: number;
  retryAfter?: string;
  /** Headers of an answer other than 200, names in lower case (for the caller's error mapping). */
  headers?: Record<string, string>;
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

  send(head: string, body: Buffer | null, p: Pending): void {
    this.pending = p;
    this.used = true;
    if (!body?.length) return void this.socket.write(head);
    this.socket.cork();
    this.socket.write(head);
    this.socket.write(body);
    this.socket.uncork();
  }

  close(): void {
    this.dead = true;
    this.socket.destroy();
  }

  /** Where the next read lands: the rest of the caller's buffer while a 200 body is expected, else scratch. */
  private nextBuffer(): Buffer {
    const p = this.pending;
    if (p?.into && p.length >= 0 && p.status === 200 && p.filled < p.into.length) return p.into.subarray(p.filled);
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
    const all = p.head.length === 1 ? p.head[0]! : Buffer.concat(p.head);
    const end = all.indexOf('\r\n\r\n');
    if (end < 0) {
      if (all.length > HEAD_LIMIT) this.fail(Object.assign(new Error(`an answer's head is over ${HEAD_LIMIT} bytes`), { code: 'EPROTO' }));
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
      if (p.status !== 200) (p.headers ??= {})[name] = value;
    }
    // 204 and 304 have no body, whatever their headers say (RFC 9112, 6.3): Apache answers a PUT that
    // replaced a file with a bare 204.
    if (p.status === 204 || p.status === 304) {
      length = 0;
      framed = true;
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
    if (p.status === 200 && p.into) {
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
    const full = p.status === 200 && p.into !== null && p.filled === p.into.length && p.received < p.length;
    if (p.received > p.length) {
      this.fail(Object.assign(new Error('the server sent more than its Content-Length'), { code: 'EPROTO' }));
      return;
    }
    if (p.received < p.length && !full) return;
    this.pending = null;
    if (full || !p.keepAlive) this.close(); // a longer object's rest is not read: the connection goes
    p.resolve({ status: p.status, bytes: p.status === 200 && p.into ? p.filled : 0, retryAfter: p.retryAfter, headers: p.headers, errorBody: Buffer.concat(p.errorBody).toString('utf8') });
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
 * A small pool of keep-alive connections to one http:// origin for GETs into caller buffers and PUTs of
 * buffers, answering in the shape of dispatchInto (fill.ts): the status, the bytes copied for a 200, a
 * retry-after, and the start of any other answer's body.
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
    return this.request('GET', path, headers, null, into, errorBodyLimit);
  }

  /**
   * One request, with `body` (its content-length is set here) or none. A 200 answer's body is copied
   * into `into` (null: counted only); the start of any other answer's body is kept up to errorBodyLimit.
   * Only for requests that may be sent twice: a request on a reused connection that the server closed
   * before any answer is sent again on a fresh one.
   */
  async request(method: string, path: string, headers: Record<string, string>, body: Buffer | null, into: Buffer | null, errorBodyLimit = 0): Promise<DispatchedFill> {
    let head = `${method} ${path} HTTP/1.1\r\nhost: ${this.hostHeader}\r\n`;
    for (const [k, v] of Object.entries(headers)) {
      const name = k.toLowerCase();
      if (name === 'host' || name === 'content-length') continue;
      if (/[\r\n]/.test(k + v)) throw new Error(`header ${k} holds a line break`);
      head += `${k}: ${v}\r\n`;
    }
    if (body) head += `content-length: ${body.length}\r\n`;
    head += '\r\n';
    for (;;) {
      const c = await this.acquire();
      if (requestChannel.hasSubscribers) requestChannel.publish({ method, path });
      const reused = c.used;
      let p!: Pending;
      try {
        return await new Promise<DispatchedFill>((resolve, reject) => {
          p = { into, errorBodyLimit, head: [], status: 0, length: -1, received: 0, filled: 0, errorBody: [], errorBytes: 0, keepAlive: true, answered: false, resolve, reject };
          c.send(head, body, p);
        });
      } catch (e) {
        // A server may close an idle connection just as a request goes out on it: such a request is
        // sent again on a fresh connection.
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
 * Chunk requests for an HTTP driver: GETs into caller buffers and PUTs of buffers, on HttpIntoPool for an
 * http:// origin, on undici (`dispatcher`) for https:// or once a server's answer needed the fallback.
 * CKPTSYNC_GET_CLIENT=undici picks undici always (to compare the two).
 */
export class HttpDataPath {
  private readonly direct?: HttpIntoPool;
  private fallback = false;

  constructor(origin: string, private readonly dispatcher: Dispatcher, opts: HttpIntoOptions) {
    if (origin.startsWith('http:') && process.env.CKPTSYNC_GET_CLIENT !== 'undici') this.direct = new HttpIntoPool(origin, opts);
  }

  /** A GET whose 200 body lands in `into` (dispatchInto's contract). */
  async get(path: string, headers: Record<string, string>, into: Buffer, errorBodyLimit = 0): Promise<DispatchedFill> {
    return (await this.viaDirect((d) => d.getInto(path, headers, into, errorBodyLimit))) ?? dispatchInto(this.dispatcher, { method: 'GET', path, headers }, into, errorBodyLimit);
  }

  /**
   * A PUT of `body` (content-length set here): the answer's status, retry-after and the start of its
   * body. Only for PUTs that may be sent twice (a chunk under its hash).
   */
  async put(path: string, headers: Record<string, string>, body: Buffer, errorBodyLimit = 0): Promise<DispatchedFill> {
    const direct = await this.viaDirect((d) => d.request('PUT', path, headers, body, null, errorBodyLimit));
    if (direct) return direct;
    const res = await this.dispatcher.request({ method: 'PUT', path, headers: { ...headers, 'content-length': String(body.length) }, body });
    const errorBody = errorBodyLimit > 0 ? await bodyStart(res.body, errorBodyLimit) : (await res.body.dump(), '');
    const retryAfter = res.headers['retry-after'];
    const answered = res.statusCode === 200 ? undefined : Object.fromEntries(Object.entries(res.headers).map(([k, v]) => [k, String(Array.isArray(v) ? v[0] : v)]));
    return { status: res.statusCode, bytes: 0, retryAfter: Array.isArray(retryAfter) ? retryAfter[0] : retryAfter, headers: answered, errorBody };
  }

  close(): void {
    this.direct?.close();
  }

  /** The direct pool's answer, or undefined when undici must answer instead. */
  private async viaDirect(call: (d: HttpIntoPool) => Promise<DispatchedFill>): Promise<DispatchedFill | undefined> {
    if (!this.direct || this.fallback) return undefined;
    try {
      return await call(this.direct);
    } catch (e) {
      if (!(e instanceof NeedsFallback)) throw e;
      this.fallback = true; // requests in flight on the direct pool finish there
      return undefined;
    }
  }
}
