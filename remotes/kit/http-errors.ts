// HTTP answers and transport failures as ckptsync's typed errors, for the HTTP drivers (WebDAV, B2, S3's
// data path). A driver maps what its protocol says more precisely first (S3's error codes, B2's 403
// codes, WebDAV's 401 with where the login came from) and leaves the rest to statusError.

import { AuthError, CkptError, ConfigError, NoSpaceError, NotFoundError, TransientError, isRetryable } from '../../src/remote/index.js';

/**
 * The longest wait one Retry-After may ask for: 60 s. A larger value (or a date far ahead) is cut to
 * this, so that a misconfigured or hostile server cannot stall a push; the retry wrapper's own backoff
 * and attempt count (src/remote/retry.ts) still bound the whole operation.
 */
export const RETRY_AFTER_CAP_MS = 60_000;

/** Retry-After (RFC 9110 §10.2.3: delta-seconds, or an HTTP date) as milliseconds, capped; undefined when absent or unreadable. */
export function retryAfterMs(value: string | string[] | undefined, now = Date.now()): number | undefined {
  const v = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!v) return undefined;
  // Seconds: B2 and S3 send whole ones; a fraction is read as sent rather than refused.
  const ms = /^\d+(\.\d+)?$/.test(v) ? Number(v) * 1000 : Date.parse(v) - now;
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), RETRY_AFTER_CAP_MS) : undefined;
}

/**
 * The typed error for an HTTP status the driver did not expect. `message` names the operation, key and
 * remote (no credentials). 401/403: credentials; 404: not found; 408, 423, 429 and 5xx but 501, 505 and
 * 507: worth a retry (honouring Retry-After); 507: out of space; anything else is a remote the user must
 * look at (ConfigError), never a plain Error.
 */
export function statusError(status: number, message: string, data: Record<string, unknown> = {}, retryAfter?: string | string[]): CkptError {
  const d = { ...data, status };
  if (status === 401 || status === 403) return new AuthError(message, d);
  if (status === 404) return new NotFoundError(message, d);
  if (status === 507) return new NoSpaceError(message, d);
  if (status === 408 || status === 423 || status === 429 || (status >= 500 && status !== 501 && status !== 505)) {
    return new TransientError(message, d, { retryAfterMs: retryAfterMs(retryAfter) });
  }
  return new ConfigError(message, d);
}

/**
 * A request that got no HTTP answer: an untrusted certificate is configuration (`hint` says what to set),
 * a socket or undici transport failure is worth a retry. Null for anything else (the upload source
 * failing, a bug): the caller passes it on unchanged.
 */
export function transportError(e: unknown, what: string, data: Record<string, unknown> = {}, hint = ''): CkptError | null {
  if (e instanceof CkptError) return e;
  const code = String((e as { code?: string })?.code ?? (e as Error)?.name ?? '');
  if (/CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS/.test(code)) {
    return new ConfigError(`${what}: the server's TLS certificate is not trusted (${code})${hint ? `; ${hint}` : ''}`, { ...data, code });
  }
  if (isRetryable(e) || (code.startsWith('UND_ERR') && !/INVALID_ARG|NOT_SUPPORTED|ABORTED|CONTENT_LENGTH_MISMATCH/.test(code))) {
    return new TransientError(`${what} failed on the network: ${code}`, { ...data, code }, { cause: e });
  }
  return null;
}
