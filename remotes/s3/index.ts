// Remote driver: Amazon S3 and S3-compatible stores (MinIO, Ceph RGW, Cloudflare R2, Backblaze B2's
// S3 endpoint...). URLs: s3://bucket/prefix. Objects are S3 objects at <prefix><key>.
// swapDocument uses conditional PutObject (If-Match / If-None-Match) when the store honours it, which
// is probed once per remote; otherwise a bakery lock made of marker objects (lock.ts). See README.md.
// Chunk GET/PUT go through data-path.ts (undici and our own SigV4), everything else through the SDK.

import crypto from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type PutObjectCommandInput,
} from '@aws-sdk/client-s3';
import {
  DOCUMENT_MAX_BYTES,
  UsageError,
  readAll,
  redactSecrets,
  type ByteRange,
  type ByteSource,
  type ObjectInfo,
  type Remote,
  type RemoteFactory,
  type RemoteSettings,
  type VersionedDocument,
} from '../../src/remote/index.js';
import { fillFrom } from '../kit/fill.js';
import { paged } from '../kit/walk.js';
import { S3DataPath } from './data-path.js';
import { withBakeryLock, type MarkerStore } from './lock.js';
import { multipartUpload } from './multipart.js';
import { options, parseConfig, type CasMode, type S3Config } from './config.js';
import { codeOf, isPreconditionFailed, mapS3Error, statusOf } from './errors.js';

export type { S3Config } from './config.js';

/** Driver bookkeeping (lock markers, probes) lives here under the prefix, hidden from list(). */
const PRIVATE_DIR = '.ckptsync-s3/';
/** Refs are small; a larger "document" is a mistake, not something to buffer. */

export class S3Remote implements Remote {
  readonly features: { defaultConcurrency: number; casMethod: string; rangedGet: boolean };
  readonly displayUrl: string;
  private readonly client: S3Client;
  private readonly agents: (http.Agent | https.Agent)[];
  /** Chunk GET/PUT without the SDK (data-path.ts); undefined with sdkData. */
  private readonly data?: S3DataPath;
  private casSupport?: Promise<boolean>;

  constructor(private readonly config: S3Config) {
    this.displayUrl = redactSecrets(`s3://${config.bucket}/${config.prefix}`) + (config.endpoint ? ` (${redactSecrets(config.endpoint)})` : '');
    this.features = { defaultConcurrency: 16, casMethod: casLabel(config.cas), rangedGet: true };
    // One keep-alive pool per remote, sized for parallel chunk transfers plus multipart parts.
    const agentOpts = { keepAlive: true, maxSockets: config.maxSockets };
    this.agents = [new http.Agent(agentOpts), new https.Agent(agentOpts)];
    // On Node 20 the SDK prints a 7-line NodeVersionSupportWarning on every command: it is about SDK
    // releases after January 2027 requiring Node 22, which a user of this package (the SDK version is
    // locked) never gets. An explicit setting by the user is kept.
    process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
    this.client = new S3Client({
      region: config.region,
      endpoint: config.endpoint,
      forcePathStyle: config.pathStyle,
      profile: config.profile,
      credentials: config.accessKeyId
        ? { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey ?? '', sessionToken: config.sessionToken }
        : undefined,
      // The engine's withRetry wrapper owns retries; SDK retries on top would multiply the attempts.
      maxAttempts: 1,
      // A bucket in another region than configured answers 301 naming its region: ask there (the data
      // path does the same, data-path.ts followRedirect).
      followRegionRedirects: true,
      // Newer SDKs add CRC32 checksums and aws-chunked bodies that many S3-compatible stores reject.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      // The SDK's default sends "Expect: 100-continue" from 2 MiB, an extra round trip per chunk; only
      // bodies large enough that sending them to a refusal would hurt are worth that.
      expectContinueHeader: 32 << 20,
      // socketTimeout is an idle timeout (request and response body alike): a stalled server is dropped
      // and retried, while a slow but moving transfer is not cut off. (The SDK's requestTimeout bounds a
      // whole request and, without throwOnRequestTimeout, only logs a warning: a stall would hang.)
      requestHandler: { httpAgent: this.agents[0], httpsAgent: this.agents[1], connectionTimeout: Math.min(10_000, config.timeoutMs), socketTimeout: config.timeoutMs },
    });
    if (!config.sdkData) this.data = new S3DataPath(config, this.client, this.displayUrl);
  }

  private keyOf(key: string): string {
    if (!key || key.startsWith('/') || key.split('/').includes('..')) throw new UsageError(`invalid remote key: ${key}`);
    return this.config.prefix + key;
  }

