// resolve: the local path of a checkpoint, for training code. An absolute path that exists is used as is;
// a pointer file or a name is materialized in the shared cache (manifest-spec.md, "Checkpoint cache"),
// downloading only what the cache's object store lacks, once however many processes ask at the same time.

import { pathExists } from 'fs-extra';
import fs from 'node:fs/promises';
import path from 'node:path';
import { ConfigError, NotFoundError, TransientError, UsageError } from '../errors.js';
import { CheckpointCache, cacheDirFor, sealReadOnly } from '../core/cache.js';
import { dataPathOf, POINTER_MAX_BYTES, POINTER_SUFFIX } from '../core/pointer.js';
import { Repository } from '../core/repo.js';
import { TMP_MARK, tempPathFor } from '../core/store.js';
import { assertRefName, isRefName } from '../names.js';
import type { Remote } from '../remote/types.js';
import { fetchAndCheckout } from '../sync/fetch-checkout.js';
import { loadManifest } from '../sync/manifests.js';
import type { FetchResult } from '../sync/pull.js';
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
  } else if (isRefName(id) || nameAboveCandidates(id).length) {
    leaf = id; // a name, or NAME/PATH (a file of a directory checkpoint; its path need not be a name)
  } else {
    throw new UsageError(`${id} is not an existing absolute path, a pointer file, or a checkpoint name`);
  }
  const notCached = (why: string) =>
    new NotFoundError(`checkpoint ${id} is not in the cache ${cache.dir} and ${why}`, { id, cacheDir: cache.dir });

  if (offline) {
    manifest ??= isRefName(leaf) ? (await cache.repo.readRef(leaf))?.target : undefined;
    if (!manifest || !(await pathExists(cache.snapshotPath(manifest, leaf)))) {
      const file = pointerFile ? null : await cachedFileOf(cache, leaf);
      if (file) return { ...base, ...file };
      throw notCached('offline mode (CKPTSYNC_OFFLINE) forbids downloading it');
    }
    return { ...base, path: cache.snapshotPath(manifest, leaf), manifest, name: leaf };
  }

  // A resolve killed while it downloaded left temps in the cache's store (a manifest is written there as it
  // comes): those of dead writers go, as a pull's do; another rank's, still writing, stay.
  await cache.repo.store.removeStaleTemps();
  let opened: { remote: Remote; owned: boolean } | null = null;
  try {
    try {
      opened = await openRemoteFor(repo, opts.remote);
      if (!manifest) {
        const ref = isRefName(leaf) ? await readRemoteRef(opened.remote, leaf) : null;
        if (!ref) {
          // NAME/PATH: one file of a directory checkpoint (manifest-spec.md §10d).
          const remote = opened.remote;
          const inside = await nameAbove(leaf, async (n) => (await readRemoteRef(remote, n))?.doc.target ?? null);
          if (!inside) throw new NotFoundError(`no checkpoint named ${id} on ${remote.displayUrl}`, { id });
          return await resolveFileIn(cache, remote, inside, base, opts);
        }
        manifest = ref.doc.target;
      }
    } catch (e) {
      // No remote configured, or it is unreachable: what the cache last resolved this name to still serves.
      if (!(e instanceof ConfigError || e instanceof TransientError)) throw e;
      manifest ??= isRefName(leaf) ? (await cache.repo.readRef(leaf))?.target : undefined;
      const file = !manifest && !pointerFile ? await cachedFileOf(cache, leaf) : null;
      if (file) return { ...base, ...file, warnings: [`using the cached ${id}: ${(e as Error).message}`] };
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
        // Written beside the destination, then one rename: readers see all of it or nothing. The chunks
        // stay only in the files (§7b): the cache's index says where, for the next version to copy from.
        await fs.mkdir(path.dirname(dest), { recursive: true });
        const tmp = tempPathFor(dest);
        let fetched: FetchResult;
        try {
          fetched = await fetchAndCheckout(cache.repo, opened!.remote, manifest!, tmp, { keepChunks: false, within: path.dirname(dest), concurrency: opts.concurrency, onProgress: opts.onProgress });
          await sealReadOnly(tmp);
          await fs.rename(tmp, dest);
        } catch (e) {
          await fs.rm(tmp, { recursive: true, force: true });
          throw e;
        }
        await cache.repo.withLock(() => cache.repo.placed.record(dest, manifest!, fetched.manifest));
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

interface NamedFile {
  name: string;
  /** The file's path inside the checkpoint, '/'-separated. */
  rel: string;
  manifest: string;
}

/** The ways to read id as NAME/PATH, longest name first: NAME a valid name, PATH plain segments (no '.', '..', ''). */
function nameAboveCandidates(id: string): { name: string; rel: string }[] {
  const segs = id.split('/');
  const out: { name: string; rel: string }[] = [];
  for (let k = segs.length - 1; k >= 1; k--) {
    const name = segs.slice(0, k).join('/');
    const rest = segs.slice(k);
    if (isRefName(name) && rest.every((s) => s !== '' && s !== '.' && s !== '..')) out.push({ name, rel: rest.join('/') });
  }
  return out;
}

/** For NAME/PATH: the longest leading part of id that `lookup` knows as a name, and the path after it. */
async function nameAbove(id: string, lookup: (name: string) => Promise<string | null>): Promise<NamedFile | null> {
  for (const c of nameAboveCandidates(id)) {
    const manifest = await lookup(c.name);
    if (manifest) return { ...c, manifest };
  }
  return null;
}

/** Where the cache serves one file of a version: inside its whole snapshot, else under files/ (§10d). */
function filePaths(cache: CheckpointCache, f: NamedFile): { inSnapshot: string; alone: string; aloneRoot: string } {
  const aloneRoot = path.join(cache.dir, 'files', f.manifest, ...f.name.split('/'));
  return { inSnapshot: path.join(cache.snapshotPath(f.manifest, f.name), ...f.rel.split('/')), alone: path.join(aloneRoot, ...f.rel.split('/')), aloneRoot };
}

/** NAME/PATH from the cache alone (offline, or no remote reachable), or null. */
async function cachedFileOf(cache: CheckpointCache, id: string): Promise<Pick<ResolveResult, 'path' | 'manifest' | 'name'> | null> {
  const f = await nameAbove(id, async (n) => (await cache.repo.readRef(n))?.target ?? null);
  if (!f) return null;
  const where = filePaths(cache, f);
  for (const p of [where.inSnapshot, where.alone]) if (await pathExists(p)) return { path: p, manifest: f.manifest, name: f.name };
  return null;
}

/** One file of a directory checkpoint: from its cached snapshot, or fetched alone (only its chunks). */
async function resolveFileIn(cache: CheckpointCache, remote: Remote, f: NamedFile, base: ResolveResult, opts: ResolveOptions): Promise<ResolveResult> {
  const where = filePaths(cache, f);
  const result: ResolveResult = { ...base, path: where.alone, manifest: f.manifest, name: f.name };
  if (await pathExists(cache.snapshotPath(f.manifest, f.name))) {
    if (!(await pathExists(where.inSnapshot))) throw new NotFoundError(`${f.rel} is not a file of the checkpoint ${f.name}`, { name: f.name, path: f.rel });
    result.path = where.inSnapshot;
  } else if (!(await pathExists(where.alone))) {
    await cache.withSnapshotLock(f.manifest, async () => {
      if (await pathExists(where.alone)) return; // another process fetched it while we waited
      const m = await loadManifest(cache.repo, f.manifest, remote);
      if (m.type !== 'dir') throw new NotFoundError(`${f.name} is a single-file checkpoint: it has no file ${f.rel}`, { name: f.name, path: f.rel });
      const file = m.files.find((x) => x.path === f.rel);
      if (!file) throw new NotFoundError(`${f.rel} is not a file of the checkpoint ${f.name} (it has ${m.files.length})`, { name: f.name, path: f.rel });
      // Written as a pull writes files: a temp file renamed into place once whole and verified.
      const fetched = await fetchAndCheckout(cache.repo, remote, f.manifest, where.aloneRoot, { manifest: { ...m, files: [file] }, keepChunks: false, concurrency: opts.concurrency, onProgress: opts.onProgress });
      await sealReadOnly(where.alone);
      await cache.repo.withLock(() => cache.repo.placed.record(where.aloneRoot, f.manifest, m, new Set([file.path])));
      result.downloaded = true;
      result.bytesDownloaded = fetched.bytesDownloaded;
      result.chunksDownloaded = fetched.chunksDownloaded;
    });
  }
  if ((await cache.repo.readRef(f.name))?.target !== f.manifest) await cache.repo.withLock(() => cache.repo.setRef(f.name, f.manifest));
  return result;
}

/** Temp files of a process killed while materializing (we hold the lock, so nobody else is writing). */
async function removeLeftovers(dir: string): Promise<void> {
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    if (name.includes(TMP_MARK)) await fs.rm(path.join(dir, name), { recursive: true, force: true });
  }
}
