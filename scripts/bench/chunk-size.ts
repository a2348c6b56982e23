// Chunk size vs requests: the measurement behind the "no packs, deltas" decision (manifest-spec.md §2.5).
// For the safetensors cutter at several `avg` sizes: bytes uploaded for a sparse 1 MiB update (whole
// chunks, and with deltas), chunk (= request) count, and push time of version 1 to the loopback WebDAV
// and S3 servers.
//
//   node dist/scripts/bench/chunk-size.js [MiB]

import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformerLayout, writeSafetensors, tensorBytes } from '../../fixtures/generate.js';
import { add } from '../../src/api/add.js';
import { push } from '../../src/api/push.js';
import { init } from '../../src/api/init.js';
import { connect } from '../../src/api/remote.js';
import { Repository } from '../../src/core/repo.js';
import type { LiveServer } from '../../test/servers/types.js';
import { countingRemote } from './counting-remote.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const mib = Number(process.argv[2] ?? 256);
await fs.mkdir(path.join(ROOT, '.bench'), { recursive: true }); // not in a fresh clone
const work = await fs.mkdtemp(path.join(ROOT, '.bench/chunk-size-'));
const tensors = transformerLayout(mib << 20);
const big = tensors.reduce((a, t) => (tensorBytes(t) > tensorBytes(a) ? t : a));
await writeSafetensors(path.join(work, 'v1.safetensors'), { tensors });
await writeSafetensors(path.join(work, 'v3.safetensors'), { tensors, patch: { tensor: big.name, offset: (3 << 19) + 4099, length: 1 << 20, seed: 'sparse' } });
const servers: [string, LiveServer][] = [];
for (const n of ['webdav', 's3']) servers.push([n, await ((await import(`../../test/servers/${n}.js`)) as { start(): Promise<LiveServer> }).start()]);
const lines = ['| avg | chunks v1 | v3 uploaded, whole chunks | v3 uploaded, deltas | ' + servers.map(([n]) => `push v1 ${n} (s) / requests`).join(' | ') + ' |', '|---|---|---|---|' + servers.map(() => '---|').join('')];
try {
  for (const avg of [256 << 10, 512 << 10, 1 << 20]) {
    const dir = path.join(work, `avg-${avg}`);
    await fs.mkdir(dir);
    for (const v of ['v1', 'v3']) await fs.link(path.join(work, `${v}.safetensors`), path.join(dir, `${v}.safetensors`));
    await init({ dir });
    const repo = await Repository.find(dir);
    const chunker = { alg: 'safetensors' as const, min: 64 << 10, avg, max: 4 << 20 };
    const a1 = await add({ repo, path: path.join(dir, 'v1.safetensors'), name: 'v1', chunker, pointer: false });
    const a3 = await add({ repo, path: path.join(dir, 'v3.safetensors'), name: 'v3', chunker, pointer: false });
    const cells: string[] = [];
    for (const [, server] of servers) {
      Object.assign(process.env, server.env);
      const url = server.newUrl();
      const r = await connect({ url, settings: server.settings });
      const counted = countingRemote(r);
      const t0 = Date.now();
      await push({ repo, target: 'v1', remote: counted.remote, deltas: false });
      const secs = (Date.now() - t0) / 1000;
      cells.push(`${secs.toFixed(2)} / ${counted.total()}`);
      await r.close();
    }
    const v3 = async (deltas: boolean) => {
      const remote = path.join(work, `local-${avg}-${deltas}`);
      await push({ repo, target: 'v1', remote });
      const p3 = await push({ repo, target: 'v3', remote, deltas });
      return `${(p3.bytesUploaded / 1e6).toFixed(2)} MB (${p3.chunksUploaded} chunks, ${p3.chunksAsDeltas} as deltas)`;
    };
    lines.push(`| ${avg >> 10} KiB | ${a1.chunks} | ${await v3(false)} | ${await v3(true)} | ${cells.join(' | ')} |`);
  }
} finally {
  for (const [, s] of servers) await s.stop();
  await fs.rm(work, { recursive: true, force: true });
}
console.log(lines.join('\n'));
