// The compare-and-swap fallback for S3-compatible stores that ignore conditional writes: a mutual
// exclusion lock built from plain PUT, LIST and DELETE of empty marker objects, following Lamport's
// bakery algorithm. It needs only what every S3 store gives: strongly consistent PUT-then-LIST (AWS
// since 2020, MinIO, Ceph RGW, R2, B2). No atomic create is needed, which is the point: the stores
// that lack If-None-Match are exactly the ones where "create if absent" cannot be trusted.
//
// Under <dir> a contender writes
//   c-<id>            "choosing": present while it picks its number;
//   t-<number>-<id>   its ticket: 1 + the highest ticket it saw.
// It enters when every contender it saw choosing has finished and no ticket orders before its own
// (number, then id). A contender that started choosing after we listed necessarily saw our ticket and
// took a higher number, so it never needs waiting for (the bakery argument, with LIST as the scan).
//
// A crashed contender leaves markers behind; they count as abandoned once older than staleMs by the
// server's clock (measured against our own ticket's LastModified, so client clock skew does not
// matter). Live waiters re-put their ticket to stay fresh, and a holder gives up rather than write
// once it has held the lock for staleMs/2, so an expired lock is never still in use.

import crypto from 'node:crypto';
import { TransientError } from '../../src/remote/index.js';

export interface Marker {
  /** Name relative to the lock directory. */
  name: string;
  /** Server modification time, ms since the epoch. */
  mtimeMs?: number;
}

/** The three object operations the lock needs, relative to one lock directory. */
export interface MarkerStore {
  put(name: string): Promise<void>;
  list(): Promise<Marker[]>;
  delete(name: string): Promise<void>;
}

export interface LockOptions {
  staleMs?: number;
  /** Give up (TransientError) when the lock is not ours after this long. */
  timeoutMs?: number;
}

/** What the critical section gets: a check that the lock is still safely ours before it writes. */
export interface LockHold {
  assertFresh(): void;
}

const TICKET_RE = /^t-(\d{12})-([0-9a-f]+)$/;
const CHOOSING_RE = /^c-([0-9a-f]+)$/;

export async function withBakeryLock<T>(store: MarkerStore, fn: (hold: LockHold) => Promise<T>, opts: LockOptions = {}): Promise<T> {
  const staleMs = opts.staleMs ?? 30_000;
  const timeoutMs = opts.timeoutMs ?? 60_000;
  const id = crypto.randomBytes(8).toString('hex');
  const started = Date.now();
  const choosing = `c-${id}`;

  await store.put(choosing);
  let chose = false;
  let ticket = '';
  try {
    const before = await store.list();
    const highest = Math.max(0, ...before.map((m) => Number(TICKET_RE.exec(m.name)?.[1] ?? 0)));
    const number = highest + 1;
    ticket = `t-${String(number).padStart(12, '0')}-${id}`;
    let refreshedAt = Date.now();
    await store.put(ticket);
    await store.delete(choosing);
    chose = true;

    // Server "now", from our own ticket's LastModified (second resolution on most stores).
    let serverOffset: number | undefined;
    const isStale = (m: Marker) =>
      serverOffset !== undefined && m.mtimeMs !== undefined && Date.now() + serverOffset - m.mtimeMs > staleMs;

    let waitFor: Set<string> | undefined;
    for (let round = 0; ; round++) {
      const markers = await store.list();
      const own = markers.find((m) => m.name === ticket);
      if (own?.mtimeMs !== undefined && serverOffset === undefined) serverOffset = own.mtimeMs - refreshedAt;
      const live = markers.filter((m) => m.name !== ticket && m.name !== choosing && !isStale(m));
      const abandoned = markers.filter((m) => m.name !== ticket && isStale(m));
      await Promise.all(abandoned.map((m) => store.delete(m.name).catch(() => undefined)));

      // Contenders seen choosing in the first scan after our ticket landed; later ones drew higher numbers.
      waitFor ??= new Set(live.filter((m) => CHOOSING_RE.test(m.name)).map((m) => m.name));
      const stillChoosing = live.some((m) => waitFor!.has(m.name));
      const ahead = live.some((m) => {
        const t = TICKET_RE.exec(m.name);
        if (!t) return false;
        const n = Number(t[1]);
        return n < number || (n === number && t[2]! < id);
      });
      if (!stillChoosing && !ahead) break;

      if (Date.now() - started > timeoutMs) {
        throw new TransientError(`gave up waiting ${timeoutMs} ms for the S3 compare-and-swap lock`, { waited: Date.now() - started });
      }
      if (Date.now() - refreshedAt > staleMs / 3) {
        refreshedAt = Date.now();
        await store.put(ticket);
      }
      await sleep(Math.min(250, 10 * 1.5 ** Math.min(round, 10)) * (0.5 + Math.random()));
    }

    const acquiredAt = refreshedAt;
    return await fn({
      assertFresh() {
        if (Date.now() - acquiredAt > staleMs / 2) {
          throw new TransientError('held the S3 compare-and-swap lock too long to write safely; try again');
        }
      },
    });
  } finally {
    const left = [chose ? '' : choosing, ticket].filter(Boolean);
    await Promise.all(left.map((name) => store.delete(name).catch(() => undefined)));
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
