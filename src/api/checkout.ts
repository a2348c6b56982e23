// checkout: write a checkpoint's files from the local store (verified), where its pointer file or --to
// says, refusing to overwrite local edits unless forced.

import { materialize } from '../core/materialize.js';
import type { Repository } from '../core/repo.js';
import { assertReplaceable, recordWorktreeStat } from '../core/worktree.js';
import { loadManifest } from '../sync/manifests.js';
import { checkPointerSize, destinationOf, resolveTarget } from './target.js';

export interface CheckoutOptions {
  repo: Repository;
  /** A pointer file, an added path, or a name. */
  target: string;
  /** Where to write; defaults to the pointer's data path or the name under the repository root. */
  to?: string;
  /** Replace files at the destination even when they were changed locally. */
  force?: boolean;
  onProgress?: (done: number, total: number) => void;
}

export async function checkout(opts: CheckoutOptions): Promise<{ name?: string; manifest: string; path: string; files: number; bytes: number }> {
  const { repo } = opts;
  const t = await resolveTarget(repo, opts.target);
  const manifest = await loadManifest(repo, t.manifest!);
  checkPointerSize(t, manifest);
  const dest = await destinationOf(repo, t, opts.to);
  if (!opts.force) await assertReplaceable(repo, dest.path, manifest);
  const since = Date.now();
  const r = await materialize(repo.store, manifest, dest.path, { onProgress: opts.onProgress, within: dest.within });
  await repo.withLock(async () => {
    await recordWorktreeStat(repo, dest.path, t.manifest!, manifest, since);
    await repo.placed.noteWritten(dest.path, t.manifest!, manifest);
  });
  return { name: t.name, manifest: t.manifest!, path: dest.path, ...r };
}
