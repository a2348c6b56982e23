// upload: push a file or directory under a name in one call, without `add` first — what training code
// does with each checkpoint it writes. The snapshot is stored in the repository that holds the path,
// else in the shared cache's store (as `watch` does), so the next version deduplicates against it.

import fs from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { CheckpointCache, cacheDirFor } from '../core/cache.js';
import { ingestPath, type IngestProgress } from '../core/ingest.js';
import { parsePointer, POINTER_MAX_BYTES, POINTER_SUFFIX } from '../core/pointer.js';
import { Repository } from '../core/repo.js';
import { previousVersion } from '../core/snapshot.js';
import { assertRefName } from '../names.js';
import type { Remote } from '../remote/types.js';
import { pushSnapshot, type PushResult } from '../sync/push.js';
import type { TransferProgress } from '../sync/transfer.js';
import { openRemoteFor } from './remote.js';

export interface UploadOptions {
  /** The file or directory to upload. */
  path: string;
  /** The remote name to push it as (default: the file's base name). */
  name?: string;
  /** Where the snapshot is stored and named remotes are looked up: found from path, else the shared cache. */
  repo?: Repository | null;
  remote?: string | Remote;
  /** Move the name even if another writer moved it meanwhile (default false: RefConflictError). */
  force?: boolean;
  /** The shared cache whose store holds the snapshot outside a repository (default: as resolve's). */
  cacheDir?: string;
  concurrency?: number;
  /** As push's: send changed chunks as deltas where smaller (default true). */
  deltas?: boolean;
  /** As push's: send runs of small chunks in packs (default true; false keeps the remote readable by layout 2). */
  packs?: boolean;
  onHashProgress?: (p: IngestProgress) => void;
  onProgress?: (p: TransferProgress) => void;
  signal?: AbortSignal;
}

export async function upload(opts: UploadOptions): Promise<PushResult & { bytes: number }> {
  const abs = path.resolve(opts.path);
  const st = await fs.stat(abs).catch(() => null);
  if (!st || !(st.isFile() || st.isDirectory())) throw new UsageError(`${opts.path} is not a file or directory`);
  // Lightning names its checkpoints *.ckpt too: only a small file that parses as a pointer is one.
  if (abs.endsWith(POINTER_SUFFIX) && st.isFile() && st.size <= POINTER_MAX_BYTES && isPointer(await fs.readFile(abs))) {
    throw new UsageError(`${opts.path} is a pointer file; upload the checkpoint it stands for`);
  }
  const name = opts.name ?? path.basename(abs);
  assertRefName(name);
  const found = opts.repo !== undefined ? opts.repo : await Repository.find(path.dirname(abs)).catch(() => null);
  const store = found ?? (await CheckpointCache.open(await cacheDirFor({ cacheDir: opts.cacheDir }))).repo;
  const { remote, owned } = await openRemoteFor(found, opts.remote, { mayCreate: true }); // a push: the first write creates the remote
  try {
    const snap = await ingestPath(store.store, abs, { previous: await previousVersion(store, name, abs), onProgress: opts.onHashProgress });
    await store.withLock(() => store.setRef(name, snap.manifestHash));
    const pushed = await pushSnapshot(store, remote, name, snap.manifestHash, { force: opts.force, concurrency: opts.concurrency, deltas: opts.deltas, packs: opts.packs, onProgress: opts.onProgress, signal: opts.signal });
    return { ...pushed, bytes: snap.bytes };
  } finally {
    if (owned) await remote.close();
  }
}

function isPointer(data: Buffer): boolean {
  try {
    parsePointer(data);
    return true;
  } catch {
    return false;
  }
}
