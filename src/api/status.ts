// status: every pointer file in the working tree, and whether its data is here, whole, and pushed.

import fs from 'node:fs/promises';
import path from 'node:path';
import { manifestChunks } from '../core/manifest.js';
import { POINTER_SUFFIX } from '../core/pointer.js';
import { REPO_DIR, type Repository } from '../core/repo.js';
import { checkWorktreeData } from '../core/worktree.js';
import type { Remote } from '../remote/types.js';
import { listRemoteManifests, loadManifest } from '../sync/manifests.js';
import { openRemoteFor } from './remote.js';
import { readPointerFile } from './target.js';

export type PointerState = 'ok' | 'data-missing' | 'modified' | 'not-in-store' | 'invalid-pointer';

export interface StatusEntry {
  pointer: string;
  name?: string;
  manifest?: string;
  state: PointerState;
  /** Whether the remote holds the manifest; null when no remote was asked. */
  pushed: boolean | null;
  detail?: string;
}

export interface StatusOptions {
  repo: Repository;
  /** Also tell whether each checkpoint is on this remote (one listing request). */
  remote?: string | Remote;
  /** Re-read data whose stat changed since add to tell whether its content did (default true). */
  rehash?: boolean;
}

export async function status(opts: StatusOptions): Promise<StatusEntry[]> {
  const { repo } = opts;
  const pointers = await findPointers(repo.root);
  let known: Set<string> | null = null;
  if (opts.remote !== undefined) {
    const { remote, owned } = await openRemoteFor(repo, opts.remote);
    try {
      known = await listRemoteManifests(remote);
    } finally {
      if (owned) await remote.close();
    }
  }
  const out: StatusEntry[] = [];
  for (const p of pointers) {
    const rel = repo.relative(p);
    let ptr;
    try {
      ptr = await readPointerFile(p);
    } catch (e) {
      out.push({ pointer: rel, state: 'invalid-pointer', pushed: null, detail: (e as Error).message });
      continue;
    }
    const entry: StatusEntry = { pointer: rel, name: ptr.name, manifest: ptr.manifest, state: 'ok', pushed: known ? known.has(ptr.manifest) : null };
    const data = p.slice(0, -POINTER_SUFFIX.length);
    const st = await fs.lstat(data).catch(() => null);
    if (!(await repo.store.has('manifest', ptr.manifest))) entry.state = 'not-in-store';
    else {
      const m = await loadManifest(repo, ptr.manifest);
      const chunks = manifestChunks(m);
      for (const h of chunks.keys()) {
        if (!(await repo.store.has('chunk', h))) {
          entry.state = 'not-in-store';
          break;
        }
      }
      if (entry.state === 'ok') {
        // Modified since add: size and stat cache first, then the content at the recorded chunk boundaries.
        const d = await checkWorktreeData(repo, data, ptr.manifest, m, { rehash: opts.rehash });
        if (d === 'missing') entry.state = 'data-missing';
        else if (d !== 'ok') entry.state = 'modified';
        if (d === 'stat-changed') entry.detail = 'size or mtime changed since add (content not compared)';
      }
    }
    out.push(entry);
  }
  return out;
}

async function findPointers(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string) => {
    for (const e of await fs.readdir(dir, { withFileTypes: true })) {
      if (e.name === REPO_DIR || e.name === '.git' || e.name === 'node_modules') continue;
      const abs = path.join(dir, e.name);
      if (e.isDirectory()) await walk(abs);
      else if (e.isFile() && e.name.endsWith(POINTER_SUFFIX)) out.push(abs);
    }
  };
  await walk(root);
  return out.sort();
}
