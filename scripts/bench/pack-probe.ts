// What packs (manifest-spec.md §2.5) would buy a pull, before any format change: the same bytes are
// downloaded from a loopback server as 1 MiB objects (today's loose chunks) and as larger objects (a
// pack of consecutive chunks), through the same pipeline a pull runs: readInto a pooled buffer, BLAKE3
// of every 1 MiB piece, written at its offset in one output file. Request count is the only difference.
//   node dist/scripts/bench/pack-probe.js --server webdav|s3|sftp|local [--size MiB] [--pack MiB,...] [--rounds N]

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { connect } from '../../src/api/remote.js';
import { hashBytes } from '../../src/core/hash.js';
import { bufferSource } from '../../src/remote/source.js';
import { runBounded } from '../../src/sync/transfer.js';
import type { Remote } from '../../src/remote/types.js';
import { startServer } from './servers.js';

const arg = (k: string) => {
  const i = process.argv.indexOf(k);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const PIECE = 1 << 20;

/** Downloads `count` objects of `size` bytes into one file; returns seconds. */
async function download(remote: Remote, keys: string[], size: number, out: string, jobs: number): Promise<number> {
  const fh = await fs.open(out, 'w');
  const free: Buffer[] = [];
  const t0 = process.hrtime.bigint();
  try {
    await runBounded(keys.map((k, i) => [k, i] as const), jobs, async ([key, i]) => {
      const buf = free.pop() ?? Buffer.allocUnsafeSlow(size);
      try {
        const n = await remote.readInto!(key, buf);
        if (n !== size) throw new Error(`${key}: ${n} of ${size} bytes`);
        for (let o = 0; o < size; o += PIECE) hashBytes(buf.subarray(o, Math.min(size, o + PIECE)));
        await fh.write(buf, 0, size, i * size);
      } finally {
        free.push(buf);
      }
    });
  } finally {
    await fh.close();
  }
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

async function main(): Promise<void> {
  const serverName = arg('--server') ?? 'webdav';
  const total = Number(arg('--size') ?? 1024) << 20;
  const packs = (arg('--pack') ?? '1,16').split(',').map(Number);
  const rounds = Number(arg('--rounds') ?? 3);
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'ckpt-bench-probe-out-'));
  const server = await startServer(serverName);
  Object.assign(process.env, server.env);
  try {
    const remote = await connect({ url: server.newUrl(), settings: server.settings });
    if (!remote.readInto) throw new Error(`${serverName}: the driver has no readInto`);
    const jobs = Number(arg('--jobs') ?? remote.features.defaultConcurrency);
    const sets = new Map<number, string[]>();
    for (const mib of packs) {
      const size = mib << 20;
      const data = Buffer.alloc(size, mib);
      const keys = Array.from({ length: Math.floor(total / size) }, (_, i) => `probe/${mib}/${String(i).padStart(5, '0')}`);
      await runBounded(keys, jobs, (k) => remote.put(k, bufferSource(data)));
      sets.set(mib, keys);
    }
    const times = new Map<number, number[]>(packs.map((p) => [p, []]));
    for (let r = 0; r < rounds; r++) {
      for (const mib of packs) {
        const out = path.join(work, `out-${mib}`);
        times.get(mib)!.push(await download(remote, sets.get(mib)!, mib << 20, out, jobs));
        await fs.rm(out);
      }
    }
    await remote.close();
    for (const mib of packs) {
      const best = Math.min(...times.get(mib)!);
      const n = sets.get(mib)!.length;
      console.log(`${serverName}: ${n} objects of ${mib} MiB, ${jobs} at once: best ${best.toFixed(2)} s = ${((n * (mib << 20)) / 1e6 / best).toFixed(0)} MB/s (runs: ${times.get(mib)!.map((t) => t.toFixed(2)).join(', ')})`);
    }
  } finally {
    await server.stop();
    await fs.rm(work, { recursive: true, force: true });
  }
}

await main();
