// A live S3 server for tests: s3rver (a real S3 HTTP API over a temp directory) on 127.0.0.1, with one
// bucket. It knows exactly one access key (S3RVER / S3RVER); any other key id is refused with
// InvalidAccessKeyId (HTTP 403), which is what the bad-credentials tests rely on. It does not
// implement conditional writes (it ignores If-Match / If-None-Match on PUT), so the S3 driver's
// lock-based compare-and-swap is the path exercised against it; the conditional-write path runs against
// moto (test/servers/moto.ts, test/remotes/s3-conditional.test.ts).

import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import { waitForPort } from './faultproxy.js';
import type { LiveServer } from './types.js';
import { stopServer } from './child.js';

export const BUCKET = 'ckpt-test';
export const ACCESS_KEY = 'S3RVER';
export const SECRET_KEY = 'S3RVER';

export async function start(): Promise<LiveServer> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-s3rver-'));
  // Its own process: see s3rver-main.ts for why, and s3rver-fixes.ts for the store's bugs it mends.
  const main = fileURLToPath(new URL('./s3rver-main.js', import.meta.url));
  const child = spawn(process.execPath, ['--openssl-legacy-provider', main, path.join(dir, 'data'), BUCKET], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = once(child, 'exit');
  const lines = readline.createInterface({ input: child.stdout! });
  const first = await Promise.race([
    once(lines, 'line').then(([l]) => String(l)),
    exited.then(([code]) => Promise.reject(new Error(`s3rver exited with ${code} before listening`))),
  ]);
  const { port } = JSON.parse(first) as { port: number };
  await waitForPort(port);
  const endpoint = `http://127.0.0.1:${port}`;
  return s3Server({ dir, port, pid: child.pid, bucket: BUCKET, accessKey: ACCESS_KEY, secretKey: SECRET_KEY, rcloneName: 'ckpts3', stop: () => stopServer(child, exited, dir, () => child.stdin!.end()) });
}

/**
 * What a test gets from any S3 server: URLs with a random prefix per call, the AWS environment (with a
 * HOME of its own, so no ~/.aws of the developer's leaks in), driver settings and an rclone config.
 */
export async function s3Server(o: { dir: string; port: number; pid?: number; bucket: string; accessKey: string; secretKey: string; rcloneName: string; rcloneExtra?: string[]; stop: () => Promise<void> }): Promise<LiveServer> {
  const endpoint = `http://127.0.0.1:${o.port}`;
  const home = path.join(o.dir, 'home');
  await fs.mkdir(home);
  const prefix = () => `run-${crypto.randomBytes(6).toString('hex')}`;
  return {
    newUrl: () => `s3://${o.bucket}/${prefix()}`,
    env: {
      AWS_ACCESS_KEY_ID: o.accessKey,
      AWS_SECRET_ACCESS_KEY: o.secretKey,
      AWS_REGION: 'us-east-1',
      AWS_ENDPOINT_URL_S3: endpoint,
      HOME: home,
      AWS_CONFIG_FILE: path.join(home, 'aws-config'),
      AWS_SHARED_CREDENTIALS_FILE: path.join(home, 'aws-credentials'),
    },
    settings: { endpoint, pathStyle: 'true' },
    rclone: () => ({
      config: [
        `[${o.rcloneName}]`,
        'type = s3',
        'provider = Other',
        `access_key_id = ${o.accessKey}`,
        `secret_access_key = ${o.secretKey}`,
        `endpoint = ${endpoint}`,
        'region = us-east-1',
        'force_path_style = true',
        ...(o.rcloneExtra ?? []),
        '',
      ].join('\n'),
      remote: `${o.rcloneName}:${o.bucket}/${prefix()}`,
    }),
    port: o.port,
    pid: o.pid,
    stop: o.stop,
  };
}
