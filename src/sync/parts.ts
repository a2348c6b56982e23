// Parts: one version of a name built by many writers, each holding some of its files
// (manifest-spec.md §8b). A part uploads its chunks, its part manifest, then its record; whoever finds a
// record for every part merges the part manifests into one directory manifest and moves the name by
// compare-and-swap. The merge is deterministic, so writers completing at once write the same manifest and
// the name moves once. gc treats records as roots until the set's newest record is older than the grace.

import { IntegrityError, PartsIncompleteError, PartsOverlapError, UsageError } from '../errors.js';
import { hashBytes } from '../core/hash.js';
import { encodeManifest, MANIFEST_FORMAT, MANIFEST_LIMITS, manifestSize, type Manifest, type ManifestFile } from '../core/manifest.js';
import type { Repository } from '../core/repo.js';
import { keyOf } from '../remote/layout.js';
import { bufferSource, readAll } from '../remote/source.js';
import type { Remote } from '../remote/types.js';
import { holdPushLease } from './locks.js';
import { isBadObject, loadManifest } from './manifests.js';
import { uploadSnapshot, type PushOptions, type PushResult } from './push.js';
import { moveRemoteRef, readRemoteRef } from './refs.js';
import { runBounded } from './transfer.js';
import {
  attemptPrefix,
  checkPartSet,
  decodePartRecord,
  encodePartRecord,
  newPartRecord,
  parsePartKey,
  partKey,
  PART_RECORD_MAX_BYTES,
  PARTS_PREFIX,
  type PartRecord,
  type PartSet,
} from './part-records.js';

export interface PartPushResult extends Omit<PushResult, 'manifest'> {
  attempt: string;
  part: number;
  parts: number;
  /** This part's manifest. */
  partManifest: string;
  /** The version's merged manifest once every part is there, else null. */
  manifest: string | null;
  /** True when every part is there and the name points at their merge. */
  complete: boolean;
  /** The parts the version still waits for (empty once complete). */
  waitingFor: number[];
}

export type Completion =
  | { complete: true; manifest: string; changed: boolean; warnings: string[] }
  | { complete: false; waitingFor: number[]; warnings: string[] };

/** Pushes one part of a version: chunks, part manifest, record, then completes the version if it is whole. */
export async function pushPartSnapshot(repo: Repository, remote: Remote, set: PartSet, part: number, manifestHash: string, opts: PushOptions = {}): Promise<PartPushResult> {
  checkPartSet(set, part);
  const manifest = await loadManifest(repo, manifestHash);
  // The name's target when we began: a writer that moved it meanwhile is a conflict, as for any push (§9 rule 3).
  const before = opts.force ? undefined : ((await readRemoteRef(remote, set.name))?.doc.target ?? null);
  const lease = await holdPushLease(remote);
  try {
    const up = await uploadSnapshot(repo, remote, set.name, manifestHash, opts);
    // Only now that the part manifest is on the remote may its record appear (§9 rule 4).
    await remote.put(partKey(set, part), bufferSource(encodePartRecord(newPartRecord(set, part, manifestHash, manifestSize(manifest)))));
    const done = await completeUnderLease(repo, remote, set, before);
    const { manifest: _partManifest, ...rest } = up;
    return {
      ...rest,
      warnings: [...up.warnings, ...done.warnings],
      attempt: set.attempt,
      part,
      parts: set.parts,
      partManifest: manifestHash,
      manifest: done.complete ? done.manifest : null,
      changed: done.complete && done.changed,
      complete: done.complete,
      waitingFor: done.complete ? [] : done.waitingFor,
    };
  } finally {
    await lease.release().catch(() => {}); // an unreleased holding expires by itself
  }
}

/** Completes a version whose parts were all pushed (`commit NAME --parts M`); PartsIncompleteError if some are not. */
export async function commitPartSet(repo: Repository, remote: Remote, set: PartSet, opts: { force?: boolean } = {}): Promise<Completion & { complete: true }> {
  checkPartSet(set);
  const before = opts.force ? undefined : ((await readRemoteRef(remote, set.name))?.doc.target ?? null);
  // Moving a name to a manifest whose chunks we trust from other writers' manifests: rule 2 of §10b.
  const lease = await holdPushLease(remote);
  try {
    const done = await completeUnderLease(repo, remote, set, before);
    if (!done.complete) {
      throw new PartsIncompleteError(
        `${set.name} (attempt ${set.attempt}) waits for part${done.waitingFor.length > 1 ? 's' : ''} ${listParts(done.waitingFor)} of ${set.parts} on ${remote.displayUrl}; the name did not move`,
        { name: set.name, attempt: set.attempt, parts: set.parts, waitingFor: done.waitingFor },
      );
    }
    return done;
  } finally {
    await lease.release().catch(() => {});
  }
}

