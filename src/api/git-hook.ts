// git-hook: what the installed git hooks run. pre-push uploads the checkpoint data named by pointer
// files in the commits being pushed (chunks, manifest, name) before git sends the commits, and refuses
// the push when a pointer names data that is neither here nor on the remote. post-checkout and
// post-merge (opt-in) materialize pointers that changed, never overwriting data modified by hand.

import fs from 'node:fs/promises';
import path from 'node:path';
import { NotFoundError, RefConflictError, UsageError, errorLine } from '../errors.js';
import { materialize } from '../core/materialize.js';
import { dataPathOf, parsePointer, POINTER_SUFFIX } from '../core/pointer.js';
import { Repository } from '../core/repo.js';
import { checkWorktreeData, recordWorktreeStat } from '../core/worktree.js';
import { destinationInRepo } from '../core/write-scope.js';
import { keyOf } from '../remote/layout.js';
import type { Remote } from '../remote/types.js';
import { loadManifest } from '../sync/manifests.js';
import { fetchSnapshot } from '../sync/pull.js';
import { pushSnapshot } from '../sync/push.js';
import { git, gitTopLevel } from '../git/git.js';
import { commitsToPush, pointersInCommits, ZERO_SHA } from '../git/pointers.js';
import { openRemoteFor } from './remote.js';
import { readPointerFile } from './target.js';

export interface GitHookOptions {
  /** The directory git runs the hook in (the work tree top). */
  cwd: string;
  hook: string;
  /** The hook's arguments from git. */
  args: string[];
  /** pre-push: the "<local ref> <local sha> <remote ref> <remote sha>" lines git gives on stdin. */
  stdin?: string;
  /** ckptsync remote for the data (default: the repository's default remote). */
  remote?: string | Remote;
}

export interface HookAction {
  pointer: string;
  name?: string;
  manifest: string;
  action: 'pushed' | 'already-on-remote' | 'checked-out' | 'up-to-date' | 'skipped-modified' | 'skipped-unsafe' | 'conflict';
  bytesUploaded?: number;
  detail?: string;
}

export async function gitHook(opts: GitHookOptions): Promise<HookAction[]> {
  const gitRoot = await gitTopLevel(opts.cwd);
  const repo = await Repository.find(gitRoot).catch(() => null);
  if (!repo) return []; // no ckptsync repository here: there is no data to move
  if (opts.hook === 'pre-push') return prePush(repo, gitRoot, opts);
  if (opts.hook === 'post-checkout' || opts.hook === 'post-merge') return afterCheckout(repo, gitRoot, opts);
  throw new UsageError(`unknown hook ${opts.hook}`);
}

async function prePush(repo: Repository, gitRoot: string, opts: GitHookOptions): Promise<HookAction[]> {
  const remoteName = opts.args[0] ?? 'origin';
  const commits = new Set<string>();
  for (const line of (opts.stdin ?? '').split('\n')) {
    const [, localSha, , remoteSha] = line.trim().split(/\s+/);
    if (!localSha || ZERO_SHA.test(localSha)) continue; // a deletion pushes no data
    for (const c of await commitsToPush(gitRoot, localSha, remoteSha ?? '0', remoteName)) commits.add(c);
  }
  const pointers = await pointersInCommits(gitRoot, [...commits]);
  if (pointers.length === 0) return [];
  const { remote, owned } = await openRemoteFor(repo, opts.remote, { mayCreate: true });
  const out: HookAction[] = [];
  try {
    for (const p of pointers) {
      const { manifest } = p.pointer;
      const name = p.pointer.name ?? repo.relative(path.join(gitRoot, p.path.slice(0, -POINTER_SUFFIX.length)));
      const act: HookAction = { pointer: p.path, name, manifest, action: 'pushed' };
      if (!(await repo.store.has('manifest', manifest))) {
        if (!(await remote.stat(keyOf({ kind: 'manifest', name: manifest })))) {
          throw new NotFoundError(`${p.path} in commit ${p.commit.slice(0, 10)} names checkpoint data (${manifest.slice(0, 12)}) that is neither in the local store nor on ${remote.displayUrl}; git push refused`, { manifest });
        }
        act.action = 'already-on-remote';
      } else {
        try {
          const r = await pushSnapshot(repo, remote, name, manifest);
          act.bytesUploaded = r.bytesUploaded;
          if (r.chunksUploaded === 0 && !r.changed) act.action = 'already-on-remote';
        } catch (e) {
          // The data is on the remote (chunks and manifest go before the name); only the name is not current.
          if (!(e instanceof RefConflictError)) throw e;
          act.action = 'conflict';
          act.detail = errorLine(e);
        }
      }
      out.push(act);
    }
  } finally {
    if (owned) await remote.close();
  }
  return out;
}

