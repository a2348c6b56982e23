// pull: bring a checkpoint from a remote into the local store, name it, and materialize it where its
// pointer file (or --to) says.

import path from 'node:path';
import { NotFoundError, UsageError } from '../errors.js';
import type { Repository } from '../core/repo.js';
import type { Remote } from '../remote/types.js';
import { fetchSnapshot } from '../sync/pull.js';
import { fetchAndCheckout } from '../sync/fetch-checkout.js';
import { readRemoteRef } from '../sync/refs.js';
import type { TransferProgress } from '../sync/transfer.js';
import { openRemoteFor } from './remote.js';
import { resolveTarget } from './target.js';

export interface PullOptions {
  repo: Repository;
  /** A remote name, a pointer file, or an added path. */
  target: string;
  remote?: string | Remote;
  /** Where to write the files; defaults to the pointer's data path, or the name under the repository root. */
  to?: string;
  /** Only fetch into the store; write no files. */
  noCheckout?: boolean;
  /**
   * False: write the files only, without a second copy of their chunks in the local store (half the
   * writes and the disk space). A later pull still moves only what changed: the chunks it lacks are read
   * from the files already at the destination when they still hold them.
   */
  keepChunks?: boolean;
  concurrency?: number;
  onProgress?: (p: TransferProgress) => void;
  onCheckoutProgress?: (done: number, total: number) => void;
  signal?: AbortSignal;
}

export interface PullResult {
  name?: string;
  manifest: string;
  path?: string;
  bytesTotal: number;
  bytesDownloaded: number;
  /** Bytes read from the files already at the destination instead of downloaded. */
  bytesSeeded: number;
  chunksTotal: number;
  chunksDownloaded: number;
}

export async function pull(opts: PullOptions): Promise<PullResult> {
  const { repo } = opts;
  if (opts.noCheckout && opts.keepChunks === false) throw new UsageError('--no-store needs a checkout: without one there would be nothing to keep');
  const t = await resolveTarget(repo, opts.target, { allowRemoteName: true });
  const { remote, owned } = await openRemoteFor(repo, opts.remote);
  try {
    let manifest = t.pointer?.manifest;
    if (!manifest) {
      const ref = await readRemoteRef(remote, t.name!);
      if (!ref) throw new NotFoundError(`no checkpoint named ${t.name} on ${remote.displayUrl}`, { name: t.name });
      manifest = ref.doc.target;
    }
    await repo.store.removeStaleTemps(); // a killed pull leaves nothing behind once it is run again
    // With a checkout, one pass: each chunk is written into the store and the target from the same buffer.
    const dest = opts.noCheckout ? undefined : path.resolve(opts.to ?? t.dataPath ?? path.join(repo.root, ...t.name!.split('/')));
    const fetched = dest ? await fetchAndCheckout(repo, remote, manifest, dest, opts) : await fetchSnapshot(repo, remote, manifest, opts);
    if (t.name) await repo.withLock(() => repo.setRef(t.name!, manifest!));
    return { name: t.name, manifest, path: dest, bytesTotal: fetched.bytesTotal, bytesDownloaded: fetched.bytesDownloaded, bytesSeeded: fetched.bytesSeeded ?? 0, chunksTotal: fetched.chunksTotal, chunksDownloaded: fetched.chunksDownloaded };
  } finally {
    if (owned) await remote.close();
  }
}
