// Configuration of an S3 remote: the URL (s3://bucket/prefix) and the options table, which drives
// `remote options s3`, refuses unknown options and marks the credentials secret. Unset options fall back
// to the AWS SDKs' environment variables (and the SDK's credential chain: profiles, SSO, IMDS).

import { UsageError, redactSecrets, type RemoteOption, type RemoteSettings } from '../../src/remote/index.js';
import { Options, parseBool } from '../kit/options.js';

const MiB = 1 << 20;

export const options = [
  { name: 'endpoint', help: 'S3-compatible endpoint URL (MinIO, Ceph, R2, B2...); default: $AWS_ENDPOINT_URL_S3, $AWS_ENDPOINT_URL, else AWS' },
  { name: 'region', help: 'region; default: $AWS_REGION, $AWS_DEFAULT_REGION, the profile, else us-east-1 with a custom endpoint' },
  { name: 'pathStyle', help: 'path-style addressing (endpoint/bucket/key) instead of bucket.endpoint', default: 'true with a custom endpoint' },
  { name: 'profile', help: 'shared credentials/config profile; default: $AWS_PROFILE, else "default"' },
  { name: 'accessKeyId', help: 'access key id, instead of the AWS credential chain (env, profiles, SSO, IMDS)', secret: true },
  { name: 'secretAccessKey', help: 'secret access key, with accessKeyId', secret: true },
  { name: 'sessionToken', help: 'session token for temporary credentials, with accessKeyId', secret: true },
  { name: 'multipartThreshold', help: 'objects at least this large are uploaded in parallel parts', default: '64MiB' },
  { name: 'partSize', help: 'multipart part size (at least 5MiB)', default: '16MiB' },
  { name: 'partConcurrency', help: 'parts of one object uploaded at once', default: 4 },
  { name: 'maxSockets', help: 'keep-alive connections per remote', default: 64 },
  { name: 'timeoutSeconds', help: 'a request silent this long (no bytes either way) is dropped and retried', default: 60 },
  { name: 'cas', help: 'how refs are swapped: auto (probe for conditional writes), conditional, or lock', default: 'auto' },
  { name: 'sdkData', help: 'chunk GET/PUT through the AWS SDK instead of signed undici requests (for comparisons); also $CKPTSYNC_S3_SDK_DATA=1', default: false },
] as const satisfies readonly RemoteOption[];

export type CasMode = 'auto' | 'conditional' | 'lock';

export interface S3Config {
  bucket: string;
  /** Key prefix inside the bucket, '' or ending in '/'. */
  prefix: string;
  /** Custom endpoint (MinIO, Ceph, R2, B2...); undefined for AWS itself. */
  endpoint?: string;
  region?: string;
  pathStyle: boolean;
  profile?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  sessionToken?: string;
  /** Objects at least this large are uploaded in parts. */
  multipartThreshold: number;
  partSize: number;
  partConcurrency: number;
  maxSockets: number;
  /** A connection that takes longer to connect, or is silent longer while a request is in flight, is dropped (TransientError). */
  timeoutMs: number;
  cas: CasMode;
  /** Chunk GET/PUT through the AWS SDK instead of the driver's own signed undici requests (data-path.ts); for A/B comparisons. */
  sdkData: boolean;
}

export function parseConfig(url: string, settings: RemoteSettings = {}): S3Config {
  const o = new Options('s3', options, settings);
  const m = /^s3:\/\/([^/?#]+)\/?([^?#]*)$/i.exec(url);
  if (!m) throw new UsageError(`not an S3 URL: ${redactSecrets(url)} (expected s3://bucket/prefix)`);
  if (m[1]!.includes('@')) throw new UsageError('put S3 credentials in the environment or a profile, not in the URL');
  const bucket = m[1]!;
  const path = decodeURIComponent(m[2]!).replace(/^\/+|\/+$/g, '');
  // AWS_IGNORE_CONFIGURED_ENDPOINT_URLS is the SDKs' standard switch for ignoring the two variables.
  const ignore = process.env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS;
  const ignoreEnv = ignore ? parseBool(ignore, () => new UsageError(`AWS_IGNORE_CONFIGURED_ENDPOINT_URLS must be true or false, not "${ignore}"`)) : false;
  const endpoint = ignoreEnv ? o.string('endpoint') : o.string('endpoint', 'AWS_ENDPOINT_URL_S3', 'AWS_ENDPOINT_URL');
  if (endpoint && !/^https?:\/\/[^/]+/i.test(endpoint)) throw new UsageError(`endpoint must be an http(s) URL, not "${redactSecrets(endpoint)}"`);
  const cas = o.oneOf('cas', ['auto', 'conditional', 'lock'] as const, 'auto');
  return {
    bucket,
    prefix: path ? `${path}/` : '',
    endpoint,
    region: o.string('region', 'AWS_REGION', 'AWS_DEFAULT_REGION') ?? (endpoint ? 'us-east-1' : undefined),
    pathStyle: o.bool('pathStyle') ?? Boolean(endpoint),
    profile: o.string('profile'),
    accessKeyId: o.string('accessKeyId'),
    secretAccessKey: o.string('secretAccessKey'),
    sessionToken: o.string('sessionToken'),
    multipartThreshold: o.size('multipartThreshold', 64 * MiB),
    partSize: Math.max(5 * MiB, o.size('partSize', 16 * MiB)),
    partConcurrency: o.int('partConcurrency', 4),
    maxSockets: o.int('maxSockets', 64),
    timeoutMs: o.int('timeoutSeconds', 60) * 1000,
    cas,
    sdkData: o.bool('sdkData', 'CKPTSYNC_S3_SDK_DATA') ?? false,
  };
}
