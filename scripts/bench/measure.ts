// Runs one command as a child process under GNU time, for its wall time and peak resident memory
// (the RSS of the command itself, children included as time reports the largest).

import { spawn } from 'node:child_process';
import fsp from 'node:fs/promises';
import { fileURLToPath } from 'node:url';

export interface Run {
  seconds: number;
  /** Peak RSS in MiB. */
  rssMiB: number;
  /** User plus system CPU seconds. */
  cpuSeconds: number;
  stdout: string;
}

/**
 * Variables no step needs (every server is on loopback, over http or ssh) that tax one tool alone:
 * NODE_EXTRA_CA_CERTS makes every Node process parse the file's certificates as it starts (the CLI
 * started in 0.45-0.56 s with it, 0.35-0.40 s without, on the machine of 2026-11-23, which set it for
 * its network proxy's CA). Unset for every step; the bench's header says so when it was set.
 */
const UNSET_FOR_STEPS = ['NODE_EXTRA_CA_CERTS'];
export const unsetForSteps: string[] = UNSET_FOR_STEPS.filter((k) => process.env[k] !== undefined);
const stepEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !UNSET_FOR_STEPS.includes(k)));

export async function measure(cmd: string, args: string[], opts: { env?: Record<string, string>; cwd?: string; input?: string } = {}): Promise<Run> {
  const started = process.hrtime.bigint();
  const child = spawn('/usr/bin/time', ['-f', '@@rss %M cpu %U %S', cmd, ...args], {
    cwd: opts.cwd,
    env: { ...stepEnv, ...opts.env },
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  // Only the tail is kept: a command printing a lot (or cat of a whole file) must not fill memory.
  const keep = (acc: string, d: Buffer) => (acc.length > 1 << 20 ? acc.slice(-(1 << 19)) : acc) + d.toString();
  child.stdout!.on('data', (d: Buffer) => (stdout = keep(stdout, d)));
  child.stderr!.on('data', (d: Buffer) => (stderr = keep(stderr, d)));
  if (opts.input !== undefined) {
    child.stdin!.on('error', () => {}); // a child that exits without reading is not our failure
    child.stdin!.end(opts.input);
  }
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const m = /@@rss (\d+) cpu ([\d.]+) ([\d.]+)/.exec(stderr);
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${code}:\n${stderr.slice(-2000)}\n${stdout.slice(-1000)}`);
  return { seconds, rssMiB: m ? Number(m[1]) / 1024 : NaN, cpuSeconds: m ? Number(m[2]) + Number(m[3]) : NaN, stdout };
}

/** Reads a file or a directory's files, so that the next tool finds them in the page cache. */
export async function warm(cmdPath: string): Promise<void> {
  await measure('sh', ['-c', `cat ${shellQuote(cmdPath)} >/dev/null 2>&1 || find ${shellQuote(cmdPath)} -type f -exec cat {} + >/dev/null`]);
}

const DROP_CACHES = '/proc/sys/vm/drop_caches';

/**
 * Puts the machine in the same state before each timed step: no dirty pages left by the step before
 * (sync), and, with `inputs` when we may (root), an empty page cache with only the step's inputs read
 * back in. Without this, cp of the same 1 GiB file took 0.4 to 2.2 s depending on what ran before it
 * (dirty pages being written back, a full page cache being reclaimed), and every tool paid for the
 * previous one. Returns whether the cache was dropped.
 */
export async function settle(inputs: string[] = []): Promise<boolean> {
  await measure('sync', []);
  if (!inputs.length) return false;
  const dropped = await fsp.writeFile(DROP_CACHES, '3').then(() => true, () => false);
  for (const p of inputs) await warm(p);
  // The tools themselves are read back in too: a cold start of ckptsync (~300 module files) took
  // 0.5-0.58 s against 0.29-0.39 s warm, and borg (Python) pays the same kind of cost.
  if (dropped) for (const [cmd, ...args] of WARM_TOOLS) await measure(cmd, args).catch(() => {});
  return dropped;
}

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const WARM_TOOLS = [
  ['sh', '-c', `find ${shellQuote(ROOT)}/bin ${shellQuote(ROOT)}/dist ${shellQuote(ROOT)}/node_modules -type f -exec cat {} + >/dev/null`],
  ['cp', '--version'],
  ['b3sum', '--version'],
  ['borg', '--version'],
  ['rclone', 'version'],
];

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * CPU seconds a server process and everything below it used so far: its own and its live descendants'
 * user and system time, plus what their waited-for children used (sshd forks one process per
 * connection). Read before and after a step; the difference is the server's share of it.
 */
export async function processTreeCpu(root: number): Promise<number> {
  const parent = new Map<number, number>();
  const ticks = new Map<number, number>();
  for (const d of await fsp.readdir("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    const stat = await fsp.readFile(`/proc/${d}/stat`, 'utf8').catch(() => '');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (f.length < 15) continue;
    parent.set(Number(d), Number(f[1]));
    ticks.set(Number(d), Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]));
  }
  let total = 0;
  for (const [pid, t] of ticks) {
    for (let p: number | undefined = pid; p !== undefined && p > 1; p = parent.get(p)) {
      if (p === root) {
        total += t;
        break;
      }
    }
  }
  return total / 100; // USER_HZ
}
