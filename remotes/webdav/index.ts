// Remote driver: a WebDAV share (Apache mod_dav, Nextcloud/ownCloud, rclone serve webdav, ...).
// URLs: webdav://[user[:pass]@]host[:port]/base/path (http) and webdavs://... (https, certificates
// verified; `caFile` trusts an extra CA). Objects are files at <base>/<key>; uploads PUT a temporary
// name in the same collection, then MOVE it into place, so readers never see a partial object
// (chunks excepted: they are PUT in place, see putChunk).
// swapDocument holds a lock made of an atomic MKCOL while it compares content and replaces the document;
// README.md ("Compare-and-swap") says why neither ETags nor WebDAV LOCK are used.

import crypto from 'node:crypto';
import fs from 'node:fs';
import tls from 'node:tls';
import { Readable } from 'node:stream';
import { Pool, type Dispatcher } from '../kit/undici.js';
import { rangeOf, type DispatchedFill } from '../kit/fill.js';
import { HttpDataPath } from '../kit/http-into.js';
import { lockedSwap } from '../kit/swap.js';
import { walkTree } from '../kit/walk.js';
import {
  AuthError,
  ConfigError,
  DOCUMENT_MAX_BYTES,
  NotFoundError,
  TransientError,
  UsageError,
  bufferSource,
  handleOf,
  isRetryable,
  readAll,
  redactSecrets,
  type ByteRange,
  type ByteSource,
  type ObjectInfo,
  type Remote,
  type RemoteFactory,
  type RemoteSettings,
} from '../../src/remote/index.js';
import { options, parseConfig, type WebdavConfig } from './config.js';
import { answerError, requestError } from './errors.js';
import { HIDDEN_PREFIX, LOCK_PREFIX, PROPFIND_BODY, TMP_PREFIX, hrefPath, parseMultistatus, versionOf, type DavEntry } from './wire.js';

export type { WebdavConfig } from './config.js';

/** Collections listed at once by list(). */
const LIST_PARALLEL = 8;

type Response = Dispatcher.ResponseData;

export class WebdavRemote implements Remote {
  readonly features = { defaultConcurrency: 16, casMethod: 'mkcol-lock', rangedGet: true };
  readonly displayUrl: string;
  private readonly pool: Pool;
  /** Chunk GETs into caller buffers (readInto) and chunk PUTs of buffers: own connections on http://, the pool on https://. */
  private readonly data: HttpDataPath;
  private readonly authHeader?: string;
  /** Collections known to exist (decoded-free, encoded URL paths), and MKCOLs in flight. */
  private readonly knownDirs = new Set<string>();
  private readonly dirsInFlight = new Map<string, Promise<void>>();

  constructor(private readonly config: WebdavConfig, ca?: Buffer) {
    this.displayUrl = config.displayUrl;
    const creds = config.auth.credentials;
    if (creds) this.authHeader = 'Basic ' + Buffer.from(`${creds.user}:${creds.password}`).toString('base64');
    this.pool = new Pool(config.origin, {
      connections: config.connections,
      pipelining: 1,
      keepAliveTimeout: 30_000,
      // Both are idle timeouts: a stalled server is dropped and retried; a slow but moving body is not cut.
      headersTimeout: config.timeoutMs,
      bodyTimeout: config.timeoutMs,
      connectTimeout: Math.min(10_000, config.timeoutMs),
      connect: { rejectUnauthorized: true, ...(ca ? { ca } : {}) },
    });
    this.data = new HttpDataPath(config.origin, this.pool, { connections: config.connections, timeoutMs: config.timeoutMs });
  }

  // --- paths -------------------------------------------------------------------------------------

  private pathOf(key: string): string {
    const segs = key.split('/');
    if (segs.some((s) => s === '' || s === '.' || s === '..')) throw new UsageError(`invalid remote key: ${JSON.stringify(key)}`);
    return `${this.config.basePath}/${segs.map(encodeURIComponent).join('/')}`;
  }

  private dirPathOf(dirKey: string): string {
    return dirKey ? this.pathOf(dirKey) : this.config.basePath;
  }

  // --- HTTP --------------------------------------------------------------------------------------

