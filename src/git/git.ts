// Running git for the hooks and the LFS agent, and naming the ckptsync command that hooks and git-lfs
// call back (the same Node and bin/run.js that are running now, so no PATH setup is needed).

import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '../errors.js';

export interface GitOptions {
  cwd: string;
  /** Bytes for git's stdin. */
  input?: string | Buffer;
  /** Return stdout as a Buffer (blobs). */
  binary?: boolean;
}

export function git(args: string[], opts: GitOptions & { binary: true }): Promise<Buffer>;
export function git(args: string[], opts: GitOptions): Promise<string>;
export function git(args: string[], opts: GitOptions): Promise<string | Buffer> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      'git',
      args,
      { cwd: opts.cwd, maxBuffer: 256 << 20, encoding: opts.binary ? 'buffer' : 'utf8' },
      (err, stdout, stderr) => {
        if (err) {
          const code = (err as NodeJS.ErrnoException).code;
          if (code === 'ENOENT') return reject(new ConfigError('git is not installed (or not on PATH)'));
          return reject(new ConfigError(`git ${args[0]} failed: ${String(stderr).trim().split('\n')[0] || err.message}`));
        }
        resolve(stdout);
      },
    );
    if (opts.input !== undefined) child.stdin?.end(opts.input);
  });
}

/** The top of the git work tree containing cwd. */
export async function gitTopLevel(cwd: string): Promise<string> {
  return (await git(['rev-parse', '--show-toplevel'], { cwd })).trim();
}

/** An absolute path inside .git (honours core.hooksPath for "hooks" and worktrees' common dir). */
export async function gitPath(cwd: string, p: string): Promise<string> {
  return path.resolve(cwd, (await git(['rev-parse', '--git-path', p], { cwd })).trim());
}

/** argv that runs this ckptsync: [node, .../bin/run.js]. */
export function selfCommand(): [string, string] {
  return [process.execPath, path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../../bin/run.js')];
}

/** Quotes a word for /bin/sh. */
export function shQuote(s: string): string {
  return /^[A-Za-z0-9_./:=@+-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
