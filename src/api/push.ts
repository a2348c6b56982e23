import { RefConflictError, UsageError } from '../errors.js';
import type { ChunkerParams } from '../core/chunker.js';
import { ingestPath } from '../core/ingest.js';
import { fileChunkReader } from '../sync/file-chunks.js';
import type { Repository } from '../core/repo.js';
import { checkAddable, previousVersion, recordSnapshot } from '../core/snapshot.js';
import type { Remote } from '../remote/types.js';
import { pushSnapshot, type PushResult } from '../sync/push.js';
import type { TransferProgress } from '../sync/transfer.js';
import { openRemoteFor } from './remote.js';
import { resolveTarget } from './target.js';

export interface PushOptions {
  repo: Repository;
  /** A name, a pointer file, or an added path. */
  target: string;
  /** A configured remote's name, a URL, or an open Remote; defaults to the default remote. */
  remote?: string | Remote;
  /** The remote name to push as (defaults to the local name). */
  as?: string;
  force?: boolean;
  concurrency?: number;
  onProgress?: (p: TransferProgress) => void;
  signal?: AbortSignal;
  /**
   * target is a file or directory: chunk it and upload the chunks the remote lacks straight from it, for
   * machines short on disk. Only the manifest is stored locally; PATH.ckpt and .gitignore are written as by
   * add (after the name moved), but no local name is set, since the chunks are not here (see manifest-spec.md §7).
   */
  fromFile?: boolean;
  /** With fromFile: how to cut it (as add's chunker option). */
  chunker?: ChunkerParams | 'auto';
  /** With fromFile: write PATH.ckpt and the .gitignore entry (default true). */
  pointer?: boolean;
  /** Send a changed chunk as a delta against the remote's previous version of it when smaller (default true; spec §8a). */
  deltas?: boolean;
  /** Send runs of small new chunks in packs (default true; spec §8c). False keeps the remote readable by layout-2 readers. */
  packs?: boolean;
}

export async function push(opts: PushOptions): Promise<PushResult> {
  if (opts.fromFile) return pushFromFile(opts);
  const t = await resolveTarget(opts.repo, opts.target);
  const name = opts.as ?? t.name;
  if (!name) throw new UsageError(`${opts.target} has no name; pass one with --as`);
  const { remote, owned } = await openRemoteFor(opts.repo, opts.remote, { mayCreate: true });
  try {
    return await pushSnapshot(opts.repo, remote, name, t.manifest!, opts);
  } finally {
    if (owned) await remote.close();
  }
}

async function pushFromFile(opts: PushOptions): Promise<PushResult> {
  const { repo } = opts;
  const { abs, rel, name } = await checkAddable(repo, opts.target, opts.as);
  const { remote, owned } = await openRemoteFor(repo, opts.remote, { mayCreate: true });
  try {
    const previous = await previousVersion(repo, name, abs);
    const since = Date.now();
    const snapshot = await ingestPath(repo.store, abs, { chunker: opts.chunker, previous, storeChunks: false });
    const record = () => recordSnapshot(repo, { abs, rel, name, snapshot, setRef: false, pointer: opts.pointer !== false, since });
    try {
      const r = await pushSnapshot(repo, remote, name, snapshot.manifestHash, { ...opts, readChunk: fileChunkReader(abs, snapshot.manifest) });
      await record();
      return r;
    } catch (e) {
      // A conflict still put the manifest and its chunks on the remote (in the name's history): point at it.
      if (e instanceof RefConflictError) await record();
      throw e;
    }
  } finally {
    if (owned) await remote.close();
  }
}
