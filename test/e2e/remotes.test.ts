// The CLI end to end against every network driver's live server: push, pull into a fresh repository,
// byte-identical, and the remote verified whole; a sparse update goes up as deltas and comes back whole.

import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import test from 'ava';
import { largeTensor, loraVersion, transformerLayout, writeSafetensors } from '../../fixtures/generate.js';
import { DEFAULT_SAFETENSORS_CHUNKER } from '../../src/core/chunker.js';
import { ok, tempDir } from '../helpers.js';
import type { LiveServer } from '../servers/types.js';
import * as b2 from '../servers/b2.js';
import * as s3 from '../servers/s3.js';
import * as sftp from '../servers/sftp.js';
import * as webdav from '../servers/webdav.js';

const servers: Record<string, { start(): Promise<LiveServer> }> = { s3, b2, sftp, webdav };
const sha = async (f: string) => crypto.createHash('sha256').update(await fs.readFile(f)).digest('hex');

for (const [name, server] of Object.entries(servers)) {
  test.serial(`${name}: push to the loopback server, pull into a fresh repository, identical`, async (t) => {
    const live = await server.start();
    try {
      const url = live.newUrl();
      const env = live.env;
      const opts = Object.entries(live.settings).flatMap(([k, v]) => ['-o', `${k}=${v}`]);
      const repo = async () => {
        const dir = await tempDir(`ckpt-${name}-`);
        await ok(['init'], { cwd: dir, env });
        await ok(['remote', 'add', 'origin', url, ...opts], { cwd: dir, env });
        return dir;
      };
      const a = await repo();
      // A tensor two and a half chunks long: v3 patches it across the cut inside it.
      const AVG = DEFAULT_SAFETENSORS_CHUNKER.avg;
      const big = largeTensor('model.big.weight', (5 * AVG) / 2);
      const tensors = [...transformerLayout(12 << 20), big];
      await writeSafetensors(path.join(a, 'm.safetensors'), { seed: name, tensors });
      await ok(['add', 'm.safetensors', '--name', 'm/v1'], { cwd: a, env });
      const p1 = await ok(['push', 'm/v1', '--json'], { cwd: a, env });
      t.is(p1.json.result.bytesUploaded, p1.json.result.bytesTotal);
      t.is(p1.stderr, '', 'a push that succeeds prints nothing on stderr (no SDK warnings either)');
      await writeSafetensors(path.join(a, 'm.safetensors'), { seed: name, tensors, versionOf: loraVersion(2) });
      await ok(['add', 'm.safetensors', '--name', 'm/v2'], { cwd: a, env });
      const p2 = await ok(['push', 'm/v2', '--json'], { cwd: a, env });
      t.true(p2.json.result.bytesUploaded < p2.json.result.bytesTotal * 0.2, `v2 uploaded ${p2.json.result.bytesUploaded}`);

      const b = await repo();
      const pulled = await ok(['pull', 'm/v2', '--to', 'm.safetensors', '--json'], { cwd: b, env });
      t.is(pulled.json.result.bytesDownloaded, pulled.json.result.bytesTotal);
      t.is(await sha(path.join(b, 'm.safetensors')), await sha(path.join(a, 'm.safetensors')));

      // v3: 64 KiB rewritten in place across a chunk boundary of the largest tensor.
      await writeSafetensors(path.join(a, 'm3.safetensors'), { seed: name, tensors, patch: { tensor: big.name, offset: AVG - (32 << 10), length: 64 << 10, seed: 'sparse' } });
      await ok(['add', 'm3.safetensors', '--name', 'm/v3'], { cwd: a, env });
      const p3 = await ok(['push', 'm/v3', '--json'], { cwd: a, env });
      t.is(p3.json.result.chunksAsDeltas, 2);
      t.true(p3.json.result.bytesUploaded < 70 << 10, `v3 uploaded ${p3.json.result.bytesUploaded}`);
      const c = await repo(); // no base here: each is downloaded whole, then the deltas applied
      await ok(['pull', 'm/v3', '--to', 'm3.safetensors'], { cwd: c, env });
      t.is(await sha(path.join(c, 'm3.safetensors')), await sha(path.join(a, 'm3.safetensors')));

      const listed = await ok(['ls', '--remote', 'origin', '--json'], { cwd: b, env });
      t.deepEqual(listed.json.result.map((e: { name: string }) => e.name), ['m/v1', 'm/v2', 'm/v3']);
      const v = await ok(['verify', '--remote', 'origin', '--deep', '--json'], { cwd: b, env });
      t.deepEqual(v.json.result.problems, []);
      t.is(v.json.result.manifests, 3);
    } finally {
      await live.stop();
    }
  });
}
