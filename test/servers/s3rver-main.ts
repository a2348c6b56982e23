// The s3rver process started by test/servers/s3.ts: `node --openssl-legacy-provider s3rver-main.js DIR BUCKET`.
// Prints {"port": N} on stdout once listening; exits when stdin closes or on SIGTERM.
// It runs in its own process for two reasons: s3rver encrypts ListObjectsV2 continuation tokens with
// DES, which OpenSSL 3 only offers through the legacy provider (a process-wide flag), and the server's
// CPU then stays off the test's event loop. s3rver-fixes.ts mends its store where it broke S3's promises.

import { createRequire } from 'node:module';
import './s3rver-fixes.js'; // before the server starts: the store's fixes (see there)

const require = createRequire(import.meta.url);
const S3rver = require('s3rver');

const [dir, bucket] = process.argv.slice(2);
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, configureBuckets: [{ name: bucket }] });
const { port } = await server.run();
process.stdout.write(JSON.stringify({ port }) + '\n');
const shutdown = () => server.close().finally(() => process.exit(0));
process.stdin.on('end', shutdown).resume();
process.on('SIGTERM', shutdown);
