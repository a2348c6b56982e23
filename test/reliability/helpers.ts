// Helpers shared by the reliability tests: a seeded random source (so a failing run can be replayed
// with the printed seed), generated checkpoints, SIGKILL at a chosen moment, and the whole-state checks
// every test ends with (verify local and remote, no temp files, every name resolves).

import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import type { ExecutionContext, TestFn } from 'ava';
import { Repository, verify } from '../../src/index.js';
import { cli, findFiles, tempDir, type CliResult } from '../helpers.js';

/** A seed from the environment (to replay a failure) or a fresh one; the test prints it. */
export function seedFrom(envVar: string): number {
  const v = process.env[envVar] ?? process.env.CKPTSYNC_TEST_SEED;
  return v ? Number(v) >>> 0 : crypto.randomBytes(4).readUInt32LE(0);
}

/** mulberry32: small, fast, and the same sequence for the same seed on every machine. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Deterministic pseudo-random bytes for a label (AES-CTR keystream: fast and replayable). */
export function bytesFor(label: string, n: number): Buffer {
  const key = crypto.createHash('sha256').update(label).digest();
  const c = crypto.createCipheriv('aes-256-ctr', key, Buffer.alloc(16));
  return c.update(Buffer.alloc(n));
}

/** Writes `files` files of sizes in [minBytes, maxBytes) under dir, content derived from `label`. */
export async function writeCheckpointDir(dir: string, label: string, files: number, rand: () => number, minBytes = 20 << 10, maxBytes = 160 << 10): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  for (let i = 0; i < files; i++) {
    const size = minBytes + Math.floor(rand() * (maxBytes - minBytes));
    const sub = i % 3 === 0 ? path.join(dir, 'opt') : dir;
    await fs.mkdir(sub, { recursive: true });
    await fs.writeFile(path.join(sub, `shard-${i}.bin`), bytesFor(`${label}/${i}`, size));
  }
}

/** Runs the CLI and SIGKILLs it after delayMs; resolves with its result (code 128+ when killed). */
export function cliKilledAfter(args: string[], opts: { cwd: string; env?: Record<string, string> }, delayMs: number): Promise<CliResult & { killed: boolean }> {
  let timer: NodeJS.Timeout | undefined;
  let killed = false;
  return cli(args, {
    ...opts,
    onSpawn: (pid) => {
      timer = setTimeout(() => {
        try {
          process.kill(pid, 'SIGKILL');
          killed = true;
        } catch {}
      }, delayMs);
    },
  }).then((r) => {
    clearTimeout(timer);
    return { ...r, killed: killed && r.code !== 0 };
  });
}

/** Temp files (the '.tmp-' mark writers use) anywhere below the given directories. */
export async function tempFilesIn(...dirs: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const d of dirs) for (const f of await findFiles(d, '.tmp-')) out.push(path.join(d, f));
  return out;
}

/** verify (in-process: same function as the CLI) locally and, when given, against the remote: no problems. */
export async function assertVerifies(t: ExecutionContext, cwd: string, remote?: string, context = ''): Promise<void> {
  const repo = await Repository.find(cwd);
  const local = await verify({ repo });
  t.deepEqual(local.problems, [], `${context} verify (local) of ${cwd}`);
  if (remote) {
    const r = await verify({ repo, remote });
    t.deepEqual(r.problems, [], `${context} verify --remote ${remote}`);
  }
}

/** Byte-for-byte comparison of two directory trees (regular files only). */
export async function sameTree(a: string, b: string): Promise<boolean> {
  const list = async (d: string) => (await findFiles(d, '')).filter((f) => !f.endsWith('.ckpt')).sort();
  const [fa, fb] = await Promise.all([list(a), list(b)]);
  if (fa.join('\n') !== fb.join('\n')) return false;
  for (const f of fa) {
    if (!(await fs.readFile(path.join(a, f))).equals(await fs.readFile(path.join(b, f)))) return false;
  }
  return true;
}

/**
 * For a test file: a function making a fresh tmpfs of `sizeKb` KiB (read-only when asked), a full disk
 * or a read-only file system on demand. mount needs root, as in CI. Call at the top of the file: every
 * tmpfs is unmounted when the file's tests end.
 */
export function tmpfsMounter(test: TestFn): (sizeKb: number, ro?: boolean) => Promise<string> {
  const mounted: string[] = [];
  test.after.always(() => {
    for (const m of mounted) {
      try {
        execFileSync('umount', ['-l', m]);
      } catch {}
    }
  });
  return async (sizeKb, ro = false) => {
    const dir = await tempDir('ckpt-tmpfs-');
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k${ro ? ',ro' : ''}`, 'tmpfs', dir]);
    mounted.push(dir);
    return dir;
  };
}
