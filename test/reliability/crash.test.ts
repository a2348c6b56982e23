// Crash consistency: SIGKILL ckptsync at seeded random moments during add, push, pull, checkout and gc,
// then run the same command again. It must complete; verify (local and --remote) must find nothing
// wrong; every name must point at something present; no temp file may be left behind; and the data
// that comes back must be byte-identical to what went in. Replay a failure with the printed seed:
// CKPTSYNC_CRASH_SEED=<seed>; CKPTSYNC_CRASH_ITERATIONS sets the kills per command (default 6).

import fs from 'node:fs/promises';
import path from 'node:path';
import test, { type ExecutionContext } from 'ava';
import { add, checkout, pull, push, Repository } from '../../src/index.js';
import { loadManifest } from '../../src/sync/manifests.js';
import { largeTensor, writeSafetensors } from '../../fixtures/generate.js';
import { cli, ok, tempDir } from '../helpers.js';
import { assertVerifies, cliKilledAfter, prng, sameTree, seedFrom, tempFilesIn, writeCheckpointDir } from './helpers.js';

const ITERATIONS = Number(process.env.CKPTSYNC_CRASH_ITERATIONS ?? 6);
const seed = seedFrom('CKPTSYNC_CRASH_SEED');
const rand = prng(seed);
const FILES = 40;

interface World {
  a: string;
  b: string;
  remote: string;
  version: number;
}
let world: World;
const survived: Record<string, number> = {};
/** Kills that landed mid-write (temp files on disk before the rerun). */
const leftTemps: Record<string, number> = {};

test.before(async () => {
  const root = await tempDir('ckpt-crash-');
  const remote = path.join(root, 'remote');
  const a = path.join(root, 'a');
  const b = path.join(root, 'b');
  for (const d of [a, b]) {
    await fs.mkdir(d);
    await ok(['init'], { cwd: d });
    await ok(['remote', 'add', 'origin', remote], { cwd: d });
  }
  world = { a, b, remote, version: 0 };
  await newVersion();
  await addAndPush();
});

const repoA = () => Repository.find(world.a);
async function addVersion() {
  await add({ repo: await repoA(), path: path.join(world.a, 'ckpt'), name: 'model' });
}
async function addAndPush() {
  await addVersion();
  await push({ repo: await repoA(), target: 'model' });
}

test.after.always((t) => {
  t.log(`seed ${seed} (replay with CKPTSYNC_CRASH_SEED=${seed}); kills survived: ${JSON.stringify(survived)}; of which mid-write: ${JSON.stringify(leftTemps)}`);
});

/** Rewrites about a third of the checkpoint's files, so every version has new chunks to move. */
async function newVersion(): Promise<void> {
  world.version++;
  const dir = path.join(world.a, 'ckpt');
  if (world.version === 1) return writeCheckpointDir(dir, 'v1', FILES, rand);
  const scratch = await tempDir('ckpt-crash-v-');
  await writeCheckpointDir(scratch, `v${world.version}`, FILES, rand);
  for (const rel of ['shard-1.bin', 'shard-2.bin', 'opt/shard-3.bin', 'shard-4.bin', 'shard-5.bin', 'opt/shard-6.bin']) {
    const n = Number(/(\d+)/.exec(path.basename(rel))![1]) + (world.version % 5) * 6;
    const name = n % 3 === 0 ? `opt/shard-${n}.bin` : `shard-${n}.bin`;
    await fs.copyFile(path.join(scratch, name), path.join(dir, name));
  }
  await fs.rm(scratch, { recursive: true, force: true });
}

/**
 * Kills `args` (run in cwd) at a random moment of a normal run's duration, runs it again to completion,
 * then checks the whole state. `prepare` makes fresh work before each kill; `check` the result.
 */