  private async send(
    method: string,
    path: string,
    key: string,
    opts: { headers?: Record<string, string>; body?: string | Buffer | Readable } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = { ...opts.headers };
    if (this.authHeader) headers.authorization = this.authHeader;
    try {
      return await this.pool.request({ method: method as Dispatcher.HttpMethod, path, headers, body: opts.body });
    } catch (e) {
      throw this.requestError(e, method, key);
    }
  }

  private requestError(e: unknown, method: string, key: string): unknown {
    return requestError(e, `${method} ${key || '/'} on ${this.displayUrl}`, key);
  }

  /** Turns an unexpected answer into a typed error, after draining the body to free the connection. */
  private async fail(res: Response, method: string, key: string): Promise<never> {
    await res.body.dump().catch(() => {});
    throw answerError(res.statusCode, `${method} ${key || '/'} on ${this.displayUrl}`, key, this.config.auth, this.displayUrl, res.headers['retry-after']);
  }

  private async expect(res: Response, ok: number[], method: string, key: string): Promise<void> {
    if (!ok.includes(res.statusCode)) await this.fail(res, method, key);
    await res.body.dump().catch(() => {});
  }

  // --- collections -------------------------------------------------------------------------------

  /** Creates the collection at an encoded path and its missing parents; remembers what exists. */
  private ensureCollection(path: string): Promise<void> {
    if (path === '' || this.knownDirs.has(path)) return Promise.resolve();
    let p = this.dirsInFlight.get(path);
    if (!p) {
      p = this.mkcol(path).finally(() => this.dirsInFlight.delete(path));
      this.dirsInFlight.set(path, p);
    }
    return p;
  }

  private async mkcol(path: string): Promise<void> {
    for (let tries = 0; ; tries++) {
      const res = await this.send('MKCOL', `${path}/`, '');
      // 201 created; 405 already exists (RFC 4918 9.3.1).
      if (res.statusCode === 201 || res.statusCode === 405) {
        await res.body.dump().catch(() => {});
        this.knownDirs.add(path);
        return;
      }
      // 403: Apache's answer to the loser of two simultaneous MKCOLs; fine if the collection is there.
      if (res.statusCode === 403) {
        await res.body.dump().catch(() => {});
        if (await this.collectionExists(path)) {
          this.knownDirs.add(path);
          return;
        }
        throw new AuthError(`MKCOL ${path} on ${this.displayUrl}: permission denied (HTTP 403)`, { status: 403 });
      }
      // 409: a parent is missing; create it, then try again.
      if (res.statusCode === 409 && tries === 0) {
        await res.body.dump().catch(() => {});
        await this.ensureCollection(path.slice(0, path.lastIndexOf('/')));
        continue;
      }
      await this.fail(res, 'MKCOL', decodeURIComponent(path.slice(this.config.basePath.length + 1)));
    }
  }

  // --- objects -----------------------------------------------------------------------------------

  async stat(key: string): Promise<ObjectInfo | null> {
    const res = await this.send('HEAD', this.pathOf(key), key);
    if (res.statusCode === 404) {
      await res.body.dump().catch(() => {});
      return null;
    }
    if (res.statusCode !== 200) await this.fail(res, 'HEAD', key);
    await res.body.dump().catch(() => {});
    const size = Number(res.headers['content-length']);
    const mtime = Date.parse(String(res.headers['last-modified'] ?? ''));
    return { key, size: Number.isFinite(size) ? size : 0, ...(Number.isFinite(mtime) ? { mtimeMs: mtime } : {}) };
  }

  async put(key: string, source: ByteSource): Promise<void> {
    const dest = this.pathOf(key);
    const dir = dest.slice(0, dest.lastIndexOf('/'));
    await this.ensureCollection(dir);
    if (handleOf(key)?.kind === 'chunk') return this.putChunk(key, dest, dir, source);
    const tmp = `${dir}/${TMP_PREFIX}${crypto.randomBytes(8).toString('hex')}`;
    let moved = false;
    try {
      const res = await this.send('PUT', tmp, key, {
        headers: { 'content-length': String(source.size), 'content-type': 'application/octet-stream' },
        body: source.buffer ?? source.open(),
      });
      if (res.statusCode === 409) this.knownDirs.delete(dir); // someone removed the collection
      await this.expect(res, [200, 201, 204], 'PUT', key);
      const mv = await this.send('MOVE', tmp, key, { headers: { destination: this.config.origin + dest, overwrite: 'T' } });
      await this.expect(mv, [201, 204], 'MOVE', key);
      moved = true;
    } finally {
      // Best effort: a temp file left by a failure is hidden from list() and harmless.
      if (!moved) void this.send('DELETE', tmp, key).then((r) => r.body.dump()).catch(() => {});
    }
  }

