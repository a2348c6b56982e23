// B2's documented status codes (https://www.backblaze.com/apidocs, "Error handling") as typed errors.
// B2 says more than the status in its error body's `code`: a 403 is a refused key only when it says
// access_denied (else a cap or a disabled account: the user must look), and any other 4xx is a request
// this driver should not have sent. The rest is the kit's HTTP mapping, with its one Retry-After parser.

import { AuthError, ConfigError, UsageError } from '../../src/remote/index.js';
import { statusError } from '../kit/http-errors.js';
import type { Dispatcher } from '../kit/undici.js';
import type { ErrorBody } from './wire.js';

export function errorFor(what: string, res: Dispatcher.ResponseData, err: ErrorBody, data: Record<string, unknown> = {}): Error {
  const msg = `B2 ${what}: ${res.statusCode} ${err.code}${err.message ? ` (${err.message})` : ''}`;
  const d = { ...data, status: res.statusCode, b2Code: err.code };
  const s = res.statusCode;
  if (s === 401) return new AuthError(msg, d);
  if (s === 403) return err.code === 'access_denied' ? new AuthError(msg, d) : new ConfigError(msg, d);
  if (s === 404 || s === 408 || s === 429 || s >= 500) return statusError(s, msg, d, res.headers['retry-after']);
  return new UsageError(msg, d);
}
