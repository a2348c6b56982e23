// Remote driver: Backblaze B2 through its native API, version 2 (README.md).
// URLs: b2://bucket/prefix. Objects are files named <prefix>/<key>; each upload of a name adds a
// version, so delete removes every version. Small objects go up in one b2_upload_file, objects above
// largeFileThreshold as a large file in parts. swapDocument builds a chain of versions (chain.ts).

import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { fillFrom } from '../kit/fill.js';
import { paged } from '../kit/walk.js';
import {
  AuthError,
  DOCUMENT_MAX_BYTES,
  NotFoundError,
  TransientError,
  bufferSource,
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
import { resolveChain, swapAccepted } from './chain.js';
import { B2Client } from './client.js';
import { options, parseConfig, type B2Config } from './config.js';
import { errorFor } from './errors.js';
import {
  B2_API_VERSION,
  INFO_PREV,
  INFO_SWAP_ID,
  PREV_NONE,
  type FileVersion,
  type ListBucketsResponse,
  type ListFileNamesResponse,
  type ListFileVersionsResponse,
  type StartLargeFileResponse,
  type UploadUrlResponse,
} from './wire.js';

export type { B2Config } from './config.js';

/** B2 lists at most 1000 names per call at the price of one (class C) transaction. */
const PAGE = 1000;
const CONTENT_TYPE = 'application/octet-stream';

export class B2Remote implements Remote {
  readonly features = { defaultConcurrency: 16, casMethod: 'version-chain', rangedGet: true };
  readonly displayUrl: string;

  constructor(
    private readonly config: B2Config,
    private readonly client: B2Client,
    private readonly bucketId: string,
  ) {
    this.displayUrl = `b2://${config.bucket}/${config.root.replace(/\/$/, '')}`;
  }

  private nameOf(key: string): string {
    return this.config.root + key;
  }

  private downloadPath(name: string): string {
    return `/file/${encodeURIComponent(this.config.bucket)}/${encodeName(name)}`;
  }

  async stat(key: string): Promise<ObjectInfo | null> {
    const { res, err } = await this.client.download(this.downloadPath(this.nameOf(key)), 'HEAD');
    if (res.statusCode === 404) return null;
    if (err) throw errorFor('stat', res, err, { key });
    await res.body.dump();
    const ts = Number(res.headers['x-bz-upload-timestamp']);
    return { key, size: Number(res.headers['content-length']), mtimeMs: Number.isFinite(ts) ? ts : undefined };
  }

  async put(key: string, source: ByteSource): Promise<void> {
    const name = this.nameOf(key);
    if (source.size > this.config.largeFileThreshold) return this.putLarge(name, source);
    await this.uploadFile(name, source, {});
  }

  private uploadFile(name: string, source: ByteSource, info: Record<string, string>): Promise<FileVersion> {
    const headers: Record<string, string> = { 'x-bz-file-name': encodeName(name), 'content-type': CONTENT_TYPE };
    for (const [k, v] of Object.entries(info)) headers[`x-bz-info-${k}`] = encodeURIComponent(v);
    return this.client.upload(this.bucketId, () => this.client.call<UploadUrlResponse>('b2_get_upload_url', { bucketId: this.bucketId }), headers, source);
  }

  /** A large file: parts read in order from one stream, `partConcurrency` of them uploading at once. */
  private async putLarge(name: string, source: ByteSource): Promise<void> {
    const auth = await this.client.auth();
    const partSize = Math.max(this.config.partSize, auth.absoluteMinimumPartSize, Math.ceil(source.size / 10_000));
    const { fileId } = await this.client.call<StartLargeFileResponse>('b2_start_large_file', {
      bucketId: this.bucketId,
      fileName: name,
      contentType: CONTENT_TYPE,
    });
    const getPartUrl = () => this.client.call<UploadUrlResponse>('b2_get_upload_part_url', { fileId });
    try {
      const sha1s: string[] = [];
      const inflight = new Set<Promise<void>>();
      let failure: unknown = null;
      let partNumber = 0;
      let sent = 0;
      for await (const part of partsOf(source.open(), partSize)) {
        if (failure) break;
        const n = ++partNumber;
        sent += part.length;
        const p: Promise<void> = this.client
          .upload(fileId, getPartUrl, { 'x-bz-part-number': String(n) }, bufferSource(part))
          .then((r) => {
            sha1s[n - 1] = r.contentSha1 ?? crypto.createHash('sha1').update(part).digest('hex');
          })
          .catch((e) => {
            failure ??= e;
          })
          .finally(() => inflight.delete(p));
        inflight.add(p);
        if (inflight.size >= this.config.partConcurrency) await Promise.race(inflight);
      }
      await Promise.all(inflight);
      if (failure) throw failure;
      if (sent !== source.size) throw new Error(`upload source gave ${sent} bytes, expected ${source.size}`);
      await this.client.call('b2_finish_large_file', { fileId, partSha1Array: sha1s });
    } catch (e) {
      // Unfinished large files are billed storage: cancel, best effort (B2 also lists them for cleanup).
      await this.client.call('b2_cancel_large_file', { fileId }).catch(() => {});
      throw e;
    } finally {
      this.client.forgetUploadUrls(fileId);
    }
  }

  async get(key: string, range?: ByteRange): Promise<Readable> {
    const headers: Record<string, string> = {};
    if (range) {
      if (range.length === 0) {
        if (!(await this.stat(key))) throw new NotFoundError(`not found on remote: ${key}`, { key });
        return Readable.from([]);
      }
      headers.range = `bytes=${range.offset}-${range.offset + range.length - 1}`;
    }
    const { res, err } = await this.client.download(this.downloadPath(this.nameOf(key)), 'GET', headers);
    if (res.statusCode === 404) throw new NotFoundError(`not found on remote: ${key}`, { key });
    if (err) throw errorFor('download', res, err, { key });
    if (range && res.statusCode !== 206) {
      res.body.destroy();
      throw new TransientError(`B2 ignored the byte range of ${key} (status ${res.statusCode})`, { key });
    }
    return res.body;
  }

  /** The body's pieces are copied into the caller's buffer as they arrive (remotes/kit/fill.ts). */
  async readInto(key: string, into: Buffer): Promise<number> {
    return fillFrom(await this.get(key), into);
  }

  list(prefix: string): AsyncIterable<ObjectInfo> {
    return paged<ObjectInfo, string>(async (start) => {
      const page = await this.client.call<ListFileNamesResponse>('b2_list_file_names', {
        bucketId: this.bucketId,
        prefix: this.nameOf(prefix),
        maxFileCount: PAGE,
        ...(start !== undefined ? { startFileName: start } : {}),
      });
      const items = page.files.filter((f) => f.action === 'upload').map((f) => ({ key: f.fileName.slice(this.config.root.length), size: f.contentLength, mtimeMs: f.uploadTimestamp }));
      return { items, next: page.nextFileName ?? undefined };
    });
  }

  /** Deletes every version of the name (B2 keeps old versions; a hide marker would keep the bytes). */
  async delete(key: string): Promise<void> {
    const name = this.nameOf(key);
    const versions = await this.versionsOf(name);
    await runPool(versions, 8, async (v) => {
      await this.client.call('b2_delete_file_version', { fileName: v.fileName, fileId: v.fileId }).catch((e) => {
        if (!(e instanceof NotFoundError)) throw e; // someone else deleted it first
      });
    });
  }

  /** Every version of exactly this name, oldest first (B2 lists them newest first). */
  private async versionsOf(name: string): Promise<FileVersion[]> {
    const out: FileVersion[] = [];
    let startFileName: string | null = name;
    let startFileId: string | null = null;
    while (startFileName === name) {
      const page: ListFileVersionsResponse = await this.client.call<ListFileVersionsResponse>('b2_list_file_versions', {
        bucketId: this.bucketId,
        prefix: name,
        startFileName,
        maxFileCount: PAGE,
        ...(startFileId !== null ? { startFileId } : {}),
      });
      for (const f of page.files) if (f.fileName === name) out.push(f);
      if (page.files.some((f) => f.fileName !== name)) break;
      startFileName = page.nextFileName;
      startFileId = page.nextFileId;
    }
    return out.reverse();
  }

  async readDocument(key: string): Promise<VersionedDocument | null> {
    const { head } = resolveChain(await this.versionsOf(this.nameOf(key)));
    if (!head) return null;
    const path = `/b2api/${B2_API_VERSION}/b2_download_file_by_id?fileId=${encodeURIComponent(head.fileId)}`;
    const { res, err } = await this.client.download(path, 'GET');
    // Deleted between the listing and the download: the document is gone.
    if (res.statusCode === 404) return null;
    if (err) throw errorFor('download', res, err, { key });
    return { data: await readAll(res.body, DOCUMENT_MAX_BYTES), version: head.fileId };
  }

  /**
   * Compare-and-swap by chain (chain.ts, README.md): upload a new version naming the version it
   * replaces, list the versions, and see whether ours made it into the chain.
   */
  async swapDocument(key: string, data: Buffer, expected: string | null): Promise<string | null> {
    const name = this.nameOf(key);
    const swapId = crypto.randomBytes(12).toString('hex');
    const mine = await this.uploadFile(name, bufferSource(data), { [INFO_PREV]: expected ?? PREV_NONE, [INFO_SWAP_ID]: swapId });
    // Our version is stored: losing the outcome now would turn a win into a retry, so retry the listing here.
    let chain;
    for (let attempt = 0; ; attempt++) {
      try {
        chain = resolveChain(await this.versionsOf(name));
        break;
      } catch (e) {
        if (!(e instanceof TransientError) || attempt >= 4) throw e;
        await new Promise((r) => setTimeout(r, e.retryAfterMs ?? 100 * 2 ** attempt));
      }
    }
    const won = swapAccepted(chain, swapId);
    if (won) return won.fileId;
    // A losing version is never in the chain, whoever reads it: removing it is only tidying.
    await this.client.call('b2_delete_file_version', { fileName: name, fileId: mine.fileId }).catch(() => {});
    return null;
  }

  /** create() found the bucket (or failed with NotFoundError); a prefix inside it needs no creating. */
  async exists(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}

/** B2 file names in URLs and X-Bz-File-Name: percent-encoded, with "/" kept. */
function encodeName(name: string): string {
  return name.split('/').map(encodeURIComponent).join('/');
}

/** Splits a stream into buffers of `size` bytes (the last one shorter). */
async function* partsOf(stream: Readable, size: number): AsyncGenerator<Buffer> {
  let buf = Buffer.allocUnsafe(size);
  let n = 0;
  for await (const chunk of stream) {
    let b = chunk as Buffer;
    while (b.length > 0) {
      const take = Math.min(size - n, b.length);
      b.copy(buf, n, 0, take);
      n += take;
      b = b.subarray(take);
      if (n === size) {
        yield buf;
        buf = Buffer.allocUnsafe(size);
        n = 0;
      }
    }
  }
  if (n > 0) yield buf.subarray(0, n);
}

async function runPool<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]!);
  }));
}

