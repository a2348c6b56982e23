// The local cache of a remote's state (manifest-spec.md, "Remote state cache"): which chunks this
// machine uploaded that no manifest on the remote covers yet, so a push that was killed resumes without
// sending them again, and the headers of the remote's packs read so far. Only a hint: entries expire,
// what manifests the remote holds is re-listed on every push, and packs on every pull.

import fs from 'node:fs/promises';
import path from 'node:path';
import type { Repository } from '../core/repo.js';
import { writeAtomic } from '../core/store.js';
import { removeStaleTemps } from '../core/temps.js';
import type { HeaderCache } from './packs.js';

/** Upload-log entries older than this are not trusted (gc may have removed unreferenced chunks). */
export const UPLOAD_LOG_TRUST_MS = 60 * 60 * 1000;

export class RemoteState {
  readonly dir: string;
  private headers?: HeaderCache;
  constructor(repo: Repository, remoteUrl: string) {
    this.dir = repo.remoteStateDir(remoteUrl);
  }

  /** Chunks uploaded recently enough to trust without asking the remote. */
  async uploadedChunks(now = Date.now()): Promise<Set<string>> {
    const out = new Set<string>();
    for (const line of await readLines(path.join(this.dir, 'uploaded.log'))) {
      const [hash, t] = line.split(' ');
      if (hash && /^[0-9a-f]{64}$/.test(hash) && now - Number(t) < UPLOAD_LOG_TRUST_MS) out.add(hash);
    }
    return out;
  }

  async logUploaded(hashes: string[]): Promise<void> {
    if (hashes.length === 0) return;
    await fs.mkdir(this.dir, { recursive: true });
    const t = Date.now();
    await fs.appendFile(path.join(this.dir, 'uploaded.log'), hashes.map((h) => `${h} ${t}\n`).join(''));
  }

  async clearUploadLog(): Promise<void> {
    await fs.rm(path.join(this.dir, 'uploaded.log'), { force: true });
  }

  /**
   * Pack headers read from this remote (§8c), one file each under `packs/`. A writer killed mid-write left
   * its temp there: the first read or write of this state's cache clears such leftovers.
   */
  get packHeaders(): HeaderCache {
    if (this.headers) return this.headers;
    const dir = path.join(this.dir, 'packs');
    let swept: Promise<unknown> | undefined;
    const sweep = () => (swept ??= removeStaleTemps(dir).catch(() => 0));
    return (this.headers = {
      read: async (pack) => {
        await sweep();
        return fs.readFile(path.join(dir, pack)).catch(() => null);
      },
      write: async (pack, header) => {
        await sweep();
        await fs.mkdir(dir, { recursive: true });
        await writeAtomic(path.join(dir, pack), header).catch(() => {}); // a hint: a reader without it reads the remote
      },
    });
  }
}

async function readLines(file: string): Promise<string[]> {
  try {
    return (await fs.readFile(file, 'utf8')).split('\n').filter(Boolean);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}
