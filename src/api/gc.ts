// gc: delete remote manifests no name reaches, then chunk deltas and chunks no remaining manifest names
// (manifest-spec.md, "Garbage collection and locks"; a delta's base is kept whole while the delta lives). Runs under the exclusive gc lock, only while no push holds a lease,
// and keeps anything younger than the grace period, so a push on another machine never loses an object.

import { IntegrityError, UsageError } from '../errors.js';
import { hashBytes } from '../core/hash.js';
import { decodeManifest, MANIFEST_LIMITS, manifestChunks } from '../core/manifest.js';
import type { Repository } from '../core/repo.js';
import { handleOf, keyOf, parseDeltaName, prefixOf } from '../remote/layout.js';
import { readAll } from '../remote/source.js';
import type { Remote } from '../remote/types.js';
import { holdGcLease, type LeaseOptions } from '../sync/locks.js';
import { listRemoteRefs } from '../sync/refs.js';
import { isBadObject } from '../sync/manifests.js';
import { sweepParts } from '../sync/parts.js';
import { UPLOAD_LOG_TRUST_MS } from '../sync/state.js';
import { openRemoteFor } from './remote.js';

export const DEFAULT_GRACE_MS = 2 * 60 * 60_000;

export interface GcOptions {
  repo?: Repository | null;
  remote?: string | Remote;
  /** Objects modified more recently than this are kept whether reachable or not. */
  graceMs?: number;
  /** A grace shorter than the upload-log trust window can break a killed push that resumes; tests only. */
  allowShortGrace?: boolean;
  /** Count what would be deleted, delete nothing. */
  dryRun?: boolean;
  /** Wait this long for pushes in progress (or another gc) to finish. */
  lock?: LeaseOptions;
}

export interface GcResult {
  names: number;
  manifestsReachable: number;
  manifestsDeleted: number;
  chunksDeleted: number;
  /** Chunk deltas (spec §8a) deleted because their chunk is unreachable. */
  deltasDeleted: number;
  bytesFreed: number;
  /** Unreachable objects kept because they are younger than the grace period. */
  keptYoung: number;
  dryRun: boolean;
  warnings: string[];
}

export async function gc(opts: GcOptions): Promise<GcResult> {
  const graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
  if (graceMs < UPLOAD_LOG_TRUST_MS && !opts.allowShortGrace) {
    throw new UsageError(`a grace period under ${UPLOAD_LOG_TRUST_MS / 60_000} minutes can delete chunks a killed push will resume from (manifest-spec.md, §10b)`);
  }
  const { remote, owned } = await openRemoteFor(opts.repo ?? null, opts.remote);
  try {
    const lease = await holdGcLease(remote, opts.lock);
    try {
      return await sweep(remote, graceMs, !!opts.dryRun);
    } finally {
      await lease.release().catch(() => {});
    }
  } finally {
    if (owned) await remote.close();
  }
}

async function sweep(remote: Remote, graceMs: number, dryRun: boolean): Promise<GcResult> {
  const result: GcResult = { names: 0, manifestsReachable: 0, manifestsDeleted: 0, chunksDeleted: 0, deltasDeleted: 0, bytesFreed: 0, keptYoung: 0, dryRun, warnings: [] };
  const startedAt = Date.now();
  const young = (mtimeMs?: number) => mtimeMs === undefined || startedAt - mtimeMs < graceMs;

  // Mark: every target in every name's history is reachable (history is how an old version is restored).
  const reachable = new Set<string>();
  const { refs, bad } = await listRemoteRefs(remote);
  for (const b of bad) result.warnings.push(b.name ? `ref ${b.name} cannot be read, so every manifest is kept: ${b.why}` : `ignored ${b.why}`);
  // A ref we cannot read may name any manifest: none can be proven unreachable (manifest-spec.md §10b rule 4).
  const keepAllManifests = bad.some((b) => b.name !== undefined);
  await sweepParts(remote, graceMs, dryRun, { reachable, warnings: result.warnings }); // §10b rule 8: records keep their part manifests
  for (const ref of refs) {
    result.names++;
    reachable.add(ref.doc.target);
    for (const e of ref.doc.history) reachable.add(e.target);
  }
  const liveChunks = new Set<string>();
  const liveBases = new Set<string>();
  // A kept manifest we cannot read may name any chunk: then no chunk or delta is deleted (rule 4).
  const unreadable: string[] = [];
  const keepChunksOf = async (m: string, named: boolean): Promise<void> => {
    let data: Buffer;
    try {
      data = await readAll(await remote.get(keyOf({ kind: 'manifest', name: m })), MANIFEST_LIMITS.bytes);
    } catch (e) {
      if ((e as { code?: string }).code === 'NOT_FOUND') {
        if (named) result.warnings.push(`manifest ${m} is named but missing on the remote`);
        return;
      }
      throw e;
    }
    try {
      if (hashBytes(data) !== m) throw new IntegrityError(`manifest ${m} on ${remote.displayUrl} is corrupt (its content hashes to ${hashBytes(data)})`, { hash: m });
      for (const c of manifestChunks(decodeManifest(data, `manifest ${m}`)).keys()) liveChunks.add(c);
    } catch (e) {
      if (!isBadObject(e)) throw e;
      unreadable.push(m);
      result.warnings.push(`${(e as Error).message}; it is kept, and so is every chunk (run verify --remote)`);
    }
  };
  for (const m of reachable) await keepChunksOf(m, true);
  result.manifestsReachable = reachable.size;

  // Sweep in the reverse order of writing: manifests, then chunks.
  for await (const o of remote.list(prefixOf('manifest'))) {
    const h = handleOf(o.key);
    if (h?.kind !== 'manifest' || reachable.has(h.name)) continue;
    if (young(o.mtimeMs) || keepAllManifests) {
      // A kept manifest keeps its chunks too: a later push may name it, trusting that they exist (§9).
      await keepChunksOf(h.name, false);
      if (young(o.mtimeMs)) result.keptYoung++;
      continue;
    }
    if (!dryRun) await remote.delete(o.key);
    result.manifestsDeleted++;
    result.bytesFreed += o.size;
  }
  if (unreadable.length > 0) return result;
  // A delta lives while its chunk does (or while it is young); the base it is rebuilt from then lives too (§8a).
  for await (const o of remote.list(prefixOf('delta'))) {
    const h = handleOf(o.key);
    if (h?.kind !== 'delta') continue;
    const { chunk, base } = parseDeltaName(h.name);
    if (!liveChunks.has(chunk) && young(o.mtimeMs)) result.keptYoung++;
    else if (!liveChunks.has(chunk)) {
      if (!dryRun) await remote.delete(o.key);
      result.deltasDeleted++;
      result.bytesFreed += o.size;
      continue;
    }
    liveBases.add(base);
  }
  for (const b of liveBases) liveChunks.add(b);
  for await (const o of remote.list(prefixOf('chunk'))) {
    const h = handleOf(o.key);
    if (h?.kind !== 'chunk' || liveChunks.has(h.name)) continue;
    if (young(o.mtimeMs)) {
      result.keptYoung++;
      continue;
    }
    if (!dryRun) await remote.delete(o.key);
    result.chunksDeleted++;
    result.bytesFreed += o.size;
  }
  return result;
}
