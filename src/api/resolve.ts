// resolve: the local path of a checkpoint, for training code. An absolute path that exists is used as is;
// a pointer file or a name is materialized in the shared cache (manifest-spec.md, "Checkpoint cache"),
// downloading only what the cache's object store lacks, once however many processes ask at the same time.

import { pathExists } from 'fs-extra';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, NotFoundError, TransientError, UsageError } from '../errors.js';
import { CheckpointCache, cacheDirFor } from '../core/cache.js';
import { materialize } from '../core/materialize.js';
import { decodeManifest } from '../core/manifest.js';
import { dataPathOf, POINTER_MAX_BYTES, POINTER_SUFFIX } from '../core/pointer.js';
import { Repository } from '../core/repo.js';
import { TMP_MARK, tempPathFor } from '../core/store.js';
import { assertRefName, isRefName } from '../names.js';
import type { Remote } from '../remote/types.js';
import { fetchSnapshot } from '../sync/pull.js';
import { readRemoteRef } from '../sync/refs.js';
import type { TransferProgress } from '../sync/transfer.js';
import { openRemoteFor } from './remote.js';
import { readPointerFile } from './target.js';

export interface ResolveOptions {
  /** Used for named remotes and the `cacheDir` setting; found from cwd when omitted (none is fine). */
  repo?: Repository | null;
  remote?: string | Remote;
  cacheDir?: string;
  /** Never touch the network (default: CKPTSYNC_OFFLINE=1). */
  offline?: boolean;
  concurrency?: number;
  /** Progress of the download, when this call downloads. */
  onProgress?: (p: TransferProgress) => void;
}

export interface ResolveResult {
  path: string;
  manifest?: string;
  name?: string;
  cacheDir?: string;
  /** True when this call downloaded and materialized the snapshot (false: it was cached, or another process did it). */
  downloaded: boolean;
  bytesDownloaded: number;
  chunksDownloaded: number;
  warnings: string[];
}

/** The local path of a checkpoint (see resolveCheckpointInfo). */
export async function resolveCheckpoint(id: string, opts: ResolveOptions = {}): Promise<string> {
  return (await resolveCheckpointInfo(id, opts)).path;
}

export async function resolveCheckpointInfo(id: string, opts: ResolveOptions = {}): Promise<ResolveResult> {
  const base: ResolveResult = { path: id, downloaded: false, bytesDownloaded: 0, chunksDownloaded: 0, warnings: [] };
  // A name or a big file may end in .ckpt too (Lightning's checkpoints do): a pointer is a small file.
  const isPointer = id.endsWith(POINTER_SUFFIX) && ((await fs.stat(id).catch(() => null))?.size ?? Infinity) <= POINTER_MAX_BYTES;
  if (path.isAbsolute(id) && !isPointer && (await pathExists(id))) return base;

  const repo = opts.repo !== undefined ? opts.repo : await Repository.find().catch(() => null);
  const offline = opts.offline ?? process.env.CKPTSYNC_OFFLINE === '1';
  const cache = await CheckpointCache.open(await cacheDirFor({ cacheDir: opts.cacheDir, repo }));
  base.cacheDir = cache.dir;

  let manifest: string | undefined;
  let leaf: string;
  const pointerFile = isPointer ? id : (await pathExists(id + POINTER_SUFFIX)) ? id + POINTER_SUFFIX : null;
  if (pointerFile) {
    const p = await readPointerFile(path.resolve(pointerFile));
    manifest = p.manifest;
    leaf = p.name ?? path.basename(dataPathOf(pointerFile));
    assertRefName(leaf); // the cache names it by this, before anything is downloaded
  } else if (isRefName(id)) {
    leaf = id;
  } else {
    throw new UsageError(`${id} is not an existing absolute path, a pointer file, or a checkpoint name`);
  }
  const notCached = (why: string) =>
    new NotFoundError(`checkpoint ${id} is not in the cache ${cache.dir} and ${why}`, { id, cacheDir: cache.dir });

  if (offline) {
    manifest ??= (await cache.repo.readRef(leaf))?.target;
    if (!manifest || !(await pathExists(cache.snapshotPath(manifest, leaf)))) throw notCached('offline mode (CKPTSYNC_OFFLINE) forbids downloading it');
    return { ...base, path: cache.snapshotPath(manifest, leaf), manifest, name: leaf };
  }

  let opened: { remote: Remote; owned: boolean } | null = null;
  try {
    try {
      opened = await openRemoteFor(repo, opts.remote);
      if (!manifest) {
        const ref = await readRemoteRef(opened.remote, leaf);
        if (!ref) throw new NotFoundError(`no checkpoint named ${id} on ${opened.remote.displayUrl}`, { id });
        manifest = ref.doc.target;
      }
    } catch (e) {
      // No remote configured, or it is unreachable: what the cache last resolved this name to still serves.
      if (!(e instanceof ConfigError || e instanceof TransientError)) throw e;
      manifest ??= (await cache.repo.readRef(leaf))?.target;
      if (!manifest || !(await pathExists(cache.snapshotPath(manifest, leaf)))) throw notCached(`no remote could be reached: ${(e as Error).message}`);
      base.warnings.push(`using the cached ${id}: ${(e as Error).message}`);
      return { ...base, path: cache.snapshotPath(manifest, leaf), manifest, name: leaf };
    }

    const dest = cache.snapshotPath(manifest, leaf);
    const result: ResolveResult = { ...base, path: dest, manifest, name: leaf };
    if (!(await pathExists(dest))) {
      await cache.withSnapshotLock(manifest, async () => {
        if (await pathExists(dest)) return; // another process finished it while we waited
        await removeLeftovers(path.dirname(dest));
        const fetched = await fetchSnapshot(cache.repo, opened!.remote, manifest!, { concurrency: opts.concurrency, onProgress: opts.onProgress });
        const m = decodeManifest(await cache.repo.store.get('manifest', manifest!));
        // Materialize beside the destination, then one rename: readers see all of it or nothing.
        await fs.mkdir(path.dirname(dest), { recursive: true });
        const tmp = tempPathFor(dest);
        try {
          await materialize(cache.repo.store, m, tmp);
          await fs.rename(tmp, dest);
        } catch (e) {
          await fs.rm(tmp, { recursive: true, force: true });
          throw e;
        }
        result.downloaded = true;
        result.bytesDownloaded = fetched.bytesDownloaded;
        result.chunksDownloaded = fetched.chunksDownloaded;
      });
    }
    if ((await cache.repo.readRef(leaf))?.target !== manifest) await cache.repo.withLock(() => cache.repo.setRef(leaf, manifest!));
    return result;
  } finally {
    if (opened?.owned) await opened.remote.close();
  }
}

/** Temp files of a process killed while materializing (we hold the lock, so nobody else is writing). */
async function removeLeftovers(dir: string): Promise<void> {
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    if (name.includes(TMP_MARK)) await fs.rm(path.join(dir, name), { recursive: true, force: true });
  }
}
