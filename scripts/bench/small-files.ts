// The benchmark's "small files" section (issue 26): a folder of many small files (default 10,000 of
// 4 KiB in 100 folders) through add, push to a local-directory remote, pull into a fresh repository
// (with and without the store), and add again with 1% of the files changed; beside `rclone copy` of the
// same folder to a local directory and back. Each step is a CLI run, settled first (measure.ts), with
// its wall time and peak RSS.
//   node dist/scripts/bench/small-files.js [--files N] [--size BYTES] [--rounds N] [--no-rclone] [--keep]
// --no-rclone skips the rclone copies (minutes each at 400,000 files); --keep leaves the work
// directory (.bench/small-files-*) in place to look at the repositories afterwards.
// (`npm run bench -- --small-files` runs it as a section of the benchmark.)

import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { measure, settle, type Run } from './measure.js';

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const CLI = path.join(ROOT, 'bin/run.js');
const FOLDERS = 100;

export interface SmallFilesOptions {
  files: number;
  size: number;
  rounds: number;
  rclone?: boolean;
  keep?: boolean;
}

export interface SmallFilesStep {
  step: string;
  seconds: number[];
  rssMiB: number[];
  peer?: { name: string; seconds: number[]; rssMiB: number[] };
}

function ckpt(args: string[], cwd: string): Promise<Run> {
  const PATH = `${path.dirname(process.execPath)}:${process.env.PATH ?? ''}`;
  return measure(CLI, args, { cwd, env: { PATH, CKPTSYNC_NO_PROGRESS: '1' } });
}