  private async send<T>(what: string, key: string | undefined, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (e) {
      throw mapS3Error(e, `${what} ${key ?? ''} on ${this.displayUrl}`.trim(), key);
    }
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    try {
      const h = await this.client.send(new HeadObjectCommand({ Bucket: this.config.bucket, Key: this.keyOf(key) }));
      return { key, size: h.ContentLength ?? 0, mtimeMs: h.LastModified?.getTime() };
    } catch (e) {
      if (statusOf(e) === 404) return null;
      throw mapS3Error(e, `stat ${key}`, key);
    }
  }

  async put(key: string, source: ByteSource): Promise<void> {
    const Key = this.keyOf(key);
    if (source.size >= this.config.multipartThreshold && !source.buffer) {
      const { partSize, partConcurrency } = this.config;
      return this.send('multipart put', key, () =>
        multipartUpload(this.client, this.config.bucket, Key, source, { partSize, concurrency: partConcurrency }),
      );
    }
    if (this.data) return this.data.put(Key, key, source.buffer ?? (() => source.open()), source.size);
    await this.putObject(key, { Key, Body: source.buffer ?? source.open(), ContentLength: source.size });
  }

  private putObject(key: string, input: Omit<PutObjectCommandInput, 'Bucket'>) {
    return this.send('put', key, () => this.client.send(new PutObjectCommand({ Bucket: this.config.bucket, ...input })));
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    if (range && range.length === 0) {
      if (!(await this.stat(key))) throw mapS3Error({ name: 'NoSuchKey', $metadata: { httpStatusCode: 404 } }, `get ${key}`, key);
      return Readable.from([]);
    }
    if (this.data) return this.data.get(this.keyOf(key), key, range);
    const out = await this.send('get', key, () =>
      this.client.send(
        new GetObjectCommand({
          Bucket: this.config.bucket,
          Key: this.keyOf(key),
          Range: range ? `bytes=${range.offset}-${range.offset + range.length - 1}` : undefined,
        }),
      ),
    );
    // In Node the SDK's body is the http.IncomingMessage itself: streamed, never buffered.
    return (out.Body as Readable | undefined) ?? Readable.from([]);
  }