/** Reads the set's records; merges and moves the name when all are there. The caller holds the push lease. */
async function completeUnderLease(repo: Repository, remote: Remote, set: PartSet, before: string | null | undefined): Promise<Completion> {
  // Keys first: while parts are missing (every writer but the last), no record needs reading.
  const listed = await listedParts(remote, set);
  const absent = [...Array(set.parts).keys()].filter((k) => !listed.has(k));
  if (absent.length > 0) return { complete: false, waitingFor: absent, warnings: [] };
  const { records, warnings } = await readPartSet(remote, set);
  const manifests: { part: number; manifest: Manifest }[] = [];
  const waiting: number[] = [];
  await runBounded([...Array(set.parts).keys()], 8, async (k) => {
    const r = records.get(k);
    if (!r) {
      waiting.push(k);
      return;
    }
    try {
      manifests.push({ part: k, manifest: await loadManifest(repo, r.manifest, remote) });
    } catch (e) {
      // A missing or bad part manifest is a missing part: that part must be pushed again (§8b).
      if (!isBadObject(e)) throw e;
      warnings.push(`part ${k} of ${set.name} names manifest ${r.manifest}, which cannot be read: ${(e as Error).message}`);
      waiting.push(k);
    }
  });
  if (waiting.length > 0) return { complete: false, waitingFor: waiting.sort((a, b) => a - b), warnings };
  const data = encodeManifest(mergeParts(set.name, manifests));
  const merged = hashBytes(data);
  if (!(await remote.stat(keyOf({ kind: 'manifest', name: merged })))) {
    await repo.store.put('manifest', merged, data);
    await remote.put(keyOf({ kind: 'manifest', name: merged }), bufferSource(data));
  }
  const moved = await moveRemoteRef(remote, set.name, merged, { expected: before });
  return { complete: true, manifest: merged, changed: moved.changed, warnings };
}

/**
 * The union of the parts' files as one directory manifest, refusing a path two parts hold (or a file of
 * one part that is a folder in another). Order does not matter: encodeManifest sorts by path.
 */
export function mergeParts(name: string, parts: { part: number; manifest: Manifest }[]): Manifest {
  const owner = new Map<string, number>();
  const files: ManifestFile[] = [];
  const overlap = (p: string, a: number, b: number): never => {
    throw new PartsOverlapError(`parts ${Math.min(a, b)} and ${Math.max(a, b)} of ${name} both hold ${p}; the name did not move (each file must belong to one part)`, { name, path: p, parts: [a, b] });
  };
  for (const { part, manifest } of parts) {
    for (const f of manifest.files) {
      const prev = owner.get(f.path);
      if (prev !== undefined) overlap(f.path, prev, part);
      owner.set(f.path, part);
      files.push(f);
    }
  }
  for (const f of files) {
    const segs = f.path.split('/');
    for (let i = 1; i < segs.length; i++) {
      const dir = segs.slice(0, i).join('/');
      const prev = owner.get(dir);
      if (prev !== undefined) overlap(dir, prev, owner.get(f.path)!);
    }
  }
  if (files.length > MANIFEST_LIMITS.files) throw new UsageError(`${name}: its parts hold ${files.length} files, over the ${MANIFEST_LIMITS.files} a manifest may have`);
  return { format: MANIFEST_FORMAT, type: 'dir', files };
}

/** The record keys of one set on the remote, by part number. */
async function listedParts(remote: Remote, set: PartSet): Promise<Map<number, string>> {
  const out = new Map<number, string>();
  for await (const o of remote.list(attemptPrefix(set.name, set.attempt))) {
    const k = parsePartKey(o.key);
    if (k && k.name === set.name && k.attempt === set.attempt && k.parts === set.parts) out.set(k.part, o.key);
  }
  return out;
}

/** The readable records of one set, by part number; unreadable ones are reported and count as absent. */
export async function readPartSet(remote: Remote, set: PartSet): Promise<{ records: Map<number, PartRecord>; warnings: string[] }> {
  const records = new Map<number, PartRecord>();
  const warnings: string[] = [];
  await runBounded([...(await listedParts(remote, set)).values()], 8, async (key) => {
    const r = await readRecord(remote, key).catch((e) => (isBadObject(e) ? (warnings.push((e as Error).message), null) : Promise.reject(e)));
    if (r) records.set(r.part, r);
  });
  return { records, warnings };
}

async function readRecord(remote: Remote, key: string): Promise<PartRecord> {
  let data: Buffer;
  try {
    data = await readAll(await remote.get(key), PART_RECORD_MAX_BYTES);
  } catch (e) {
    if (e instanceof IntegrityError) throw new IntegrityError(`part record ${key} on ${remote.displayUrl} is larger than ${PART_RECORD_MAX_BYTES} bytes`, { key });
    throw e;
  }
  return decodePartRecord(data, key, remote.displayUrl);
}

