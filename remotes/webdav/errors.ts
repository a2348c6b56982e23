// WebDAV answers and transport failures as typed errors. A 401 says where the login came from (or
// where none was found); the rest follows the kit's HTTP mapping (remotes/kit/http-errors.ts), so an
// unexpected status is a ConfigError naming it, never a plain Error.

import { AuthError, type CkptError } from '../../src/remote/index.js';
import { statusError, transportError } from '../kit/http-errors.js';
import type { CredentialLookup } from './credentials.js';

/** An answer the driver did not expect; `where` is "METHOD key on url". */
export function answerError(status: number, where: string, key: string, auth: CredentialLookup, displayUrl: string, retryAfter?: string | string[]): CkptError {
  if (status === 401) {
    const { credentials, lookedIn } = auth;
    return credentials
      ? new AuthError(`${displayUrl} refused the credentials from ${credentials.source} (HTTP 401)`, { status })
      : new AuthError(`${displayUrl} requires a login and none was found; looked in ${lookedIn}`, { status });
  }
  if (status === 404) return statusError(status, `not found on remote: ${key}`, { key });
  const what = status === 403 ? 'permission denied' : status === 405 || status === 501 ? 'not supported by the server; is this a WebDAV share?' : status === 507 ? 'the server is out of space' : 'unexpected answer';
  return statusError(status, `${where}: ${what} (HTTP ${status})`, { key }, retryAfter);
}

/** A request that got no answer: an untrusted certificate, or a network failure worth a retry; anything else unchanged. */
export function requestError(e: unknown, where: string, key: string): unknown {
  return transportError(e, where, { key }, 'set caFile to trust a private CA') ?? e;
}