  /**
   * Chunks skip the temp name and MOVE: one request instead of two (README, "Speed"). A chunk's name is
   * its hash, every read is verified against it, and a push counts a chunk as uploaded only once its
   * PUT was answered, so a partial chunk is never trusted. `If-None-Match: *` keeps an upload from
   * rewriting a chunk that is already there (a server that writes PUT bodies in place would expose a
   * short file meanwhile, or leave one if the upload dies); only a copy of the wrong size is replaced.
   */
  private async putChunk(key: string, dest: string, dir: string, source: ByteSource): Promise<void> {
    const headers = { 'content-length': String(source.size), 'content-type': 'application/octet-stream' };
    const put = (h: Record<string, string>) => (source.buffer ? this.putBuffer(dest, key, h, source.buffer) : this.send('PUT', dest, key, { headers: h, body: source.open() }));
    const res = await put({ ...headers, 'if-none-match': '*' });
    if (res.statusCode === 412) {
      await res.body.dump().catch(() => {});
      if ((await this.stat(key))?.size === source.size) return;
      const again = await put(headers);
      return this.expect(again, [200, 201, 204], 'PUT', key);
    }
    if (res.statusCode === 409) this.knownDirs.delete(dir); // someone removed the collection
    await this.expect(res, [200, 201, 204], 'PUT', key);
  }

  /** A chunk PUT of a buffer on the data path (its own connections on http://), answered as send() answers. */
  private async putBuffer(path: string, key: string, headers: Record<string, string>, body: Buffer): Promise<Response> {
    const h: Record<string, string> = { ...headers };
    if (this.authHeader) h.authorization = this.authHeader;
    let r: DispatchedFill;
    try {
      r = await this.data.put(path, h, body);
    } catch (e) {
      throw this.requestError(e, 'PUT', key);
    }
    return answered(r);
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    if (range && range.length === 0) {
      if (!(await this.stat(key))) throw new NotFoundError(`not found on remote: ${key}`, { key });
      return Readable.from([]);
    }
    const headers: Record<string, string> = range ? { range: `bytes=${range.offset}-${range.offset + range.length - 1}` } : {};
    const res = await this.send('GET', this.pathOf(key), key, { headers });
    if (res.statusCode === 206 && range) return res.body;
    if (res.statusCode === 200) {
      // A server that ignores Range sends the whole object: cut the range out of the stream.
      return range ? Readable.from(rangeOf(res.body, range.offset, range.length)) : res.body;
    }
    return this.fail(res, 'GET', key);
  }

  /**
   * A GET into the caller's buffer without a body stream: on http:// the socket reads straight into it
   * (remotes/kit/http-into.ts); on https:// undici's handler copies each piece in (dispatchInto).
   */
  async readInto(key: string, into: Buffer): Promise<number> {
    const headers: Record<string, string> = {};
    if (this.authHeader) headers.authorization = this.authHeader;
    const path = this.pathOf(key);
    let r: DispatchedFill;
    try {
      r = await this.data.get(path, headers, into);
    } catch (e) {
      throw this.requestError(e, 'GET', key);
    }
    if (r.status === 200) return r.bytes;
    return this.fail(answered(r), 'GET', key);
  }

  list(prefix: string): AsyncIterable<ObjectInfo> {
    // A level at a time (Depth: infinity is disabled on most servers), a few PROPFINDs in flight.
    return walkTree(prefix, async (dirKey) => (await this.listCollection(dirKey)).map((c) => ({ name: c.name, dir: c.collection, size: c.size, mtimeMs: c.mtimeMs })), LIST_PARALLEL);
  }

  /** A 207 answer's entries; a body that is not a multistatus is a server failure worth a retry, never a plain Error. */
  private async multistatus(res: Response, key: string): Promise<DavEntry[]> {
    try {
      return parseMultistatus(await res.body.text());
    } catch (e) {
      throw new TransientError(`PROPFIND ${key || '/'} on ${this.displayUrl}: ${(e as Error).message}`, { key }, { cause: e });
    }
  }

