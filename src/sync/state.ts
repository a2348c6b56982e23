// The local cache of a remote's state (manifest-spec.md, "Remote state cache"): which chunks this
// machine uploaded that no manifest on the remote covers yet, so a push that was killed resumes without
// sending them again. Only a hint: entries expire, and what manifests the remote holds is re-listed on
// every push.

import fs from 'node:fs/promises';
import path from 'node:path';
import type { Repository } from '../core/repo.js';

/** Upload-log entries older than this are not trusted (gc may have removed unreferenced chunks). */
export const UPLOAD_LOG_TRUST_MS = 60 * 60 * 1000;

export class RemoteState {
  readonly dir: string;
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
}

async function readLines(file: string): Promise<string[]> {
  try {
    return (await fs.readFile(file, 'utf8')).split('\n').filter(Boolean);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
}
