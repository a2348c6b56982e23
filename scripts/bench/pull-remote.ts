// Pull speed and peak RSS from a loopback server, with and without the driver's readInto, each pull a
// fresh child process under /usr/bin/time (scripts/bench/measure.ts). The variants alternate in every
// round (the machine is shared and noisy) and medians are reported. The "stream" variant is the same
// driver with readInto deleted from the opened remote, so pull falls back to get(): no switch in the engine.
// With --cli, a third variant runs the real command, `node bin/run.js pull m1 --remote URL --to out`
// (it uses readInto when the driver has it; only for servers whose URL needs no settings).
//   node dist/scripts/bench/pull-remote.js --server sftp|webdav|s3|b2|local [--size MiB] [--rounds N] [--jobs N] [--cli]
// Child mode (run by the above): --child readInto|stream URL SETTINGS_JSON DIR

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { init } from '../../src/api/init.js';
import { add } from '../../src/api/add.js';
import { push } from '../../src/api/push.js';
import { pull } from '../../src/api/pull.js';
import { connect } from '../../src/api/remote.js';
import { Repository } from '../../src/core/repo.js';
import { transformerLayout, writeSafetensors } from '../../fixtures/generate.js';
import { measure } from './measure.js';
import { startServer } from './servers.js';

const arg = (k: string) => {
  const i = process.argv.indexOf(k);
  return i >= 0 ? process.argv[i + 1] : undefined;
};

async function child(): Promise<void> {
  const i = process.argv.indexOf('--child');
  const [variant, url, settings, dir] = process.argv.slice(i + 1, i + 5) as [string, string, string, string];
  await init({ dir });
  const repo = await Repository.find(dir);
  const remote = await connect({ url, settings: JSON.parse(settings) as Record<string, string> });
  if (variant === 'stream') delete (remote as { readInto?: unknown }).readInto;
  else if (!remote.readInto) throw new Error(`${remote.displayUrl}: this driver has no readInto`);
  const jobs = arg('--jobs');
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const r = await pull({ repo, target: 'm1', remote, to: path.join(dir, 'out'), concurrency: jobs ? Number(jobs) : undefined });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  await remote.close();
  console.log(JSON.stringify({ seconds, cpu: (cpu.user + cpu.system) / 1e6, bytes: r.bytesDownloaded }));
}

const secs = (x: number) => (Number.isNaN(x) ? 'not measured' : `${x.toFixed(2)} s`);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const serverName = arg('--server') ?? 'sftp';
  const sizeMiB = Number(arg('--size') ?? 256);
  const rounds = Number(arg('--rounds') ?? 3);
  const jobs = arg('--jobs');
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-bench-pull-'));
  const server = await startServer(serverName);
  Object.assign(process.env, server.env);
  try {
    const repoDir = path.join(work, 'src');
    await init({ dir: repoDir });
    const file = path.join(repoDir, 'm.safetensors');
    await writeSafetensors(file, { seed: 'bench-pull-remote', tensors: transformerLayout(sizeMiB << 20) });
    const repo = await Repository.find(repoDir);
    await add({ repo, path: file, name: 'm1', pointer: false });
    const url = server.newUrl();
    const remote = await connect({ url, settings: server.settings });
    await push({ repo, target: 'm1', remote });
    await remote.close();
    await fs.rm(file);

    const self = fileURLToPath(import.meta.url);
    const cli = process.argv.includes('--cli') && Object.keys(server.settings).length === 0;
    const variants = ['readInto', 'stream', ...(cli ? ['cli'] : [])];
    const results: Record<string, { mbs: number[]; rss: number[]; cpu: number[] }> = {};
    for (const v of variants) results[v] = { mbs: [], rss: [], cpu: [] };
    const bin = path.resolve(path.dirname(self), '../../../bin/run.js');
    let pulledBytes = 0; // from the library runs; round 0 starts with one
    for (let round = 0; round < rounds; round++) {
      const order = round % 2 === 0 ? variants : [...variants].reverse();
      for (const variant of order) {
        const dir = path.join(work, `pull-${round}-${variant}`);
        let out: { seconds: number; cpu: number; bytes: number };
        let run: Awaited<ReturnType<typeof measure>>;
        if (variant === 'cli') {
          // Wall time of the whole command (startup included); cpu is not measured for it.
          await init({ dir });
          const jobArgs = jobs ? ['--jobs', jobs] : [];
          run = await measure(process.execPath, [bin, 'pull', 'm1', '--remote', url, '--to', path.join(dir, 'out'), ...jobArgs], { env: server.env, cwd: dir });
          out = { seconds: run.seconds, cpu: NaN, bytes: pulledBytes };
        } else {
          const args = [self, '--child', variant, url, JSON.stringify(server.settings), dir, ...(jobs ? ['--jobs', jobs] : [])];
          run = await measure(process.execPath, args, { env: server.env });
          out = JSON.parse(run.stdout.trim().split('\n').pop()!) as { seconds: number; cpu: number; bytes: number };
          pulledBytes = out.bytes;
        }
        const mbs = out.bytes / 1e6 / out.seconds;
        results[variant]!.mbs.push(mbs);
        results[variant]!.rss.push(run.rssMiB);
        results[variant]!.cpu.push(out.cpu);
        console.log(`round ${round} ${variant.padEnd(8)}: ${mbs.toFixed(0)} MB/s, peak RSS ${run.rssMiB.toFixed(0)} MiB, cpu ${secs(out.cpu)} (${out.seconds.toFixed(2)} s)`);
        await fs.rm(dir, { recursive: true, force: true });
      }
    }
    for (const [variant, r] of Object.entries(results)) {
      console.log(`${serverName} ${sizeMiB} MiB, median of ${rounds}: ${variant.padEnd(8)} ${median(r.mbs).toFixed(0)} MB/s, peak RSS ${median(r.rss).toFixed(0)} MiB, cpu ${secs(median(r.cpu))}`);
    }
  } finally {
    await server.stop();
    await fs.rm(work, { recursive: true, force: true });
  }
}

if (process.argv.includes('--child')) await child();
else await main();
