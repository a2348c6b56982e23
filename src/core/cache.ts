// The checkpoint cache (manifest-spec.md, "Checkpoint cache"): a directory shared by every repository and
// user of a machine. It is itself a repository (.ckptsync/ with an object store, so versions share
// chunks, and refs recording which manifest each name last resolved to) plus materialized snapshots
// under snapshots/<manifest hash>/<name>: keyed by content, so a name that moved resolves to a new path.

import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import lockfile from 'proper-lockfile';
import { LockHeldError } from '../errors.js';
import { Repository } from './repo.js';

export interface CacheLocation {
  cacheDir?: string;
  repo?: Repository | null;
}

/** The cache directory: explicit, CKPTSYNC_CACHE, the repository's `cacheDir` setting, then ~/.cache/ckptsync. */
export async function cacheDirFor(opts: CacheLocation = {}): Promise<string> {
  if (opts.cacheDir) return path.resolve(opts.cacheDir);
  if (process.env.CKPTSYNC_CACHE) return path.resolve(process.env.CKPTSYNC_CACHE);
  if (opts.repo) {
    const configured = ((await opts.repo.config()) as { cacheDir?: unknown }).cacheDir;
    if (typeof configured === 'string' && configured) return path.resolve(opts.repo.root, configured);
  }
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'ckptsync');
}

export class CheckpointCache {
  private constructor(
    readonly dir: string,
    readonly repo: Repository,
  ) {}

  static async open(dir: string): Promise<CheckpointCache> {
    await fs.mkdir(dir, { recursive: true });
    const { repo } = await Repository.init(dir);
    await fs.mkdir(path.join(dir, 'locks'), { recursive: true });
    return new CheckpointCache(dir, repo);
  }

  /** Where a snapshot is materialized: leaf is the name (or file name) it is known by. */
  snapshotPath(manifest: string, leaf: string): string {
    return path.join(this.dir, 'snapshots', manifest, ...leaf.split('/'));
  }

  /** Runs fn holding the per-snapshot lock, so many processes resolving one snapshot download it once. */
  async withSnapshotLock<T>(manifest: string, fn: () => Promise<T>, waitMs = 60 * 60_000): Promise<T> {
    let release: () => Promise<void>;
    try {
      release = await lockfile.lock(path.join(this.dir, 'snapshots', manifest), {
        realpath: false,
        lockfilePath: path.join(this.dir, 'locks', `${manifest}.lock`),
        stale: 20_000,
        update: 5_000,
        retries: { retries: Math.ceil(waitMs / 250), minTimeout: 20, maxTimeout: 250, factor: 1.5 },
      });
    } catch (e) {
      if ((e as { code?: string }).code === 'ELOCKED') throw new LockHeldError(`snapshot ${manifest} in the cache ${this.dir} is locked by another process`);
      throw e;
    }
    try {
      return await fn();
    } finally {
      await release().catch(() => {});
    }
  }
}

/**
 * Clears the write bits of every file at or below p (a materialized snapshot, before it is renamed into
 * place): a checkpoint in the shared cache serves every process on the machine, so training code must
 * copy it to change it, never edit it in place (manifest-spec.md §10c). Directories stay writable, so the
 * cache can still be cleaned.
 */
export async function sealReadOnly(p: string): Promise<void> {
  const st = await fs.lstat(p);
  if (st.isDirectory()) {
    for (const name of await fs.readdir(p)) await sealReadOnly(path.join(p, name));
  } else if (st.isFile() && st.mode & 0o222) {
    await fs.chmod(p, st.mode & 0o7555);
  }
}
