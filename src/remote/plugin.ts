// The stdio plugin host: a remote driver outside the process, in any language, found on PATH as
// `ckptsync-remote-<scheme>` (docs/remote-plugin-protocol.md). One child process per opened remote;
// requests are multiplexed by id, bodies are raw bytes after a JSON line. If the child dies, requests
// in flight fail as transient (so the retry wrapper tries again) and the next request starts a new one.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { AuthError, CkptError, ConfigError, IntegrityError, NotFoundError, redactSecrets, TransientError, UsageError } from '../errors.js';
import { DOCUMENT_MAX_BYTES, type ByteRange, type ByteSource, type ObjectInfo, type Remote, type RemoteFactory, type RemoteFeatures, type RemoteSettings, type VersionedDocument } from './types.js';

export const PLUGIN_PROTOCOL = 1;
export const PLUGIN_PREFIX = 'ckptsync-remote-';

export interface PluginConfig {
  executable: string;
  url: string;
  settings: Record<string, string>;
}

interface Reply {
  head: Record<string, any>;
  body?: Buffer;
}

interface Pending {
  resolve(r: Reply): void;
  reject(e: unknown): void;
  onPage?: (items: ObjectInfo[]) => void;
  onProgress?: (bytes: number) => void;
  /** For get: the body is streamed here instead of buffered, once the reply head has said ok. */
  stream?: PassThrough;
  onHead?: () => void;
  headSeen?: boolean;
}

/** Finds `ckptsync-remote-<scheme>` on PATH, or null. */
export function findPlugin(scheme: string, envPath = process.env.PATH ?? ''): string | null {
  if (!/^[a-z][a-z0-9+.-]*$/.test(scheme)) return null;
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, PLUGIN_PREFIX + scheme);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      if (fs.statSync(p).isFile()) return p;
    } catch {}
  }
  return null;
}

/** The driver factory for one plugin executable. */
export function pluginFactory(scheme: string, executable: string): RemoteFactory<PluginConfig> {
  return {
    schemes: [scheme],
    options: [],
    parse(url: string, settings: RemoteSettings): PluginConfig {
      if (!url.toLowerCase().startsWith(`${scheme}://`)) throw new UsageError(`${redactSecrets(url)} is not a ${scheme}:// URL`);
      const clean: Record<string, string> = {};
      for (const [k, v] of Object.entries(settings)) if (v !== undefined) clean[k] = v;
      return { executable, url, settings: clean };
    },
    async create(config: PluginConfig): Promise<Remote> {
      const r = new PluginRemote(config);
      await r.start();
      return r;
    },
    redact: redactSecrets,
  };
}

export class PluginRemote implements Remote {
  features: RemoteFeatures = { defaultConcurrency: 4, casMethod: 'plugin', rangedGet: false };
  displayUrl: string;
  /** Progress reported by the plugin for put and get: (key, bytes so far). */
  onProgress?: (key: string, bytes: number) => void;

  private child: ChildProcessWithoutNullStreams | null = null;
  private starting: Promise<void> | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;
  /** Optional ops the plugin announced in its init reply (protocol doc, "Requests"). */
  private optionalOps = new Set<string>();
  /** Writes to stdin are queued so that a body is never interleaved with another message. */
  private writeChain: Promise<void> = Promise.resolve();

  constructor(private readonly config: PluginConfig) {
    this.displayUrl = redactSecrets(config.url);
  }

  /** Starts the plugin (if not running) and sends init. */
  async start(): Promise<void> {
    if (this.closed) throw new UsageError(`remote ${this.displayUrl} is closed`);
    if (this.child) return;
    this.starting ??= this.spawnAndInit().finally(() => {
      this.starting = null;
    });
    return this.starting;
  }