  /** The members of a collection (PROPFIND Depth 1), or none if it does not exist. */
  private async listCollection(dirKey: string): Promise<Array<DavEntry & { name: string }>> {
    const path = this.dirPathOf(dirKey);
    const res = await this.send('PROPFIND', `${path}/`, dirKey, {
      headers: { depth: '1', 'content-type': 'application/xml; charset=utf-8' },
      body: PROPFIND_BODY,
    });
    if (res.statusCode === 404) {
      await res.body.dump().catch(() => {});
      return [];
    }
    if (res.statusCode !== 207) await this.fail(res, 'PROPFIND', dirKey);
    const entries = await this.multistatus(res, dirKey);
    const self = hrefPath(path || '/');
    const out: Array<DavEntry & { name: string }> = [];
    for (const e of entries) {
      const p = hrefPath(e.href);
      if (p === self || p.length <= self.length) continue;
      const name = p.slice(p.lastIndexOf('/') + 1);
      if (!name || name.startsWith(HIDDEN_PREFIX)) continue;
      out.push({ ...e, name });
    }
    return out;
  }

  async delete(key: string): Promise<void> {
    const res = await this.send('DELETE', this.pathOf(key), key);
    await this.expect(res, [200, 204, 404], 'DELETE', key);
  }

  // --- documents ---------------------------------------------------------------------------------

  async readDocument(key: string) {
    const res = await this.send('GET', this.pathOf(key), key);
    if (res.statusCode === 404) {
      await res.body.dump().catch(() => {});
      return null;
    }
    if (res.statusCode !== 200) await this.fail(res, 'GET', key);
    const data = await readAll(res.body, DOCUMENT_MAX_BYTES);
    return { data, version: versionOf(data) };
  }

  async swapDocument(key: string, data: Buffer, expected: string | null): Promise<string | null> {
    return lockedSwap(expected, {
      lock: () => this.lock(key),
      version: async () => (await this.readDocument(key))?.version ?? null,
      write: async () => {
        await this.put(key, bufferSource(data));
        return versionOf(data);
      },
    });
  }

