// add of a new safetensors checkpoint with the store filled by the addon (src/native/store-chunk.c,
// the default where it is built) and through user-space writes (CKPTSYNC_NATIVE_COPY=0), beside cp
// of the same file. Each run is a fresh repository and starts settled (sync; as root, page cache dropped
// and the input read back in); the variants alternate every round and medians are reported.
//   node dist/scripts/bench/add-copy.js [--size MiB] [--rounds N]

import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { transformerLayout, writeSafetensors } from '../../fixtures/generate.js';
import { nativeStore } from '../../src/core/store-chunk.js';
import { measure, settle, type Run } from './measure.js';

const arg = (k: string) => {
  const i = process.argv.indexOf(k);
  return i >= 0 ? process.argv[i + 1] : undefined;
};
const CLI = fileURLToPath(new URL('../../../bin/run.js', import.meta.url));
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  if (!nativeStore) throw new Error('dist/native/store-chunk.node is not built (npm run build needs a C compiler)');
  const sizeMiB = Number(arg('--size') ?? 1024);
  const rounds = Number(arg('--rounds') ?? 3);
  const benchDir = fileURLToPath(new URL('../../../.bench/', import.meta.url));
  await fs.mkdir(benchDir, { recursive: true }); // not in a fresh clone
  const work = await fs.mkdtemp(path.join(benchDir, 'add-copy-'));
  try {
    const file = path.join(work, 'model.safetensors');
    await writeSafetensors(file, { tensors: transformerLayout(sizeMiB << 20) });
    const bytes = (await fs.stat(file)).size;
    const runs: Record<'cp' | 'addon' | 'user', Run[]> = { cp: [], addon: [], user: [] };
    let dropped = false;
    for (let r = 0; r < rounds; r++) {
      dropped = (await settle([file])) || dropped;
      runs.cp.push(await measure('cp', [file, path.join(work, `cp-${r}`)]));
      for (const [variant, flag] of [['addon', '1'], ['user', '0']] as const) {
        const repo = path.join(work, `${variant}-${r}`);
        await fs.mkdir(repo);
        await fs.copyFile(file, path.join(repo, 'model.safetensors'));
        await measure(CLI, ['init'], { cwd: repo });
        await settle([path.join(repo, 'model.safetensors')]);
        runs[variant].push(await measure(CLI, ['add', 'model.safetensors', '--name', 'm', '--no-pointer', '--json'], { cwd: repo, env: { CKPTSYNC_NATIVE_COPY: flag, CKPTSYNC_NO_PROGRESS: '1' } }));
      }
    }
    console.log(`add of a ${(bytes / 2 ** 20).toFixed(0)} MiB safetensors file, ${rounds} rounds, medians${dropped ? ' (page cache dropped before each run)' : ' (sync before each run; not root, cache not dropped)'}:`);
    for (const [name, rs] of Object.entries(runs)) {
      const s = median(rs.map((x) => x.seconds));
      console.log(`  ${name.padEnd(6)} ${s.toFixed(2)} s  ${(bytes / 1e6 / s).toFixed(0)} MB/s  peak ${median(rs.map((x) => x.rssMiB)).toFixed(0)} MiB  (runs: ${rs.map((x) => x.seconds.toFixed(2)).join(', ')})`);
    }
    console.log(`  add vs cp: addon ${(median(runs.cp.map((x) => x.seconds)) / median(runs.addon.map((x) => x.seconds))).toFixed(2)}x, user ${(median(runs.cp.map((x) => x.seconds)) / median(runs.user.map((x) => x.seconds))).toFixed(2)}x`);
  } finally {
    await fs.rm(work, { recursive: true, force: true });
  }
}

await main();
