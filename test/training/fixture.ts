// Shared set-up for the training-workflow tests: repositories, deterministic checkpoint bytes, and a
// local-directory remote.

import fs from 'node:fs/promises';
import path from 'node:path';
import { add } from '../../src/api/add.js';
import { connect } from '../../src/api/remote.js';
import { Repository } from '../../src/core/repo.js';
import type { Remote } from '../../src/remote/types.js';
import { tempDir } from '../helpers.js';

/** Pseudo-random bytes from a seed (xorshift32): the same seed gives the same checkpoint. */
export function randomBytes(size: number, seed: number): Buffer {
  const out = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out.writeUInt32LE(x >>> 0, Math.min(i, size - 4));
  }
  return out;
}

export async function newRepo(): Promise<{ root: string; repo: Repository }> {
  const root = await tempDir('ckpt-train-');
  const { repo } = await Repository.init(root);
  return { root, repo };
}

export async function writeAndAdd(repo: Repository, rel: string, data: Buffer, name?: string): Promise<string> {
  const file = path.join(repo.root, rel);
  await fs.mkdir(path.dirname(file), { recursive: true });
  await fs.writeFile(file, data);
  return (await add({ repo, path: file, name })).manifest;
}

export async function localRemote(): Promise<{ url: string; remote: Remote }> {
  const url = await tempDir('ckpt-train-remote-');
  return { url, remote: await connect({ url, settings: {} }) };
}

/** Resolves when called `n` times. */
export function barrier(): { hit: () => void; reached: Promise<void> } {
  let hit!: () => void;
  const reached = new Promise<void>((r) => (hit = r));
  return { hit, reached };
}
