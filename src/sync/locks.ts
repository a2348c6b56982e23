// Remote lock documents (manifest-spec.md, "Garbage collection and locks"): `locks/push.lock` lists the
// pushes in progress (shared), `locks/gc.lock` names the one gc running (exclusive). Each holder writes
// itself in, by compare-and-swap, and only then reads the other document: so of a push and a gc that
// start at the same time at least one sees the other, and gc never sweeps under a push.

import crypto from 'node:crypto';
import { IntegrityError, LockHeldError } from '../errors.js';
import { writerId } from '../core/refs.js';
import { processAlive } from '../core/temps.js';
import { keyOf } from '../remote/layout.js';
import type { Remote } from '../remote/types.js';

export const LOCK_FORMAT_VERSION = 1;
export const PUSH_LOCK = 'push';
export const GC_LOCK = 'gc';
/** A holder that stops renewing (crashed) is ignored this long after its last renewal. */
export const LOCK_TTL_MS = 10 * 60_000;
/** Clocks of different machines disagree; a holder counts as live until expires + this. */
export const CLOCK_SKEW_MS = 60_000;

export interface LockHolder {
  /** Random id of this holding. */
  id: string;
  op: 'push' | 'gc';
  /** user@host. */
  by: string;
  /** ISO-8601 UTC. */
  created: string;
  /** ISO-8601 UTC; renewed while the holder works. */
  expires: string;
  /** Process id on the host in `by`: lets a process on that host see a crashed holder at once. */
  pid?: number;
}

export interface LockDocument {
  version: number;
  holders: LockHolder[];
}

export function encodeLock(doc: LockDocument): Buffer {
  const holders = doc.holders.map((h) => ({ id: h.id, op: h.op, by: h.by, created: h.created, expires: h.expires, ...(h.pid === undefined ? {} : { pid: h.pid }) }));
  return Buffer.from(JSON.stringify({ version: LOCK_FORMAT_VERSION, holders }) + '\n');
}

export function decodeLock(data: Buffer, where: string): LockDocument {
  let d: any;
  try {
    d = JSON.parse(data.toString('utf8'));
  } catch {
    throw new IntegrityError(`lock ${where} is not valid JSON`);
  }
  if (typeof d !== 'object' || d === null || typeof d.version !== 'number' || !Array.isArray(d.holders)) throw new IntegrityError(`lock ${where} is malformed`);
  if (d.version > LOCK_FORMAT_VERSION) throw new IntegrityError(`lock ${where} has version ${d.version}; this ckptsync reads up to ${LOCK_FORMAT_VERSION}: upgrade ckptsync`);
  return d as LockDocument;
}

export function isLive(h: LockHolder, now = Date.now()): boolean {
  // A killed holder on this machine would otherwise block gc for the whole TTL.
  if (Number.isSafeInteger(h.pid) && h.by === writerId() && !processAlive(h.pid!)) return false;
  const t = Date.parse(h.expires);
  return !Number.isFinite(t) || t + CLOCK_SKEW_MS > now; // unreadable time: assume live, the safe side
}

export async function readLock(remote: Remote, name: string): Promise<{ doc: LockDocument; version: string | null }> {
  const got = await remote.readDocument(keyOf({ kind: 'lock', name }));
  return got ? { doc: decodeLock(got.data, `${name} on ${remote.displayUrl}`), version: got.version } : { doc: { version: LOCK_FORMAT_VERSION, holders: [] }, version: null };
}

/** Live holders of a lock document. */
export async function liveHolders(remote: Remote, name: string, now = Date.now()): Promise<LockHolder[]> {
  return (await readLock(remote, name)).doc.holders.filter((h) => isLive(h, now));
}

