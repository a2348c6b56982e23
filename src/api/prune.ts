// prune: retention for periodic checkpoints. Of the names matching PREFIX then a number, keeps the last
// N (and every K-th), removing the rest locally and/or on a remote. Data goes later, with gc (remote) or
// clean (local): names first, then manifests, then chunks (manifest-spec.md, "Ordering invariants").

import { UsageError } from '../errors.js';
import { numbered, retentionPlan } from '../core/numbered.js';
import type { Repository } from '../core/repo.js';
import type { Remote } from '../remote/types.js';
import { deleteRemoteRef } from '../sync/refs.js';
import { localNames, remoteNames } from './names.js';
import { openRemoteFor } from './remote.js';

export interface PruneOptions {
  prefix?: string;
  keepLast: number;
  /** Also keep names whose number is a multiple of this. */
  keepEvery?: number;
  /** Prune local names in this repository. */
  repo?: Repository | null;
  local?: boolean;
  /** Prune names on this remote. */
  remote?: string | Remote;
  dryRun?: boolean;
}

export interface PruneResult {
  kept: string[];
  removed: { name: string; where: 'local' | 'remote' }[];
  dryRun: boolean;
}

export async function prune(opts: PruneOptions): Promise<PruneResult> {
  if (!Number.isSafeInteger(opts.keepLast) || opts.keepLast < 0) throw new UsageError('--keep-last must be a whole number >= 0');
  const prefix = opts.prefix ?? '';
  const result: PruneResult = { kept: [], removed: [], dryRun: !!opts.dryRun };
  const kept = new Set<string>();
  if (opts.local && opts.repo) {
    const repo = opts.repo;
    const plan = retentionPlan(numbered(prefix, await localNames(repo), (n) => n), opts.keepLast, opts.keepEvery);
    plan.keep.forEach((x) => kept.add(x.name));
    if (!opts.dryRun) await repo.withLock(async () => void (await Promise.all(plan.remove.map((x) => repo.deleteRef(x.name)))));
    result.removed.push(...plan.remove.map((x) => ({ name: x.name, where: 'local' as const })));
  }
  if (opts.remote !== undefined) {
    const { remote, owned } = await openRemoteFor(opts.repo ?? null, opts.remote);
    try {
      const plan = retentionPlan(numbered(prefix, await remoteNames(remote, prefix), (n) => n), opts.keepLast, opts.keepEvery);
      plan.keep.forEach((x) => kept.add(x.name));
      for (const x of plan.remove) {
        if (!opts.dryRun) await deleteRemoteRef(remote, x.name);
        result.removed.push({ name: x.name, where: 'remote' });
      }
    } finally {
      if (owned) await remote.close();
    }
  }
  result.kept = [...kept].sort();
  return result;
}
