// The S3 driver's chunk data path: GET (whole, ranged, or into a caller's buffer) and single-request PUT
// as undici requests signed by sigv4.ts, bypassing the AWS SDK's middleware stack, which costs about
// twice the client CPU per byte (README.md, "Speed"). Everything else (list, head, delete, multipart,
// conditional writes, the lock) stays on the SDK, and so do credentials and region: they are asked of
// the SDK client once and again when the credentials are about to expire.

import { Readable } from 'node:stream';
import type { S3Client } from '@aws-sdk/client-s3';
import { ConfigError, type ByteRange } from '../../src/remote/index.js';
import { transportError } from '../kit/http-errors.js';
import { Pool, type Dispatcher } from '../kit/undici.js';
import { bodyStart, rangeOf, type DispatchedFill } from '../kit/fill.js';
import { HttpDataPath } from '../kit/http-into.js';
import { EMPTY_SHA256, SigV4Signer, UNSIGNED_PAYLOAD, encodeS3Path, type SigningCredentials } from './sigv4.js';
import type { S3Config } from './config.js';
import { mapS3Error, responseError } from './errors.js';
import { ERROR_BODY_LIMIT } from './wire.js';

/** Credentials are asked for again this long before they expire (the SDK's own providers refresh 5 min before). */
const EXPIRY_MARGIN_MS = 60_000;

interface Endpoint {
  pool: Pool;
  /** readInto's GETs and PUTs of buffers: own connections on an http:// endpoint, the pool on https://. */
  data: HttpDataPath;
  /** The Host header, as signed. */
  host: string;
  /** Path up to the key: '' (virtual-hosted) or '/bucket' (path style), after any path of the endpoint URL. */
  base: string;
}

/** Where a bucket's objects are: the configured endpoint, else AWS's regional endpoint. */
export function objectBaseUrl(config: Pick<S3Config, 'endpoint' | 'pathStyle' | 'bucket'>, region: string): { origin: string; base: string } {
  const bucket = encodeS3Path(config.bucket);
  if (config.endpoint) {
    const u = new URL(config.endpoint);
    const root = encodeS3Path(decodeURIComponent(u.pathname.replace(/\/+$/, '')));
    if (config.pathStyle) return { origin: u.origin, base: `${root}/${bucket}` };
    return { origin: `${u.protocol}//${config.bucket}.${u.host}`, base: root };
  }
  // Virtual-hosted only for names that are one DNS label: a dotted name would not match the *.s3 certificate.
  const dnsLabel = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(config.bucket);
  if (dnsLabel && !config.pathStyle) return { origin: `https://${config.bucket}.s3.${region}.amazonaws.com`, base: '' };
  return { origin: `https://s3.${region}.amazonaws.com`, base: `/${bucket}` };
}

export class S3DataPath {
  private readonly signer = new SigV4Signer();
  private endpoint?: Promise<Endpoint & { region: string }>;
  private creds?: { value: SigningCredentials; refreshAt: number };
  private credsInFlight?: Promise<SigningCredentials>;
  private closed = false;
  /** The bucket's region once a redirect said it (followRedirect); until then the SDK client's. */
  private region?: string;
  /** Endpoints of the region before a redirect: requests may still finish there; closed with the remote. */
  private readonly retired: (Endpoint & { region: string })[] = [];

  constructor(
    private readonly config: S3Config,
    private readonly client: S3Client,
    private readonly displayUrl: string,
  ) {}