/** Rewrites a lock document by compare-and-swap until it sticks; `change` returns null to write nothing. */
async function updateLock(remote: Remote, name: string, change: (live: LockHolder[]) => LockHolder[] | null): Promise<boolean> {
  const key = keyOf({ kind: 'lock', name });
  for (let attempt = 0; ; attempt++) {
    const cur = await readLock(remote, name);
    // Dropping expired holders here is how a crashed holder's entry is cleaned up.
    const next = change(cur.doc.holders.filter((h) => isLive(h)));
    if (next === null) return false;
    if ((await remote.swapDocument(key, encodeLock({ version: LOCK_FORMAT_VERSION, holders: next }), cur.version)) !== null) return true;
    await sleep(Math.min(500, 5 * 2 ** Math.min(attempt, 7)) * Math.random());
  }
}

export interface LeaseOptions {
  ttlMs?: number;
  /** How long to wait for the conflicting operation to finish before LockHeldError. */
  waitMs?: number;
  /** Polling interval while waiting. */
  pollMs?: number;
}

/** A holding in a lock document, renewed in the background until released. */
export class Lease {
  private timer: NodeJS.Timeout | null = null;
  constructor(
    private readonly remote: Remote,
    readonly lock: string,
    readonly holder: LockHolder,
    private readonly ttlMs: number,
  ) {
    this.timer = setInterval(() => void this.renew().catch(() => {}), Math.max(50, ttlMs / 3));
    this.timer.unref();
  }

  async renew(): Promise<void> {
    const expires = new Date(Date.now() + this.ttlMs).toISOString();
    await updateLock(this.remote, this.lock, (live) => live.map((h) => (h.id === this.holder.id ? { ...h, expires } : h)));
  }

  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await updateLock(this.remote, this.lock, (live) => live.filter((h) => h.id !== this.holder.id));
  }
}

function newHolder(op: LockHolder['op'], ttlMs: number): LockHolder {
  const now = Date.now();
  return { id: crypto.randomBytes(8).toString('hex'), op, by: writerId(), created: new Date(now).toISOString(), expires: new Date(now + ttlMs).toISOString(), pid: process.pid };
}

/**
 * Registers a push in progress. Write first, then look for a gc: if one is running, withdraw and wait
 * for it (up to waitMs), so a push never lists what a gc is deleting.
 */
export async function holdPushLease(remote: Remote, opts: LeaseOptions = {}): Promise<Lease> {
  const ttlMs = opts.ttlMs ?? LOCK_TTL_MS;
  const deadline = Date.now() + (opts.waitMs ?? 10 * 60_000);
  for (;;) {
    const holder = newHolder('push', ttlMs);
    await updateLock(remote, PUSH_LOCK, (live) => [...live, holder]);
    const lease = new Lease(remote, PUSH_LOCK, holder, ttlMs);
    const gcs = await liveHolders(remote, GC_LOCK);
    if (gcs.length === 0) return lease;
    await lease.release();
    if (Date.now() >= deadline) throw new LockHeldError(`a gc by ${gcs[0]!.by} is running on ${remote.displayUrl}; push again when it has finished`, { holder: gcs[0] });
    await sleep(opts.pollMs ?? 1000);
  }
}

/**
 * Takes the exclusive gc lock, then checks that no push is in progress; while one is, gives the lock back
 * and waits (up to waitMs).
 */
export async function holdGcLease(remote: Remote, opts: LeaseOptions = {}): Promise<Lease> {
  const ttlMs = opts.ttlMs ?? LOCK_TTL_MS;
  const deadline = Date.now() + (opts.waitMs ?? 0);
  for (;;) {
    const holder = newHolder('gc', ttlMs);
    let other: LockHolder | undefined;
    await updateLock(remote, GC_LOCK, (live) => {
      other = live.find((h) => h.id !== holder.id);
      return other ? null : [holder];
    });
    let blocker: LockHolder | undefined = other;
    if (!other) {
      const lease = new Lease(remote, GC_LOCK, holder, ttlMs);
      const pushes = await liveHolders(remote, PUSH_LOCK);
      if (pushes.length === 0) return lease;
      await lease.release();
      blocker = pushes[0];
    }
    if (Date.now() >= deadline) {
      throw new LockHeldError(`${remote.displayUrl} is locked: a ${blocker!.op} by ${blocker!.by} (since ${blocker!.created}) is in progress; try again later`, { holder: blocker });
    }
    await sleep(opts.pollMs ?? 1000);
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
