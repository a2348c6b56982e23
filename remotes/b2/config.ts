// Configuration of a B2 remote: the URL (b2://bucket/prefix) and the options table, which drives
// `remote options b2`, refuses unknown options and marks the application key secret.

import { UsageError, redactSecrets, type RemoteOption, type RemoteSettings } from '../../src/remote/index.js';
import { Options } from '../kit/options.js';

export const DEFAULT_API_URL = 'https://api.backblazeb2.com';
const MiB = 1 << 20;

export const options = [
  { name: 'applicationKeyId', help: 'B2 application key id (default: $B2_APPLICATION_KEY_ID)' },
  { name: 'applicationKey', help: 'B2 application key (default: $B2_APPLICATION_KEY)', secret: true },
  { name: 'apiUrl', help: 'B2 authorization base URL, for B2-compatible services and tests (default: $B2_API_URL)', default: DEFAULT_API_URL },
  { name: 'largeFileThreshold', help: 'objects larger than this are uploaded as large files in parts', default: '200M' },
  { name: 'partSize', help: 'part size of large files (at least B2\'s absoluteMinimumPartSize)', default: '96M' },
  { name: 'partConcurrency', help: 'parts of one large file uploaded at once (each held in memory)', default: 4 },
] as const satisfies readonly RemoteOption[];

export interface B2Config {
  bucket: string;
  /** The prefix all keys live under: "" or "some/path/". */
  root: string;
  apiUrl: string;
  keyId?: string;
  key?: string;
  largeFileThreshold: number;
  partSize: number;
  partConcurrency: number;
}

export function parseConfig(url: string, settings: RemoteSettings = {}): B2Config {
  const o = new Options('b2', options, settings);
  const m = /^b2:\/\/([^/?#]+)\/?([^?#]*)$/i.exec(url);
  if (!m) throw new UsageError(`not a B2 URL: ${redactSecrets(url)} (expected b2://bucket/prefix)`);
  const bucket = m[1]!;
  if (bucket.includes('@')) throw new UsageError('put B2 credentials in B2_APPLICATION_KEY_ID/B2_APPLICATION_KEY or the remote settings, not in the URL');
  if (!/^[A-Za-z0-9-]{6,63}$/.test(bucket)) throw new UsageError(`not a B2 bucket name: ${bucket} (6-63 letters, digits and dashes)`);
  const prefix = m[2]!.replace(/^\/+|\/+$/g, '');
  const apiUrl = (o.string('apiUrl', 'B2_API_URL') ?? DEFAULT_API_URL).replace(/\/+$/, '');
  if (!/^https?:\/\/[^/]+$/i.test(apiUrl)) throw new UsageError(`b2 option apiUrl: expected https://host[:port], got ${redactSecrets(apiUrl)}`);
  return {
    bucket,
    root: prefix ? `${prefix}/` : '',
    apiUrl,
    keyId: o.string('applicationKeyId', 'B2_APPLICATION_KEY_ID'),
    key: o.string('applicationKey', 'B2_APPLICATION_KEY'),
    largeFileThreshold: o.size('largeFileThreshold', 200 * MiB),
    partSize: o.size('partSize', 96 * MiB),
    partConcurrency: o.int('partConcurrency', 4),
  };
}