  private async spawnAndInit(): Promise<void> {
    const child = spawn(this.config.executable, [], { stdio: ['pipe', 'pipe', 'inherit'] as any }) as ChildProcessWithoutNullStreams;
    const spawned = new Promise<void>((resolve, reject) => {
      child.once('spawn', resolve);
      child.once('error', reject);
    });
    try {
      await spawned;
    } catch (e) {
      throw new ConfigError(`cannot start remote plugin ${this.config.executable}: ${(e as Error).message}`);
    }
    this.child = child;
    child.stdin.on('error', () => {}); // a dead child is reported through 'exit'
    const reader = new FrameReader((head, body) => this.dispatch(head, body), (id) => {
      const p = this.pending.get(id);
      if (!p?.stream) return undefined;
      p.headSeen = true;
      p.onHead?.();
      return p.stream;
    });
    child.stdout.on('data', (b: Buffer) => {
      try {
        reader.push(b);
      } catch (e) {
        this.fail(child, `remote plugin ${path.basename(this.config.executable)} broke the protocol: ${(e as Error).message}`);
        child.kill();
      }
    });
    child.once('exit', (code, sig) => this.fail(child, `remote plugin ${path.basename(this.config.executable)} exited (${sig ?? code})`));
    const r = await this.request({ op: 'init', protocol: PLUGIN_PROTOCOL, url: this.config.url, settings: this.config.settings }, undefined, false);
    if (r.head.protocol !== PLUGIN_PROTOCOL) throw new ConfigError(`remote plugin ${this.config.executable} speaks protocol ${r.head.protocol}, not ${PLUGIN_PROTOCOL}`);
    if (typeof r.head.displayUrl === 'string') this.displayUrl = redactSecrets(r.head.displayUrl);
    if (r.head.features) this.features = { ...this.features, ...r.head.features };
    this.optionalOps = new Set(Array.isArray(r.head.optional) ? r.head.optional.filter((o: unknown) => typeof o === 'string') : []);
  }