  /**
   * Takes the document's lock: a collection `.ckpt-lock-<name>` beside it. MKCOL succeeds for exactly
   * one of many racing clients (it is a mkdir on the server); the others wait. A lock older than
   * lockStaleMs, by the server's clock, was left by a crashed writer and is broken.
   */
  private async lock(key: string): Promise<() => Promise<void>> {
    const docPath = this.pathOf(key);
    const dir = docPath.slice(0, docPath.lastIndexOf('/'));
    const lockPath = `${dir}/${LOCK_PREFIX}${docPath.slice(dir.length + 1)}`;
    await this.ensureCollection(dir);
    const started = Date.now();
    let lastStaleCheck = started;
    const pause = (attempt: number) => sleep(Math.min(250, 5 * 2 ** Math.min(attempt, 6)) * (0.5 + Math.random()));
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await this.send('MKCOL', `${lockPath}/`, key);
        if (res.statusCode !== 201 && res.statusCode !== 405 && res.statusCode !== 403 && res.statusCode !== 409) await this.fail(res, 'MKCOL', key);
      } catch (e) {
        // A network failure or a 503 while waiting is one more "not yet", up to lockWaitMs: the wait for
        // a stale lock (perhaps our own, if an earlier MKCOL's answer was lost) makes many attempts, and
        // each must not spend a retry of the whole swap.
        if (!isRetryable(e) || Date.now() - started > this.config.lockWaitMs) throw e;
        await pause(attempt);
        continue;
      }
      if (res.statusCode === 201) {
        await res.body.dump().catch(() => {});
        return () => this.unlock(lockPath, key);
      }
      if (res.statusCode === 409) {
        await res.body.dump().catch(() => {});
        this.knownDirs.delete(dir);
        await this.ensureCollection(dir);
        continue;
      }
      // 405: the lock exists. 403: Apache's answer to the loser of a simultaneous mkdir.
      await res.body.dump().catch(() => {});
      const now = Date.now();
      if (now - lastStaleCheck > 2000) {
        lastStaleCheck = now;
        await this.breakStaleLock(lockPath, key).catch((e: unknown) => {
          if (!isRetryable(e)) throw e; // else: looked at again on the next check
        });
      }
      if (now - started > this.config.lockWaitMs) {
        if (res.statusCode === 403 && !(await this.collectionExists(lockPath))) {
          throw new AuthError(`${this.displayUrl}: permission denied creating ${key}'s lock (HTTP 403)`, { key });
        }
        throw new TransientError(
          `${key} on ${this.displayUrl} is locked by another writer; a lock left by a crashed writer is broken after ${Math.round(this.config.lockStaleMs / 1000)} s`,
          { key },
        );
      }
      await pause(attempt);
    }
  }

  private async unlock(lockPath: string, key: string): Promise<void> {
    for (let tries = 0; tries < 3; tries++) {
      try {
        const res = await this.send('DELETE', `${lockPath}/`, key);
        await this.expect(res, [200, 204, 404], 'DELETE', key);
        return;
      } catch {
        // A lock we fail to remove goes stale and is broken by the next writer.
        await sleep(50 * (tries + 1));
      }
    }
  }

  private async collectionExists(path: string): Promise<boolean> {
    const res = await this.send('PROPFIND', `${path}/`, '', {
      headers: { depth: '0', 'content-type': 'application/xml; charset=utf-8' },
      body: PROPFIND_BODY,
    });
    await res.body.dump().catch(() => {});
    return res.statusCode === 207;
  }

  private async breakStaleLock(lockPath: string, key: string): Promise<void> {
    const res = await this.send('PROPFIND', `${lockPath}/`, key, {
      headers: { depth: '0', 'content-type': 'application/xml; charset=utf-8' },
      body: PROPFIND_BODY,
    });
    if (res.statusCode !== 207) {
      await res.body.dump().catch(() => {});
      return;
    }
    const serverNow = Date.parse(String(res.headers.date ?? '')) || Date.now();
    const [entry] = await this.multistatus(res, key);
    const born = entry?.createdMs ?? entry?.mtimeMs;
    if (born === undefined || serverNow - born < this.config.lockStaleMs) return;
    // Move it aside first: a rename succeeds for one breaker only, so two breakers do not both
    // delete (one of them a fresh lock taken in between).
    const aside = `${lockPath}.broken-${crypto.randomBytes(6).toString('hex')}`;
    const mv = await this.send('MOVE', `${lockPath}/`, key, { headers: { destination: `${this.config.origin}${aside}/`, overwrite: 'F' } });
    await mv.body.dump().catch(() => {});
    if (mv.statusCode === 201 || mv.statusCode === 204) {
      const del = await this.send('DELETE', `${aside}/`, key);
      await del.body.dump().catch(() => {});
    }
  }

  async exists(): Promise<boolean> {
    const res = await this.send('PROPFIND', `${this.config.basePath}/`, '', {
      headers: { depth: '0', 'content-type': 'application/xml; charset=utf-8' },
      body: PROPFIND_BODY,
    });
    if (res.statusCode === 404) {
      await res.body.dump().catch(() => {});
      return false;
    }
    if (res.statusCode !== 207) await this.fail(res, 'PROPFIND', '');
    const [entry] = await this.multistatus(res, '');
    if (entry && !entry.collection) throw new UsageError(`${this.displayUrl} is a file, not a collection (folder)`);
    return true;
  }

  async close(): Promise<void> {
    this.data.close();
    await this.pool.close();
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

export const webdavRemote = {
  schemes: ['webdav', 'webdavs'],
  options,
  parse: (url: string, settings: RemoteSettings = {}) => parseConfig(url, settings),
  async create(config: WebdavConfig): Promise<Remote> {
    let ca: Buffer | undefined;
    if (config.caFile) {
      try {
        // Node's `ca` replaces the default roots; keep them so the extra CA is added, not substituted.
        ca = Buffer.from([...tls.rootCertificates, fs.readFileSync(config.caFile, 'utf8')].join('\n'));
      } catch (e) {
        throw new ConfigError(`cannot read caFile ${config.caFile}: ${(e as Error).message}`);
      }
    }
    return new WebdavRemote(config, ca);
  },
  redact: (url: string) => redactSecrets(url),
} satisfies RemoteFactory<WebdavConfig>;

export default webdavRemote;

/** A data-path answer (its body already read) in the shape of undici's, for fail() and expect(). */
function answered(r: DispatchedFill): Response {
  return { statusCode: r.status, headers: r.retryAfter ? { 'retry-after': r.retryAfter } : {}, body: { dump: async () => {} } } as unknown as Response;
}
