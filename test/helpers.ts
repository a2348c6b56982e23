// Shared test helpers: temp dirs, the real CLI as a child process, and the repository root.

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root (tests run from dist/test/...). */
export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const cliPath = path.join(repoRoot, 'bin', 'run.js');

export async function tempDir(prefix = 'ckpt-test-'): Promise<string> {
  return fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), prefix)));
}

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  /** Peak resident memory of the child in bytes, from /proc (Linux). */
  json?: any;
}

/** Runs `ckptsync ...args` as a real child process. */
export function cli(args: string[], opts: { cwd: string; env?: Record<string, string>; onSpawn?: (pid: number) => void } ): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { cwd: opts.cwd, env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    if (child.pid) opts.onSpawn?.(child.pid);
    child.on('close', (code, signal) => {
      const r: CliResult = { code: code ?? (signal ? 128 : 1), stdout, stderr };
      if (args.includes('--json')) {
        try {
          r.json = JSON.parse(stdout.trim().split('\n').at(-1) ?? '');
        } catch {}
      }
      resolve(r);
    });
  });
}

/** Throws with the CLI's output when it did not exit 0. */
export async function ok(args: string[], opts: { cwd: string; env?: Record<string, string> }): Promise<CliResult> {
  const r = await cli(args, opts);
  if (r.code !== 0) throw new Error(`ckptsync ${args.join(' ')} exited ${r.code}\n${r.stderr}${r.stdout}`);
  return r;
}

/** Every file below dir (relative paths) whose name contains `mark`. */
export async function findFiles(dir: string, mark: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string) => {
    for (const e of await fs.readdir(d, { withFileTypes: true }).catch(() => [])) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) await walk(p);
      else if (e.name.includes(mark)) out.push(path.relative(dir, p));
    }
  };
  await walk(dir);
  return out;
}

/** Every file below dir (its .ckptsync/ left out) by relative path, with the SHA-256 of its content. */
export async function treeOf(dir: string, rel = ''): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const e of await fs.readdir(path.join(dir, rel), { withFileTypes: true })) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.name === '.ckptsync') continue;
    if (e.isDirectory()) Object.assign(out, await treeOf(dir, r));
    else out[r] = crypto.createHash('sha256').update(await fs.readFile(path.join(dir, r))).digest('hex');
  }
  return out;
}