  /** Every request in flight on this child fails as transient; the next request starts a new child. */
  private fail(child: ChildProcessWithoutNullStreams, why: string): void {
    if (this.child !== child) return;
    this.child = null;
    const err = new TransientError(why);
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      if (p.headSeen) p.stream?.destroy(err);
      p.reject(err);
    }
  }

  private dispatch(head: Record<string, any>, body: Buffer | undefined): void {
    const p = this.pending.get(head.id);
    if (!p) return;
    if (Array.isArray(head.page)) return p.onPage?.(head.page);
    if (typeof head.progress === 'number' && head.ok === undefined) return p.onProgress?.(head.progress);
    this.pending.delete(head.id);
    if (head.ok === true) {
      p.stream?.end();
      p.resolve({ head, body });
    } else {
      const err = errorFromPlugin(head.error);
      if (p.headSeen) p.stream?.destroy(err);
      p.reject(err);
    }
  }

  private async request(msg: Record<string, unknown>, body?: ByteSource, ensure = true, extra: Omit<Pending, 'resolve' | 'reject'> = {}): Promise<Reply> {
    if (ensure) await this.start();
    const child = this.child;
    if (!child) throw new TransientError(`remote plugin ${path.basename(this.config.executable)} is not running`);
    const id = this.nextId++;
    const reply = new Promise<Reply>((resolve, reject) => this.pending.set(id, { resolve, reject, ...extra }));
    const head = JSON.stringify(body ? { id, ...msg, bytes: body.size } : { id, ...msg }) + '\n';
    const write = this.writeChain.then(() => writeFrame(child, head, body));
    this.writeChain = write.catch(() => {});
    write.catch((e) => {
      const p = this.pending.get(id);
      if (p) {
        this.pending.delete(id);
        p.reject(e instanceof CkptError ? e : new TransientError(`writing to remote plugin failed: ${(e as Error).message}`));
      }
    });
    return reply;
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    const r = await this.request({ op: 'stat', key });
    return r.head.info ? { key, size: r.head.info.size, mtimeMs: r.head.info.mtimeMs } : null;
  }

  async put(key: string, source: ByteSource): Promise<void> {
    await this.request({ op: 'put', key }, source, true, { onProgress: (n) => this.onProgress?.(key, n) });
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const stream = new PassThrough({ highWaterMark: 1 << 20 });
    const msg: Record<string, unknown> = { op: 'get', key };
    if (range) Object.assign(msg, { offset: range.offset, length: range.length });
    // The reply head arrives before its body: resolve once the head says ok, while the body streams.
    let headSeen!: (v: void) => void;
    let headFailed!: (e: unknown) => void;
    const head = new Promise<void>((res, rej) => {
      headSeen = res;
      headFailed = rej;
    });
    const done = this.request(msg, undefined, true, { stream, onHead: headSeen, onProgress: (n) => this.onProgress?.(key, n) });
    done.catch(headFailed);
    await head;
    done.catch(() => {}); // later failures reach the reader through the stream
    return stream;
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const queue: ObjectInfo[][] = [];
    let wake: (() => void) | null = null;
    let finished = false;
    let failure: unknown = null;
    const done = this.request({ op: 'list', prefix }, undefined, true, {
      onPage: (items) => {
        queue.push(items);
        wake?.();
      },
    });
    done.then(
      () => (finished = true),
      (e) => {
        failure = e;
        finished = true;
      },
    ).finally(() => wake?.());
    for (;;) {
      while (queue.length) for (const o of queue.shift()!) yield { key: o.key, size: o.size, mtimeMs: o.mtimeMs };
      if (finished) break;
      await new Promise<void>((r) => (wake = r));
      wake = null;
    }
    while (queue.length) for (const o of queue.shift()!) yield { key: o.key, size: o.size, mtimeMs: o.mtimeMs };
    if (failure) throw failure;
  }

  async delete(key: string): Promise<void> {
    await this.request({ op: 'delete', key });
  }

  async readDocument(key: string): Promise<VersionedDocument | null> {
    const r = await this.request({ op: 'read', key });
    if (r.head.version === null || r.head.version === undefined) return null;
    // The frame has been read by now (the stream must stay in step); the cap still keeps it from the caller.
    if ((r.body?.length ?? 0) > DOCUMENT_MAX_BYTES) throw new IntegrityError(`${key} on ${this.displayUrl} is larger than a document may be (${DOCUMENT_MAX_BYTES} bytes)`, { key });
    return { data: r.body ?? Buffer.alloc(0), version: String(r.head.version) };
  }

  async swapDocument(key: string, data: Buffer, expected: string | null): Promise<string | null> {
    const r = await this.request({ op: 'swap', key, expected }, { size: data.length, buffer: data, open: () => Readable.from([data]) });
    return r.head.version === null || r.head.version === undefined ? null : String(r.head.version);
  }

  /** A plugin that does not announce `exists` cannot tell: its location counts as there (its first write creates it). */
  async exists(): Promise<boolean> {
    await this.start();
    if (!this.optionalOps.has('exists')) return true;
    const r = await this.request({ op: 'exists' });
    return r.head.exists !== false;
  }

  async close(): Promise<void> {
    this.closed = true;
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    await this.writeChain;
    child.stdin.end(JSON.stringify({ op: 'terminate' }) + '\n');
    const timer = setTimeout(() => child.kill(), 5000);
    await exited;
    clearTimeout(timer);
  }
}

