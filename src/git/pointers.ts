// Pointer files that git commits touch: read from git's objects (not the working tree), so a hook sees
// exactly what is being pushed or checked out.

import { parsePointer, POINTER_SUFFIX, type Pointer } from '../core/pointer.js';
import { git } from './git.js';

export interface CommittedPointer {
  /** Path relative to the git work tree top. */
  path: string;
  commit: string;
  blob: string;
  pointer: Pointer;
}

export const ZERO_SHA = /^0+$/;

/** Pointer files added or modified by the given commits, oldest first (invalid pointers are skipped). */
export async function pointersInCommits(gitRoot: string, commits: string[]): Promise<CommittedPointer[]> {
  if (commits.length === 0) return [];
  // One diff-tree for all commits: "<commit>\0" then ":<modes> <old> <new> <status>\0<path>\0" (R/C: two paths).
  const out = await git(['diff-tree', '-r', '--root', '-z', '--no-renames', '--diff-filter=AM', '--stdin'], { cwd: gitRoot, input: commits.join('\n') + '\n' });
  const tokens = out.split('\0');
  const found: { path: string; commit: string; blob: string }[] = [];
  let commit = '';
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i]!;
    if (tok.startsWith(':')) {
      const p = tokens[++i]!;
      const blob = tok.split(' ')[3]!;
      if (p.endsWith(POINTER_SUFFIX)) found.push({ path: p, commit, blob });
    } else if (/^[0-9a-f]{40,64}$/.test(tok.trim())) commit = tok.trim();
  }
  const res: CommittedPointer[] = [];
  for (const f of found) {
    try {
      res.push({ ...f, pointer: parsePointer(await git(['cat-file', 'blob', f.blob], { cwd: gitRoot, binary: true }), `${f.path} in ${f.commit.slice(0, 10)}`) });
    } catch {
      // Not a ckptsync pointer (a file that merely ends in .ckpt): not ours to push.
    }
  }
  return res;
}

/** Commits reachable from `local` that the remote lacks: since `remoteSha` if we have it, else not on any remote-tracking ref. */
export async function commitsToPush(gitRoot: string, local: string, remoteSha: string, remoteName: string): Promise<string[]> {
  const known = !ZERO_SHA.test(remoteSha) && (await git(['cat-file', '-e', `${remoteSha}^{commit}`], { cwd: gitRoot }).then(() => true, () => false));
  const args = known ? ['rev-list', '--reverse', local, `^${remoteSha}`] : ['rev-list', '--reverse', local, '--not', `--remotes=${remoteName}`];
  return (await git(args, { cwd: gitRoot })).split('\n').filter(Boolean);
}