async function afterCheckout(repo: Repository, gitRoot: string, opts: GitHookOptions): Promise<HookAction[]> {
  let prev: string;
  let next: string;
  if (opts.hook === 'post-checkout') {
    [prev = '', next = ''] = opts.args;
    if (opts.args[2] === '0') return []; // a file checkout, not a branch switch
  } else {
    prev = (await git(['rev-parse', '-q', '--verify', 'ORIG_HEAD'], { cwd: gitRoot }).catch(() => '')).trim();
    next = 'HEAD';
  }
  const changed = !prev || ZERO_SHA.test(prev)
    ? (await git(['ls-tree', '-r', '-z', '--name-only', next], { cwd: gitRoot })).split('\0')
    : (await git(['diff', '--name-only', '-z', '--no-renames', '--diff-filter=AM', prev, next], { cwd: gitRoot })).split('\0');
  const out: HookAction[] = [];
  let opened: { remote: Remote; owned: boolean } | null = null;
  try {
    for (const rel of changed.filter((p) => p.endsWith(POINTER_SUFFIX))) {
      const file = path.join(gitRoot, rel);
      const ptr = await readPointerFile(file).catch(() => null);
      if (!ptr) continue;
      // Checked like any pull's destination: inside the repository, not in .git/, through no symlink.
      const act: HookAction = { pointer: rel, name: ptr.name, manifest: ptr.manifest, action: 'checked-out' };
      let dest;
      try {
        dest = await destinationInRepo(repo.root, dataPathOf(file));
      } catch (e) {
        out.push({ ...act, action: 'skipped-unsafe', detail: errorLine(e) });
        continue;
      }
      const data = dest.path;
      let manifest = (await repo.store.has('manifest', ptr.manifest)) ? await loadManifest(repo, ptr.manifest) : null;
      if (manifest && (await checkWorktreeData(repo, data, ptr.manifest, manifest)) === 'ok') {
        out.push({ ...act, action: 'up-to-date' });
        continue;
      }
      if (!(await safeToReplace(repo, gitRoot, prev, rel, data))) {
        out.push({ ...act, action: 'skipped-modified', detail: `${repo.relative(data)} differs from its previous pointer; not overwritten` });
        continue;
      }
      opened ??= await openRemoteFor(repo, opts.remote);
      manifest = (await fetchSnapshot(repo, opened.remote, ptr.manifest)).manifest;
      const since = Date.now();
      await materialize(repo.store, manifest, data, { within: dest.within });
      await recordWorktreeStat(repo, data, ptr.manifest, manifest, since);
      out.push(act);
    }
  } finally {
    if (opened?.owned) await opened.remote.close();
  }
  return out;
}

/** Data may be replaced when it is missing, or still exactly what the previous commit's pointer named. */
async function safeToReplace(repo: Repository, gitRoot: string, prev: string, rel: string, data: string): Promise<boolean> {
  if (!(await fs.lstat(data).then(() => true, () => false))) return true;
  if (!prev || ZERO_SHA.test(prev)) return false;
  const old = await git(['cat-file', 'blob', `${prev}:${rel}`], { cwd: gitRoot, binary: true }).catch(() => null);
  if (!old) return false;
  let oldPtr;
  try {
    oldPtr = parsePointer(old);
  } catch {
    return false;
  }
  if (!(await repo.store.has('manifest', oldPtr.manifest))) return false;
  return (await checkWorktreeData(repo, data, oldPtr.manifest, await loadManifest(repo, oldPtr.manifest))) === 'ok';
}
