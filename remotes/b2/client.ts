// A small client for the B2 native API v2: account authorization shared by all calls (re-authorized
// once when B2 says expired_auth_token), JSON calls, a pool of upload URLs (B2 wants one URL per
// upload in flight), and B2's documented error handling mapped onto the typed errors.

import crypto from 'node:crypto';
import { Readable } from 'node:stream';
import { Agent, request, type Dispatcher } from '../kit/undici.js';
import {
  AuthError,
  TransientError,
  isRetryable,
  type ByteSource,
} from '../../src/remote/index.js';
import { errorFor } from './errors.js';
import { B2_API_VERSION, type AuthorizeResponse, type ErrorBody, type FileVersion, type UploadUrlResponse } from './wire.js';

export interface B2Credentials {
  apiUrl: string;
  keyId: string;
  key: string;
}

export interface Authorization {
  token: string;
  apiUrl: string;
  downloadUrl: string;
  accountId: string;
  recommendedPartSize: number;
  absoluteMinimumPartSize: number;
  allowed: AuthorizeResponse['allowed'];
}

type Response = Dispatcher.ResponseData;

/** How many times one upload gets a fresh upload URL after a busy or broken one before giving up. */
const UPLOAD_TRIES = 5;

export class B2Client {
  readonly dispatcher = new Agent({ connections: 64, keepAliveTimeout: 30_000, pipelining: 1 });
  private authorization: Promise<Authorization> | null = null;
  private current: Authorization | null = null;
  /** Idle upload URLs per target (a bucketId, or a large file's fileId); each is used by one upload at a time. */
  private readonly idleUploadUrls = new Map<string, UploadUrlResponse[]>();

  constructor(private readonly creds: B2Credentials) {}

  /** The current account authorization, made once and shared by concurrent callers. */
  auth(): Promise<Authorization> {
    this.authorization ??= this.authorize().then(
      (a) => (this.current = a),
      (e) => {
        this.authorization = null;
        throw e;
      },
    );
    return this.authorization;
  }

  /** Drops the authorization `stale` so that the next call authorizes again (once, not per caller). */
  private expire(stale: Authorization): void {
    if (this.current !== stale) return; // already renewed, or being renewed
    this.current = null;
    this.authorization = null;
  }

  private async authorize(): Promise<Authorization> {
    const basic = Buffer.from(`${this.creds.keyId}:${this.creds.key}`).toString('base64');
    const res = await this.send('b2_authorize_account', `${this.creds.apiUrl}/b2api/${B2_API_VERSION}/b2_authorize_account`, {
      method: 'GET',
      headers: { authorization: `Basic ${basic}` },
    });
    if (res.statusCode !== 200) {
      const err = await errorBody(res);
      if (res.statusCode === 401 || res.statusCode === 403) {
        throw new AuthError(`B2 refused the application key ${this.creds.keyId}: ${err.code} (${err.message})`, { code: err.code });
      }
      throw errorFor('b2_authorize_account', res, err);
    }
    const a = (await res.body.json()) as AuthorizeResponse;
    return {
      token: a.authorizationToken,
      apiUrl: a.apiUrl,
      downloadUrl: a.downloadUrl,
      accountId: a.accountId,
      recommendedPartSize: a.recommendedPartSize,
      absoluteMinimumPartSize: a.absoluteMinimumPartSize,
      allowed: a.allowed,
    };
  }