  /** Streams an object or a range of it (S3 keys as stored, i.e. with the remote's prefix). */
  async get(objectKey: string, key: string, range?: ByteRange): Promise<Readable> {
    const what = `get ${key} on ${this.displayUrl}`;
    const extra = range ? { range: `bytes=${range.offset}-${range.offset + range.length - 1}` } : undefined;
    for (let hop = 0; ; hop++) {
      const { pool, path, headers, region } = await this.prepare('GET', objectKey, key, EMPTY_SHA256, extra);
      let res: Dispatcher.ResponseData;
      try {
        res = await pool.request({ method: 'GET', path, headers });
      } catch (e) {
        throw this.transportError(e, what, key);
      }
      if (res.statusCode === 206 || (res.statusCode === 200 && !range)) return res.body;
      // A store that ignores Range sends the whole object: cut the range out of it.
      if (res.statusCode === 200 && range) return Readable.from(rangeOf(res.body, range.offset, range.length));
      const answer = { status: res.statusCode, headers: flat(res.headers), errorBody: await bodyStart(res.body, ERROR_BODY_LIMIT) };
      if (hop === 0 && (await this.followRedirect(answer, region))) continue;
      throw mapS3Error(responseError(answer.status, answer.errorBody, answer.headers['retry-after']), what, key);
    }
  }

  /**
   * Reads an object from its start into `into` until it ends or `into` is full; returns the bytes read.
   * On an http:// endpoint the socket reads straight into `into` (remotes/kit/http-into.ts, shared with the
   * WebDAV driver); on https:// undici's handler copies body pieces into it (dispatchInto). Either way a
   * longer object's connection is dropped once `into` is full.
   */
  async readInto(objectKey: string, key: string, into: Buffer): Promise<number> {
    const what = `get ${key} on ${this.displayUrl}`;
    for (let hop = 0; ; hop++) {
      const { data, path, headers, region } = await this.prepare('GET', objectKey, key, EMPTY_SHA256);
      let r: DispatchedFill;
      try {
        r = await data.get(path, headers, into, ERROR_BODY_LIMIT);
      } catch (e) {
        throw this.transportError(e, what, key);
      }
      if (r.status === 200) return r.bytes;
      if (hop === 0 && (await this.followRedirect(r, region))) continue;
      throw mapS3Error(responseError(r.status, r.errorBody, r.retryAfter), what, key);
    }
  }

  /**
   * One PUT request of a whole object (below the multipart threshold): a buffer, or a stream opened
   * afresh for each attempt. The payload is not hashed: chunks are verified by their own hash.
   */
  async put(objectKey: string, key: string, body: Buffer | (() => Readable), size: number): Promise<void> {
    const what = `put ${key} on ${this.displayUrl}`;
    for (let hop = 0; ; hop++) {
      const { pool, data, path, headers, region } = await this.prepare('PUT', objectKey, key, UNSIGNED_PAYLOAD, { 'content-length': String(size) });
      let answer: { status: number; headers?: Record<string, string>; errorBody: string; retryAfter?: string };
      try {
        if (Buffer.isBuffer(body)) {
          answer = await data.put(path, headers, body, ERROR_BODY_LIMIT);
        } else {
          const res = await pool.request({ method: 'PUT', path, headers, body: body() });
          if (res.statusCode === 200) {
            await res.body.dump().catch(() => {});
            return;
          }
          answer = { status: res.statusCode, headers: flat(res.headers), errorBody: await bodyStart(res.body, ERROR_BODY_LIMIT), retryAfter: header(res.headers['retry-after']) };
        }
      } catch (e) {
        throw this.transportError(e, what, key);
      }
      if (answer.status === 200) return;
      if (hop === 0 && (await this.followRedirect(answer, region))) continue;
      throw mapS3Error(responseError(answer.status, answer.errorBody, answer.retryAfter ?? answer.headers?.['retry-after']), what, key);
    }
  }