async function crashLoop(t: ExecutionContext, op: string, cwd: string, args: (i: number) => string[], prepare: (i: number) => Promise<void>, check: (i: number) => Promise<void>) {
  // A normal run first, to learn how long the command takes on this machine.
  await prepare(0);
  let started = Date.now();
  await ok(['--version'], { cwd });
  const startup = Date.now() - started; // node + oclif loading: kills there prove nothing
  started = Date.now();
  await ok(args(0), { cwd });
  const span = Date.now() - started;
  await check(0);
  survived[op] = 0;
  for (let i = 1; i <= ITERATIONS; i++) {
    await prepare(i);
    const delay = Math.round(startup * 0.3 + Math.max(50, span * 0.9 - startup * 0.3) * rand());
    const killed = await cliKilledAfter(args(i), { cwd }, delay);
    const ctx = `${op} #${i} (seed ${seed}, killed at ${delay} ms of ~${span} ms)`;
    if (!killed.killed) t.is(killed.code, 0, `${ctx}: ${killed.stderr}`);
    else if ((await tempFilesIn(world.a, world.b, world.remote)).length > 0) leftTemps[op] = (leftTemps[op] ?? 0) + 1;
    const again = await cli(args(i), { cwd });
    t.is(again.code, 0, `${ctx}: the rerun failed: ${again.stderr}${again.stdout}`);
    await assertVerifies(t, world.a, world.remote, ctx);
    await assertVerifies(t, world.b, world.remote, ctx);
    t.deepEqual(await tempFilesIn(world.a, world.b, world.remote), [], `${ctx}: temp files left behind`);
    await check(i);
    if (killed.killed) survived[op]++;
  }
  t.log(`${op}: ${survived[op]} of ${ITERATIONS} runs killed mid-way and recovered (seed ${seed})`);
  // Timing on a loaded machine varies, so one command may see few kills; across all of them most must land.
  const total = Object.values(survived).reduce((x, y) => x + y, 0);
  if (op === 'gc') t.true(total >= Object.keys(survived).length * ITERATIONS * 0.4, `only ${total} runs were killed mid-way: the kill window missed`);
}

async function assertPointerMatchesName(t: ExecutionContext, repo: string, pointer: string, name: string) {
  const text = await fs.readFile(path.join(repo, pointer), 'utf8');
  const target = await (await Repository.find(repo)).resolveName(name);
  t.true(text.includes(`manifest ${target}\n`), `pointer ${pointer} matches name ${name}`);
}

test.serial('add killed at random moments completes when run again, and the store stays whole', async (t) => {
  await crashLoop(t, 'add', world.a, () => ['add', 'ckpt', '--name', 'model'], newVersion, async () => {
    await assertPointerMatchesName(t, world.a, 'ckpt.ckpt', 'model');
    const out = path.join(await tempDir('ckpt-crash-co-'), 'out');
    await checkout({ repo: await repoA(), target: 'model', to: out });
    t.true(await sameTree(out, path.join(world.a, 'ckpt')), 'what was added checks out byte-identical');
  });
});

test.serial('add of new safetensors files (stored through the addon) killed at random moments completes when run again', async (t) => {
  // Files new to their name, with planned cuts, enter the store through objects/incoming.tmp-*, hashed
  // as they are written (src/core/store-by-copy.ts): a kill may land between write, hash and rename.
  const dirOf = (i: number) => path.join(world.a, `st-${i}`);
  await crashLoop(t, 'add-new', world.a, (i) => ['add', `st-${i}`, '--name', `st-${i}`], async (i) => {
    // Large enough that storing it is most of the command's time, so that most kills land mid-copy.
    for (const shard of ['a', 'b']) {
      const tensors = [largeTensor('w', (48 + ((i * 7) % 32)) << 20), { name: 'norm', dtype: 'F32' as const, shape: [64] }, largeTensor('o', 8 << 20)];
      await fs.mkdir(dirOf(i), { recursive: true });
      await writeSafetensors(path.join(dirOf(i), `${shard}.safetensors`), { tensors, seed: `crash-${seed}-${i}-${shard}` });
    }
  }, async (i) => {
    const repo = await repoA();
    const m = await loadManifest(repo, await repo.resolveName(`st-${i}`));
    t.true(m.files.every((f) => f.chunker.alg === 'safetensors'), 'cut with the safetensors cutter');
    const out = path.join(await tempDir('ckpt-crash-st-'), 'out');
    await checkout({ repo, target: `st-${i}`, to: out });
    t.true(await sameTree(out, dirOf(i)), 'what was added checks out byte-identical');
  });
});