  /** A JSON call of the API; re-authorizes once on expired_auth_token. */
  async call<T>(name: string, body: object): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const auth = await this.auth();
      const res = await this.send(name, `${auth.apiUrl}/b2api/${B2_API_VERSION}/${name}`, {
        method: 'POST',
        headers: { authorization: auth.token, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      if (res.statusCode === 200) return (await res.body.json()) as T;
      const err = await errorBody(res);
      if (isExpired(res, err) && attempt < 2) {
        this.expire(auth);
        continue;
      }
      throw errorFor(name, res, err);
    }
  }

  /**
   * A download-side request (GET/HEAD on the download URL) with the account token; re-authorizes once
   * on expired_auth_token. Returns the response whatever its status, error bodies already read.
   */
  async download(pathAndQuery: string, method: 'GET' | 'HEAD', headers: Record<string, string> = {}): Promise<{ res: Response; err?: ErrorBody }> {
    for (let attempt = 0; ; attempt++) {
      const auth = await this.auth();
      const res = await this.send('download', `${auth.downloadUrl}${pathAndQuery}`, {
        method,
        headers: { ...headers, authorization: auth.token },
      });
      if (res.statusCode < 300) return { res };
      const err = await errorBody(res);
      // A HEAD answer has no body to say why: a 401 there is taken as a possibly expired token, once.
      const headExpired = method === 'HEAD' && res.statusCode === 401 && attempt === 0;
      if ((isExpired(res, err) || headExpired) && attempt < 2) {
        this.expire(auth);
        continue;
      }
      return { res, err };
    }
  }

  /**
   * Uploads `source` with an upload URL from the pool of `target`; `getUrl` asks B2 for a new one.
   * A busy (503), broken (connection failure, 5xx) or expired upload URL is thrown away and the
   * upload starts over on a fresh one, as B2 documents; other errors are thrown typed.
   */
  async upload(
    target: string,
    getUrl: () => Promise<UploadUrlResponse>,
    headers: Record<string, string>,
    source: ByteSource,
  ): Promise<FileVersion> {
    let lastError: unknown;
    for (let attempt = 0; attempt < UPLOAD_TRIES; attempt++) {
      const url = this.idleUploadUrls.get(target)?.pop() ?? (await getUrl());
      const { body, length, sha1 } = uploadBody(source);
      let res: Response;
      try {
        res = await request(url.uploadUrl, {
          method: 'POST',
          dispatcher: this.dispatcher,
          headers: { ...headers, authorization: url.authorizationToken, 'content-length': String(length), 'x-bz-content-sha1': sha1 },
          body,
        });
      } catch (e) {
        if (body instanceof Readable) body.destroy();
        if (!isRetryable(e)) throw e;
        lastError = new TransientError(`upload to B2 failed: ${(e as Error).message}`, {}, { cause: e });
        continue; // the URL is discarded: B2 says a failed upload URL must not be reused
      }
      if (res.statusCode === 200) {
        const file = (await res.body.json()) as FileVersion;
        this.release(target, url);
        return file;
      }
      const err = await errorBody(res);
      const error = errorFor('upload', res, err);
      // B2: an upload answered 401 (expired or bad upload token) wants a new upload URL; a refused
      // account key shows up when asking for that URL, as AuthError.
      if (res.statusCode === 401) {
        lastError = error;
        continue;
      }
      if (res.statusCode === 429) {
        this.release(target, url); // the URL is fine; B2 asks us to slow down
        throw error;
      }
      if (res.statusCode >= 500 || res.statusCode === 408) {
        lastError = error;
        continue;
      }
      throw error;
    }
    throw lastError instanceof TransientError ? lastError : new TransientError(`upload to B2 failed ${UPLOAD_TRIES} times`, {}, { cause: lastError });
  }

  private release(target: string, url: UploadUrlResponse): void {
    let idle = this.idleUploadUrls.get(target);
    if (!idle) this.idleUploadUrls.set(target, (idle = []));
    idle.push(url);
  }

  /** Forgets the upload URLs of a finished or cancelled large file. */
  forgetUploadUrls(target: string): void {
    this.idleUploadUrls.delete(target);
  }

  /** One HTTP request; connection failures become TransientError. */
  private async send(what: string, url: string, opts: { method: 'GET' | 'POST' | 'HEAD'; headers: Record<string, string>; body?: string }): Promise<Response> {
    try {
      return await request(url, { ...opts, dispatcher: this.dispatcher });
    } catch (e) {
      if (isRetryable(e)) throw new TransientError(`${what}: cannot reach B2: ${(e as Error).message}`, {}, { cause: e });
      throw e;
    }
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

/**
 * The upload body and its X-Bz-Content-Sha1 header. A buffered source sends its SHA-1 as the header;
 * a streamed one is hashed on the way and its hex SHA-1 appended (hex_digits_at_end), so it is never
 * held in memory.
 */
function uploadBody(source: ByteSource): { body: Buffer | Readable; length: number; sha1: string } {
  if (source.buffer) {
    return { body: source.buffer, length: source.size, sha1: crypto.createHash('sha1').update(source.buffer).digest('hex') };
  }
  const stream = source.open();
  async function* withDigest() {
    const hash = crypto.createHash('sha1');
    let n = 0;
    for await (const part of stream) {
      const b = part as Buffer;
      hash.update(b);
      n += b.length;
      yield b;
    }
    if (n !== source.size) throw new Error(`upload source gave ${n} bytes, expected ${source.size}`);
    yield Buffer.from(hash.digest('hex'));
  }
  return { body: Readable.from(withDigest()), length: source.size + 40, sha1: 'hex_digits_at_end' };
}

function isExpired(res: Response, err: ErrorBody): boolean {
  return res.statusCode === 401 && err.code === 'expired_auth_token';
}

/** Reads a B2 error body ({status, code, message}); tolerates a missing or non-JSON one (HEAD, proxies). */
export async function errorBody(res: Response): Promise<ErrorBody> {
  const text = await res.body.text().catch(() => '');
  try {
    const j = JSON.parse(text) as Partial<ErrorBody>;
    return { status: j.status ?? res.statusCode, code: j.code ?? `http_${res.statusCode}`, message: j.message ?? '' };
  } catch {
    return { status: res.statusCode, code: `http_${res.statusCode}`, message: text.slice(0, 200) };
  }
}