  /** Reads an object into the caller's buffer (pull's reused buffers): straight from the response on the own data path. */
  async readInto(key: string, into: Buffer): Promise<number> {
    if (this.data) return this.data.readInto(this.keyOf(key), key, into);
    return fillFrom(await this.get(key), into);
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    for await (const o of this.listRaw(prefix)) if (!o.key.startsWith(PRIVATE_DIR)) yield o;
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: this.keyOf(key) }));
    } catch (e) {
      if (statusOf(e) === 404) return;
      throw mapS3Error(e, `delete ${key}`, key);
    }
  }

  async readDocument(key: string): Promise<VersionedDocument | null> {
    try {
      const out = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: this.keyOf(key) }));
      const data = await readAll(out.Body as Readable, DOCUMENT_MAX_BYTES);
      return { data, version: out.ETag ?? sha(data) };
    } catch (e) {
      if (statusOf(e) === 404 || codeOf(e) === 'NoSuchKey') return null;
      throw mapS3Error(e, `read ${key}`, key);
    }
  }

  async swapDocument(key: string, data: Buffer, expected: string | null): Promise<string | null> {
    if (await this.conditionalWrites()) return this.swapConditional(key, data, expected);
    const dir = `${PRIVATE_DIR}locks/${key}/`;
    return withBakeryLock(this.markerStore(dir), async (hold) => {
      const current = await this.readDocument(key);
      if ((current?.version ?? null) !== expected) return null;
      hold.assertFresh();
      const out = await this.putObject(key, { Key: this.keyOf(key), Body: data, ContentLength: data.length });
      return out.ETag ?? sha(data);
    });
  }

  /** The store checks the version itself: If-None-Match: * creates only, If-Match replaces only that ETag. */
  private async swapConditional(key: string, data: Buffer, expected: string | null): Promise<string | null> {
    try {
      const out = await this.client.send(
        new PutObjectCommand({
          Bucket: this.config.bucket,
          Key: this.keyOf(key),
          Body: data,
          ContentLength: data.length,
          ...(expected === null ? { IfNoneMatch: '*' } : { IfMatch: expected }),
        }),
      );
      return out.ETag ?? sha(data);
    } catch (e) {
      // 412: the version moved on. 409 ConditionalRequestConflict: another conditional write to the same
      // key is in flight, which AWS resolves for the other writer; for us that is a lost race too.
      if (isPreconditionFailed(e) || statusOf(e) === 409) return null;
      // A create-only write on a missing key answered 404 by some stores when If-Match names a version.
      if (expected !== null && statusOf(e) === 404) return null;
      throw mapS3Error(e, `swap ${key}`, key);
    }
  }

  /** Whether the store honours If-None-Match / If-Match on PutObject; probed once, on first swap. */
  private conditionalWrites(): Promise<boolean> {
    if (this.config.cas !== 'auto') return Promise.resolve(this.config.cas === 'conditional');
    this.casSupport ??= this.probeConditionalWrites().then(
      (ok) => {
        this.features.casMethod = casLabel(ok ? 'conditional' : 'lock');
        return ok;
      },
      (e) => {
        this.casSupport = undefined; // an auth or network failure says nothing about the store: ask again next time
        throw e;
      },
    );
    return this.casSupport;
  }

  private async probeConditionalWrites(): Promise<boolean> {
    const probe = `${PRIVATE_DIR}probe-${crypto.randomBytes(8).toString('hex')}`;
    const Key = this.keyOf(probe);
    const attempt = async (cond: { IfNoneMatch?: string; IfMatch?: string }): Promise<'ok' | 'refused' | 'unsupported'> => {
      try {
        await this.client.send(new PutObjectCommand({ Bucket: this.config.bucket, Key, Body: Buffer.from('probe'), ContentLength: 5, ...cond }));
        return 'ok';
      } catch (e) {
        if (isPreconditionFailed(e)) return 'refused';
        const status = statusOf(e);
        if (status === 501 || status === 400) return 'unsupported'; // NotImplemented / InvalidArgument header
        throw mapS3Error(e, 'probe conditional writes', probe);
      }
    };
    try {
      if ((await attempt({ IfNoneMatch: '*' })) !== 'ok') return false;
      if ((await attempt({ IfNoneMatch: '*' })) !== 'refused') return false; // ignored the header
      if ((await attempt({ IfMatch: '"00000000000000000000000000000000"' })) !== 'refused') return false;
      // The right version must also be accepted, as readDocument reports it: a store that refuses every
      // If-Match (compares another ETag form, or serves none) would otherwise fail every swap forever.
      const served = await this.readDocument(probe);
      return served !== null && (await attempt({ IfMatch: served.version })) === 'ok';
    } finally {
      await this.delete(probe).catch(() => undefined);
    }
  }

  private markerStore(dir: string): MarkerStore {
    const empty = Buffer.alloc(0);
    return {
      put: async (name) => void (await this.putObject(dir + name, { Key: this.keyOf(dir + name), Body: empty, ContentLength: 0 })),
      delete: (name) => this.delete(dir + name),
      list: async () => {
        const out = [];
        for await (const o of this.listRaw(dir)) out.push({ name: o.key.slice(dir.length), mtimeMs: o.mtimeMs });
        return out;
      },
    };
  }

  /** list() without hiding the driver's private directory. */
  private listRaw(prefix: string): AsyncIterable<ObjectInfo> {
    const root = this.config.prefix;
    return paged<ObjectInfo, string>(async (token) => {
      const page = await this.send('list', prefix, () =>
        this.client.send(new ListObjectsV2Command({ Bucket: this.config.bucket, Prefix: root + prefix, ContinuationToken: token })),
      );
      const items = (page.Contents ?? []).map((o) => ({ key: o.Key!.slice(root.length), size: o.Size ?? 0, mtimeMs: o.LastModified?.getTime() }));
      return { items, next: page.IsTruncated ? page.NextContinuationToken : undefined };
    });
  }

  /** The bucket is the location; a prefix inside it needs no creating (one HeadBucket request). */
  async exists(): Promise<boolean> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.config.bucket }));
      return true;
    } catch (e) {
      if (statusOf(e) === 404) return false;
      throw mapS3Error(e, `head bucket ${this.config.bucket} on ${this.displayUrl}`);
    }
  }

  async close(): Promise<void> {
    await this.data?.close();
    this.client.destroy();
    for (const a of this.agents) a.destroy();
  }
}

function casLabel(mode: CasMode): string {
  return { auto: 'if-match (probing)', conditional: 'if-match', lock: 'bakery-lock' }[mode];
}

function sha(data: Buffer): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

export const s3Remote = {
  schemes: ['s3'],
  options,
  parse: (url: string, settings: RemoteSettings = {}) => parseConfig(url, settings),
  async create(config: S3Config): Promise<Remote> {
    return new S3Remote(config);
  },
  redact: (url: string) => redactSecrets(url),
} satisfies RemoteFactory<S3Config>;

export default s3Remote;
