// pull: bring a checkpoint from a remote into the local store, name it, and materialize it where its
// pointer file (or --to) says.

import { NotFoundError, UsageError } from '../errors.js';
import type { Repository } from '../core/repo.js';
import { assertReplaceable, recordWorktreeStat } from '../core/worktree.js';
import type { Remote } from '../remote/types.js';
import { fetchSnapshot } from '../sync/pull.js';
import { fetchAndCheckout } from '../sync/fetch-checkout.js';
import { writeTensorSlice } from '../sync/tensor-slice.js';
import { selectFiles } from '../core/select.js';
import { loadManifest } from '../sync/manifests.js';
import { readRemoteRef } from '../sync/refs.js';
import type { TransferProgress } from '../sync/transfer.js';
import { openRemoteFor } from './remote.js';
import { checkPointerSize, destinationOf, resolveTarget } from './target.js';

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
   * Where the pulled chunks are kept locally (manifest-spec.md §7b):
   * - 'files' (the default): only in the files written, which the placed index records, so later pulls,
   *   checkouts and pushes read unchanged chunks from them (verified) for as long as they are unchanged;
   * - 'copy': also a copy of each chunk in the store, which outlives any change to the files;
   * - 'none': only in the files, and no index (a later pull still reads what the files at its own
   *   destination hold).
   */
  store?: PullStore;
  /** Replace files at the destination even when they were changed locally. */
  force?: boolean;
  /**
   * Only the files of a directory checkpoint that match one of these globs (core/glob.ts) are fetched and
   * written; the name is not set locally and the stat cache not told, since the folder holds part of it.
   */
  include?: string[];
  /**
   * Writes to `to` a safetensors file of only the tensors whose names match one of these globs, from the
   * chunks that cover them (sync/tensor-slice.ts). The checkpoint must be one safetensors file, or
   * `include` must choose one.
   */
  tensors?: string[];
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
  /** With include or tensors: how much of the checkpoint was written. */
  partial?: { files: number; filesTotal: number; tensors?: number; tensorsTotal?: number };
}

export type PullStore = 'files' | 'copy' | 'none';

export async function pull(opts: PullOptions): Promise<PullResult> {
  const { repo } = opts;
  const store = opts.store ?? 'files';
  if (opts.noCheckout && store === 'none') throw new UsageError('--no-store needs a checkout: without one there would be nothing to keep');
  const partial = !!(opts.include?.length || opts.tensors?.length);
  if (partial && opts.noCheckout) throw new UsageError('--include and --tensors choose what to write; --no-checkout writes nothing');
  if (opts.tensors?.length && opts.to === undefined) throw new UsageError("--tensors writes a new file, not the checkpoint's own: name it with --to FILE");
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
    // Everything about the destination is checked before the first chunk moves.
    const dest = opts.noCheckout ? undefined : await destinationOf(repo, t, opts.to);
    const whole = dest ? await loadManifest(repo, manifest, remote) : undefined;
    if (whole) checkPointerSize(t, whole);
    const what = t.name ?? t.pointerPath ?? manifest.slice(0, 16);
    const m = whole && opts.include?.length ? selectFiles(whole, opts.include, what) : whole;
    if (dest && m && opts.tensors?.length) {
      if (m.files.length !== 1) throw new UsageError(`--tensors slices one safetensors file; ${what} holds ${m.files.length} files: choose one with --include`);
      const s = await writeTensorSlice(repo, remote, m.files.at(0)!, opts.tensors, dest.path, { keepChunks: store !== 'none' });
      const partialOf = { files: 1, filesTotal: whole!.files.length, tensors: s.tensors, tensorsTotal: s.tensorsTotal };
      return { name: t.name, manifest, path: dest.path, bytesTotal: s.bytesRead, bytesDownloaded: s.bytesDownloaded, bytesSeeded: 0, chunksTotal: s.chunksRead, chunksDownloaded: s.chunksDownloaded, partial: partialOf };
    }
    if (dest && m && !opts.force) await assertReplaceable(repo, dest.path, m);
    const since = Date.now();
    // With a checkout, one pass: each chunk is written into the store and the target from the same buffer.
    const fetched = dest ? await fetchAndCheckout(repo, remote, manifest, dest.path, { ...opts, keepChunks: store === 'copy', within: dest.within, manifest: m }) : await fetchSnapshot(repo, remote, manifest, opts);
    await repo.withLock(async () => {
      if (!partial && t.name) await repo.setRef(t.name, manifest!);
      if (!partial && dest) await recordWorktreeStat(repo, dest.path, manifest!, fetched.manifest, since);
      // The files now hold the chunks (only they, by default): said once they are in place (§7b).
      if (dest && store === 'files') await repo.placed.record(dest.path, manifest!, whole!, partial ? new Set(m!.files.map((f) => f.path)) : undefined);
      else if (dest) await repo.placed.drop(dest.path);
    });
    const partialOf = partial ? { files: m!.files.length, filesTotal: whole!.files.length } : undefined;
    return { name: t.name, manifest, path: dest?.path, bytesTotal: fetched.bytesTotal, bytesDownloaded: fetched.bytesDownloaded, bytesSeeded: fetched.bytesSeeded ?? 0, chunksTotal: fetched.chunksTotal, chunksDownloaded: fetched.chunksDownloaded, partial: partialOf };
  } finally {
    if (owned) await remote.close();
  }
}