test.serial('push killed at random moments completes when run again; the remote name points at a whole snapshot', async (t) => {
  await crashLoop(t, 'push', world.a, () => ['push', 'model'], async () => {
    await newVersion();
    await addVersion();
  }, async (i) => {
    const out = path.join(world.b, `pushed-${i}`);
    await pull({ repo: await Repository.find(world.b), target: 'model', to: out });
    t.true(await sameTree(out, path.join(world.a, 'ckpt')), 'the pushed version pulls back byte-identical');
    await fs.rm(out, { recursive: true });
  });
});

test.serial('pull killed at random moments completes when run again and writes the exact files', async (t) => {
  await crashLoop(t, 'pull', world.b, (i) => ['pull', 'model', '--to', `pulled-${i}`], async () => {
    await newVersion();
    await addAndPush();
  }, async (i) => {
    t.true(await sameTree(path.join(world.b, `pulled-${i}`), path.join(world.a, 'ckpt')), 'pulled files are byte-identical');
    await fs.rm(path.join(world.b, `pulled-${i}`), { recursive: true });
  });
});

test.serial('pull of each new version over the last, copying from it, killed at random moments completes when run again', async (t) => {
  // The default pull keeps chunks only in the files it writes (§7b): each version reads the unchanged
  // ones from the previous version's files, and a kill may land before or after the index is updated.
  await crashLoop(t, 'pull-over', world.b, () => ['pull', 'model', '--to', 'current'], async () => {
    await newVersion();
    await addAndPush();
  }, async () => {
    t.true(await sameTree(path.join(world.b, 'current'), path.join(world.a, 'ckpt')), 'pulled files are byte-identical');
  });
});

test.serial('checkout killed at random moments completes when run again and writes the exact files', async (t) => {
  // Its chunks are read from the files the last pull wrote (§7b), not from objects.
  await ok(['pull', 'model', '--to', 'current'], { cwd: world.b });
  await crashLoop(t, 'checkout', world.b, (i) => ['checkout', 'model', '--to', `co-${i}`], async () => {}, async (i) => {
    t.true(await sameTree(path.join(world.b, `co-${i}`), path.join(world.a, 'ckpt')), 'checked-out files are byte-identical');
    await fs.rm(path.join(world.b, `co-${i}`), { recursive: true });
  });
});

test.serial('resolve killed at random moments completes when run again and serves the exact files', async (t) => {
  // The cache is named in world.b's config, so that the checks for temp files look into it too.
  const config = path.join(world.b, '.ckptsync', 'config.json');
  await fs.writeFile(config, JSON.stringify({ ...JSON.parse(await fs.readFile(config, 'utf8')), cacheDir: 'cache' }));
  await crashLoop(t, 'resolve', world.b, () => ['resolve', 'model'], async () => {
    await newVersion();
    await addAndPush();
  }, async () => {
    const r = await ok(['resolve', 'model', '--json'], { cwd: world.b });
    t.true(await sameTree(r.json.result.path, path.join(world.a, 'ckpt')), 'the resolved snapshot is byte-identical');
  });
});

test.serial('gc killed at random moments completes when run again and never loses a named snapshot', async (t) => {
  await crashLoop(t, 'gc', world.a, () => ['gc', '-r', 'origin', '--grace', '0s', '--unsafe-grace'], async () => {
    // Each round leaves the previous version unreachable on the remote (the name moves on).
    await newVersion();
    await addAndPush();
  }, async (i) => {
    const fresh = await tempDir('ckpt-crash-gc-');
    const { repo } = await Repository.init(fresh);
    await pull({ repo, target: 'model', remote: world.remote, to: path.join(fresh, 'out') });
    t.true(await sameTree(path.join(fresh, 'out'), path.join(world.a, 'ckpt')), `after gc #${i} the named snapshot pulls whole`);
  });
});