async function writeFrame(child: ChildProcessWithoutNullStreams, head: string, body?: ByteSource): Promise<void> {
  const out = child.stdin;
  const write = (b: Buffer | string) =>
    new Promise<void>((resolve, reject) => {
      if (out.destroyed || !out.writable) return reject(new TransientError('remote plugin stdin is closed'));
      if (out.write(b)) return resolve();
      const onDrain = () => {
        child.off('exit', onExit);
        resolve();
      };
      const onExit = () => {
        out.off('drain', onDrain);
        reject(new TransientError('remote plugin exited during a write'));
      };
      out.once('drain', onDrain);
      child.once('exit', onExit);
    });
  await write(head);
  if (!body || body.size === 0) return;
  if (body.buffer) return write(body.buffer);
  let n = 0;
  for await (const part of body.open()) {
    const b = Buffer.isBuffer(part) ? part : Buffer.from(part as Uint8Array);
    n += b.length;
    if (n > body.size) throw new UsageError(`upload source gave more than its ${body.size} bytes`);
    await write(b);
  }
  // The frame promised `size` bytes; a short source would desynchronise the stream for good.
  if (n !== body.size) {
    child.kill();
    throw new TransientError(`upload source gave ${n} of ${body.size} bytes`);
  }
}

/** Splits the plugin's stdout into messages: a JSON line, then `bytes` raw bytes if it says so. */
class FrameReader {
  private buf: Buffer = Buffer.alloc(0);
  private body: { head: Record<string, any>; left: number; parts: Buffer[]; stream?: PassThrough } | null = null;
  constructor(
    private readonly onMessage: (head: Record<string, any>, body: Buffer | undefined) => void,
    private readonly streamFor: (id: number) => PassThrough | undefined,
  ) {}

  push(data: Buffer): void {
    this.buf = this.buf.length ? Buffer.concat([this.buf, data]) : data;
    while (this.buf.length) {
      if (this.body) {
        const take = Math.min(this.body.left, this.buf.length);
        const part = this.buf.subarray(0, take);
        this.buf = this.buf.subarray(take);
        this.body.left -= take;
        if (this.body.stream) this.body.stream.write(Buffer.from(part));
        else this.body.parts.push(Buffer.from(part));
        if (this.body.left === 0) this.finishBody();
        continue;
      }
      const nl = this.buf.indexOf(10);
      if (nl < 0) {
        if (this.buf.length > 16 << 20) throw new Error('message line longer than 16 MiB');
        return;
      }
      const line = this.buf.subarray(0, nl).toString('utf8');
      this.buf = this.buf.subarray(nl + 1);
      if (line.trim() === '') continue;
      let head: Record<string, any>;
      try {
        head = JSON.parse(line);
      } catch {
        throw new Error(`not a JSON message: ${JSON.stringify(line.slice(0, 100))}`);
      }
      if (typeof head !== 'object' || head === null || typeof head.id !== 'number') throw new Error('message without an id');
      const bytes = head.bytes;
      if (bytes === undefined || head.ok === false) {
        this.onMessage(head, undefined);
        continue;
      }
      if (!Number.isSafeInteger(bytes) || bytes < 0) throw new Error(`invalid bytes ${JSON.stringify(bytes)}`);
      // A get's body goes straight to its reader; streamFor tells get() the head arrived.
      const stream = head.ok === true ? this.streamFor(head.id) : undefined;
      this.body = { head, left: bytes, parts: [], stream };
      if (bytes === 0) this.finishBody();
    }
  }

  private finishBody(): void {
    const b = this.body!;
    this.body = null;
    this.onMessage(b.head, b.stream ? undefined : Buffer.concat(b.parts));
  }
}

function errorFromPlugin(e: any): Error {
  const code = typeof e?.code === 'string' ? e.code : 'INTERNAL';
  const message = typeof e?.message === 'string' ? e.message : `remote plugin failed (${code})`;
  switch (code) {
    case 'NOT_FOUND':
      return new NotFoundError(message);
    case 'AUTH':
      return new AuthError(message);
    case 'TRANSIENT':
      return new TransientError(message, {}, { retryAfterMs: typeof e.retryAfterMs === 'number' ? e.retryAfterMs : undefined });
    case 'USAGE':
      return new UsageError(message);
    case 'CONFIG':
      return new ConfigError(message);
    default:
      // An unknown code is the plugin's own failure: a remote problem the user must look at, not retried.
      return new ConfigError(`remote plugin failed (${code}): ${message}`, { pluginCode: code });
  }
}