  /**
   * A bucket in another region than the one signed for answers 301 PermanentRedirect (or 400
   * AuthorizationHeaderMalformed, or 307 while a new bucket's DNS settles) and names its region in
   * x-amz-bucket-region. As the SDK's followRegionRedirects: switch to that region (its endpoint on AWS,
   * its signing region anywhere) and send the request once more; the region is kept for every later
   * request of this remote, so only the first request pays the extra round trip.
   */
  private async followRedirect(answer: { status: number; headers?: Record<string, string>; errorBody: string }, signedFor: string): Promise<boolean> {
    const region = answer.headers?.['x-amz-bucket-region'];
    if (!region || region === signedFor || !/^[a-z0-9-]{1,64}$/.test(region)) return false;
    const redirect = answer.status === 301 || answer.status === 307 || (answer.status === 400 && /<Code>(AuthorizationHeaderMalformed|PermanentRedirect|IllegalLocationConstraintException)<\/Code>/.test(answer.errorBody));
    if (!redirect) return false;
    this.region = region;
    const current = this.endpoint;
    const ep = await current?.catch(() => undefined);
    // Requests in flight may all be redirected at once: only the first replaces the endpoint.
    if (ep && ep.region !== region && this.endpoint === current) {
      this.retired.push(ep);
      this.endpoint = undefined;
    }
    return true;
  }

  async close(): Promise<void> {
    this.closed = true;
    const ep = await this.endpoint?.catch(() => undefined);
    for (const e of [...this.retired, ...(ep ? [ep] : [])]) {
      e.data.close();
      await e.pool.destroy().catch(() => {});
    }
  }

  private async prepare(method: string, objectKey: string, key: string, payloadHash: string, extra?: Record<string, string>) {
    const [ep, creds] = await Promise.all([this.resolveEndpoint(key), this.credentials(key)]);
    const path = `${ep.base}/${encodeS3Path(objectKey)}`;
    const headers = this.signer.sign({ method, path, headers: { host: ep.host, ...extra }, payloadHash, region: ep.region }, creds);
    return { pool: ep.pool, data: ep.data, path, headers, region: ep.region };
  }

  private resolveEndpoint(key: string): Promise<Endpoint & { region: string }> {
    if (this.closed) throw new ConfigError(`remote ${this.displayUrl} is closed`);
    this.endpoint ??= (async () => {
      const region = this.region ?? (await this.client.config.region());
      const { origin, base } = objectBaseUrl(this.config, region);
      const { timeoutMs, maxSockets } = this.config;
      const pool = new Pool(origin, {
        connections: maxSockets,
        // Idle timeouts, as on the SDK path: a stalled server is dropped and retried, a slow but moving body is not cut.
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        connectTimeout: Math.min(10_000, timeoutMs),
      });
      const data = new HttpDataPath(origin, pool, { connections: maxSockets, timeoutMs });
      return { pool, data, host: new URL(origin).host, base, region };
    })();
    this.endpoint.catch(() => (this.endpoint = undefined)); // a failed lookup is tried again next time
    return this.endpoint.catch((e) => Promise.reject(mapS3Error(e, `resolve the region of ${this.displayUrl}`, key)));
  }

  /** The SDK's credentials (its chain: env, profile, SSO, IMDS...), cached until shortly before they expire. */
  private async credentials(key: string): Promise<SigningCredentials> {
    const c = this.creds;
    if (c && Date.now() < c.refreshAt) return c.value;
    this.credsInFlight ??= this.client.config
      .credentials()
      .then((id) => {
        const value = { accessKeyId: id.accessKeyId, secretAccessKey: id.secretAccessKey, sessionToken: id.sessionToken };
        this.creds = { value, refreshAt: id.expiration ? id.expiration.getTime() - EXPIRY_MARGIN_MS : Infinity };
        return value;
      })
      .finally(() => (this.credsInFlight = undefined));
    try {
      return await this.credsInFlight;
    } catch (e) {
      throw mapS3Error(e, `get credentials for ${this.displayUrl}`, key);
    }
  }

  /** A failure with no HTTP answer: certificate problems are configuration, socket-level failures are worth a retry. */
  private transportError(e: unknown, what: string, key: string): Error {
    return transportError(e, `S3 ${what}`, { key }) ?? mapS3Error(e, what, key);
  }
}

function header(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

function flat(headers: Record<string, string | string[] | undefined>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = header(v)!;
  return out;
}