interface ListedSet extends PartSet {
  keys: { key: string; part: number; mtimeMs?: number }[];
}

/** Every record key under parts/ (optionally of names starting with `prefix`), grouped by set. */
async function listSets(remote: Remote, prefix = ''): Promise<ListedSet[]> {
  const sets = new Map<string, ListedSet>();
  for await (const o of remote.list(PARTS_PREFIX)) {
    const k = parsePartKey(o.key);
    if (!k || !k.name.startsWith(prefix)) continue; // a driver's temporary upload, or a foreign key: ignored (§8)
    const id = `${k.name}\0${k.attempt}\0${k.parts}`;
    let s = sets.get(id);
    if (!s) sets.set(id, (s = { name: k.name, attempt: k.attempt, parts: k.parts, keys: [] }));
    s.keys.push({ key: o.key, part: k.part, mtimeMs: o.mtimeMs });
  }
  return [...sets.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : a.attempt < b.attempt ? -1 : a.attempt > b.attempt ? 1 : a.parts - b.parts));
}

export interface PartSweep {
  /** Sets whose records were (or, dry, would be) deleted: every record older than the grace. */
  setsDeleted: number;
  recordsDeleted: number;
  /** Part manifests the kept records name: reachable for this gc (§10b rule 8). */
  keep: Set<string>;
  warnings: string[];
}

/**
 * gc's part of §10b rule 8: deletes the records of every set whose newest record is older than the
 * grace, and returns the part manifests the other records name, which gc MUST then treat as reachable.
 * `into` lets gc pass its reachable set and warnings in one call. The caller holds the gc lease.
 */
export async function sweepParts(remote: Remote, graceMs: number, dryRun: boolean, into?: { reachable?: Set<string>; warnings?: string[] }, now = Date.now()): Promise<PartSweep> {
  const out: PartSweep = { setsDeleted: 0, recordsDeleted: 0, keep: new Set(), warnings: [] };
  const young = (mtimeMs?: number) => mtimeMs === undefined || now - mtimeMs < graceMs;
  for (const s of await listSets(remote)) {
    if (!s.keys.some((k) => young(k.mtimeMs))) {
      for (const k of s.keys) if (!dryRun) await remote.delete(k.key);
      out.setsDeleted++;
      out.recordsDeleted += s.keys.length;
      continue;
    }
    for (const k of s.keys) {
      try {
        out.keep.add((await readRecord(remote, k.key)).manifest);
      } catch (e) {
        if (!isBadObject(e)) throw e;
        out.warnings.push(`${(e as Error).message}; it is kept until its set is older than the grace`);
      }
    }
  }
  for (const m of out.keep) into?.reachable?.add(m);
  into?.warnings?.push(...out.warnings);
  return out;
}

/** A version some of whose parts have not been pushed, as `ls --remote` shows it. */
export interface IncompleteVersion {
  attempt: string;
  parts: number;
  /**
   * The parts it waits for. Empty: every part is there, but the name has not moved since the last of
   * them arrived (its completer died, or the merge was refused): `commit` finishes it.
   */
  waitingFor: number[];
}

/**
 * Rows for `ls --remote`: one per set not yet whole, shaped like ls's entries (no manifest yet; bytes of
 * the parts received). A set is listed from its keys; a record that cannot be read counts as waiting.
 */
export async function incompleteVersions(remote: Remote, prefix = ''): Promise<{ name: string; manifest: string; bytes: number; sharedBytes: number; updated: string; versions: number; incomplete: IncompleteVersion }[]> {
  const rows = [];
  for (const s of await listSets(remote, prefix)) {
    const { records } = await readPartSet(remote, s);
    const waitingFor = [...Array(s.parts).keys()].filter((k) => !records.has(k));
    const got = [...records.values()];
    const updated = got.map((r) => r.time).sort().at(-1) ?? '';
    // A whole set was merged when the name moved after its last record (the completer writes the record,
    // then moves the name). Times come from the writers' clocks, so this is advice: commit is harmless on
    // a set already merged.
    if (waitingFor.length === 0 && (await nameMovedSince(remote, s.name, updated))) continue;
    rows.push({ name: s.name, manifest: '', bytes: got.reduce((n, r) => n + r.bytes, 0), sharedBytes: 0, updated, versions: 0, incomplete: { attempt: s.attempt, parts: s.parts, waitingFor } });
  }
  return rows;
}

async function nameMovedSince(remote: Remote, name: string, time: string): Promise<boolean> {
  const ref = await readRemoteRef(remote, name).catch(() => null);
  return !!ref && ref.doc.history.some((h) => h.kind === 'set' && h.time >= time);
}

/** "1, 3 and 5". */
export function listParts(ks: number[]): string {
  return ks.length <= 1 ? ks.join('') : `${ks.slice(0, -1).join(', ')} and ${ks.at(-1)}`;
}