/** `files` files of `size` random bytes, spread over FOLDERS folders. */
async function makeFolder(dir: string, files: number, size: number): Promise<string[]> {
  const paths: string[] = [];
  for (let d = 0; d < FOLDERS; d++) await fs.mkdir(path.join(dir, `d${String(d).padStart(3, '0')}`), { recursive: true });
  for (let i = 0; i < files; i++) paths.push(path.join(dir, `d${String(i % FOLDERS).padStart(3, '0')}`, `f${String(i).padStart(6, '0')}.bin`));
  for (let i = 0; i < paths.length; i += 256) await Promise.all(paths.slice(i, i + 256).map((p) => fs.writeFile(p, crypto.randomBytes(size))));
  return paths;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

/** One round of every step in a fresh directory under `work`. */
async function round(work: string, o: SmallFilesOptions): Promise<Map<string, Run>> {
  const out = new Map<string, Run>();
  // Each step on stderr as it ends: at 400,000 files a round takes tens of minutes.
  const record = (step: string, run: Run) => {
    out.set(step, run);
    console.error(`${step}: ${run.seconds.toFixed(2)} s, ${run.rssMiB.toFixed(0)} MiB`);
  };
  const repo = path.join(work, 'repo');
  const data = path.join(repo, 'data');
  const paths = await makeFolder(data, o.files, o.size);
  await ckpt(['init'], repo);
  // The stat cache does not vouch for a file changed within 2 s before the add (worktree.ts, RACY_MS).
  await new Promise((r) => setTimeout(r, 2100));
  await settle([data]);
  record('add', await ckpt(['add', 'data', '--name', 'm1', '--no-pointer', '--json'], repo));
  const remote = path.join(work, 'remote');
  await ckpt(['remote', 'add', 'r', remote], repo);
  await settle();
  record('push', await ckpt(['push', 'm1', '-r', 'r', '--json'], repo));
  for (const [step, extra] of [['pull', []], ['pull --no-store', ['--no-store']]] as const) {
    const pr = path.join(work, step.replace(/ .*/, '') + (extra.length ? '-lean' : ''));
    await fs.mkdir(pr, { recursive: true });
    await ckpt(['init'], pr);
    await ckpt(['remote', 'add', 'r', remote], pr);
    await settle();
    record(step, await ckpt(['pull', 'm1', '-r', 'r', '--to', path.join(pr, 'out'), ...extra, '--json'], pr));
  }
  // 1% of the files rewritten (every 100th), then added again.
  for (let i = 0; i < paths.length; i += 100) await fs.writeFile(paths[i]!, crypto.randomBytes(o.size));
  await settle([data]);
  record('add 1% changed', await ckpt(['add', 'data', '--name', 'm1', '--no-pointer', '--json'], repo));
  await settle();
  record('push 1% changed', await ckpt(['push', 'm1', '-r', 'r', '--json'], repo));
  if (o.rclone === false) return out;
  // rclone copy of the same folder to a local directory, and back into a new one.
  const up = path.join(work, 'rclone-remote');
  await settle([data]);
  record('rclone up', await measure('rclone', ['copy', data, up]));
  await settle();
  record('rclone down', await measure('rclone', ['copy', up, path.join(work, 'rclone-down')]));
  return out;
}

export async function smallFiles(o: SmallFilesOptions): Promise<{ steps: SmallFilesStep[]; table: string }> {
  await fs.mkdir(path.join(ROOT, '.bench'), { recursive: true });
  const runs = new Map<string, Run[]>();
  // Every round's folders are removed at the end, not between rounds: this disk is mounted with `discard`,
  // and a round run right after the last one's 60,000 files were deleted measured 1.6-2x slower (add 2.54
  // and 2.80 s against 1.59 s for the first round, 2026-12-05).
  const works: string[] = [];
  try {
    for (let r = 0; r < o.rounds; r++) {
      const work = await fs.mkdtemp(path.join(ROOT, '.bench/small-files-'));
      works.push(work);
      for (const [k, v] of await round(work, o)) runs.set(k, [...(runs.get(k) ?? []), v]);
    }
  } finally {
    for (const work of works) {
      if (o.keep) console.error(`kept ${work}`);
      else await fs.rm(work, { recursive: true, force: true });
    }
  }
  const of = (k: string) => ({ seconds: runs.get(k)!.map((x) => x.seconds), rssMiB: runs.get(k)!.map((x) => x.rssMiB) });
  const rcloneUp = runs.has('rclone up') ? { name: 'rclone copy up', ...of('rclone up') } : undefined;
  const rcloneDown = runs.has('rclone down') ? { name: 'rclone copy down', ...of('rclone down') } : undefined;
  const steps: SmallFilesStep[] = [
    { step: 'add', ...of('add'), peer: rcloneUp },
    { step: 'push → local dir', ...of('push'), peer: rcloneUp },
    { step: 'pull ← local dir', ...of('pull'), peer: rcloneDown },
    { step: 'pull --no-store ← local dir', ...of('pull --no-store'), peer: rcloneDown },
    { step: 'add, 1% changed', ...of('add 1% changed') },
    { step: 'push, 1% changed', ...of('push 1% changed') },
  ];
  const f2 = (x: number) => x.toFixed(2);
  const lines = [
    `${o.files} files of ${o.size} bytes in ${FOLDERS} folders, ${o.rounds} round(s), medians (runs in brackets):`,
    '',
    '| step | ckptsync s (runs) | peak RSS MiB | rclone copy s | rclone peak RSS MiB | ratio (ours / rclone) |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const s of steps) {
    const ours = median(s.seconds);
    const peer = s.peer ? median(s.peer.seconds) : NaN;
    lines.push(`| ${s.step} | ${f2(ours)} (${s.seconds.map(f2).join(', ')}) | ${median(s.rssMiB).toFixed(0)} | ${s.peer ? `${f2(peer)} (${s.peer.seconds.map(f2).join(', ')}; ${s.peer.name})` : ''} | ${s.peer ? median(s.peer.rssMiB).toFixed(0) : ''} | ${s.peer ? f2(ours / peer) : ''} |`);
  }
  return { steps, table: lines.join('\n') };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const arg = (k: string) => {
    const i = process.argv.indexOf(k);
    return i >= 0 ? process.argv[i + 1] : undefined;
  };
  const r = await smallFiles({
    files: Number(arg('--files') ?? 10000),
    size: Number(arg('--size') ?? 4096),
    rounds: Number(arg('--rounds') ?? 1),
    rclone: !process.argv.includes('--no-rclone'),
    keep: process.argv.includes('--keep'),
  });
  console.log(r.table);
}
