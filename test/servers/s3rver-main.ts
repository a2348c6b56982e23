// The s3rver process started by test/servers/s3.ts: `node --openssl-legacy-provider s3rver-main.js DIR BUCKET`.
// Prints {"port": N} on stdout once listening; exits when stdin closes or on SIGTERM.
// It runs in its own process for two reasons: s3rver encrypts ListObjectsV2 continuation tokens with
// DES, which OpenSSL 3 only offers through the legacy provider (a process-wide flag), and the server's
// CPU then stays off the test's event loop.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const S3rver = require('s3rver');
const FilesystemStore = require('s3rver/lib/stores/filesystem.js');

// s3rver 3.7.1 reads `end || Infinity`, so "Range: bytes=0-0" returns the whole object. A Number
// object is truthy yet compares as 0, which makes it serve exactly the first byte as S3 does.
const getObject = FilesystemStore.prototype.getObject;
FilesystemStore.prototype.getObject = function (bucket: string, key: string, options?: { start?: number; end?: number }) {
  if (options?.end === 0) options = { ...options, end: new Number(0) as unknown as number };
  return getObject.call(this, bucket, key, options);
};

const [dir, bucket] = process.argv.slice(2);
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, configureBuckets: [{ name: bucket }] });
const { port } = await server.run();
process.stdout.write(JSON.stringify({ port }) + '\n');
const shutdown = () => server.close().finally(() => process.exit(0));
process.stdin.on('end', shutdown).resume();
process.on('SIGTERM', shutdown);
