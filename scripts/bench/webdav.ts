// WebDAV transfer speed against the loopback Apache (test/servers/webdav.ts), in this process, without
// CLI startup: push v1 of a safetensors file to a fresh location, then pull it into a fresh repository,
// for each concurrency given. Used to tune remotes/webdav (see its README, "Speed").
//   node dist/scripts/bench/webdav.js [--size MiB] [--jobs 8,16,32] [--rounds N] [--no-store] [--profile DIR]

import fs from 'node:fs/promises';
import inspector from 'node:inspector/promises';
import os from 'node:os';
import path from 'node:path';
import { init } from '../../src/api/init.js';
import { add } from '../../src/api/add.js';
import { push } from '../../src/api/push.js';
import { pull } from '../../src/api/pull.js';
import { Repository } from '../../src/core/repo.js';
import { registerBuiltinRemotes } from '../../src/builtin-remotes.js';
import { openRemoteFor } from '../../src/api/remote.js';
import { start } from '../../test/servers/webdav.js';
import { transformerLayout, writeSafetensors } from '../../fixtures/generate.js';
import { processTreeCpu } from './measure.js';

const arg = (k: string) => {
  const i = process.argv.indexOf(k);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const sizeMiB = Number(arg('--size') ?? 256);
const jobsList = (arg('--jobs') ?? '16').split(',').map(Number);
const rounds = Number(arg('--rounds') ?? 2);

const cpuSeconds = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6;

/** CPU seconds the Apache server and its workers used so far (measure.ts). */
const serverCpu = () => processTreeCpu(server.pid!);

/** With --profile DIR: a CPU profile of each timed phase, for chrome://inspect or a script. */
const profileDir = arg('--profile');
const session = profileDir ? new inspector.Session() : undefined;
session?.connect();
async function profiled<T>(name: string, f: () => Promise<T>): Promise<T> {
  if (!session) return f();
  await session.post('Profiler.enable');
  await session.post('Profiler.start');
  try {
    return await f();
  } finally {
    const { profile } = await session.post('Profiler.stop');
    await fs.mkdir(profileDir!, { recursive: true });
    await fs.writeFile(path.join(profileDir!, `${name}.cpuprofile`), JSON.stringify(profile));
  }
}

registerBuiltinRemotes();
const work = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-bench-webdav-'));
const server = await start();
Object.assign(process.env, server.env);
try {
  const repoDir = path.join(work, 'a');
  await init({ dir: repoDir });
  const file = path.join(repoDir, 'm.safetensors');
  await writeSafetensors(file, { seed: 'bench-webdav', tensors: transformerLayout(sizeMiB << 20) });
  const bytes = (await fs.stat(file)).size;
  const repo = await Repository.find(repoDir);
  await add({ repo, path: file, name: 'm1', pointer: false });
  const mb = (s: number) => (bytes / 1e6 / s).toFixed(0);
  for (let round = 0; round < rounds; round++) {
    for (const jobs of jobsList) {
      const url = server.newUrl();
      const { remote } = await openRemoteFor(repo, url, { mayCreate: true }); // the push creates it
      let cpu0 = process.cpuUsage();
      let srv0 = await serverCpu();
      let t0 = process.hrtime.bigint();
      const r = await profiled(`push-${round}-${jobs}`, () => push({ repo, target: 'm1', remote, concurrency: jobs }));
      const up = Number(process.hrtime.bigint() - t0) / 1e9;
      const upCpu = cpuSeconds(process.cpuUsage(cpu0));
      const upSrv = (await serverCpu()) - srv0;
      await remote.close();
      const pullDir = path.join(work, `pull-${round}-${jobs}`);
      await init({ dir: pullDir });
      const prepo = await Repository.find(pullDir);
      const { remote: r2 } = await openRemoteFor(prepo, url);
      cpu0 = process.cpuUsage();
      srv0 = await serverCpu();
      t0 = process.hrtime.bigint();
      await profiled(`pull-${round}-${jobs}`, () => pull({ repo: prepo, target: 'm1', remote: r2, to: path.join(pullDir, 'out'), concurrency: jobs, store: process.argv.includes('--no-store') ? 'none' : 'files' }));
      const down = Number(process.hrtime.bigint() - t0) / 1e9;
      const downCpu = cpuSeconds(process.cpuUsage(cpu0));
      const downSrv = (await serverCpu()) - srv0;
      await r2.close();
      await fs.rm(pullDir, { recursive: true, force: true });
      console.log(`jobs ${String(jobs).padStart(3)}: push ${mb(up)} MB/s (${r.chunksUploaded} chunks, ${up.toFixed(2)} s, cpu ${upCpu.toFixed(2)} + server ${upSrv.toFixed(2)} s), pull ${mb(down)} MB/s (${down.toFixed(2)} s, cpu ${downCpu.toFixed(2)} + server ${downSrv.toFixed(2)} s)`);
    }
  }
} finally {
  await server.stop();
  await fs.rm(work, { recursive: true, force: true });
}
