// AWS Signature Version 4 for the S3 driver's own data path (data-path.ts): an Authorization header
// computed over the canonical request, as in AWS's "Signature Calculations for the Authorization Header:
// Transferring Payload in a Single Chunk". Only what the data path sends is covered: header auth, no
// presigned URLs, no query strings beyond what the caller has already made canonical, no chunked bodies.

import crypto from 'node:crypto';

/** SHA-256 of the empty string: the payload hash of a GET. */
export const EMPTY_SHA256 = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
/** The payload hash of a body that is not hashed (S3 accepts it; ckptsync verifies content by its own hash). */
export const UNSIGNED_PAYLOAD = 'UNSIGNED-PAYLOAD';

export interface SigningCredentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface RequestToSign {
  method: string;
  /** The canonical URI: every path segment already encoded with encodeS3Path. */
  path: string;
  /** The canonical query string (sorted, encoded), '' when none. */
  query?: string;
  /** Headers to send and sign; must include `host`. Names in any case. */
  headers: Record<string, string>;
  /** Hex SHA-256 of the body, EMPTY_SHA256, or UNSIGNED_PAYLOAD. */
  payloadHash: string;
  region: string;
  service?: string;
  /** Signing time; now when omitted. */
  date?: Date;
}

const unreserved = /[A-Za-z0-9\-._~]/;

/** UriEncode() of S3's rules for one path segment: every byte but A-Za-z0-9-._~ becomes %XX (upper case). */
export function encodeSegment(segment: string): string {
  let out = '';
  for (const ch of segment) {
    if (unreserved.test(ch)) out += ch;
    else for (const b of Buffer.from(ch, 'utf8')) out += '%' + b.toString(16).toUpperCase().padStart(2, '0');
  }
  return out;
}

/** An object key as a URI path: each '/'-separated segment encoded, the slashes kept (S3 does not normalise). */
export function encodeS3Path(key: string): string {
  return key.split('/').map(encodeSegment).join('/');
}

/** 20130524T000000Z */
export function amzDate(d: Date): string {
  return d.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
}

const hmac = (key: crypto.BinaryLike, data: string) => crypto.createHmac('sha256', key).update(data, 'utf8').digest();
const sha256Hex = (data: string) => crypto.createHash('sha256').update(data, 'utf8').digest('hex');

/**
 * Signs requests for one service. The signing key depends only on (secret, day, region, service), so the
 * last one is kept: four HMACs fewer per request, which matters at thousands of chunk requests a second.
 */
export class SigV4Signer {
  /** The last signing key, for the secret it was derived from (held as the credentials are). */
  private cached?: { secret: string; scope: string; key: Buffer };

  /** The canonical request, string to sign and signature; exported for tests against AWS's examples. */
  compute(req: RequestToSign, creds: SigningCredentials) {
    const service = req.service ?? 's3';
    const when = amzDate(req.date ?? new Date());
    const day = when.slice(0, 8);
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) headers[k.toLowerCase()] = v;
    headers['x-amz-date'] = when;
    headers['x-amz-content-sha256'] = req.payloadHash;
    if (creds.sessionToken) headers['x-amz-security-token'] = creds.sessionToken;
    if (!headers.host) throw new Error('SigV4: the host header is required');
    const names = Object.keys(headers).sort();
    const canonicalHeaders = names.map((n) => `${n}:${headers[n]!.trim().replace(/\s+/g, ' ')}\n`).join('');
    const signedHeaders = names.join(';');
    const canonicalRequest = [req.method.toUpperCase(), req.path, req.query ?? '', canonicalHeaders, signedHeaders, req.payloadHash].join('\n');
    const scope = `${day}/${req.region}/${service}/aws4_request`;
    const stringToSign = ['AWS4-HMAC-SHA256', when, scope, sha256Hex(canonicalRequest)].join('\n');
    const signature = crypto.createHmac('sha256', this.signingKey(creds.secretAccessKey, day, req.region, service)).update(stringToSign, 'utf8').digest('hex');
    const authorization = `AWS4-HMAC-SHA256 Credential=${creds.accessKeyId}/${scope},SignedHeaders=${signedHeaders},Signature=${signature}`;
    const signed: Record<string, string> = { ...headers, authorization };
    return { canonicalRequest, stringToSign, signature, headers: signed };
  }

  /** The headers to send: the caller's (lower-cased) plus x-amz-date, x-amz-content-sha256, the token, authorization. */
  sign(req: RequestToSign, creds: SigningCredentials): Record<string, string> {
    return this.compute(req, creds).headers;
  }

  private signingKey(secret: string, day: string, region: string, service: string): Buffer {
    const c = this.cached;
    if (c && c.secret === secret && c.scope === `${day}/${region}/${service}`) return c.key;
    const key = hmac(hmac(hmac(hmac(`AWS4${secret}`, day), region), service), 'aws4_request');
    this.cached = { secret, scope: `${day}/${region}/${service}`, key };
    return key;
  }
}
