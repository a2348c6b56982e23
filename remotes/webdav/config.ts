// Configuration of a WebDAV remote: the URL (webdav://[user[:pass]@]host[:port]/base/path, webdavs://
// for https) and the options table, which drives `remote options webdav`, refuses unknown options and
// marks the password secret.

import { UsageError, redactSecrets, type RemoteOption, type RemoteSettings } from '../../src/remote/index.js';
import { Options } from '../kit/options.js';
import { resolveCredentials, type CredentialLookup } from './credentials.js';

export const options = [
  { name: 'user', help: `login (else from the URL, CKPTSYNC_WEBDAV_USER or ~/.netrc)` },
  { name: 'password', help: 'password (else from the URL, CKPTSYNC_WEBDAV_PASSWORD or ~/.netrc)', secret: true },
  { name: 'caFile', help: 'PEM file of a CA to trust for webdavs:// (besides the system CAs)' },
  { name: 'connections', help: 'HTTP connections kept open to the server', default: 32 },
  { name: 'lockWaitSeconds', help: "how long to wait for another writer's document lock", default: 30 },
  { name: 'lockStaleSeconds', help: 'age after which a document lock is taken to be left by a crashed writer', default: 60 },
  { name: 'timeoutSeconds', help: 'a request waiting this long for an answer, or for more of one, is dropped and retried', default: 60 },
] as const satisfies readonly RemoteOption[];

export interface WebdavConfig {
  /** http(s)://host:port */
  origin: string;
  /** Percent-encoded base path, no trailing slash ("" for the server root). */
  basePath: string;
  /** The URL without credentials, for messages. */
  displayUrl: string;
  auth: CredentialLookup;
  caFile?: string;
  connections: number;
  /** How long swapDocument waits for another writer's lock before giving up (TransientError). */
  lockWaitMs: number;
  /** A lock older than this is taken to be left by a crashed writer and is broken. */
  lockStaleMs: number;
  /** A request waiting this long for the answer's headers, or for more of its body, is dropped (TransientError). */
  timeoutMs: number;
}

export function parseConfig(url: string, settings: RemoteSettings = {}): WebdavConfig {
  const o = new Options('webdav', options, settings);
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new UsageError(`not a valid WebDAV URL: ${redactSecrets(url)}`);
  }
  const scheme = u.protocol.slice(0, -1).toLowerCase();
  if (scheme !== 'webdav' && scheme !== 'webdavs') throw new UsageError(`not a webdav:// or webdavs:// URL: ${redactSecrets(url)}`);
  if (!u.hostname) throw new UsageError(`WebDAV URL without a host: ${redactSecrets(url)}`);
  if (u.search || u.hash) throw new UsageError(`WebDAV URL must not have a query or fragment: ${redactSecrets(url)}`);
  const origin = `${scheme === 'webdavs' ? 'https' : 'http'}://${u.host}`;
  const basePath = u.pathname.replace(/\/+$/, '');
  if (basePath.split('/').some((s) => s === '.' || s === '..')) throw new UsageError(`WebDAV URL path must not contain . or ..: ${redactSecrets(url)}`);
  return {
    origin,
    basePath,
    displayUrl: `${scheme}://${u.host}${basePath || '/'}`,
    auth: resolveCredentials(u, { user: o.string('user'), password: o.string('password') }),
    caFile: o.string('caFile'),
    connections: o.int('connections', 32),
    lockWaitMs: o.int('lockWaitSeconds', 30) * 1000,
    lockStaleMs: o.int('lockStaleSeconds', 60) * 1000,
    timeoutMs: o.int('timeoutSeconds', 60) * 1000,
  };
}
