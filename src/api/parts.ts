// Sharded checkpoints from many machines (manifest-spec.md §8b): `push DIR --as NAME --part K/M` on each
// machine, and `commit NAME --parts M` for a coordinator that finishes explicitly. A part is chunked
// straight from its files (as push --from-file): only its manifest is stored locally, and no local name
// or pointer file is written, since no machine holds the whole version.

import fs from 'node:fs/promises';
import path from 'node:path';
import { UsageError } from '../errors.js';
import { CheckpointCache, cacheDirFor } from '../core/cache.js';
import { ingestPath, type IngestProgress } from '../core/ingest.js';
import { Repository } from '../core/repo.js';
import type { Remote } from '../remote/types.js';
import { fileChunkReader } from '../sync/file-chunks.js';
import { checkPartSet, defaultAttempt } from '../sync/part-records.js';
import { commitPartSet, pushPartSnapshot, type PartPushResult } from '../sync/parts.js';
import type { TransferProgress } from '../sync/transfer.js';
import { openRemoteFor } from './remote.js';

export interface PushPartOptions {
  /** The directory (or file) this machine holds of the checkpoint: its paths are the version's paths. */
  path: string;
  /** The version's name. */
  name: string;
  /** This part's number, from 0 (a rank). */
  part: number;
  /** How many parts the version has (the world size). */
  parts: number;
  /** The id every part of this save shares (default: CKPTSYNC_ATTEMPT, the launcher's run id, else "0"; §8b). */
  attempt?: string;
  /** Where the part manifest is kept and remotes are looked up: found from path, else the shared cache. */
  repo?: Repository | null;
  remote?: string | Remote;
  /** Move the name even if another writer moved it meanwhile. */
  force?: boolean;
  /** The shared cache whose store is used outside a repository. */
  cacheDir?: string;
  concurrency?: number;
  deltas?: boolean;
  /** As push's (spec §8c). */
  packs?: boolean;
  onHashProgress?: (p: IngestProgress) => void;
  onProgress?: (p: TransferProgress) => void;
  signal?: AbortSignal;
}

export async function pushPart(opts: PushPartOptions): Promise<PartPushResult> {
  const set = { name: opts.name, attempt: defaultAttempt(opts.attempt), parts: opts.parts };
  checkPartSet(set, opts.part); // before anything is read or written
  const abs = path.resolve(opts.path);
  const st = await fs.stat(abs).catch(() => null);
  if (!st || !(st.isFile() || st.isDirectory())) throw new UsageError(`${opts.path} is not a file or directory`);
  const found = opts.repo !== undefined ? opts.repo : await Repository.find(path.dirname(abs)).catch(() => null);
  const store = found ?? (await CheckpointCache.open(await cacheDirFor({ cacheDir: opts.cacheDir }))).repo;
  const { remote, owned } = await openRemoteFor(found, opts.remote, { mayCreate: true });
  try {
    const snap = await ingestPath(store.store, abs, { storeChunks: false, onProgress: opts.onHashProgress });
    return await pushPartSnapshot(store, remote, set, opts.part, snap.manifestHash, {
      force: opts.force,
      concurrency: opts.concurrency,
      deltas: opts.deltas,
      packs: opts.packs,
      onProgress: opts.onProgress,
      signal: opts.signal,
      readChunk: fileChunkReader(abs, snap.manifest),
    });
  } finally {
    if (owned) await remote.close();
  }
}

export interface CommitPartsOptions {
  name: string;
  parts: number;
  attempt?: string;
  repo?: Repository | null;
  remote?: string | Remote;
  force?: boolean;
  cacheDir?: string;
}

export interface CommitPartsResult {
  name: string;
  attempt: string;
  parts: number;
  /** The merged manifest the name points at. */
  manifest: string;
  /** False when the name already pointed at it (a writer completed the version first). */
  changed: boolean;
  warnings: string[];
}

/** Completes a version whose parts were all pushed; PartsIncompleteError (exit 11) names the missing ones. */
export async function commitParts(opts: CommitPartsOptions): Promise<CommitPartsResult> {
  const set = { name: opts.name, attempt: defaultAttempt(opts.attempt), parts: opts.parts };
  checkPartSet(set);
  const store = opts.repo ?? (await CheckpointCache.open(await cacheDirFor({ cacheDir: opts.cacheDir }))).repo;
  const { remote, owned } = await openRemoteFor(opts.repo ?? null, opts.remote);
  try {
    const done = await commitPartSet(store, remote, set, { force: opts.force });
    return { name: set.name, attempt: set.attempt, parts: set.parts, manifest: done.manifest, changed: done.changed, warnings: done.warnings };
  } finally {
    if (owned) await remote.close();
  }
}
