// clean: free disk by dropping local chunks the remote holds. A chunk is dropped only if it is on the
// remote (listed, right size) and a manifest that a remote name reaches names it — so gc will not remove
// it there and `pull` can always bring it back. Manifests and refs stay: they are small and say what to pull.

import fs from 'node:fs/promises';
import type { Repository } from '../core/repo.js';
import type { Remote } from '../remote/types.js';
import { listObjects } from '../sync/listing.js';
import { PackIndex } from '../sync/packs.js';
import { chunksOfManifests, namedManifests } from '../sync/reach.js';
import { openRemoteFor } from './remote.js';

export interface CleanOptions {
  repo: Repository;
  remote?: string | Remote;
  dryRun?: boolean;
}

export interface CleanResult {
  chunksRemoved: number;
  bytesFreed: number;
  /** Local chunks kept because the remote does not (safely) hold them. */
  chunksKept: number;
  dryRun: boolean;
  /** Files the placed index still names after dropping those that changed (§7b); they are never removed. */
  placedFiles?: number;
  /** Refs and manifests on the remote that could not be read (their chunks were kept here). */
  warnings: string[];
}

export async function clean(opts: CleanOptions): Promise<CleanResult> {
  const { repo } = opts;
  const { remote, owned } = await openRemoteFor(repo, opts.remote);
  try {
    const warnings: string[] = [];
    // A bad ref or manifest only means fewer chunks count as held there: fewer are dropped here.
    const named = await namedManifests(remote);
    for (const b of named.bad) warnings.push(`skipped ${b.why}`);
    const read = await chunksOfManifests(repo, remote, named.manifests);
    for (const [h, why] of read.bad) warnings.push(`skipped manifest ${h}: ${why}`);
    const held = new Map<string, number>();
    for await (const o of listObjects(remote, 'chunk')) if (read.chunks.has(o.name)) held.set(o.name, o.size);
    for (const e of (await PackIndex.load(remote)).entries()) if (read.chunks.has(e.hash) && !held.has(e.hash)) held.set(e.hash, e.length);
    const result: CleanResult = { chunksRemoved: 0, bytesFreed: 0, chunksKept: 0, dryRun: !!opts.dryRun, warnings };
    await repo.withLock(async () => {
      const dropped: string[] = [];
      for await (const h of repo.store.list('chunk')) {
        const size = held.get(h);
        const local = size === undefined ? null : await fs.stat(repo.store.pathOf('chunk', h)).catch(() => null);
        if (!local || local.size !== size) {
          result.chunksKept++;
          continue;
        }
        if (!opts.dryRun) dropped.push(h);
        result.chunksRemoved++;
        result.bytesFreed += local.size;
      }
      // Recorded before removing, so verify never sees an unexplained gap even if we are killed midway.
      await repo.recordCleaned(dropped);
      for (const h of dropped) await repo.store.remove('chunk', h);
      // Pulled files hold their chunks in place (§7b): only the index's stale entries go, never a file.
      if (!opts.dryRun) result.placedFiles = await repo.placed.prune();
    });
    return result;
  } finally {
    if (owned) await remote.close();
  }
}
