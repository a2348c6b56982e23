// Moving a name on a remote with compare-and-swap (manifest-spec.md, "Ordering invariants" and "Refs").
// No update is ever lost: when another writer moved the name since we looked, our target is appended to
// the history as a 'conflict' entry and RefConflictError tells the caller it is not current.

import { IntegrityError, RefConflictError, TransientError } from '../errors.js';
import { decodeRef, encodeRef, newEntry, REF_MAX_BYTES, withMove, type RefDocument, type RefEntry } from '../core/refs.js';
import { keyOf } from '../remote/layout.js';
import type { ObjectInfo, Remote } from '../remote/types.js';
import { listObjects } from './listing.js';

export async function readRemoteRef(remote: Remote, name: string): Promise<{ doc: RefDocument; version: string } | null> {
  const key = keyOf({ kind: 'ref', name });
  const got = await remote.readDocument(key);
  return got ? { doc: decodeRef(got.data, `${name} on ${remote.displayUrl}`, name), version: got.version } : null;
}

export interface RemoteRef {
  name: string;
  doc: RefDocument;
  version: string;
}

/** A key under refs/ that could not be used as a ref: an unreadable document, or a key outside the layout. */
export interface BadRemoteRef {
  key: string;
  /** The name, when the key is a ref key (its document is bad); absent for a stray key. */
  name?: string;
  why: string;
}

/**
 * Every ref on the remote, sorted by name, and the keys under refs/ that are not usable refs. One bad
 * ref never hides the others (manifest-spec.md §6.2): it is returned in `bad` for the caller to report.
 * A document larger than the cap is skipped by its listed size, unread. Other failures (network,
 * permission) still throw: they say nothing about the ref.
 */
export async function listRemoteRefs(remote: Remote, prefix = ''): Promise<{ refs: RemoteRef[]; bad: BadRemoteRef[] }> {
  const refs: RemoteRef[] = [];
  const bad: BadRemoteRef[] = [];
  const stray = (o: ObjectInfo) => bad.push({ key: o.key, why: `${o.key} on ${remote.displayUrl}: not a ref key (refs/<name>.ref with a valid name)` });
  for await (const o of listObjects(remote, 'ref', { onStray: stray })) {
    if (!o.name.startsWith(prefix)) continue;
    if (o.size > REF_MAX_BYTES) {
      bad.push({ key: o.key, name: o.name, why: `ref ${o.name} on ${remote.displayUrl} is ${o.size} bytes, over the ${REF_MAX_BYTES}-byte cap` });
      continue;
    }
    try {
      const r = await readRemoteRef(remote, o.name);
      if (r) refs.push({ name: o.name, ...r });
    } catch (e) {
      if (!(e instanceof IntegrityError)) throw e;
      bad.push({ key: o.key, name: o.name, why: e.message });
    }
  }
  refs.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return { refs, bad };
}

export interface MoveRefOptions {
  /** The target the caller saw before its work: null if the name did not exist; undefined to move unconditionally. */
  expected?: string | null;
  /** Lost swaps in a row before TransientError (default MAX_SWAP_ATTEMPTS). */
  maxAttempts?: number;
}

export interface MoveRefResult {
  doc: RefDocument;
  /** False when the name already pointed at target before this call (nothing was written). */
  changed: boolean;
}

/**
 * Swaps lost in a row before giving up: with the backoff below, about a minute of losing. Only a remote
 * whose compare-and-swap never succeeds (a store that stopped honouring conditional writes, a broken
 * proxy) gets there; without a limit it would hang the push for ever.
 */
export const MAX_SWAP_ATTEMPTS = 100;

export async function moveRemoteRef(remote: Remote, name: string, target: string, opts: MoveRefOptions = {}): Promise<MoveRefResult> {
  const key = keyOf({ kind: 'ref', name });
  let firstSeen: string | null | undefined;
  /** The history entries our swaps tried to write: one found in the name's history means ours landed. */
  const tried: RefEntry[] = [];
  for (let attempt = 0; ; attempt++) {
    if (attempt === (opts.maxAttempts ?? MAX_SWAP_ATTEMPTS)) {
      throw new TransientError(`could not move name ${name} on ${remote.displayUrl}: ${attempt} compare-and-swaps in a row lost (does the remote honour conditional writes?); nothing was changed`, { name });
    }
    const cur = await readRemoteRef(remote, name);
    const curTarget = cur?.doc.target ?? null;
    if (attempt === 0) firstSeen = curTarget;
    // On a later attempt the name may already point at target: because our swap landed and only its
    // answer was lost (a retried request), or because another writer moved it to the same version (two
    // writers completing one set of parts, §8b). Only the first is this call's move.
    if (curTarget === target) {
      const ours = tried.some((e) => cur!.doc.history.some((h) => h.target === e.target && h.time === e.time && h.by === e.by));
      return { doc: cur!.doc, changed: firstSeen !== target && ours };
    }
    const moved = opts.expected !== undefined && curTarget !== opts.expected;
    const entry = newEntry(target, moved ? 'conflict' : 'set');
    tried.push(entry);
    const next = withMove(cur?.doc ?? null, name, entry);
    const version = await remote.swapDocument(key, encodeRef(next), cur?.version ?? null);
    if (version === null) {
      // Lost a race: look again. Backoff keeps many writers from livelocking.
      await new Promise((r) => setTimeout(r, Math.min(1000, 5 * 2 ** Math.min(attempt, 8)) * Math.random()));
      continue;
    }
    if (moved) {
      throw new RefConflictError(
        `name ${name} was moved to ${curTarget ?? '(deleted)'} by another writer; your version ${target} is kept in its history (push again with --force to make it current)`,
        { name, current: curTarget, yours: target },
      );
    }
    return { doc: next, changed: true };
  }
}

/** Removes a name from the remote (its manifests stay until gc). */
export async function deleteRemoteRef(remote: Remote, name: string): Promise<boolean> {
  const key = keyOf({ kind: 'ref', name });
  const had = await remote.stat(key);
  if (had) await remote.delete(key);
  return had !== null;
}
