// Sharded push (manifest-spec.md §8b) against one machine pushing the whole: N parts of SIZE MiB pushed
// at once by N CLI processes (`push DIR --name NAME --part K/N`, each from its own repository), then
// one process pushing a directory holding all N files (`push DIR --from-file`), each to a fresh location
// of the same loopback server. Wall time from the first spawn to the last exit; bytes uploaded as the
// processes report them; then a reader pulling one part with --include, and the bytes it downloaded.
// On one machine the N writers share its cores and disk, so this measures the
// cost of the protocol (records, leases, the merge), not the speed-up of N machines.
//   node dist/scripts/bench/parts.js [--server local|s3|sftp|webdav] [--parts 4] [--size 256] [--rounds 2]
// Data and temp dirs go under $TMPDIR (use TMPDIR=/dev/shm to keep the disk out of it).

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startServer } from './servers.js';

const arg = (k: string, d: string) => {
  const i = process.argv.indexOf(k);
  return i >= 0 ? process.argv[i + 1]! : d;
};
const serverName = arg('--server', 'local');
const N = Number(arg('--parts', '4'));
const SIZE = Number(arg('--size', '256')) * 2 ** 20;
const ROUNDS = Number(arg('--rounds', '2'));
const CLI = fileURLToPath(new URL('../../../bin/run.js', import.meta.url));

function run(args: string[], cwd: string, env: Record<string, string>): Promise<any> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (err += d));
    child.on('close', (code) => (code === 0 ? resolve(args.includes('--json') ? JSON.parse(out.trim().split('\n').at(-1)!) : null) : reject(new Error(`ckptsync ${args.join(' ')}: exit ${code}\n${err}`))));
  });
}

async function writeRandom(file: string, size: number): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true });
  const fh = await fs.open(file, 'w');
  const buf = Buffer.alloc(8 << 20);
  try {
    for (let o = 0; o < size; o += buf.length) {
      crypto.randomFillSync(buf);
      await fh.write(buf, 0, Math.min(buf.length, size - o));
    }
  } finally {
    await fh.close();
  }
}

async function repo(dir: string, url: string, settings: Record<string, string>, env: Record<string, string>): Promise<string> {
  await fs.mkdir(dir, { recursive: true });
  await run(['init'], dir, env);
  await run(['remote', 'add', 'origin', url, ...Object.entries(settings).flatMap(([k, v]) => ['-o', `${k}=${v}`])], dir, env);
  return dir;
}

async function main(): Promise<void> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-bench-parts-'));
  const live = await startServer(serverName);
  try {
    // Each writer's part lives in its own folder; the single writer's copy holds all of them (hard links).
    const single = path.join(root, 'single');
    const union = path.join(single, 'ckpt');
    await fs.mkdir(union, { recursive: true });
    for (let k = 0; k < N; k++) {
      const f = path.join(root, `part${k}`, 'ckpt', `__${k}_0.distcp`);
      await writeRandom(f, SIZE);
      await fs.link(f, path.join(union, `__${k}_0.distcp`));
    }
    const rows: string[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate the order so that neither always runs on a warmer page cache.
      for (const mode of round % 2 === 0 ? ['parts', 'single'] : ['single', 'parts']) {
        const url = live.newUrl();
        if (mode === 'parts') {
          const repos = [];
          for (let k = 0; k < N; k++) repos.push(await repo(path.join(root, `part${k}`), url, live.settings, live.env));
          const t0 = process.hrtime.bigint();
          const rs = await Promise.all(repos.map((r, k) => run(['push', path.join(r, 'ckpt'), '--name', 'bench/step', '--part', `${k}/${N}`, '--attempt', `r${round}`, '--json'], r, live.env)));
          const secs = Number(process.hrtime.bigint() - t0) / 1e9;
          const bytes = rs.reduce((n, r) => n + r.result.bytesUploaded, 0);
          if (!rs.some((r) => r.result.complete)) throw new Error('no writer completed the version');
          rows.push(`| ${serverName} | ${N} parts of ${SIZE / 2 ** 20} MiB at once | ${secs.toFixed(2)} s | ${(bytes / 1e6).toFixed(0)} MB |`);
          // A reader taking one rank's part of the version (pull --include, manifest-spec.md §10d).
          const reader = await repo(path.join(root, `reader-${round}`), url, live.settings, live.env);
          const r0 = process.hrtime.bigint();
          const got = await run(['pull', 'bench/step', '--include', '__1_0.distcp', '--to', 'mine', '--json'], reader, live.env);
          const rsecs = Number(process.hrtime.bigint() - r0) / 1e9;
          rows.push(`| ${serverName} | a reader taking 1 of ${N} parts (pull --include), downloaded | ${rsecs.toFixed(2)} s | ${(got.result.bytesDownloaded / 1e6).toFixed(0)} MB |`);
          await fs.rm(reader, { recursive: true, force: true });
        } else {
          const r = await repo(single, url, live.settings, live.env);
          const t0 = process.hrtime.bigint();
          const out = await run(['push', 'ckpt', '--from-file', '--as', 'bench/step', '--json'], r, live.env);
          const secs = Number(process.hrtime.bigint() - t0) / 1e9;
          rows.push(`| ${serverName} | one writer, ${(N * SIZE) / 2 ** 20} MiB | ${secs.toFixed(2)} s | ${(out.result.bytesUploaded / 1e6).toFixed(0)} MB |`);
          await fs.rm(path.join(single, '.ckptsync'), { recursive: true, force: true });
          await fs.rm(path.join(single, 'ckpt.ckpt'), { force: true });
        }
        for (let k = 0; k < N; k++) await fs.rm(path.join(root, `part${k}`, '.ckptsync'), { recursive: true, force: true });
      }
    }
    console.log('| server | step | wall time | bytes moved |\n| --- | --- | --- | --- |');
    for (const r of rows) console.log(r);
  } finally {
    await live.stop();
    await fs.rm(root, { recursive: true, force: true });
  }
}

await main();