export const b2Remote = {
  schemes: ['b2'],
  options,
  parse: (url: string, settings: RemoteSettings = {}) => parseConfig(url, settings),
  async create(config: B2Config): Promise<Remote> {
    if (!config.keyId || !config.key) {
      throw new AuthError('B2 credentials missing: set B2_APPLICATION_KEY_ID and B2_APPLICATION_KEY (or the remote settings applicationKeyId and applicationKey)');
    }
    const client = new B2Client({ apiUrl: config.apiUrl, keyId: config.keyId, key: config.key });
    try {
      const auth = await client.auth();
      let bucketId: string | undefined;
      if (auth.allowed?.bucketId) {
        // A key restricted to one bucket cannot list buckets; it names its bucket here.
        if (auth.allowed.bucketName !== config.bucket) {
          throw new AuthError(`the B2 application key is restricted to bucket ${auth.allowed.bucketName}, not ${config.bucket}`);
        }
        bucketId = auth.allowed.bucketId;
      } else {
        const { buckets } = await client.call<ListBucketsResponse>('b2_list_buckets', { accountId: auth.accountId, bucketName: config.bucket });
        bucketId = buckets.find((b) => b.bucketName === config.bucket)?.bucketId;
      }
      if (!bucketId) throw new NotFoundError(`no B2 bucket named ${config.bucket} for this application key`, { bucket: config.bucket });
      return new B2Remote(config, client, bucketId);
    } catch (e) {
      await client.close();
      throw e;
    }
  },
  redact: (url: string) => redactSecrets(url),
} satisfies RemoteFactory<B2Config>;

export default b2Remote;
