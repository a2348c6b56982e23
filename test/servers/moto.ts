// A live S3 server that honours conditional writes, for the S3 driver's if-match compare-and-swap:
// moto's S3 server (PyPI moto 5.2.6, installed into .venv-moto/ by scripts/deps.d/moto.sh) on
// 127.0.0.1, with one bucket. Unlike s3rver (test/servers/s3.ts) it answers PutObject with
// `If-None-Match: *` on an existing key and with a wrong `If-Match` ETag by 412 PreconditionFailed.
//
// Two things about moto that the tests must know (test/remotes/s3-conditional.test.ts lists them):
// - It serves each request on its own thread and checks the condition, then writes, with no lock
//   between the two: two conditional PUTs racing on one key could both pass the check, a lost update no
//   real store allows. Forcing thread switches (sys.setswitchinterval(1e-6)) also makes concurrent PUTs
//   of one key fail with HTTP 500 ("I/O operation on closed file" on the replaced object's buffer).
//   The launcher below therefore runs write requests (PUT, POST, DELETE) one at a time, which makes
//   check-and-write atomic as on AWS; reads stay concurrent. It changes no answer moto gives.
// - It accepts any credentials (it checks no signature), so there is no bad-credentials test here.
// Objects live in memory, the larger ones in temp files under the server's own temp dir.

import fs from 'node:fs/promises';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { waitForPort } from './faultproxy.js';
import type { LiveServer } from './types.js';
import { stopServer } from './child.js';
import { s3Server } from './s3.js';

export const BUCKET = 'ckpt-test';
// Any pair works on moto; these only have to be well-formed.
export const ACCESS_KEY = 'MOTOTESTKEY';
export const SECRET_KEY = 'moto-test-secret';

/** The virtualenv's Python, at the repository root (dist/test/servers/ is three levels below it). */
export const MOTO_PYTHON = fileURLToPath(new URL('../../../.venv-moto/bin/python', import.meta.url));

// Prints {"port": N} once listening on a free port; exits when stdin closes (so it never outlives the test).
const LAUNCHER = `
import json, logging, os, sys, threading
from werkzeug.serving import make_server
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app

logging.getLogger('werkzeug').setLevel(logging.ERROR)
app = DomainDispatcherApplication(create_backend_app)
writes = threading.Lock()

def serialized_writes(environ, start_response):
    if environ['REQUEST_METHOD'] in ('PUT', 'POST', 'DELETE'):
        with writes:
            return list(app(environ, start_response))
    return app(environ, start_response)

server = make_server('127.0.0.1', 0, serialized_writes, threaded=True, request_handler=MotoRequestHandler)
print(json.dumps({'port': server.server_port}), flush=True)

def exit_on_stdin_close():
    sys.stdin.read()
    os._exit(0)

threading.Thread(target=exit_on_stdin_close, daemon=True).start()
server.serve_forever()
`;

export async function start(): Promise<LiveServer> {
  try {
    await fs.access(MOTO_PYTHON);
  } catch {
    throw new Error(`moto is not installed (${MOTO_PYTHON} missing): run bash scripts/deps.d/moto.sh`);
  }
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-moto-'));
  const data = path.join(dir, 'data');
  await fs.mkdir(data);
  const child = spawn(MOTO_PYTHON, ['-c', LAUNCHER], {
    stdio: ['pipe', 'pipe', 'inherit'],
    // TMPDIR: where moto spills objects too large for memory. No AWS_* variables of ours leak in.
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', TMPDIR: data, PYTHONDONTWRITEBYTECODE: '1' },
  });
  const exited = once(child, 'exit');
  const lines = readline.createInterface({ input: child.stdout! });
  const first = await Promise.race([
    once(lines, 'line').then(([l]) => String(l)),
    exited.then(([code]) => Promise.reject(new Error(`moto exited with ${code} before listening`))),
  ]);
  const { port } = JSON.parse(first) as { port: number };
  await waitForPort(port);
  const endpoint = `http://127.0.0.1:${port}`;
  // moto starts with no buckets; creating ours is also the probe that it answers S3 requests. (The
  // variable silences the SDK's Node 20 warning, as the driver does: remotes/s3/README.md.)
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
  const admin = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: ACCESS_KEY, secretAccessKey: SECRET_KEY } });
  try {
    await admin.send(new CreateBucketCommand({ Bucket: BUCKET }));
  } finally {
    admin.destroy();
  }
  return s3Server({ dir, port, bucket: BUCKET, accessKey: ACCESS_KEY, secretKey: SECRET_KEY, rcloneName: 'ckptmoto', stop: () => stopServer(child, exited, dir, () => child.stdin!.end()) });
}
