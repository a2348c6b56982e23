// status: every pointer file in the working tree, and whether its data is here, whole, and pushed.

import fs from 'node:fs/promises';
import path from 'node:path';
import { manifestChunks } from '../core/manifest.js';
import { dataPathOf, POINTER_SUFFIX } from '../core/pointer.js';
import { REPO_DIR, type Repository } from '../core/repo.js';
import { git } from '../git/git.js';
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
  /** Told of problems around the entries, such as the object store being tracked by git. */
  onWarning?: (message: string) => void;
}

export async function status(opts: StatusOptions): Promise<StatusEntry[]> {
  const { repo } = opts;
  const tracked = await storeFilesInGit(repo);
  if (tracked > 0) opts.onWarning?.(`git tracks ${tracked} file(s) under ${REPO_DIR}/: checkpoint data belongs on a remote, not in git; run 'git rm -r --cached ${REPO_DIR}' (and 'ckptsync init' to write ${REPO_DIR}/.gitignore)`);
  const pointers = await findPointers(repo.root);
  let known: Map<string, number> | null = null; // manifests on the remote, with their sizes
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
    let data: string;
    try {
      data = dataPathOf(p);
    } catch (e) {
      out.push({ pointer: rel, state: 'invalid-pointer', pushed: null, detail: (e as Error).message });
      continue;
    }
    const st = await fs.lstat(data).catch(() => null);
    if (!(await repo.store.has('manifest', ptr.manifest))) entry.state = 'not-in-store';
    else {
      const m = await loadManifest(repo, ptr.manifest);
      const chunks = manifestChunks(m);
      for (const h of chunks.keys()) {
        if (!(await repo.store.readable(h))) {
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

/** Files under .ckptsync/ that git tracks, other than its .gitignore (0 outside a git work tree). */
async function storeFilesInGit(repo: Repository): Promise<number> {
  const out = await git(['ls-files', '-z', '--', REPO_DIR], { cwd: repo.root }).catch(() => '');
  return out.split('\0').filter((f) => f && f !== `${REPO_DIR}/.gitignore`).length;
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
