// A fast S3 server for the benchmark: the Versity S3 gateway (Go, Apache-2.0, from the Go module proxy)
// serving a temp directory on 127.0.0.1 with one bucket. s3rver (test/servers/s3.ts) is a JavaScript
// server that spends a CPU-second per few hundred megabytes; this one shows what ckptsync does when the
// server is not the bound. Built once per machine by scripts/bench/peers.sh into VERSITYGW_BIN.

import fs from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { freePort, waitForPort } from './faultproxy.js';
import type { LiveServer } from './types.js';
import { stopServer } from './child.js';
import { s3Server } from './s3.js';

export const VERSITYGW_BIN = '/var/cache/ckptsync/gobin/versitygw';
export const BUCKET = 'ckpt-test';
export const ACCESS_KEY = 'VERSITYKEY';
export const SECRET_KEY = 'versity-test-secret';

/**
 * rclone uploads files over 200 MiB in parts, and the gateway keeps a part upload's metadata in extended
 * attributes, which ext4 refuses past a few KiB (a 4 GiB upload failed with "No space left on device").
 * One PUT up to 5 GiB, as S3 allows.
 */
const RCLONE_EXTRA = ['upload_cutoff = 5G'];

export async function start(): Promise<LiveServer> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-versitygw-'));
  await fs.mkdir(path.join(dir, 'data'), { recursive: true });
  const port = await freePort();
  const child = spawn(VERSITYGW_BIN, ['--access', ACCESS_KEY, '--secret', SECRET_KEY, '--port', `127.0.0.1:${port}`, 'posix', path.join(dir, 'data')], {
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  const exited = once(child, 'exit');
  await Promise.race([waitForPort(port), exited.then(([code]) => Promise.reject(new Error(`versitygw exited with ${code} before listening`)))]);
  // Made through the API: a directory made by hand lacks the ACL the gateway keeps beside a bucket, and
  // every request that checks it fails (rclone then retries for minutes).
  const s3 = new S3Client({ endpoint: `http://127.0.0.1:${port}`, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY } });
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  s3.destroy();
  return s3Server({ dir, port, pid: child.pid, bucket: BUCKET, accessKey: ACCESS_KEY, secretKey: SECRET_KEY, rcloneName: 'ckptvgw', rcloneExtra: RCLONE_EXTRA, stop: () => stopServer(child, exited, dir) });
}
