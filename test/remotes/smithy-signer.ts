// The AWS SDK's own SigV4 signer (Smithy), the reference the S3 driver's signer is tested against.

import crypto from 'node:crypto';
import { SignatureV4 } from '@smithy/signature-v4';

/** Smithy's hash interface over node:crypto (SHA-256, or HMAC-SHA256 given a secret). */
class Sha256 {
  private readonly h: crypto.Hash | crypto.Hmac;
  constructor(secret?: string | Uint8Array) {
    this.h = secret ? crypto.createHmac('sha256', secret) : crypto.createHash('sha256');
  }
  update(data: string | Uint8Array) {
    this.h.update(data);
  }
  async digest() {
    return new Uint8Array(this.h.digest());
  }
}

/** An S3 signer with the SDK's settings for S3: paths not escaped twice, no payload checksum. */
export function smithySigner(credentials: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }, region: string): SignatureV4 {
  return new SignatureV4({ credentials, region, service: 's3', sha256: Sha256 as unknown as ConstructorParameters<typeof SignatureV4>[0]['sha256'], uriEscapePath: false, applyChecksum: false });
}
