// Runs one command as a child process under GNU time, for its wall time and peak resident memory
// (the RSS of the command itself, children included as time reports the largest).

import { spawn } from 'node:child_process';

export interface Run {
  seconds: number;
  /** Peak RSS in MiB. */
  rssMiB: number;
  stdout: string;
}

export async function measure(cmd: string, args: string[], opts: { env?: Record<string, string>; cwd?: string; input?: string } = {}): Promise<Run> {
  const started = process.hrtime.bigint();
  const child = spawn('/usr/bin/time', ['-f', '@@rss %M', cmd, ...args], {
    cwd: opts.cwd,
    env: { ...process.env, ...opts.env },
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
  const m = /@@rss (\d+)/.exec(stderr);
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${code}:\n${stderr.slice(-2000)}\n${stdout.slice(-1000)}`);
  return { seconds, rssMiB: m ? Number(m[1]) / 1024 : NaN, stdout };
}

/** Drops nothing from the page cache (we cannot, unprivileged): every tool reads warm data alike. */
export async function warm(cmdPath: string): Promise<void> {
  await measure('sh', ['-c', `cat ${shellQuote(cmdPath)} >/dev/null 2>&1 || find ${shellQuote(cmdPath)} -type f -exec cat {} + >/dev/null`]);
}

export function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}
