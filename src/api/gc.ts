// gc: delete remote manifests no name reaches, then chunk deltas, chunks and packs no remaining manifest names
// (manifest-spec.md, "Garbage collection and locks"; a delta's base is kept whole while the delta lives). Runs under the exclusive gc lock, only while no push holds a lease,
// and keeps anything younger than the grace period, so a push on another machine never loses an object.

import { UsageError } from '../errors.js';
import type { Repository } from '../core/repo.js';
import type { Remote } from '../remote/types.js';
import { listDeltas, listObjects } from '../sync/listing.js';
import { packEntries, PackIndex } from '../sync/packs.js';
import { holdGcLease, type LeaseOptions } from '../sync/locks.js';
import { sweepParts } from '../sync/parts.js';
import { chunksOfManifests, namedManifests } from '../sync/reach.js';
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
  /** Packs (spec §8c) deleted because none of their chunks is reachable. */
  packsDeleted: number;
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
  const result: GcResult = { names: 0, manifestsReachable: 0, manifestsDeleted: 0, chunksDeleted: 0, deltasDeleted: 0, packsDeleted: 0, bytesFreed: 0, keptYoung: 0, dryRun, warnings: [] };
  const startedAt = Date.now();
  const young = (mtimeMs?: number) => mtimeMs === undefined || startedAt - mtimeMs < graceMs;
  /** An unreachable object: kept while young (false), else deleted and counted (true). */
  const drop = async (o: { key: string; size: number; mtimeMs?: number }, counter: 'deltasDeleted' | 'chunksDeleted' | 'packsDeleted'): Promise<boolean> => {
    if (young(o.mtimeMs)) {
      result.keptYoung++;
      return false;
    }
    if (!dryRun) await remote.delete(o.key);
    result[counter]++;
    result.bytesFreed += o.size;
    return true;
  };

  // Mark: every target in every name's history is reachable (history is how an old version is restored).
  const named = await namedManifests(remote);
  for (const b of named.bad) result.warnings.push(b.name ? `ref ${b.name} cannot be read, so every manifest is kept: ${b.why}` : `ignored ${b.why}`);
  // A ref we cannot read may name any manifest: none can be proven unreachable (manifest-spec.md §10b rule 4).
  const keepAllManifests = named.bad.some((b) => b.name !== undefined);
  result.names = named.refs.length;
  const reachable = named.manifests;
  await sweepParts(remote, graceMs, dryRun, { reachable, warnings: result.warnings }); // §10b rule 8: records keep their part manifests
  // A kept manifest we cannot read may name any chunk: then no chunk or delta is deleted (rule 4).
  let unreadable = 0;
  const liveChunks = new Set<string>();
  const keepChunksOf = async (manifests: string[], areNamed: boolean): Promise<void> => {
    const read = await chunksOfManifests(null, remote, manifests); // gc stores nothing locally
    for (const c of read.chunks) liveChunks.add(c);
    for (const m of manifests) {
      const why = read.bad.get(m);
      if (why === undefined) continue;
      if (read.missing.has(m)) {
        if (areNamed) result.warnings.push(`manifest ${m} is named but missing on the remote`);
        continue;
      }
      unreadable++;
      result.warnings.push(`${why}; it is kept, and so is every chunk (run verify --remote)`);
    }
  };
  await keepChunksOf([...reachable], true);
  result.manifestsReachable = reachable.size;

  // Sweep in the reverse order of writing: manifests, then chunks.
  const keptUnnamed: string[] = [];
  for await (const o of listObjects(remote, 'manifest')) {
    if (reachable.has(o.name)) continue;
    if (young(o.mtimeMs) || keepAllManifests) {
      // A kept manifest keeps its chunks too: a later push may name it, trusting that they exist (§9).
      keptUnnamed.push(o.name);
      if (young(o.mtimeMs)) result.keptYoung++;
      continue;
    }
    if (!dryRun) await remote.delete(o.key);
    result.manifestsDeleted++;
    result.bytesFreed += o.size;
  }
  await keepChunksOf(keptUnnamed, false);
  if (unreadable > 0) return result;
  // A delta lives while its chunk does (or while it is young); the base it is rebuilt from then lives too (§8a).
  const liveBases = new Set<string>();
  for await (const d of listDeltas(remote)) {
    if (!liveChunks.has(d.chunk) && (await drop(d, 'deltasDeleted'))) continue;
    liveBases.add(d.base);
  }
  for (const b of liveBases) liveChunks.add(b);
  for await (const o of listObjects(remote, 'chunk')) if (!liveChunks.has(o.name)) await drop(o, 'chunksDeleted');
  // A pack lives while any chunk in it does: it is deleted whole or not at all (§8c).
  const packs = await PackIndex.load(remote);
  for (const [, why] of packs.bad) result.warnings.push(`${why}; it is kept (run verify --remote)`);
  for (const p of packs.packs) if (![...packEntries(p.header)].some((e) => liveChunks.has(e.hash))) await drop(p, 'packsDeleted');
  return result;
}
