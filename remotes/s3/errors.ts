// S3's answers (HTTP status and error code, from the SDK or the driver's own data path) and transport
// failures as ckptsync's typed errors. Retry-After goes through the kit's one parser (capped at 60 s).

import { AuthError, ConfigError, NotFoundError, TransientError, isRetryable, redactSecrets } from '../../src/remote/index.js';
import { retryAfterMs } from '../kit/http-errors.js';
import type { SdkError } from './wire.js';

const AUTH_CODES = new Set([
  'AccessDenied',
  'InvalidAccessKeyId',
  'SignatureDoesNotMatch',
  'InvalidToken',
  'ExpiredToken',
  'TokenRefreshRequired',
  'AuthorizationHeaderMalformed',
  'RequestTimeTooSkewed',
  'CredentialsProviderError',
]);
const NOT_FOUND_CODES = new Set(['NoSuchKey', 'NotFound', 'NoSuchBucket', 'NoSuchUpload']);
const TRANSIENT_CODES = new Set([
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'RequestTimeout',
  'RequestTimeoutException',
  'InternalError',
  'ServiceUnavailable',
  'TimeoutError',
  'RequestAbortedError',
]);

export function statusOf(err: unknown): number | undefined {
  return (err as SdkError)?.$metadata?.httpStatusCode;
}

export function codeOf(err: unknown): string | undefined {
  const e = err as SdkError;
  return e?.Code ?? e?.name ?? e?.code;
}

/** True for S3's "the condition you gave does not hold" answers to a conditional write. */
export function isPreconditionFailed(err: unknown): boolean {
  return statusOf(err) === 412 || codeOf(err) === 'PreconditionFailed';
}

/**
 * Turns an SDK failure into a typed error. `what` names the operation and key for the message; the
 * message never carries credentials (the SDK's messages do not, and redactSecrets guards URLs).
 */
export function mapS3Error(err: unknown, what: string, key?: string): Error {
  if (err instanceof AuthError || err instanceof NotFoundError || err instanceof TransientError) return err;
  const status = statusOf(err);
  const code = codeOf(err) ?? 'Unknown';
  const detail = redactSecrets(`${code}${status ? ` (HTTP ${status})` : ''}: ${(err as SdkError)?.message ?? String(err)}`);
  const data = { key, status, code };
  if (AUTH_CODES.has(code) || status === 401 || status === 403) {
    return new AuthError(`S3 refused the credentials for ${what}: ${detail}`, data, { cause: err });
  }
  if (NOT_FOUND_CODES.has(code) || status === 404) {
    return new NotFoundError(`not found on remote: ${key ?? what} (${code})`, data, { cause: err });
  }
  if (TRANSIENT_CODES.has(code) || status === 429 || (status !== undefined && status >= 500) || isRetryable(err)) {
    return new TransientError(`S3 ${what} failed, may succeed if retried: ${detail}`, data, {
      cause: err,
      retryAfterMs: retryAfterMs((err as SdkError)?.$response?.headers?.['retry-after']),
    });
  }
  if (status === undefined && isTransportError(err)) {
    return new TransientError(`S3 ${what} failed on the network: ${detail}`, data, { cause: err });
  }
  // Anything else S3 answered is a remote the user must look at; an error of our own (a bug) stays as it is.
  if (status !== undefined || !(err instanceof Error)) return new ConfigError(`S3 ${what} failed: ${detail}`, data);
  return err;
}

/** Socket-level failures the SDK passes through with no HTTP status (resets, hang-ups, timeouts). */
function isTransportError(err: unknown): boolean {
  const e = err as SdkError & { errno?: unknown };
  const text = `${e?.code ?? ''} ${e?.name ?? ''} ${e?.message ?? ''}`;
  return /ECONNRESET|EPIPE|ECONNREFUSED|ETIMEDOUT|socket hang up|ECONNABORTED|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|premature close/i.test(text);
}

/**
 * An HTTP answer of the driver's own data path as an SdkError, so mapS3Error treats it as it treats the
 * SDK's: the XML <Code>/<Message> of S3's error body, the status, and Retry-After.
 */
export function responseError(status: number, body: string, retryAfter?: string): SdkError {
  const tag = (name: string) => /^[\s\S]{0,4096}?<Error>/.test(body) ? new RegExp(`<${name}>([^<]{0,1024})</${name}>`).exec(body)?.[1] : undefined;
  // A HEAD-like answer without a body (or a proxy's HTML page) still has a status worth a name.
  const code = tag('Code') ?? (status === 404 ? 'NotFound' : status === 403 ? 'Forbidden' : `HTTP${status}`);
  const message = tag('Message') ?? `HTTP ${status}`;
  return { name: code, Code: code, message: unescapeXml(message), $metadata: { httpStatusCode: status }, $response: { headers: { 'retry-after': retryAfter } } };
}

function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|quot|apos|amp);/g, (_, e: string) => ({ lt: '<', gt: '>', quot: '"', apos: "'", amp: '&' })[e]!);
}
