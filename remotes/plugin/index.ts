// The stdio plugin host: a remote driver outside the process, in any language, found on PATH as
// `ckptsync-remote-<scheme>` (docs/remote-plugin-protocol.md). One child process per opened remote;
// requests are multiplexed by id, bodies are raw bytes after a JSON line. If the child dies, requests
// in flight fail as transient (so the retry wrapper tries again) and the next request starts a new one.

import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import {
  CkptError,
  ConfigError,
  DOCUMENT_MAX_BYTES,
  IntegrityError,
  TransientError,
  UsageError,
  redactSecrets,
  type ByteRange,
  type ByteSource,
  type ObjectInfo,
  type Remote,
  type RemoteFactory,
  type RemoteFeatures,
  type VersionedDocument,
} from '../../src/remote/index.js';
import { findPlugin, options, parseConfig, type PluginConfig } from './config.js';
import { errorFromPlugin } from './errors.js';
import { FrameReader, writeFrame } from './frames.js';
import { PLUGIN_PROTOCOL, type Reply } from './wire.js';

export { findPlugin, PLUGIN_PREFIX, type PluginConfig } from './config.js';
export { PLUGIN_PROTOCOL } from './wire.js';

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

/** The driver factory for one plugin executable. */
export function pluginFactory(scheme: string, executable: string): RemoteFactory<PluginConfig> {
  return {
    schemes: [scheme],
    options,
    parse: (url, settings) => parseConfig(scheme, executable, url, settings),
    async create(config: PluginConfig): Promise<Remote> {
      const r = new PluginRemote(config);
      await r.start();
      return r;
    },
    redact: redactSecrets,
  } satisfies RemoteFactory<PluginConfig>;
}

/** The factory for a scheme no built-in driver serves, when ckptsync-remote-<scheme> is on PATH; else null. */
export function pluginFor(scheme: string): RemoteFactory<PluginConfig> | null {
  const executable = findPlugin(scheme);
  return executable ? pluginFactory(scheme, executable) : null;
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
